"""Reading an object's chunks in order, a bounded window at a time, checking them against the
object's info: `ChunkReader` is an async iterator of the chunk payloads (bytes) that raises
`ObjectSizeMismatchError` / `DigestMismatchError` at the end when the chunks are not what the
info says.

On a stream with `allow_direct` (every bucket ADR-20 clients make) the chunks come through
batched direct gets (ADR-31: `{"seq", "next_by_subj", "batch", "max_bytes"}` answered by the
messages then a `204 EOB`): no consumer to create or delete, and at most one batch is asked for
while fewer than `window` bytes wait to be taken, so a slow reader holds at most about two
windows. Without it, one `STREAM.MSG.GET` (next by subject) per chunk."""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import hashlib
from collections import deque
from typing import Any

import msgspec

from zats.protocol.headers import decode_headers

from ..errors import TimeoutError
from ..mux import random_token
from ..subscription import Subscription
from .errors import InvalidResponseError, JetStreamError, MsgNotFoundError

_SPACE = b" "  # after "NATS/1.0": a status line follows
_MAX_BATCH = 1024
_encode = msgspec.json.encode


class ObjectStoreError(JetStreamError):
    """Base class of the object store's errors."""


class BadObjectMetaError(ObjectStoreError):
    """An object's info (its meta message) is not the JSON ADR-20 defines, or lacks what it
    needs (a nuid, a `SHA-256=` digest)."""


class DigestMismatchError(ObjectStoreError):
    """The chunks read do not hash to the digest the object's info holds."""


class ObjectSizeMismatchError(ObjectStoreError):
    """The chunks read are not as many, or not as long, as the object's info says."""


def digest_of(sha: Any) -> str:
    """ADR-20's form of a SHA-256: `SHA-256=` and the base64url digest (padded), as nats.go and
    nats-py write it."""
    return "SHA-256=" + base64.urlsafe_b64encode(sha.digest()).decode()


def parse_digest(digest: str | None) -> bytes:
    """The 32 bytes of a `SHA-256=<base64url>` digest (the prefix in either case, padding
    optional); `BadObjectMetaError` otherwise."""
    if not digest or digest[:8].upper() != "SHA-256=":
        raise BadObjectMetaError(f"unsupported digest {digest!r}")
    value = digest[8:]
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise BadObjectMetaError(f"invalid digest {digest!r}") from None
    if len(raw) != 32:
        raise BadObjectMetaError(f"invalid digest {digest!r}")
    return raw


class ChunkReader:
    """The chunks on `subject` of `stream`: `chunks` of them, `size` bytes in all, hashing to
    `digest` (raw bytes). `async for chunk in reader`; `close()` if left before the end."""

    def __init__(self, js: Any, stream: str, subject: str, chunks: int, size: int, digest: bytes,
                 direct: bool, window: int):
        self._js = js
        self._stream = stream
        self._subject = subject
        self._expect_chunks = chunks
        self._expect_size = size
        self._digest = digest
        self._direct = direct
        self._window = window
        self._sha = hashlib.sha256()
        self._got_chunks = 0  # received
        self._got_bytes = 0  # handed out
        self._next_seq = 1
        self._queue: deque[bytes] = deque()
        self._queued = 0  # bytes in _queue
        self._asking = False  # a batch request is outstanding
        self._exhausted = False  # the server has no more chunks after _next_seq
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._token = b""
        self._requests = 0
        self._sub: Subscription | None = None
        self._finished = False

    # ---------------------------------------------------------------------------- direct get

    def _open(self) -> None:
        nc = self._js._nc
        prefix = f"{nc.options.inbox_prefix}.{random_token()}."
        self._prefix = prefix.encode()
        self._plen = len(prefix)
        self._sub = Subscription(nc, nc._subs, nc._subs.new_sid(), prefix + "*", "", None, deliver=self._deliver)
        nc._add_sub(self._sub)

    def _ask(self) -> None:
        """Asks for the next batch when none is outstanding and the queue has room."""
        if (self._asking or self._exhausted or self._error is not None or self._queued >= self._window
                or self._got_chunks >= self._expect_chunks):
            return
        if self._sub is None:
            self._open()
        self._requests += 1
        self._token = b"%x" % self._requests
        body = {"seq": self._next_seq, "next_by_subj": self._subject,
                "batch": min(self._expect_chunks - self._got_chunks, _MAX_BATCH), "max_bytes": self._window}
        api = self._js._api
        self._js._nc.publish(api.subject("DIRECT", "GET", self._stream), _encode(body), self._prefix + self._token)
        self._asking = True

    def _deliver(self, subject: bytes, reply: bytes | None, view: memoryview, hview: memoryview | None) -> None:
        if subject[self._plen:] != self._token or self._finished:
            return  # an answer to an earlier request (after a timeout), or after the end
        try:
            self._take(view, hview)
        except Exception as exc:  # a typed error for the reader, never the connection's
            self._error = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _take(self, view: memoryview, hview: memoryview | None) -> None:
        if hview is None:
            raise InvalidResponseError("DIRECT.GET answered without headers")
        headers = decode_headers(hview)
        if hview[8:9] == _SPACE:
            status = headers.status
            self._asking = False
            if status == 204:  # end of batch
                pending = headers.get("Nats-Num-Pending")
                if pending == "0":
                    self._exhausted = True
                else:
                    self._ask()
            elif status == 404:
                self._exhausted = True
            else:
                raise InvalidResponseError(f"DIRECT.GET answered {status} {headers.description or ''}")
            return
        try:
            seq = int(headers["Nats-Sequence"])
        except (KeyError, ValueError):
            raise InvalidResponseError("DIRECT.GET answered without Nats-Sequence") from None
        if self._got_chunks >= self._expect_chunks:
            return
        data = bytes(view)
        self._queue.append(data)
        self._queued += len(data)
        self._got_chunks += 1
        self._next_seq = seq + 1

    # ---------------------------------------------------------------------------- stream msg get

    async def _get_one(self) -> None:
        try:
            msg = await self._js.get_msg(self._stream, self._next_seq, self._subject, next=True)
        except MsgNotFoundError:
            self._exhausted = True
            return
        self._queue.append(msg.data)
        self._got_chunks += 1
        self._next_seq = msg.seq + 1

    # ---------------------------------------------------------------------------- iteration

    def __aiter__(self) -> ChunkReader:
        return self

    async def __anext__(self) -> bytes:
        queue = self._queue
        while not queue:
            if self._error is not None:
                self.close()
                raise self._error
            if self._exhausted or self._got_chunks >= self._expect_chunks:
                self._verify()
                raise StopAsyncIteration
            if not self._direct:
                await self._get_one()
                continue
            self._ask()
            loop = self._js._nc._loop
            self._waiter = waiter = loop.create_future()
            try:
                await asyncio.wait_for(waiter, self._js._timeout)
            except builtins.TimeoutError:
                self.close()
                raise TimeoutError(f"no chunk of {self._subject!r} came in {self._js._timeout}s") from None
            finally:
                self._waiter = None
        chunk = queue.popleft()
        self._queued -= len(chunk)
        self._got_bytes += len(chunk)
        self._sha.update(chunk)
        if self._direct:
            self._ask()
        return chunk

    def _verify(self) -> None:
        self.close()
        if self._got_chunks != self._expect_chunks or self._got_bytes != self._expect_size:
            raise ObjectSizeMismatchError(
                f"read {self._got_chunks} chunks of {self._got_bytes} bytes where the object's info says "
                f"{self._expect_chunks} chunks of {self._expect_size} bytes")
        if self._sha.digest() != self._digest:
            raise DigestMismatchError(f"the chunks of {self._subject!r} do not match the object's digest")

    def close(self) -> None:
        """Stops reading (the subscription ends; answers still in flight are dropped)."""
        self._finished = True
        self._queue.clear()
        self._queued = 0
        if self._sub is not None:
            self._sub.unsubscribe()
            self._sub = None
