"""Stream configurations checked and completed as nats-server does on STREAM.CREATE and UPDATE
(its checkStreamCfg and the update rules): defaults filled in, limits and subjects validated,
each refusal with nats-server's API error."""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from zats.protocol.subjects import is_valid_subject, subjects_collide

from .errors import ApiError
from .structs import (
    API_LEVEL,
    DEFAULT_DUPLICATE_WINDOW,
    StreamConfig,
    enum_error,
    first_enum_error,
    go_quote,
)

VERSION = "2.15.1"  # the nats-server whose API this serves (metadata `_nats.ver`)
_MAX_NAME = 255
_MAX_DESCRIPTION = 4 * 1024
_MAX_METADATA = 128 * 1024
_ENUMS = {
    "retention": ("limits", "interest", "workqueue"),
    "discard": ("old", "new"),
    "storage": ("file", "memory"),
    "compression": ("none", "s2"),
}


def invalid(text: str) -> ApiError:
    return ApiError.of("StreamInvalidConfig", err=text)


def valid_name(name: str) -> bool:
    return bool(name) and not any(c in name for c in " \t\r\n.*>/\\") and len(name) <= _MAX_NAME


def versioned_metadata(metadata, required_level: int = 0) -> dict[str, str]:
    """The user's metadata with nats-server's `_nats.*` keys set."""
    out = {k: v for k, v in (metadata or {}).items() if not k.startswith("_nats.")}
    out["_nats.level"] = str(API_LEVEL)
    out["_nats.req.level"] = str(required_level)
    out["_nats.ver"] = VERSION
    return dict(sorted(out.items()))


def required_level(cfg: StreamConfig) -> int:
    """The API level a stream config needs (nats-server's setStaticStreamMetadata)."""
    level = 0
    if cfg.allow_msg_ttl or (cfg.subject_delete_marker_ttl not in (UNSET, 0)):
        level = 1
    if cfg.allow_msg_counter is True or cfg.allow_atomic is True or cfg.allow_msg_schedules is True:
        level = 2
    return level


def check_enums(cfg: StreamConfig) -> None:
    """nats-server fails an unknown enum value while it decodes the JSON: before any other check."""
    for key, allowed in _ENUMS.items():
        value = getattr(cfg, key)
        if value not in allowed:
            raise ApiError.of("InvalidJSON", err=enum_error(value))


def check_enums_raw(payload) -> None:
    """Go's decoder stops at the first bad enum value or unknown field in document order:
    raises the enum's error when one comes first."""
    try:
        body = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return
    err = first_enum_error(body, _ENUMS, StreamConfig)
    if err:
        raise ApiError.of("InvalidJSON", err=err)


def check(cfg: StreamConfig, max_msg_size_server: int) -> StreamConfig:
    """A copy of `cfg` completed with nats-server's defaults; raises ApiError."""
    cfg = msgspec.structs.replace(cfg)
    if not cfg.name:
        raise invalid("stream name is required")
    if not valid_name(cfg.name):
        raise ApiError.of("StreamNameContainsPathSeparators") if any(c in cfg.name for c in "/\\") \
            else invalid("stream name can not contain whitespace, '.', '*', '>'")
    if cfg.description is not UNSET and len(cfg.description) > _MAX_DESCRIPTION:
        raise invalid(f"stream description is too long, maximum allowed is {_MAX_DESCRIPTION}")
    check_enums(cfg)
    if cfg.num_replicas == 0:
        cfg.num_replicas = 1
    if cfg.num_replicas > 5:
        raise invalid("maximum replicas is 5")
    if cfg.num_replicas < 0:
        raise ApiError.of("ReplicasCountCannotBeNegative")
    if cfg.max_msgs == 0 or cfg.max_msgs < -1:  # nats-server: 0 or below -1 means unlimited
        cfg.max_msgs = -1
    if cfg.max_msgs_per_subject == 0 or cfg.max_msgs_per_subject < -1:  # nats-server: 0 or below -1 means unlimited
        cfg.max_msgs_per_subject = -1
    if cfg.max_bytes == 0 or cfg.max_bytes < -1:  # nats-server: 0 or below -1 means unlimited
        cfg.max_bytes = -1
    if cfg.max_msg_size is UNSET or cfg.max_msg_size == 0 or cfg.max_msg_size < -1:
        cfg.max_msg_size = -1
    if cfg.max_consumers == 0 or cfg.max_consumers < -1:  # nats-server: 0 or below -1 means unlimited
        cfg.max_consumers = -1
    if cfg.max_age < 0:
        raise invalid("max age needs to be >= 0")
    if cfg.max_msg_size > max_msg_size_server:
        raise invalid(f"max message size can not be larger than server max payload of "
                      f"{max_msg_size_server}")
    if cfg.duplicate_window is UNSET or cfg.duplicate_window == 0:
        window = DEFAULT_DUPLICATE_WINDOW
        if cfg.max_age and cfg.max_age < window:
            window = cfg.max_age
        cfg.duplicate_window = window
    if cfg.duplicate_window < 0:
        raise invalid("duplicates window can not be negative")
    if cfg.max_age and cfg.duplicate_window > cfg.max_age:
        raise invalid("duplicates window can not be larger then max age")
    if cfg.discard_new_per_subject is True:
        if cfg.discard != "new":
            raise ApiError.of("StreamInvalidConfig", err="discard new per subject requires discard new policy to be set")
        if cfg.max_msgs_per_subject <= 0:
            raise invalid("discard new per subject requires max msgs per subject > 0")
    elif cfg.discard_new_per_subject is False:
        cfg.discard_new_per_subject = UNSET
    if cfg.subject_delete_marker_ttl is not UNSET:
        if cfg.subject_delete_marker_ttl == 0:
            cfg.subject_delete_marker_ttl = UNSET
        else:
            if cfg.subject_delete_marker_ttl < 1_000_000_000:
                raise invalid("subject delete marker TTL must be at least 1 second")
    for flag in ("no_ack", "allow_msg_counter", "allow_atomic", "allow_msg_schedules", "allow_batched"):
        if getattr(cfg, flag) is False:
            setattr(cfg, flag, UNSET)
    if cfg.first_seq is not UNSET and cfg.first_seq == 0:
        cfg.first_seq = UNSET
    if cfg.mirror is not UNSET or cfg.sources is not UNSET:
        raise invalid("mirrors and sources are not supported by zats yet")
    subjects = cfg.subjects if cfg.subjects is not UNSET else []
    if not subjects:
        cfg.subjects = [cfg.name]
        subjects = cfg.subjects
    seen = set()
    for subject in subjects:
        raw = subject.encode()
        if not subject or not is_valid_subject(raw):
            raise invalid("invalid subject")
        if subject in seen:
            raise invalid("duplicate subjects detected")
        if subjects_collide(raw, b"$JS.API.>") and cfg.no_ack is not True:
            raise invalid("subjects that overlap with jetstream api require no-ack to be true")
        seen.add(subject)
    for a in subjects:
        for b in subjects:
            if a != b and subjects_collide(a.encode(), b.encode()):
                raise invalid(f"subject {go_quote(a)} overlaps with {go_quote(b)}")
    if cfg.metadata is not UNSET and len(msgspec.json.encode(cfg.metadata)) > _MAX_METADATA:
        raise invalid(f"stream metadata exceeds maximum size of {_MAX_METADATA} bytes")
    cfg.metadata = versioned_metadata(cfg.metadata if cfg.metadata is not UNSET else None,
                                      required_level(cfg))
    return cfg


def check_single_replica(cfg: StreamConfig) -> None:
    """A standalone server keeps one replica. nats-server checks this once the config is valid:
    on create before the name is looked up, on update after (a missing stream is "not found"
    first)."""
    if cfg.num_replicas > 1:
        raise ApiError.of("StreamReplicasNotSupported")


def check_update(old: StreamConfig, new: StreamConfig) -> None:
    """nats-server's rules for what STREAM.UPDATE may change; raises ApiError. A stream being
    sealed gets what sealing implies, as nats-server sets it: no max_age, discard new, deny
    delete and purge, no rollups."""
    if new.storage != old.storage:
        raise ApiError.of("StreamInvalidConfig", err="stream configuration update can not change storage type")
    if new.retention != old.retention:
        raise ApiError.of("StreamInvalidConfig", err="stream configuration update can not change retention policy")
    if new.max_consumers != old.max_consumers:
        raise ApiError.of("StreamInvalidConfig", err="stream configuration update can not change MaxConsumers")
    if old.sealed and not new.sealed:
        raise ApiError.of("StreamInvalidConfig", err="stream configuration update can not unseal a sealed stream")
    if old.deny_delete and not new.deny_delete:
        raise ApiError.of("StreamInvalidConfig", err="stream configuration update can not cancel deny message deletes")
    if old.deny_purge and not new.deny_purge:
        raise ApiError.of("StreamInvalidConfig", err="stream configuration update can not cancel deny purge")
    if old.allow_msg_ttl and not new.allow_msg_ttl:
        raise ApiError.of("StreamInvalidConfig", err="stream configuration update can not disable message TTL")
    if new.sealed:
        new.max_age = 0
        new.discard = "new"
        new.deny_delete = new.deny_purge = True
        new.allow_rollup_hdrs = False


def same_config(a: StreamConfig, b: StreamConfig) -> bool:
    return msgspec.structs.asdict(a) == msgspec.structs.asdict(b)
