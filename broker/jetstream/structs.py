"""The JSON shapes of the JetStream API, as nats-server 2.15 reads and writes them.

A field nats-server writes always has an ordinary default; a field it leaves out when empty
(Go's `omitempty`) defaults to UNSET, which msgspec leaves out on encoding. Decoding refuses
unknown fields, as nats-server does (`invalid JSON: json: unknown field "x"`). Durations are
nanoseconds, as Go's time.Duration."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

NS = 1_000_000_000

# nats-server's defaults
DEFAULT_DUPLICATE_WINDOW = 120 * NS
DEFAULT_ACK_WAIT = 30 * NS
DEFAULT_MAX_WAITING = 512
DEFAULT_MAX_ACK_PENDING = 1000
DEFAULT_INACTIVE_THRESHOLD = 5 * NS
API_LEVEL = 5


class ConsumerLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    inactive_threshold: int | UnsetType = UNSET
    max_ack_pending: int | UnsetType = UNSET


class StreamConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str = ""
    description: str | UnsetType = UNSET
    subjects: list[str] | UnsetType = UNSET
    retention: str = "limits"
    max_consumers: int = -1
    max_msgs: int = -1
    max_bytes: int = -1
    max_age: int = 0
    max_msgs_per_subject: int = -1
    max_msg_size: int | UnsetType = -1
    discard: str = "old"
    storage: str = "file"
    num_replicas: int = 1
    no_ack: bool | UnsetType = UNSET
    duplicate_window: int | UnsetType = UNSET
    placement: dict | UnsetType = UNSET
    mirror: dict | UnsetType = UNSET
    sources: list[dict] | UnsetType = UNSET
    compression: str = "none"
    first_seq: int | UnsetType = UNSET
    subject_transform: dict | UnsetType = UNSET
    republish: dict | UnsetType = UNSET
    allow_direct: bool = False
    mirror_direct: bool = False
    discard_new_per_subject: bool | UnsetType = UNSET
    sealed: bool = False
    deny_delete: bool = False
    deny_purge: bool = False
    allow_rollup_hdrs: bool = False
    consumer_limits: ConsumerLimits = msgspec.field(default_factory=ConsumerLimits)
    allow_msg_ttl: bool = False
    subject_delete_marker_ttl: int | UnsetType = UNSET
    allow_msg_counter: bool | UnsetType = UNSET
    allow_atomic: bool | UnsetType = UNSET
    allow_msg_schedules: bool | UnsetType = UNSET
    persist_mode: str | UnsetType = UNSET
    allow_batched: bool | UnsetType = UNSET
    metadata: dict[str, str] | UnsetType = UNSET


class ConsumerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    durable_name: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    deliver_policy: str = "all"
    opt_start_seq: int | UnsetType = UNSET
    opt_start_time: str | UnsetType = UNSET
    ack_policy: str = "none"
    ack_wait: int | UnsetType = UNSET
    max_deliver: int | UnsetType = UNSET
    backoff: list[int] | UnsetType = UNSET
    filter_subject: str | UnsetType = UNSET
    filter_subjects: list[str] | UnsetType = UNSET
    replay_policy: str = "instant"
    rate_limit_bps: int | UnsetType = UNSET
    sample_freq: str | UnsetType = UNSET
    max_waiting: int | UnsetType = UNSET
    max_ack_pending: int | UnsetType = UNSET
    flow_control: bool | UnsetType = UNSET
    headers_only: bool | UnsetType = UNSET
    max_batch: int | UnsetType = UNSET
    max_expires: int | UnsetType = UNSET
    max_bytes: int | UnsetType = UNSET
    deliver_subject: str | UnsetType = UNSET
    deliver_group: str | UnsetType = UNSET
    idle_heartbeat: int | UnsetType = UNSET
    inactive_threshold: int | UnsetType = UNSET
    num_replicas: int = 0
    mem_storage: bool | UnsetType = UNSET
    direct: bool | UnsetType = UNSET
    sourcing: bool | UnsetType = UNSET
    metadata: dict[str, str] | UnsetType = UNSET
    pause_until: str | UnsetType = UNSET
    priority_groups: list[str] | UnsetType = UNSET
    priority_policy: str | UnsetType = UNSET
    priority_timeout: int | UnsetType = UNSET


class CreateConsumerRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    stream_name: str = ""
    config: ConsumerConfig | None = None
    action: str = ""
    pedantic: bool = False


class NextRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    expires: int = 0
    batch: int = 0
    max_bytes: int = 0
    no_wait: bool = False
    idle_heartbeat: int = 0
    group: str = ""
    id: str = ""
    min_pending: int = 0
    min_ack_pending: int = 0
    priority: int = 0


class MsgGetRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    seq: int = 0
    last_by_subj: str = ""
    next_by_subj: str = ""
    batch: int = 0
    max_bytes: int = 0
    start_time: str = ""
    multi_last: list[str] | None = None
    up_to_seq: int = 0
    up_to_time: str = ""
    no_hdr: bool = False


class PurgeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    filter: str = ""
    seq: int = 0
    keep: int = 0


class MsgDeleteRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    seq: int = 0
    no_erase: bool = False


class ListRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    offset: int = 0
    subject: str = ""


class StreamInfoRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    deleted_details: bool = False
    subjects_filter: str = ""
    offset: int = 0


class PauseRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pause_until: str = ""


def go_error(exc: Exception) -> str:
    """A decode error in the words of Go's encoding/json, for the common cases."""
    text = str(exc)
    if text.startswith("Object contains unknown field `"):
        field = text.split("`")[1]
        return f'json: unknown field "{field}"'
    return text


def go_quote(text: str) -> str:
    """Go's %q of a string (ASCII cases)."""
    import json
    return json.dumps(text)


def enum_error(value: str) -> str:
    """nats-server's error for a policy value it does not know (its UnmarshalJSON)."""
    import json
    return f"can not unmarshal {go_quote(json.dumps(value))}"


def first_enum_error(body, enums: dict, struct) -> str | None:
    """The error Go's decoder stops at in a decoded JSON object: the first bad enum value in
    document order, unless an unknown field comes before it (None then, or when all is well)."""
    if not isinstance(body, dict):
        return None
    known = {f.encode_name for f in msgspec.structs.fields(struct)}
    for key, value in body.items():
        if key not in known:
            return None
        if key in enums and isinstance(value, str) and value not in enums[key]:
            return enum_error(value)
    return None
