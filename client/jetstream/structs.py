"""The JSON documents of JetStream's API as msgspec Structs: stream and consumer configuration
and state, account info, publish acknowledgements, stored messages.

Field names are the wire names (nats-server's jetstream_api.go / stream.go / consumer.go), so a
Struct encodes straight to the request body. Every optional field defaults to None and is left
out of the JSON, so the server applies its own defaults. Fields a newer server adds are ignored
on decode.

Durations are seconds (float) here, as nats-py has them, and nanoseconds on the wire:
`to_wire()` and `from_wire()` convert the fields each Struct names in `_durations` (recursing
into the nested Structs named in `_nested`)."""

from __future__ import annotations

import enum
from typing import Any, ClassVar, TypeVar

import msgspec


class RetentionPolicy(enum.StrEnum):
    LIMITS = "limits"
    INTEREST = "interest"
    WORK_QUEUE = "workqueue"


class StorageType(enum.StrEnum):
    FILE = "file"
    MEMORY = "memory"


class DiscardPolicy(enum.StrEnum):
    OLD = "old"
    NEW = "new"


class DeliverPolicy(enum.StrEnum):
    ALL = "all"
    LAST = "last"
    NEW = "new"
    BY_START_SEQUENCE = "by_start_sequence"
    BY_START_TIME = "by_start_time"
    LAST_PER_SUBJECT = "last_per_subject"


class AckPolicy(enum.StrEnum):
    NONE = "none"
    ALL = "all"
    EXPLICIT = "explicit"


class ReplayPolicy(enum.StrEnum):
    INSTANT = "instant"
    ORIGINAL = "original"


class Base(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Common base: optional fields left out when None; `_durations` are seconds here and
    nanoseconds on the wire; `_nested` names fields holding Structs (or lists of them)."""

    _durations: ClassVar[tuple[str, ...]] = ()
    _nested: ClassVar[dict[str, type[Base]]] = {}

    def evolve(self: S, **changes: Any) -> S:
        """A copy with `changes` applied."""
        return msgspec.structs.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The wire form (durations in nanoseconds), without None fields."""
        return to_wire(self)


S = TypeVar("S", bound=Base)


def _to_nanos(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_nanos(v) for v in value]
    return int(round(value * 1e9)) if isinstance(value, (int, float)) else value


def _to_seconds(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_seconds(v) for v in value]
    return value / 1e9 if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _walk(cls: type[Base], obj: Any, conv: Any) -> Any:
    if isinstance(obj, list):
        return [_walk(cls, o, conv) for o in obj]
    if not isinstance(obj, dict):
        return obj
    for name in cls._durations:
        if obj.get(name) is not None:
            obj[name] = conv(obj[name])
    for name, sub in cls._nested.items():
        if obj.get(name) is not None:
            obj[name] = _walk(sub, obj[name], conv)
    return obj


def to_wire(struct: Base) -> dict[str, Any]:
    """`struct` as the JSON object the server expects (durations in nanoseconds)."""
    return _walk(type(struct), msgspec.to_builtins(struct), _to_nanos)  # type: ignore[no-any-return]


def from_wire(cls: type[S], obj: Any) -> S:
    """A `cls` from the server's JSON object (durations in nanoseconds); raises
    msgspec.ValidationError when it does not fit."""
    return msgspec.convert(_walk(cls, obj, _to_seconds), cls)


# ---------------------------------------------------------------------------------- streams


class Placement(Base):
    cluster: str | None = None
    tags: list[str] | None = None


class SubjectTransform(Base):
    src: str
    dest: str


class RePublish(Base):
    dest: str
    src: str | None = None
    headers_only: bool | None = None


class ExternalStream(Base):
    api: str
    deliver: str | None = None


class StreamSource(Base):
    name: str
    opt_start_seq: int | None = None
    opt_start_time: str | None = None
    filter_subject: str | None = None
    subject_transforms: list[SubjectTransform] | None = None
    external: ExternalStream | None = None
    domain: str | None = None


class StreamConsumerLimits(Base):
    _durations = ("inactive_threshold",)
    inactive_threshold: float | None = None
    max_ack_pending: int | None = None


class StreamConfig(Base):
    """A stream's configuration (`max_age`, `duplicate_window` and `subject_delete_marker_ttl`
    in seconds)."""

    _durations = ("max_age", "duplicate_window", "subject_delete_marker_ttl")
    _nested = {"consumer_limits": StreamConsumerLimits}

    name: str | None = None
    description: str | None = None
    subjects: list[str] | None = None
    retention: str | None = None
    max_consumers: int | None = None
    max_msgs: int | None = None
    max_bytes: int | None = None
    max_age: float | None = None
    max_msgs_per_subject: int | None = None
    max_msg_size: int | None = None
    storage: str | None = None
    discard: str | None = None
    num_replicas: int | None = None
    duplicate_window: float | None = None
    no_ack: bool | None = None
    placement: Placement | None = None
    mirror: StreamSource | None = None
    sources: list[StreamSource] | None = None
    sealed: bool | None = None
    deny_delete: bool | None = None
    deny_purge: bool | None = None
    allow_rollup_hdrs: bool | None = None
    allow_direct: bool | None = None
    mirror_direct: bool | None = None
    republish: RePublish | None = None
    subject_transform: SubjectTransform | None = None
    discard_new_per_subject: bool | None = None
    compression: str | None = None
    first_seq: int | None = None
    allow_msg_ttl: bool | None = None
    subject_delete_marker_ttl: float | None = None
    consumer_limits: StreamConsumerLimits | None = None
    metadata: dict[str, str] | None = None


class LostStreamData(Base):
    msgs: list[int] | None = None
    bytes: int | None = None


class StreamState(Base):
    messages: int = 0
    bytes: int = 0
    first_seq: int = 0
    first_ts: str | None = None
    last_seq: int = 0
    last_ts: str | None = None
    consumer_count: int = 0
    deleted: list[int] | None = None
    num_deleted: int | None = None
    num_subjects: int | None = None
    subjects: dict[str, int] | None = None
    lost: LostStreamData | None = None


class PeerInfo(Base):
    _durations = ("active",)
    name: str
    current: bool = False
    offline: bool | None = None
    active: float | None = None
    lag: int | None = None


class ClusterInfo(Base):
    _nested = {"replicas": PeerInfo}
    name: str | None = None
    leader: str | None = None
    replicas: list[PeerInfo] | None = None


class StreamSourceInfo(Base):
    _durations = ("active",)
    name: str
    lag: int = 0
    active: float | None = None
    external: ExternalStream | None = None


class StreamInfo(Base):
    """What STREAM.INFO / CREATE / UPDATE answer."""

    _nested = {"config": StreamConfig, "cluster": ClusterInfo, "mirror": StreamSourceInfo,
               "sources": StreamSourceInfo}

    config: StreamConfig
    state: StreamState
    created: str | None = None
    ts: str | None = None
    cluster: ClusterInfo | None = None
    mirror: StreamSourceInfo | None = None
    sources: list[StreamSourceInfo] | None = None


# ---------------------------------------------------------------------------------- consumers


class ConsumerConfig(Base):
    """A consumer's configuration (`ack_wait`, `idle_heartbeat`, `inactive_threshold`,
    `max_expires`, `backoff` in seconds)."""

    _durations = ("ack_wait", "idle_heartbeat", "inactive_threshold", "max_expires", "backoff")

    name: str | None = None
    durable_name: str | None = None
    description: str | None = None
    deliver_policy: str | None = None
    opt_start_seq: int | None = None
    opt_start_time: str | None = None
    ack_policy: str | None = None
    ack_wait: float | None = None
    max_deliver: int | None = None
    backoff: list[float] | None = None
    filter_subject: str | None = None
    filter_subjects: list[str] | None = None
    replay_policy: str | None = None
    rate_limit_bps: int | None = None
    sample_freq: str | None = None
    max_waiting: int | None = None
    max_ack_pending: int | None = None
    flow_control: bool | None = None
    idle_heartbeat: float | None = None
    headers_only: bool | None = None
    deliver_subject: str | None = None
    deliver_group: str | None = None
    max_batch: int | None = None
    max_bytes: int | None = None
    max_expires: float | None = None
    inactive_threshold: float | None = None
    num_replicas: int | None = None
    mem_storage: bool | None = None
    metadata: dict[str, str] | None = None
    pause_until: str | None = None


class SequenceInfo(Base):
    consumer_seq: int = 0
    stream_seq: int = 0
    last_active: str | None = None


class ConsumerInfo(Base):
    """What CONSUMER.INFO / CREATE answer."""

    _nested = {"config": ConsumerConfig, "cluster": ClusterInfo}

    stream_name: str
    name: str
    config: ConsumerConfig
    created: str | None = None
    delivered: SequenceInfo | None = None
    ack_floor: SequenceInfo | None = None
    num_ack_pending: int = 0
    num_redelivered: int = 0
    num_waiting: int = 0
    num_pending: int = 0
    cluster: ClusterInfo | None = None
    push_bound: bool | None = None
    paused: bool | None = None
    ts: str | None = None


# ---------------------------------------------------------------------------------- account


class AccountLimits(Base):
    max_memory: int = 0
    max_storage: int = 0
    max_streams: int = 0
    max_consumers: int = 0
    max_ack_pending: int | None = None
    memory_max_stream_bytes: int | None = None
    storage_max_stream_bytes: int | None = None
    max_bytes_required: bool | None = None


class APIStats(Base):
    level: int | None = None
    total: int = 0
    errors: int = 0


class AccountInfo(Base):
    """What `$JS.API.INFO` answers."""

    memory: int = 0
    storage: int = 0
    streams: int = 0
    consumers: int = 0
    limits: AccountLimits = msgspec.field(default_factory=AccountLimits)
    api: APIStats = msgspec.field(default_factory=APIStats)
    domain: str | None = None


# ---------------------------------------------------------------------------------- messages


class PubAck(Base):
    """A publish's acknowledgement: the stream that stored it and its sequence there."""

    stream: str
    seq: int
    domain: str | None = None
    duplicate: bool | None = None


class RawStreamMsg(Base):
    """A stored message as `STREAM.MSG.GET` answers it (payload and headers base64)."""

    subject: str
    seq: int
    data: str | None = None
    hdrs: str | None = None
    time: str | None = None
