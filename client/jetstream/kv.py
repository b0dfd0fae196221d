"""`KeyValue`, a key/value bucket on a stream (ADR-8): bucket `B` is the stream `KV_B` storing
`$KV.B.<key>`, one message per revision, `max_msgs_per_subject` its history. A delete is a
message with `KV-Operation: DEL`, a purge one with `KV-Operation: PURGE` and `Nats-Rollup: sub`
(which removes the key's older revisions).

Reads go through direct get (any replica answers) when the bucket allows it. `keys()`,
`history()` and `watch()` read with an ordered consumer (push.py). A bucket made with
`type=` encodes and decodes values with msgspec JSON."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from zats.protocol.headers import Headers

from .errors import JetStreamError, MsgNotFoundError, WrongLastSequenceError
from .msg import JsMsg, Metadata
from .push import PushSubscription
from .structs import ConsumerConfig, DeliverPolicy, DiscardPolicy, StreamConfig, StreamInfo
from .watch import Watcher, rfc3339

Context = Any  # context.JetStreamContext (not imported: it imports this module)

DEL = "DEL"
PURGE = "PURGE"
PUT = "PUT"
_OP = "KV-Operation"
_MAX_HISTORY = 64


class KeyValueError(JetStreamError):
    """Base class of the KV errors."""


class BucketNotFoundError(KeyValueError):
    """No bucket of that name."""


class KeyNotFoundError(KeyValueError):
    """The key has no value (never set, or deleted/purged: see `KeyDeletedError`)."""


class KeyDeletedError(KeyNotFoundError):
    """The key's last revision is a delete or purge marker (`entry` is it)."""

    def __init__(self, entry: Entry):
        super().__init__(f"key {entry.key!r} was deleted ({entry.operation})")
        self.entry = entry


class KeyWrongLastSequenceError(KeyValueError):
    """`update`/`create`: the key's last revision is not the one expected (`create`: the key
    exists)."""


class InvalidKeyError(KeyValueError, ValueError):
    """A key with characters a subject token cannot hold (or starting/ending with '.')."""


class Entry(msgspec.Struct):
    """One revision of a key. `value` is bytes, or the decoded value of a typed bucket;
    `operation` is PUT, DEL or PURGE; `delta` is how many revisions came after it (in a watch
    or history, else 0)."""

    bucket: str
    key: str
    value: Any
    revision: int
    created: str | None = None
    delta: int = 0
    operation: str = PUT


class KeyValueConfig(msgspec.Struct, kw_only=True):
    """A bucket's settings: `ttl` and `limit_marker_ttl` in seconds."""

    bucket: str
    description: str | None = None
    max_value_size: int | None = None
    history: int = 1
    ttl: float | None = None
    max_bytes: int | None = None
    storage: str | None = None
    replicas: int = 1
    limit_marker_ttl: float | None = None


_KEY = re.compile(r"[-/_=.a-zA-Z0-9]+")
_KEY_FILTER = re.compile(r"[-/_=.a-zA-Z0-9*>]+")


def _check_key(key: str, wildcards: bool = False) -> str:
    if (not (_KEY_FILTER if wildcards else _KEY).fullmatch(key) or key.startswith(".")
            or key.endswith(".")):
        raise InvalidKeyError(f"invalid key {key!r}")
    return key


def check_bucket(bucket: str) -> str:
    if not bucket or not all(ch.isalnum() or ch in "-_" for ch in bucket):
        raise ValueError(f"invalid bucket name {bucket!r}")
    return bucket


def stream_config(config: KeyValueConfig) -> StreamConfig:
    """The stream of a bucket, as ADR-8 lays it out."""
    if not 1 <= config.history <= _MAX_HISTORY:
        raise ValueError(f"history must be from 1 to {_MAX_HISTORY}")
    bucket = check_bucket(config.bucket)
    window = 120.0 if not config.ttl else min(config.ttl, 120.0)
    return StreamConfig(
        name=f"KV_{bucket}", description=config.description, subjects=[f"$KV.{bucket}.>"],
        max_msgs_per_subject=config.history, max_bytes=config.max_bytes or -1,
        max_age=config.ttl or 0.0, max_msg_size=config.max_value_size or -1,
        storage=config.storage or "file", num_replicas=config.replicas, allow_rollup_hdrs=True,
        deny_delete=True, discard=DiscardPolicy.NEW, duplicate_window=window, allow_direct=True,
        allow_msg_ttl=True if config.limit_marker_ttl else None,
        subject_delete_marker_ttl=config.limit_marker_ttl)


class KeyValue:
    """A bucket: get `kv = await js.key_value("B")` or `await js.create_key_value(bucket="B")`."""

    def __init__(self, js: Context, bucket: str, info: StreamInfo, type: Any = None):
        self._js = js
        self.bucket = bucket
        self._stream = f"KV_{bucket}"
        self._prefix = f"$KV.{bucket}."
        self._direct = bool(info.config.allow_direct)
        self._type = type
        self._decode = msgspec.json.Decoder(type).decode if type is not None else None
        self._encode = msgspec.json.Encoder().encode

    # ---------------------------------------------------------------------------- values

    def _value_bytes(self, value: Any) -> bytes:
        if self._type is None or isinstance(value, (bytes, bytearray, memoryview)):
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError("values are bytes (or make the bucket with type=...)")
            return bytes(value)
        return self._encode(value)

    def _entry(self, key: str, data: bytes, headers: Headers | None, seq: int, created: str | None,
               delta: int = 0) -> Entry:
        op = PUT
        if headers is not None:
            op = headers.get(_OP) or PUT
        value: Any = data
        if op == PUT and self._decode is not None:
            value = self._decode(data)
        return Entry(self.bucket, key, value, seq, created, delta, op)

    async def get(self, key: str, revision: int | None = None) -> Entry:
        """The key's latest entry (or that of `revision`). `KeyNotFoundError` when it has none,
        `KeyDeletedError` when it was deleted or purged."""
        subject = self._prefix + _check_key(key)
        try:
            if revision is None and self._direct:
                msg = await self._js.direct_get_last(self._stream, subject)
            elif revision is None:
                msg = await self._js.get_msg(self._stream, subject=subject)
            else:
                msg = await self._js.get_msg(self._stream, revision, direct=self._direct)
                if msg.subject != subject:
                    raise KeyNotFoundError(f"revision {revision} is not of key {key!r}")
        except MsgNotFoundError:
            raise KeyNotFoundError(f"key {key!r} not found") from None
        entry = self._entry(key, msg.data, msg.headers, msg.seq, msg.time)
        if entry.operation != PUT:
            raise KeyDeletedError(entry)
        return entry

    async def put(self, key: str, value: Any) -> int:
        """Sets the key; returns its new revision."""
        ack = await self._js.publish(self._prefix + _check_key(key), self._value_bytes(value))
        return int(ack.seq)

    async def update(self, key: str, value: Any, last: int) -> int:
        """Sets the key if its latest revision is `last` (0: it has none);
        `KeyWrongLastSequenceError` otherwise."""
        try:
            ack = await self._js.publish(self._prefix + _check_key(key), self._value_bytes(value),
                                         expected_last_subject_seq=last)
        except WrongLastSequenceError as exc:
            raise KeyWrongLastSequenceError(str(exc)) from None
        return int(ack.seq)

    async def create(self, key: str, value: Any, ttl: float | None = None) -> int:
        """Sets the key only if it has no value (never set, deleted or purged);
        `KeyWrongLastSequenceError` when it has one. `ttl`: the key expires after that many
        seconds (the bucket needs `limit_marker_ttl`)."""
        data = self._value_bytes(value)
        subject = self._prefix + _check_key(key)
        headers = {"Nats-TTL": f"{int(ttl)}s"} if ttl else None
        try:
            return int((await self._js.publish(subject, data, headers=headers, expected_last_subject_seq=0)).seq)
        except WrongLastSequenceError:
            pass
        try:  # a deleted or purged key may be created again
            await self.get(key)
        except KeyDeletedError as deleted:
            try:
                ack = await self._js.publish(subject, data, headers=headers,
                                             expected_last_subject_seq=deleted.entry.revision)
            except WrongLastSequenceError as exc:
                raise KeyWrongLastSequenceError(str(exc)) from None
            return int(ack.seq)
        except KeyNotFoundError:
            pass
        raise KeyWrongLastSequenceError(f"key {key!r} exists")

    async def delete(self, key: str, last: int | None = None) -> None:
        """Deletes the key (its history stays); with `last`, only if that is its latest
        revision."""
        await self._marker(key, DEL, last)

    async def purge(self, key: str, last: int | None = None) -> None:
        """Deletes the key and its history (one purge marker stays)."""
        await self._marker(key, PURGE, last)

    async def _marker(self, key: str, op: str, last: int | None) -> None:
        headers = [(_OP, op)]
        if op == PURGE:
            headers.append(("Nats-Rollup", "sub"))
        try:
            await self._js.publish(self._prefix + _check_key(key), b"", headers=headers,
                                   expected_last_subject_seq=last)
        except WrongLastSequenceError as exc:
            raise KeyWrongLastSequenceError(str(exc)) from None

    async def status(self) -> StreamInfo:
        """The bucket's stream info (values, bytes, history, ttl...)."""
        info: StreamInfo = await self._js.stream_info(self._stream)
        return info

    # ---------------------------------------------------------------------------- reads over a consumer

    async def _read_all(self, subject: str, deliver: str, headers_only: bool) -> list[Entry]:
        """Every message a consumer from `deliver` policy sees, up to the stream's end now."""
        # a subject filter: are there messages of it? (">" matches every message)
        exact = not subject.endswith(">")
        info = await self._js.stream_info(self._stream, subjects_filter=subject if exact else None)
        if info.state.messages == 0 or (exact and not info.state.subjects):
            return []
        cfg = ConsumerConfig(deliver_policy=deliver, headers_only=headers_only or None,
                             filter_subject=subject)
        sub = await self._js.subscribe(subject, stream=self._stream, config=cfg, ordered_consumer=True)
        out: list[Entry] = []
        try:
            while True:
                msg = await sub.next_msg(timeout=self._js._timeout)
                meta = msg.metadata
                data = b"" if headers_only else msg.data
                created = rfc3339(meta.timestamp)
                out.append(self._entry(msg.subject[len(self._prefix):], data, msg.headers,
                                       meta.sequence.stream, created, meta.num_pending))
                if meta.num_pending == 0:
                    return out
        finally:
            await sub.unsubscribe()

    async def keys(self) -> list[str]:
        """The keys that have a value."""
        entries = await self._read_all(self._prefix + ">", DeliverPolicy.LAST_PER_SUBJECT, True)
        return [e.key for e in entries if e.operation == PUT]

    async def history(self, key: str) -> list[Entry]:
        """Every revision the bucket keeps of `key`, oldest first."""
        entries = await self._read_all(self._prefix + _check_key(key), DeliverPolicy.ALL, False)
        if not entries:
            raise KeyNotFoundError(f"key {key!r} not found")
        return entries

    async def watch(self, keys: str = ">", *, include_history: bool = False, ignore_deletes: bool = False,
                    meta_only: bool = False) -> KeyWatcher:
        """An async iterator of the entries of `keys` (wildcards allowed): first the latest of
        each (all revisions with `include_history`), then `None` once those were delivered,
        then each change as it happens. `await watcher.stop()` ends it."""
        subject = self._prefix + _check_key(keys, wildcards=True)
        info = await self._js.stream_info(self._stream, subjects_filter=subject)
        initial = sum((info.state.subjects or {}).values()) if info.state.subjects else 0
        cfg = ConsumerConfig(deliver_policy=DeliverPolicy.ALL if include_history else DeliverPolicy.LAST_PER_SUBJECT,
                             headers_only=meta_only or None, filter_subject=subject)
        sub = await self._js.subscribe(subject, stream=self._stream, config=cfg, ordered_consumer=True)
        return KeyWatcher(self, sub, initial == 0, ignore_deletes, meta_only)

    async def watch_all(self, **kw: Any) -> KeyWatcher:
        return await self.watch(">", **kw)


class KeyWatcher(Watcher[Entry]):
    """What `KeyValue.watch()` returns: `async for entry in watcher` (None marks the end of the
    initial values); `await watcher.updates(timeout)` for one; `await watcher.stop()`."""

    def __init__(self, kv: KeyValue, sub: PushSubscription, empty: bool, ignore_deletes: bool, meta_only: bool):
        super().__init__(sub, empty)
        self._kv = kv
        self._ignore_deletes = ignore_deletes
        self._meta_only = meta_only

    def _convert(self, msg: JsMsg, meta: Metadata) -> Entry | None:
        kv = self._kv
        entry = kv._entry(msg.subject[len(kv._prefix):], b"" if self._meta_only else msg.data,
                          msg.headers, meta.sequence.stream, rfc3339(meta.timestamp), meta.num_pending)
        if self._ignore_deletes and entry.operation != PUT:
            return None
        return entry
