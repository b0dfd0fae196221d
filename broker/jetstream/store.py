"""The JetStream storage interface: what a stream's message store and a consumer's state store
offer the layers above (streams, consumers, the $JS.API handlers).

Modelled on nats-server's StreamStore and ConsumerStore, with Python names and conventions:

- Subjects are `bytes` (as everywhere in the broker); a filter is a subject that may hold the
  `*` and `>` wildcards, and b"" or b">" mean every subject.
- Sequences are ints from 1; timestamps are nanoseconds since the epoch (`time.time_ns()`);
  durations (`max_age`, `subject_delete_marker_ttl`) are nanoseconds; a per-message TTL is in
  seconds as the `Nats-TTL` header gives it (-1: never expires).
- Lookups that find nothing raise: `MsgNotFound` (deleted or never stored), `StoreEOF` (past the
  last sequence). Limit refusals raise `MaxMsgsExceeded` and friends, as nats-server's ErrMaxMsgs.
- Message and byte counts follow nats-server's accounting, so stream info reports the same
  `bytes`: a memory store counts `len(subject) + len(headers) + len(data) + 16` per message, a
  file store the size of nats-server's record (`msg_size_file`).

Writes are batched: `store_msg` returns at once with the message's (seq, ts) and the store
appends it to a write buffer; `flush()` writes the buffer (and, with `sync_always`, fsyncs it).
A file store given `call_soon` flushes itself once per event-loop iteration. A publish may be
acknowledged once `flush()` has returned after its `store_msg`: with `sync_always` such a
message survives a crash of the process or of the machine.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "StorageType",
    "DiscardPolicy",
    "AckPolicy",
    "StoreConfig",
    "StoredMsg",
    "stored_msg",
    "SimpleState",
    "StreamState",
    "SequencePair",
    "Pending",
    "ConsumerState",
    "ConsumerStoreConfig",
    "StreamStore",
    "ConsumerStore",
    "StorageUpdateHandler",
    "ProcessMsgHandler",
    "StoreError",
    "StoreClosed",
    "MsgNotFound",
    "StoreEOF",
    "MaxMsgsExceeded",
    "MaxBytesExceeded",
    "MaxMsgsPerSubjectExceeded",
    "MsgTooLarge",
    "SequenceMismatch",
    "NoAckPolicy",
    "StorageFull",
    "CorruptState",
    "TooManyResults",
    "OldUpdate",
    "msg_size_memory",
    "msg_size_file",
]


class StorageType(enum.IntEnum):
    """nats-server's StorageType values."""

    FILE = 22
    MEMORY = 33


class DiscardPolicy(enum.IntEnum):
    OLD = 0  # remove the oldest messages to make room
    NEW = 1  # refuse the new message


class AckPolicy(enum.IntEnum):
    NONE = 0
    ALL = 1
    EXPLICIT = 2


# --- errors (nats-server's store.go errors) ---


class StoreError(Exception):
    """Base of the store's errors."""


class StoreClosed(StoreError):
    """The store was stopped or deleted (ErrStoreClosed)."""


class MsgNotFound(StoreError):
    """No message at that sequence or for that subject (ErrStoreMsgNotFound)."""


class StoreEOF(StoreError):
    """The sequence is past the last one (ErrStoreEOF)."""


class MaxMsgsExceeded(StoreError):
    """Discard new and max_msgs reached (ErrMaxMsgs)."""


class MaxBytesExceeded(StoreError):
    """Discard new and max_bytes reached (ErrMaxBytes)."""


class MaxMsgsPerSubjectExceeded(StoreError):
    """Discard new per subject and max_msgs_per_subject reached (ErrMaxMsgsPerSubject)."""


class MsgTooLarge(StoreError):
    """The message is over max_msg_size or what a record can hold (ErrMsgTooLarge)."""


class SequenceMismatch(StoreError):
    """store_raw_msg / skip_msg with a sequence that is not last_seq + 1 (ErrSequenceMismatch)."""


class NoAckPolicy(StoreError):
    """An ack update on a consumer with ack policy none (ErrNoAckPolicy)."""


class TooManyResults(StoreError):
    """More results than the request allows (ErrTooManyResults)."""


class OldUpdate(StoreError):
    """A consumer state update older than the stored state (ErrStoreOldUpdate)."""


class CorruptState(StoreError):
    """An encoded consumer state that cannot be decoded."""


class StorageFull(StoreError):
    """The disk is full (ENOSPC) or the file size limit was hit (EFBIG) while writing.

    Raised by store_msg: that message is not stored. Raised by flush: the messages from
    sequence `first_lost` on (the failed batch) are not stored and their sequences will be used
    again; those below it are. The API layer answers such publishes as nats-server answers when
    its storage resources are exhausted: JSInsufficientResourcesErr."""

    first_lost = 0
    code = 503
    err_code = 10023
    description = "insufficient resources"


# --- records and states ---


class StoredMsg:
    """One stored message. `headers` is None when the message has none. `data` (and `headers`)
    may be memoryviews over the store's buffers: valid until the caller drops them, but a copy
    (`bytes(m.data)`) is needed to keep them past a later purge or erase of a memory store."""

    __slots__ = ("subject", "seq", "headers", "data", "ts")

    def __init__(self, subject: bytes, seq: int, headers, data, ts: int) -> None:
        self.subject = subject
        self.seq = seq
        self.headers = headers
        self.data = data
        self.ts = ts

    def __repr__(self) -> str:
        return f"StoredMsg(subject={self.subject!r}, seq={self.seq}, ts={self.ts})"


def stored_msg(subject: bytes, seq: int, headers, data, ts: int) -> StoredMsg:
    """StoredMsg(subject, seq, headers, data, ts) as a store's read makes one per delivery: the
    compiled build calls this as C and fills the struct without a call of __init__."""
    m = StoredMsg.__new__(StoredMsg)
    m.subject = subject
    m.seq = seq
    m.headers = headers
    m.data = data
    m.ts = ts
    return m


@dataclass(slots=True)
class SimpleState:
    """Messages matching a filter: how many, and the first and last sequence among them."""

    msgs: int = 0
    first: int = 0
    last: int = 0


@dataclass(slots=True)
class StreamState:
    """A stream's state as nats-server's StreamState (stream info's "state")."""

    msgs: int = 0
    bytes: int = 0
    first_seq: int = 0
    first_ts: int = 0  # ns; 0 when the stream is empty
    last_seq: int = 0
    last_ts: int = 0
    num_subjects: int = 0
    num_deleted: int = 0  # interior gaps between first_seq and last_seq
    deleted: list[int] | None = None  # the gaps themselves, only when asked for
    consumer_count: int = 0


# StoreConfig, SequencePair, Pending and ConsumerState are written out rather than dataclasses:
# the compiled build makes them C structs (store.pxd), which a dataclass cannot be. They compare
# and print as the dataclasses they were, through these two over their fields.


def _same_fields(a, b, names: tuple) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in names)


def _fields_repr(obj, names: tuple) -> str:
    fields = ", ".join(f"{name}={getattr(obj, name)!r}" for name in names)
    return f"{type(obj).__name__}({fields})"


_STORE_CONFIG_FIELDS = ("name", "storage", "max_msgs", "max_bytes", "max_age",
                        "max_msgs_per_subject", "max_msg_size", "discard",
                        "discard_new_per_subject", "allow_msg_ttl", "subject_delete_marker_ttl")


class StoreConfig:
    """The parts of a stream's config the store enforces. -1 or 0 means no limit, as in
    nats-server. Written out rather than a dataclass (it compares and prints as one): the
    compiled build makes it a C struct (store.pxd), read on every store."""

    __slots__ = _STORE_CONFIG_FIELDS

    def __init__(self, name: str = "", storage: StorageType = StorageType.MEMORY,
                 max_msgs: int = -1, max_bytes: int = -1, max_age: int = 0,
                 max_msgs_per_subject: int = -1, max_msg_size: int = -1,
                 discard: DiscardPolicy = DiscardPolicy.OLD, discard_new_per_subject: bool = False,
                 allow_msg_ttl: bool = False, subject_delete_marker_ttl: int = 0) -> None:
        self.name = name
        self.storage = storage
        self.max_msgs = max_msgs
        self.max_bytes = max_bytes
        self.max_age = max_age  # ns
        self.max_msgs_per_subject = max_msgs_per_subject
        self.max_msg_size = max_msg_size
        self.discard = discard
        self.discard_new_per_subject = discard_new_per_subject
        self.allow_msg_ttl = allow_msg_ttl
        # > 0: a message removed by max_age or its TTL that is the last for its subject is
        # replaced by a delete marker through the process-msg handler (nats-server 2.11+). ns.
        self.subject_delete_marker_ttl = subject_delete_marker_ttl

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return _same_fields(self, other, _STORE_CONFIG_FIELDS)

    def __repr__(self) -> str:
        return _fields_repr(self, _STORE_CONFIG_FIELDS)


class SequencePair:
    __slots__ = ("consumer", "stream")

    def __init__(self, consumer: int = 0, stream: int = 0) -> None:
        self.consumer = consumer
        self.stream = stream

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return _same_fields(self, other, ("consumer", "stream"))

    def __repr__(self) -> str:
        return _fields_repr(self, ("consumer", "stream"))


class Pending:
    """A delivered, unacknowledged message: its delivery sequence and delivery time (ns)."""

    __slots__ = ("sequence", "timestamp")

    def __init__(self, sequence: int = 0, timestamp: int = 0) -> None:
        self.sequence = sequence
        self.timestamp = timestamp

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return _same_fields(self, other, ("sequence", "timestamp"))

    def __repr__(self) -> str:
        return _fields_repr(self, ("sequence", "timestamp"))


def pending_entry(sequence: int, timestamp: int) -> Pending:
    """Pending(sequence, timestamp) as a delivery makes one: the compiled build calls this as C
    and fills the struct without a call of __init__."""
    p = Pending.__new__(Pending)
    p.sequence = sequence
    p.timestamp = timestamp
    return p


_CONSUMER_STATE_FIELDS = ("delivered", "ack_floor", "pending", "redelivered")


class ConsumerState:
    """A consumer's delivery and ack state, as nats-server's ConsumerState. `pending` and
    `redelivered` are keyed by stream sequence."""

    __slots__ = _CONSUMER_STATE_FIELDS

    def __init__(self, delivered: SequencePair | None = None, ack_floor: SequencePair | None = None,
                 pending: dict[int, Pending] | None = None,
                 redelivered: dict[int, int] | None = None) -> None:
        self.delivered = SequencePair() if delivered is None else delivered
        self.ack_floor = SequencePair() if ack_floor is None else ack_floor
        self.pending = {} if pending is None else pending
        self.redelivered = {} if redelivered is None else redelivered

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return _same_fields(self, other, _CONSUMER_STATE_FIELDS)

    def __repr__(self) -> str:
        return _fields_repr(self, _CONSUMER_STATE_FIELDS)


@dataclass(slots=True)
class ConsumerStoreConfig:
    """What the consumer store needs from a consumer's config."""

    ack_policy: AckPolicy = AckPolicy.EXPLICIT
    max_deliver: int = -1


def msg_size_memory(subject: bytes, headers, data) -> int:
    """nats-server's memory store accounting of one message."""
    return len(subject) + (len(headers) if headers else 0) + len(data) + 16


def msg_size_file(subject: bytes, headers, data) -> int:
    """nats-server's file store accounting of one message (its record size)."""
    if headers:
        return 22 + len(subject) + 4 + len(headers) + len(data) + 8
    return 22 + len(subject) + len(data) + 8


# (msgs delta, bytes delta, seq or 0, subject or b""): called after every change of the store's
# totals, for one message with its seq and subject, for several with 0 and b"".
StorageUpdateHandler = Callable[[int, int, int, bytes], None]
# (subject, headers): the store asks the stream to process (store and deliver) a message it
# generates itself, such as a subject delete marker.
ProcessMsgHandler = Callable[[bytes, bytes], None]


class StreamStore(ABC):
    """A stream's messages. Not thread-safe: used from the broker's event loop."""

    config: StoreConfig

    @property
    @abstractmethod
    def type(self) -> StorageType: ...

    # --- writing ---

    @abstractmethod
    def store_msg(self, subject: bytes, headers, data, ttl: int = 0) -> tuple[int, int]:
        """Store at the next sequence; return (seq, ts). Applies discard-new refusals, then the
        limits (discard old). `ttl` in seconds (0: none, -1: never expires by max_age)."""

    @abstractmethod
    def store_raw_msg(
        self,
        subject: bytes,
        headers,
        data,
        seq: int,
        ts: int,
        ttl: int = 0,
        discard_new_check: bool = True,
    ) -> None:
        """Store with an explicit sequence and timestamp (StoreRawMsg). `seq` must be
        last_seq + 1, or 0 for the next one; else SequenceMismatch."""

    @abstractmethod
    def skip_msg(self, seq: int = 0) -> int:
        """Use up a sequence without storing anything (SkipMsg); return it."""

    @abstractmethod
    def skip_msgs(self, seq: int, num: int) -> None:
        """Use up `num` sequences from `seq` (SkipMsgs)."""

    @abstractmethod
    def flush(self) -> None:
        """Write what is buffered (FlushAllPending); fsync too with sync_always."""

    @abstractmethod
    def sync(self) -> None:
        """Write and fsync everything now, whatever the sync policy."""

    # --- reading ---

    @abstractmethod
    def load_msg(self, seq: int) -> StoredMsg:
        """The message at `seq`. MsgNotFound, or StoreEOF past the last sequence."""

    @abstractmethod
    def load_next_msg(self, filter: bytes, start: int) -> StoredMsg:
        """The first message at or after `start` whose subject matches `filter` (b"" or b">":
        any). StoreEOF when there is none."""

    @abstractmethod
    def load_next_msg_multi(self, filters: Iterable[bytes], start: int) -> StoredMsg:
        """As load_next_msg, matching any of several filters."""

    @abstractmethod
    def load_last_msg(self, filter: bytes) -> StoredMsg:
        """The last message whose subject matches `filter`. MsgNotFound when none."""

    @abstractmethod
    def load_prev_msg(self, filter: bytes, start: int) -> StoredMsg:
        """The last message at or before `start` matching `filter`. StoreEOF when none."""

    @abstractmethod
    def subject_for_seq(self, seq: int) -> bytes:
        """The subject of the message at `seq` (MsgNotFound)."""

    @abstractmethod
    def get_seq_from_time(self, ts: int) -> int:
        """The first sequence whose timestamp is >= ts; last_seq + 1 when none."""

    # --- removing ---

    @abstractmethod
    def remove_msg(self, seq: int) -> bool:
        """Delete one message; False when it was not there."""

    @abstractmethod
    def erase_msg(self, seq: int) -> bool:
        """Delete one message and overwrite its bytes (secure delete)."""

    @abstractmethod
    def purge(self) -> int:
        """Remove every message; the next one gets last_seq + 1. Returns how many."""

    @abstractmethod
    def purge_ex(self, subject: bytes = b"", seq: int = 0, keep: int = 0) -> int:
        """nats-server's PurgeEx: remove the messages matching `subject` (b"": all) below `seq`
        (0: any), keeping the newest `keep` of them (0: none kept)."""

    @abstractmethod
    def compact(self, seq: int) -> int:
        """Remove every message below `seq` (first_seq becomes `seq`)."""

    @abstractmethod
    def truncate(self, seq: int) -> None:
        """Remove every message above `seq` (last_seq becomes `seq`); 0 resets the store."""

    @abstractmethod
    def expire(self) -> None:
        """Remove what max_age and per-message TTLs have expired by now. A store given
        `call_later` runs this on its own timer; without, stores run it on access."""

    # --- state ---

    @abstractmethod
    def state(self, deleted: bool = False) -> StreamState:
        """The stream's state; `deleted` lists the interior gaps too."""

    @abstractmethod
    def filtered_state(self, seq: int, filter: bytes) -> SimpleState:
        """Messages at or after `seq` matching `filter`."""

    @abstractmethod
    def subjects_state(self, filter: bytes = b"") -> dict[bytes, SimpleState]:
        """Per-subject state of the subjects matching `filter`."""

    @abstractmethod
    def subjects_totals(self, filter: bytes = b"") -> dict[bytes, int]:
        """Per-subject message counts of the subjects matching `filter`."""

    @abstractmethod
    def num_pending(self, start: int, filter: bytes, last_per_subject: bool = False) -> tuple[int, int]:
        """Messages at or after `start` matching `filter` (with `last_per_subject`, only the
        last message of each subject counts); returns (count, valid_through = last_seq)."""

    @abstractmethod
    def num_pending_multi(
        self, start: int, filters: Iterable[bytes], last_per_subject: bool = False
    ) -> tuple[int, int]:
        """As num_pending, matching any of several filters."""

    @abstractmethod
    def multi_last_seqs(self, filters: Iterable[bytes], max_seq: int = 0, max_allowed: int = 0) -> list[int]:
        """Sorted sequences of the last message of each subject matching any filter, at or
        below `max_seq` (0: any). More than `max_allowed` (> 0) results raise TooManyResults."""

    @abstractmethod
    def all_last_seqs(self) -> list[int]:
        """Sorted sequences of the last message of every subject."""

    # --- config, callbacks, lifecycle ---

    @abstractmethod
    def update_config(self, config: StoreConfig) -> None:
        """Apply new limits (enforced at once)."""

    @abstractmethod
    def register_storage_updates(self, handler: StorageUpdateHandler | None) -> None: ...

    @abstractmethod
    def register_process_msg(self, handler: ProcessMsgHandler | None) -> None: ...

    @abstractmethod
    def stop(self) -> None:
        """Flush, sync and close; the store refuses further use (StoreClosed)."""

    @abstractmethod
    def delete(self) -> None:
        """Stop and remove everything the store holds, its consumers' state included."""

    @abstractmethod
    def consumer_store(
        self, name: str, created: int, config: ConsumerStoreConfig, metadata: bytes | None = None
    ) -> ConsumerStore:
        """Open (recovering its state when one was saved) or create a consumer's state store,
        and count it in consumer_count. `metadata` (the consumer's config as the API layer
        encodes it) is kept with it."""

    @abstractmethod
    def remove_consumer(self, consumer: ConsumerStore) -> None: ...

    @abstractmethod
    def consumers(self) -> Iterator[ConsumerStore]: ...


class ConsumerStore(ABC):
    """A consumer's delivered/ack state (nats-server's ConsumerStore)."""

    name: str
    config: ConsumerStoreConfig
    # Whether its state lives in a file. nats-server reports a consumer's delivered position
    # from its store once the store has state: a file store always has (its state file), a
    # memory store from its first delivery or a start past sequence 0.
    on_disk = False

    @abstractmethod
    def set_starting(self, sseq: int) -> None:
        """Start delivery after stream sequence `sseq`: delivered and ack floor both there."""

    @abstractmethod
    def update_starting(self, sseq: int) -> None:
        """Move the starting point up (no effect with pending messages)."""

    @abstractmethod
    def reset(self, sseq: int) -> None:
        """Forget all state and start after `sseq`."""

    @abstractmethod
    def has_state(self) -> bool: ...

    @abstractmethod
    def update_delivered(self, dseq: int, sseq: int, dc: int, ts: int) -> None:
        """Delivery `dseq` of stream message `sseq`, its `dc`-th, at `ts` (ns)."""

    @abstractmethod
    def update_acks(self, dseq: int, sseq: int) -> None:
        """An ack of delivery `dseq` of stream message `sseq` (MsgNotFound: not pending)."""

    @abstractmethod
    def update(self, state: ConsumerState) -> None:
        """Replace the state unless it is older than the stored one."""

    @abstractmethod
    def force_update(self, state: ConsumerState) -> None:
        """Replace the state, even with an older one."""

    @abstractmethod
    def remove_redelivered_below(self, seq: int) -> None:
        """Forget redelivery counts of stream sequences below `seq`."""

    @abstractmethod
    def state(self) -> ConsumerState:
        """A copy of the state."""

    @abstractmethod
    def encoded_state(self) -> bytes: ...

    @abstractmethod
    def update_config(self, config: ConsumerStoreConfig, metadata: bytes | None = None) -> None: ...

    @abstractmethod
    def metadata(self) -> bytes | None: ...

    @abstractmethod
    def flush(self) -> None:
        """Persist the state if it changed (never ahead of the stream's own data)."""

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def delete(self) -> None: ...
