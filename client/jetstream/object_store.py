"""`ObjectStore`, an object store bucket on a stream (ADR-20): bucket `B` is the stream `OBJ_B`;
an object is its chunks on `$O.B.C.<nuid>` (a new nuid each time the name is put) and its info,
JSON, on `$O.B.M.<base64url name>`, published with `Nats-Rollup: sub` so only the latest stays.
A delete is an info with `deleted: true` (the chunks are purged); a link is an info whose
`options.link` names another object (or a whole bucket).

`put()` streams: it reads the source a chunk at a time (bytes, a file, an async iterator) and
publishes with a window of acks outstanding, so an object is never held whole in memory.
Reading is object_chunks.py's `ChunkReader`; `get()` gathers its chunks, `get(writeinto=f)` and
`reader()` stream them."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import io
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import msgspec

from ..mux import random_token
from . import kv
from .errors import MsgNotFoundError
from .msg import JsMsg, Metadata
from .object_chunks import (
    BadObjectMetaError,
    ChunkReader,
    DigestMismatchError,
    ObjectSizeMismatchError,
    ObjectStoreError,
    digest_of,
    parse_digest,
)
from .structs import ConsumerConfig, DeliverPolicy, DiscardPolicy, Placement, StreamConfig, StreamInfo
from .watch import Watcher, rfc3339

Context = Any  # context.JetStreamContext (not imported: it imports this module)

DEFAULT_CHUNK_SIZE = 128 * 1024  # ADR-20's default
# What put() keeps published and not yet acknowledged, and get() asks for ahead of the reader.
WINDOW_BYTES = 4 * 1024 * 1024
# put() reads a file this much at a time (a whole number of chunks)
_READ_BLOCK = 1024 * 1024
_ROLLUP = {"Nats-Rollup": "sub"}
# mtime is never stored (ADR-20): nats.go writes Go's zero time, so do we
_ZERO_TIME = "0001-01-01T00:00:00Z"

__all__ = [
    "BadObjectMetaError", "BucketNotFoundError", "DigestMismatchError", "InvalidLinkError",
    "InvalidObjectNameError", "LinkIsABucketError", "ObjectAlreadyExistsError", "ObjectDeletedError",
    "ObjectInfo", "ObjectLink", "ObjectMeta", "ObjectMetaOptions", "ObjectNotFoundError", "ObjectReader",
    "ObjectResult", "ObjectSizeMismatchError", "ObjectStore", "ObjectStoreConfig", "ObjectStoreError",
    "ObjectStoreStatus", "ObjectWatcher",
]


class BucketNotFoundError(kv.BucketNotFoundError, ObjectStoreError):
    """No object store of that name."""


class ObjectNotFoundError(ObjectStoreError):
    """No object of that name (never put, or deleted)."""


class ObjectDeletedError(ObjectNotFoundError):
    """`update_meta` of a deleted object."""


class ObjectAlreadyExistsError(ObjectStoreError):
    """`update_meta` renaming onto, or a link named as, an object that exists."""


class LinkIsABucketError(ObjectStoreError):
    """`get` of a link to a whole bucket (it has no data)."""


class InvalidLinkError(ObjectStoreError, ValueError):
    """A link to a deleted object or to another link, or `put` of an info holding a link."""


class InvalidObjectNameError(ObjectStoreError, ValueError):
    """An empty object name."""


# ---------------------------------------------------------------------------------- documents


class ObjectLink(msgspec.Struct, omit_defaults=True):
    """A link's target: `bucket`, and `name` (None: the whole bucket)."""

    bucket: str
    name: str | None = None


class ObjectMetaOptions(msgspec.Struct, omit_defaults=True):
    link: ObjectLink | None = None
    max_chunk_size: int | None = None


class ObjectMeta(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What the user says about an object. `headers` maps names to lists of values."""

    name: str = ""
    description: str | None = None
    headers: dict[str, list[str]] | None = None
    metadata: dict[str, str] | None = None
    options: ObjectMetaOptions | None = None


class ObjectInfo(msgspec.Struct, omit_defaults=True, kw_only=True):
    """An object's info, its meta message (fields in nats.go's order). `mtime` is the time the
    server stored it (RFC 3339), `digest` `SHA-256=<base64url>`."""

    name: str
    description: str | None = None
    headers: dict[str, list[str]] | None = None
    metadata: dict[str, str] | None = None
    options: ObjectMetaOptions | None = None
    bucket: str
    nuid: str
    size: int
    mtime: str
    chunks: int
    digest: str | None = None
    deleted: bool = False

    @property
    def meta(self) -> ObjectMeta:
        return ObjectMeta(name=self.name, description=self.description, headers=self.headers,
                          metadata=self.metadata, options=self.options)

    def is_link(self) -> bool:
        return self.options is not None and self.options.link is not None


# Fields a meta message may leave out (nats.go always writes them), so reading is lenient.
_INFO_DEFAULTS = {"name": "", "bucket": "", "nuid": "", "size": 0, "mtime": _ZERO_TIME, "chunks": 0}


def decode_info(data: bytes, mtime: str | None) -> ObjectInfo:
    """The `ObjectInfo` of a meta message (its `mtime` the message's time);
    `BadObjectMetaError` when it is not one."""
    try:
        obj = msgspec.json.decode(data)
        if not isinstance(obj, dict):
            raise BadObjectMetaError(f"object info is not a JSON object: {data[:80]!r}")
        for key, value in _INFO_DEFAULTS.items():
            obj.setdefault(key, value)
        if mtime:
            obj["mtime"] = mtime
        return msgspec.convert(obj, ObjectInfo)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadObjectMetaError(f"invalid object info: {exc}") from None


def _now() -> str:
    return rfc3339(int(datetime.datetime.now(datetime.UTC).timestamp() * 1e9))


class ObjectResult(msgspec.Struct):
    """What `get()` returns: the object's `info` and its `data` (b"" when written into a file)."""

    info: ObjectInfo
    data: bytes = b""


class ObjectStoreConfig(msgspec.Struct, kw_only=True):
    """A bucket's settings: `ttl` in seconds; `compression` stores it s2-compressed."""

    bucket: str
    description: str | None = None
    ttl: float | None = None
    max_bytes: int | None = None
    storage: str | None = None
    replicas: int = 1
    placement: Placement | None = None
    compression: bool = False
    metadata: dict[str, str] | None = None


def stream_config(config: ObjectStoreConfig) -> StreamConfig:
    """The stream of a bucket, as ADR-20 (and nats.go) lay it out."""
    bucket = kv.check_bucket(config.bucket)
    return StreamConfig(
        name=f"OBJ_{bucket}", description=config.description,
        subjects=[f"$O.{bucket}.C.>", f"$O.{bucket}.M.>"], max_age=config.ttl or 0.0,
        max_bytes=config.max_bytes or -1, storage=config.storage or "file", num_replicas=config.replicas,
        placement=config.placement, discard=DiscardPolicy.NEW, allow_rollup_hdrs=True, allow_direct=True,
        compression="s2" if config.compression else None, metadata=config.metadata)


class ObjectStoreStatus(msgspec.Struct):
    """A bucket's status, from its stream's info."""

    bucket: str
    stream_info: StreamInfo

    @property
    def description(self) -> str | None:
        return self.stream_info.config.description

    @property
    def ttl(self) -> float | None:
        return self.stream_info.config.max_age

    @property
    def storage_type(self) -> str | None:
        return self.stream_info.config.storage

    @property
    def replicas(self) -> int | None:
        return self.stream_info.config.num_replicas

    @property
    def sealed(self) -> bool:
        return bool(self.stream_info.config.sealed)

    @property
    def size(self) -> int:
        """Bytes of the bucket's stream (chunks and infos)."""
        return self.stream_info.state.bytes

    @property
    def metadata(self) -> dict[str, str] | None:
        return self.stream_info.config.metadata

    @property
    def is_compressed(self) -> bool:
        return self.stream_info.config.compression == "s2"

    backing_store = "JetStream"


# ---------------------------------------------------------------------------------- sources


def _fill(source: Any, buf: bytearray, sha: Any) -> int:
    """Reads `source` into `buf` until it is full or the source ends, hashes what was read,
    and returns its length (run in a thread: file reads block, and hashing releases the GIL)."""
    view = memoryview(buf)
    n = 0
    while n < len(buf):
        got = source.readinto(view[n:])
        if not got:
            break
        n += got
    sha.update(view[:n])
    return n


async def _pieces(data: Any, chunk_size: int, sha: Any) -> AsyncIterator[bytes | memoryview]:
    """`data` (bytes-like, str, a binary file, an iterable or async iterable of bytes) as
    pieces of `chunk_size` bytes (the last one shorter), each hashed into `sha` before it is
    given. A file is read a block of several chunks at a time (fewer thread hand-offs), into
    one buffer: a piece is valid until the next one is asked for."""
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data).cast("B")
        for start in range(0, len(view), chunk_size):
            piece = view[start:start + chunk_size]
            sha.update(piece)
            yield piece
        return
    if isinstance(data, io.TextIOWrapper):
        data = data.buffer
    if hasattr(data, "readinto"):
        buf = bytearray(chunk_size * max(1, _READ_BLOCK // chunk_size))
        view = memoryview(buf)
        loop = asyncio.get_running_loop()
        in_memory = isinstance(data, io.BytesIO)
        while True:
            n = _fill(data, buf, sha) if in_memory else await loop.run_in_executor(None, _fill, data, buf, sha)
            for start in range(0, n, chunk_size):
                yield view[start:min(n, start + chunk_size)]
            if n < len(buf):
                return
    if hasattr(data, "read"):
        parts: Any = _reads(data, chunk_size)
    elif isinstance(data, AsyncIterable):
        parts = data
    elif hasattr(data, "__iter__"):
        parts = _aiter(data)
    else:
        raise TypeError(f"cannot put a {type(data).__name__}: bytes, str, a binary file or an iterable of bytes")
    pending = bytearray()
    async for part in parts:
        if not isinstance(part, (bytes, bytearray, memoryview)):
            raise TypeError(f"put() reads bytes, not {type(part).__name__}")
        pending += part
        while len(pending) >= chunk_size:
            full = bytes(pending[:chunk_size])
            del pending[:chunk_size]
            sha.update(full)
            yield full
    if pending:
        sha.update(pending)
        yield bytes(pending)


async def _reads(source: Any, size: int) -> AsyncIterator[Any]:
    """What `source.read(size)` gives (in a thread), until it gives nothing."""
    loop = asyncio.get_running_loop()
    while part := await loop.run_in_executor(None, source.read, size):
        yield part


async def _aiter(items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


# ---------------------------------------------------------------------------------- the store


class ObjectStore:
    """A bucket: `obs = await js.object_store("B")` or `await js.create_object_store("B")`."""

    def __init__(self, js: Context, bucket: str, info: StreamInfo):
        self._js = js
        self.bucket = bucket
        self._stream = f"OBJ_{bucket}"
        self._direct = bool(info.config.allow_direct)

    def _meta_subject(self, name: str) -> str:
        if not name:
            raise InvalidObjectNameError("an object needs a name")
        return f"$O.{self.bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"

    def _chunk_subject(self, nuid: str) -> str:
        return f"$O.{self.bucket}.C.{nuid}"

    async def _publish_info(self, info: ObjectInfo) -> None:
        stored = msgspec.structs.replace(info, mtime=_ZERO_TIME)
        await self._js.publish(self._meta_subject(info.name), msgspec.json.encode(stored), headers=_ROLLUP)

    async def _purge_chunks(self, nuid: str) -> None:
        await self._js.purge_stream(self._stream, subject=self._chunk_subject(nuid))

    # ---------------------------------------------------------------------------- info

    async def get_info(self, name: str, show_deleted: bool = False) -> ObjectInfo:
        """The object's info (a link's own info, not its target's). `ObjectNotFoundError` when
        there is none or it is deleted (unless `show_deleted`); `BadObjectMetaError` when its
        meta message is not an object info."""
        try:
            msg = await self._js.get_msg(self._stream, subject=self._meta_subject(name), direct=self._direct)
        except MsgNotFoundError:
            raise ObjectNotFoundError(f"object {name!r} not found in bucket {self.bucket!r}") from None
        info = decode_info(msg.data, msg.time)
        if info.deleted and not show_deleted:
            raise ObjectNotFoundError(f"object {name!r} was deleted")
        return info

    async def _existing(self, name: str) -> ObjectInfo | None:
        """The info under `name` (deleted ones too), None when there is none or it is corrupt
        (so that a put can replace a corrupt entry)."""
        try:
            return await self.get_info(name, show_deleted=True)
        except (ObjectNotFoundError, BadObjectMetaError):
            return None

    # ---------------------------------------------------------------------------- put

    async def put(self, name: str, data: Any = b"", meta: ObjectMeta | None = None, *,
                  description: str | None = None, headers: dict[str, list[str]] | None = None,
                  metadata: dict[str, str] | None = None, chunk_size: int | None = None) -> ObjectInfo:
        """Stores `data` (bytes, str, a binary file object, an iterable or async iterable of
        bytes) as the object `name`, replacing one of that name. `meta` (or `description`,
        `headers`, `metadata`) describes it; `chunk_size` (or `meta.options.max_chunk_size`,
        default 128 KiB) is the size of its chunks. Returns its info."""
        if meta is None:
            meta = ObjectMeta(name=name, description=description, headers=headers, metadata=metadata)
        elif name:
            meta = msgspec.structs.replace(meta, name=name)
        if meta.options is not None and meta.options.link is not None:
            raise InvalidLinkError("put() cannot store a link: use add_link() or add_bucket_link()")
        size = chunk_size or (meta.options.max_chunk_size if meta.options else None) or DEFAULT_CHUNK_SIZE
        if size <= 0:
            raise ValueError("chunk_size must be positive")
        meta_subject = self._meta_subject(meta.name)  # checks the name
        existing = await self._existing(meta.name)
        nuid = random_token(16)
        subject = self._chunk_subject(nuid)
        js = self._js
        sha = hashlib.sha256()
        total = chunks = 0
        window = max(2, WINDOW_BYTES // size)
        acks: deque[asyncio.Future[Any]] = deque()
        try:
            async for piece in _pieces(data, size, sha):
                total += len(piece)
                chunks += 1
                acks.append(await js.publish_async(subject, piece))
                if len(acks) >= window:
                    await acks.popleft()
            while acks:
                await acks.popleft()
            info = ObjectInfo(name=meta.name, description=meta.description, headers=meta.headers,
                              metadata=meta.metadata, options=ObjectMetaOptions(max_chunk_size=size),
                              bucket=self.bucket, nuid=nuid, size=total, mtime=_ZERO_TIME, chunks=chunks,
                              digest=digest_of(sha))
            await js.publish(meta_subject, msgspec.json.encode(info), headers=_ROLLUP)
        except BaseException:
            if chunks:
                await asyncio.shield(self._discard(nuid, acks))
            raise
        if existing is not None and not existing.deleted and existing.nuid:
            await self._purge_chunks(existing.nuid)
        return msgspec.structs.replace(info, mtime=_now())

    async def _discard(self, nuid: str, acks: deque[asyncio.Future[Any]]) -> None:
        """Purges the chunks of a put that failed, once those in flight are stored (nats-server
        stores publishes and answers the API on different goroutines: a purge sent at once could
        come before them)."""
        try:
            if acks:
                await asyncio.wait(acks, timeout=self._js._timeout)
                for ack in acks:  # their errors, if any, are not the put's
                    if ack.done() and not ack.cancelled():
                        ack.exception()
            await self._purge_chunks(nuid)
        except Exception:  # the put's own error matters more
            pass

    # ---------------------------------------------------------------------------- get

    async def _target(self, name: str, show_deleted: bool) -> tuple[ObjectStore, ObjectInfo]:
        """The store and info of the object `name` names: itself, or a link's target."""
        info = await self.get_info(name, show_deleted)
        link = info.options.link if info.options is not None else None
        if link is not None:
            if not link.name:
                raise LinkIsABucketError(f"object {name!r} is a link to bucket {link.bucket!r}")
            store = self if link.bucket == self.bucket else await self._js.object_store(link.bucket)
            info = await store.get_info(link.name)
            if info.is_link():
                raise InvalidLinkError(f"object {name!r} links to another link")
            return store, info
        return self, info

    async def reader(self, name: str, show_deleted: bool = False) -> ObjectReader:
        """The object as a stream: `reader.info`, then `async for chunk in reader` (bytes).
        A link is followed. After the last chunk the size and digest are checked
        (`ObjectSizeMismatchError`, `DigestMismatchError`)."""
        store, info = await self._target(name, show_deleted)
        if not info.nuid:
            raise BadObjectMetaError(f"object {name!r} has no nuid")
        digest = parse_digest(info.digest) if info.chunks or info.size or info.digest else hashlib.sha256().digest()
        chunks = ChunkReader(store._js, store._stream, store._chunk_subject(info.nuid), info.chunks, info.size,
                             digest, store._direct, WINDOW_BYTES)
        return ObjectReader(info, chunks)

    async def get(self, name: str, writeinto: Any = None, show_deleted: bool = False) -> ObjectResult:
        """The object (a link's target): `ObjectResult(info, data)`; with `writeinto` (a binary
        file object), the chunks are written there as they come and `data` is b""."""
        reader = await self.reader(name, show_deleted)
        if writeinto is None:
            return ObjectResult(reader.info, b"".join([chunk async for chunk in reader]))
        sink = getattr(writeinto, "buffer", writeinto)
        in_memory = isinstance(sink, io.BytesIO)
        loop = asyncio.get_running_loop()
        async for chunk in reader:
            if in_memory:
                sink.write(chunk)
            else:
                await loop.run_in_executor(None, sink.write, chunk)
        return ObjectResult(reader.info)

    # ---------------------------------------------------------------------------- changes

    async def delete(self, name: str) -> None:
        """Deletes the object: a deleted info replaces its info and its chunks are purged.
        `ObjectNotFoundError` when there is none (deleting a deleted one again is fine)."""
        info = await self.get_info(name, show_deleted=True)
        if not info.nuid:
            raise BadObjectMetaError(f"object {name!r} has no nuid")
        marker = msgspec.structs.replace(info, deleted=True, size=0, chunks=0, digest=None)
        await self._publish_info(marker)
        await self._purge_chunks(info.nuid)

    async def update_meta(self, name: str, meta: ObjectMeta) -> None:
        """Changes the object's name, description, headers and metadata (not its options).
        `ObjectDeletedError` when it is deleted or missing; `ObjectAlreadyExistsError` when
        renaming it onto an object that exists."""
        try:
            info = await self.get_info(name)
        except ObjectNotFoundError:
            raise ObjectDeletedError(f"object {name!r} does not exist or was deleted") from None
        if meta.name and meta.name != name:
            other = await self._existing(meta.name)
            if other is not None and not other.deleted:
                raise ObjectAlreadyExistsError(f"object {meta.name!r} exists")
        new_name = meta.name or name
        await self._publish_info(msgspec.structs.replace(
            info, name=new_name, description=meta.description, headers=meta.headers, metadata=meta.metadata))
        if new_name != name:
            await self._js.purge_stream(self._stream, subject=self._meta_subject(name))

    async def _link_name_free(self, name: str) -> None:
        existing = await self._existing(name)
        if existing is not None and not existing.deleted and not existing.is_link():
            raise ObjectAlreadyExistsError(f"object {name!r} exists and is not a link")

    async def add_link(self, name: str, obj: ObjectInfo) -> ObjectInfo:
        """Adds `name`, a link to the object `obj` (of this bucket or another). Not to a
        deleted object or a link (`InvalidLinkError`); `name` may replace a link or a deleted
        object, not an object (`ObjectAlreadyExistsError`)."""
        if obj.deleted:
            raise InvalidLinkError(f"object {obj.name!r} is deleted")
        if obj.is_link():
            raise InvalidLinkError(f"object {obj.name!r} is a link")
        return await self._add_link(name, ObjectLink(bucket=obj.bucket, name=obj.name))

    async def add_bucket_link(self, name: str, bucket: ObjectStore) -> ObjectInfo:
        """Adds `name`, a link to the whole bucket `bucket`."""
        return await self._add_link(name, ObjectLink(bucket=bucket.bucket))

    async def _add_link(self, name: str, link: ObjectLink) -> ObjectInfo:
        self._meta_subject(name)
        await self._link_name_free(name)
        info = ObjectInfo(name=name, options=ObjectMetaOptions(link=link), bucket=self.bucket,
                          nuid=random_token(16), size=0, mtime=_ZERO_TIME, chunks=0)
        await self._publish_info(info)
        return msgspec.structs.replace(info, mtime=_now())

    async def seal(self) -> ObjectStoreStatus:
        """Seals the bucket: nothing can be put, deleted or purged any more."""
        info = await self._js.stream_info(self._stream)
        info = await self._js.update_stream(info.config.evolve(sealed=True))
        return ObjectStoreStatus(self.bucket, info)

    async def status(self) -> ObjectStoreStatus:
        return ObjectStoreStatus(self.bucket, await self._js.stream_info(self._stream))

    # ---------------------------------------------------------------------------- watch, list

    async def watch(self, *, ignore_deletes: bool = False, include_history: bool = False,
                    updates_only: bool = False) -> ObjectWatcher:
        """An async iterator of `ObjectInfo`s: the latest of each object (every one kept with
        `include_history`), then `None` once those were delivered, then each change as it
        happens; with `updates_only`, only the changes (no None). `await watcher.stop()`."""
        subject = f"$O.{self.bucket}.M.>"
        if updates_only:
            policy, empty = DeliverPolicy.NEW, True
        else:
            policy = DeliverPolicy.ALL if include_history else DeliverPolicy.LAST_PER_SUBJECT
            try:  # any info at all? (else the None marker comes first)
                await self._js.get_msg(self._stream, subject=subject, direct=self._direct)
                empty = False
            except MsgNotFoundError:
                empty = True
        cfg = ConsumerConfig(deliver_policy=policy, filter_subject=subject)
        sub = await self._js.subscribe(subject, stream=self._stream, config=cfg, ordered_consumer=True)
        return ObjectWatcher(sub, empty, ignore_deletes, marker=not updates_only)

    async def list(self, ignore_deletes: bool = True) -> list[ObjectInfo]:
        """Every object's info (deleted ones too when `ignore_deletes` is False); [] when
        there is none."""
        watcher = await self.watch(ignore_deletes=ignore_deletes)
        try:
            return [info async for info in _until_marker(watcher)]
        finally:
            await watcher.stop()


async def _until_marker(watcher: ObjectWatcher) -> AsyncIterator[ObjectInfo]:
    while (info := await watcher.updates(watcher._timeout)) is not None:
        yield info


class ObjectWatcher(Watcher[ObjectInfo]):
    """What `ObjectStore.watch()` returns: `async for info in watcher` (None marks the end of
    the initial infos); `await watcher.updates(timeout)`; `await watcher.stop()`. A meta
    message that is not an object info is skipped."""

    def __init__(self, sub: Any, empty: bool, ignore_deletes: bool, marker: bool):
        super().__init__(sub, empty, marker)
        self._ignore_deletes = ignore_deletes
        self._timeout = sub._js._timeout

    def _convert(self, msg: JsMsg, meta: Metadata) -> ObjectInfo | None:
        try:
            info = decode_info(msg.data, rfc3339(meta.timestamp))
        except BadObjectMetaError:  # not an object's info: skipped, as nats.go does
            return None
        if self._ignore_deletes and info.deleted:
            return None
        return info


class ObjectReader:
    """An object being read: `info`, then `async for chunk in reader`; `close()` if left early."""

    def __init__(self, info: ObjectInfo, chunks: ChunkReader):
        self.info = info
        self._chunks = chunks

    def __aiter__(self) -> ChunkReader:
        return self._chunks

    def close(self) -> None:
        self._chunks.close()

