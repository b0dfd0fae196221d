"""Consumer configurations checked and completed as nats-server does on CONSUMER.CREATE (its
setConsumerConfigDefaults and checkConsumerCfg), each refusal with nats-server's API error."""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from zats.protocol.subjects import is_literal, is_subset_match, is_valid_subject, subjects_collide

from .common import parse_rfc3339
from .errors import ApiError
from .streamconfig import versioned_metadata
from .structs import (
    DEFAULT_ACK_WAIT,
    DEFAULT_MAX_ACK_PENDING,
    DEFAULT_MAX_WAITING,
    ConsumerConfig,
    enum_error,
    first_enum_error,
)

_DELIVER = ("all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject")
_ACK = ("none", "all", "explicit")
_REPLAY = ("instant", "original")
_MAX_DESCRIPTION = 4 * 1024
_MIN_HEARTBEAT = 100_000_000


def _policy_error(text: str) -> ApiError:
    return ApiError.of("ConsumerInvalidPolicy", err=text)


def filters_of(cfg: ConsumerConfig) -> list[str]:
    if cfg.filter_subjects is not UNSET and cfg.filter_subjects:
        return list(cfg.filter_subjects)
    if cfg.filter_subject is not UNSET and cfg.filter_subject:
        return [cfg.filter_subject]
    return []


def set_defaults(cfg: ConsumerConfig, stream_cfg) -> ConsumerConfig:
    cfg = msgspec.structs.replace(cfg)
    for name in ("max_waiting", "max_batch", "max_expires", "max_bytes", "idle_heartbeat",
                 "inactive_threshold", "priority_timeout"):
        value = getattr(cfg, name)
        if value is not UNSET and value <= 0:
            setattr(cfg, name, UNSET)
    if cfg.max_deliver is UNSET or cfg.max_deliver == 0 or cfg.max_deliver < -1:
        cfg.max_deliver = -1
    if cfg.max_ack_pending is not UNSET and cfg.max_ack_pending < -1:
        cfg.max_ack_pending = -1
    if cfg.deliver_subject in (UNSET, "") and cfg.max_waiting is UNSET:
        cfg.max_waiting = DEFAULT_MAX_WAITING
    if (cfg.ack_wait is UNSET or cfg.ack_wait == 0) and cfg.ack_policy in ("explicit", "all"):
        cfg.ack_wait = DEFAULT_ACK_WAIT
    if cfg.backoff is not UNSET and cfg.backoff:
        cfg.ack_wait = cfg.backoff[0]
    limits = stream_cfg.consumer_limits
    if cfg.max_ack_pending in (UNSET, 0) and limits.max_ack_pending not in (UNSET, 0):
        cfg.max_ack_pending = limits.max_ack_pending
    if cfg.inactive_threshold is UNSET and limits.inactive_threshold not in (UNSET, 0):
        cfg.inactive_threshold = limits.inactive_threshold
    if cfg.max_ack_pending in (UNSET, 0) and cfg.ack_policy != "none":
        cfg.max_ack_pending = DEFAULT_MAX_ACK_PENDING
    for name in ("flow_control", "headers_only", "mem_storage", "direct", "sourcing"):
        if getattr(cfg, name) is False:
            setattr(cfg, name, UNSET)
    for name in ("durable_name", "name", "description", "filter_subject", "deliver_subject",
                 "deliver_group", "sample_freq", "opt_start_time", "pause_until"):
        if getattr(cfg, name) == "":
            setattr(cfg, name, UNSET)
    for name in ("opt_start_seq", "rate_limit_bps", "ack_wait", "max_ack_pending"):
        if getattr(cfg, name) == 0:
            setattr(cfg, name, UNSET)
    if cfg.filter_subjects is not UNSET and not cfg.filter_subjects:
        cfg.filter_subjects = UNSET
    if cfg.backoff is not UNSET and not cfg.backoff:
        cfg.backoff = UNSET
    return cfg


_ENUMS = {"deliver_policy": _DELIVER, "ack_policy": _ACK, "replay_policy": _REPLAY}


def check_enums_raw(payload) -> None:
    """The consumer config's bad enum value that comes first in the request, as Go's decoder
    stops at it (see streamconfig.check_enums_raw)."""
    try:
        body = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return
    if isinstance(body, dict):
        err = first_enum_error(body.get("config"), _ENUMS, ConsumerConfig)
        if err:
            raise ApiError.of("InvalidJSON", err=err)


def check_enums(cfg: ConsumerConfig) -> None:
    """nats-server fails to decode a request with an unknown policy: before any other check."""
    for value, allowed in ((cfg.deliver_policy, _DELIVER), (cfg.ack_policy, _ACK),
                           (cfg.replay_policy, _REPLAY)):
        if value not in allowed:
            raise ApiError.of("InvalidJSON", err=enum_error(value))


def check(cfg: ConsumerConfig, stream_cfg) -> None:
    """Raises ApiError for a consumer config nats-server refuses."""
    for name in (cfg.name, cfg.durable_name):
        if name is not UNSET and any(c in name for c in ".*> \t\\/"):
            which = "name" if name is cfg.name else "durable name"
            raise ApiError.of("StreamInvalidConfig",
                              err=f"consumer {which} can not contain '.', '*', '>', '\\', '/'")
    if cfg.num_replicas > 1:
        raise ApiError.of("StreamReplicasNotSupported")
    if cfg.num_replicas < 0:
        raise ApiError.of("ReplicasCountCannotBeNegative")
    check_enums(cfg)
    backoff = cfg.backoff if cfg.backoff is not UNSET else []
    if any(b <= 0 for b in backoff):
        raise ApiError.of("ConsumerBackOffNegative")
    if cfg.ack_wait is not UNSET and cfg.ack_wait < 0:
        raise ApiError.of("ConsumerAckWaitNegative")
    if backoff and cfg.max_deliver > 0 and len(backoff) > cfg.max_deliver:
        raise ApiError.of("ConsumerMaxDeliverBackoff")
    if cfg.description is not UNSET and len(cfg.description) > _MAX_DESCRIPTION:
        raise ApiError.of("ConsumerDescriptionTooLong", max=_MAX_DESCRIPTION)
    push = cfg.deliver_subject is not UNSET
    if push:
        subject = cfg.deliver_subject.encode()
        if not is_literal(subject):
            raise ApiError.of("ConsumerDeliverToWildcards")
        if not is_valid_subject(subject):
            raise ApiError.of("ConsumerInvalidDeliverSubject")
        for s in stream_cfg.subjects:
            if subjects_collide(s.encode(), subject):
                raise ApiError.of("ConsumerDeliverCycle")
        if cfg.max_waiting is not UNSET:
            raise ApiError.of("ConsumerPushMaxWaiting")
        if cfg.max_ack_pending not in (UNSET, -1) and cfg.ack_policy == "none":
            raise ApiError.of("ConsumerMaxPendingAckPolicyRequired")
        if cfg.idle_heartbeat is not UNSET and cfg.idle_heartbeat < _MIN_HEARTBEAT:
            raise ApiError.of("ConsumerSmallHeartbeat")
    else:
        if stream_cfg.retention == "workqueue" and cfg.ack_policy == "none":
            raise ApiError.of("ConsumerPullRequiresAck")
        if cfg.rate_limit_bps is not UNSET:
            raise ApiError.of("ConsumerPullWithRateLimit")
        if cfg.max_waiting is not UNSET and cfg.max_waiting < 0:
            raise ApiError.of("ConsumerMaxWaitingNegative")
        if cfg.idle_heartbeat is not UNSET:
            raise ApiError.of("ConsumerHBRequiresPush")
        if cfg.flow_control is True:
            raise ApiError.of("ConsumerFCRequiresPush")
        if cfg.max_batch is not UNSET and cfg.max_batch < 0:
            raise ApiError.of("ConsumerMaxRequestBatchNegative")
        if cfg.max_expires is not UNSET and cfg.max_expires < 1_000_000:
            raise ApiError.of("ConsumerMaxRequestExpiresTooSmall")
    if cfg.filter_subject is not UNSET and cfg.filter_subjects is not UNSET:
        raise ApiError.of("ConsumerDuplicateFilterSubjects")
    filters = filters_of(cfg)
    if cfg.filter_subjects is not UNSET:
        if len(set(cfg.filter_subjects)) != len(cfg.filter_subjects):
            raise ApiError.of("ConsumerDuplicateFilterSubjects")
        for f in cfg.filter_subjects:
            if not f:
                raise ApiError.of("ConsumerEmptyFilter")
        for i, a in enumerate(filters):
            for b in filters[i + 1:]:
                if subjects_collide(a.encode(), b.encode()):
                    raise ApiError.of("ConsumerOverlappingSubjectFilters")
    for f in filters:
        raw = f.encode()
        if not is_valid_subject(raw):
            raise ApiError.of("StreamInvalidConfig", err="invalid subject")
    _check_deliver_policy(cfg, bool(filters))
    if cfg.flow_control is True and cfg.idle_heartbeat is UNSET:
        raise ApiError.of("ConsumerWithFlowControlNeedsHeartbeats")
    if cfg.durable_name is not UNSET and cfg.name is not UNSET and cfg.name != cfg.durable_name:
        raise ApiError.of("ConsumerCreateDurableAndNameMismatch")
    if cfg.opt_start_time is not UNSET:
        try:
            parse_rfc3339(cfg.opt_start_time)
        except ValueError as exc:
            raise ApiError.of("InvalidJSON", err=str(exc)) from None


def _check_deliver_policy(cfg: ConsumerConfig, filtered: bool) -> None:
    seq = cfg.opt_start_seq is not UNSET and cfg.opt_start_seq > 0
    when = cfg.opt_start_time is not UNSET

    def bad(dp: str, start: str) -> ApiError:
        return _policy_error(f"consumer delivery policy is deliver {dp}, but optional start {start} is also set")

    def missing(dp: str, what: str) -> ApiError:
        return _policy_error(f"consumer delivery policy is deliver {dp}, but optional {what} is not set")

    dp = cfg.deliver_policy
    named = {"all": "all", "last": "last", "last_per_subject": "last per subject", "new": "new"}
    if dp in named:
        if seq:
            raise bad(named[dp], "sequence")
        if when:
            raise bad(named[dp], "time")
        if dp == "last_per_subject" and not filtered:
            raise missing("last per subject", "filter subject")
    elif dp == "by_start_sequence":
        if not seq:
            raise missing("by start sequence", "start sequence")
        if when:
            raise bad("by start sequence", "time")
    elif dp == "by_start_time":
        if not when:
            raise missing("by start time", "start time")
        if seq:
            raise bad("by start time", "start sequence")


def with_metadata(cfg: ConsumerConfig) -> ConsumerConfig:
    cfg = msgspec.structs.replace(cfg)
    level = 1 if cfg.pause_until is not UNSET else 0
    cfg.metadata = versioned_metadata(cfg.metadata if cfg.metadata is not UNSET else None, level)
    return cfg


def check_update(old: ConsumerConfig, new: ConsumerConfig) -> None:
    """What an existing consumer may not change (nats-server's checkNewConsumerConfig)."""
    def fail(text: str) -> ApiError:
        return ApiError.of("ConsumerCreate", err=text)

    if old.deliver_policy != new.deliver_policy:
        raise fail("deliver policy can not be updated")
    if old.mem_storage != new.mem_storage:
        raise fail("storage type can not be updated")
    if old.opt_start_seq != new.opt_start_seq:
        raise fail("start sequence can not be updated")
    if old.opt_start_time != new.opt_start_time:
        raise fail("start time can not be updated")
    if old.ack_policy != new.ack_policy:
        raise fail("ack policy can not be updated")
    if old.replay_policy != new.replay_policy:
        raise fail("replay policy can not be updated")
    if old.idle_heartbeat != new.idle_heartbeat:
        raise fail("heart beats can not be updated")
    if old.flow_control != new.flow_control:
        raise fail("flow control can not be updated")
    if (old.deliver_subject is UNSET) != (new.deliver_subject is UNSET):
        raise fail("can not update push consumer to pull based" if new.deliver_subject is UNSET
                   else "can not update pull consumer to push based")
    if old.max_waiting != new.max_waiting:
        raise fail("max waiting can not be updated")


def is_subset(subject: bytes, filters: list[bytes]) -> bool:
    return any(is_subset_match(subject, f) for f in filters)
