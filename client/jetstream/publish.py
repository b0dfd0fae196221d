"""Publishing to streams: `publish()` waits for its `PubAck`; `publish_async()` returns a
future at once, with at most `max_pending` acks outstanding. Async acks all come in on one
wildcard reply subscription (`<inbox>.<random>.*`) and are matched to their future by the
last token, so a publish costs one PUB/HPUB frame and no subscription."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import msgspec

from zats.protocol.headers import Headers, HeadersLike

from ..errors import NoRespondersError, TimeoutError
from ..mux import random_token
from ..subscription import Subscription
from .errors import APIError, InvalidResponseError, NoStreamResponseError
from .structs import PubAck

_STATUS_503 = b"503"
Client = Any  # zats.client.Client (not imported: client.py imports this package)


class _AckAnswer(msgspec.Struct):
    """A publish's answer: a PubAck or an error."""

    stream: str | None = None
    seq: int | None = None
    duplicate: bool | None = None
    domain: str | None = None
    error: Any = None


_decode_answer = msgspec.json.Decoder(_AckAnswer).decode
_decode_pub_ack = msgspec.json.Decoder(PubAck).decode


def pub_ack(data: bytes) -> PubAck:
    """The `PubAck` of an answer; the typed `APIError` for an error answer (which may hold
    `stream` and `seq` too), `InvalidResponseError` for anything else."""
    if b'"error"' not in data:
        try:
            return _decode_pub_ack(data)  # the usual answer, decoded once
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
    try:
        a = _decode_answer(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidResponseError(f"invalid publish acknowledgement: {bytes(data[:80])!r}") from None
    if a.error is not None:
        raise APIError.from_error(a.error)
    raise InvalidResponseError(f"invalid publish acknowledgement: {bytes(data[:80])!r}")


def publish_headers(headers: HeadersLike | None, msg_id: str | None, expected_stream: str | None,
                    expected_last_seq: int | None, expected_last_subject_seq: int | None,
                    expected_last_msg_id: str | None) -> HeadersLike | None:
    """`headers` with the JetStream publish checks added (or `headers` itself when none)."""
    if (msg_id is None and expected_stream is None and expected_last_seq is None
            and expected_last_subject_seq is None and expected_last_msg_id is None):
        return headers
    h = Headers(headers)  # a copy: the caller's headers are left as they are
    if msg_id is not None:
        h.set("Nats-Msg-Id", msg_id)
    if expected_stream is not None:
        h.set("Nats-Expected-Stream", expected_stream)
    if expected_last_seq is not None:
        h.set("Nats-Expected-Last-Sequence", str(expected_last_seq))
    if expected_last_subject_seq is not None:
        h.set("Nats-Expected-Last-Subject-Sequence", str(expected_last_subject_seq))
    if expected_last_msg_id is not None:
        h.set("Nats-Expected-Last-Msg-Id", expected_last_msg_id)
    return h


class AsyncPublisher:
    """The outstanding async publishes of one JetStream context: futures keyed by reply token,
    the window that `publish_async` waits on when full, and the waiters of
    `publish_async_completed`."""

    def __init__(self, nc: Client, max_pending: int):
        self.nc = nc
        self.max_pending = max_pending
        self._prefix = f"{nc.options.inbox_prefix}.{random_token()}.".encode()
        self._plen = len(self._prefix)
        self._pending: dict[bytes, asyncio.Future[PubAck]] = {}
        self._counter = 0
        self._stalled: asyncio.Future[None] | None = None
        self._done_waiters: list[asyncio.Future[None]] = []
        self._sub: Subscription | None = None

    def _ensure_sub(self) -> None:
        if self._sub is None:
            nc = self.nc
            sub = Subscription(nc, nc._subs, nc._subs.new_sid(), self._prefix.decode() + "*", "", None,
                               deliver=self._deliver)
            nc._add_sub(sub)
            self._sub = sub

    def send(self, subject: str, payload: Any, headers: HeadersLike | None) -> asyncio.Future[PubAck]:
        """Publishes with a reply token of its own and returns the future of its ack (the
        caller has made room in the window)."""
        if self._sub is None:
            self._ensure_sub()
        self._counter += 1
        token = b"%x" % self._counter
        fut: asyncio.Future[PubAck] = self.nc._loop.create_future()
        if headers is None and type(payload) is bytes:
            self.nc._publish_trusted(subject, self._prefix + token, payload)
        else:
            self.nc.publish(subject, payload, self._prefix + token, headers)
        self._pending[token] = fut
        return fut

    def full(self) -> bool:
        return len(self._pending) >= self.max_pending

    async def wait_room(self, timeout: float | None) -> None:
        while len(self._pending) >= self.max_pending:
            fut = self._stalled
            if fut is None or fut.done():
                fut = self._stalled = self.nc._loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(fut), timeout)
            except builtins.TimeoutError:
                raise TimeoutError(f"{len(self._pending)} publish acks outstanding for {timeout}s") from None

    def _deliver(self, subject: bytes, reply: bytes | None, view: memoryview, hview: memoryview | None) -> None:
        pending = self._pending
        fut = pending.pop(subject[self._plen:], None)
        if fut is not None and not fut.done():
            if hview is not None and len(view) == 0 and hview[9:12] == _STATUS_503:
                fut.set_exception(NoStreamResponseError(subject.decode()))
            else:
                try:
                    fut.set_result(pub_ack(bytes(view)))
                except Exception as exc:  # a typed error for this publish, never the reader's
                    fut.set_exception(exc)
        n = len(pending)
        stalled = self._stalled
        if stalled is not None and n < self.max_pending and not stalled.done():
            stalled.set_result(None)
        if n == 0 and self._done_waiters:
            self._wake_done()

    def _wake_done(self) -> None:
        ws = self._done_waiters
        self._done_waiters = []
        for w in ws:
            if not w.done():
                w.set_result(None)

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    async def completed(self, timeout: float | None) -> None:
        if not self._pending:
            return
        fut: asyncio.Future[None] = self.nc._loop.create_future()
        self._done_waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except builtins.TimeoutError:
            raise TimeoutError(f"{len(self._pending)} publish acks still outstanding after {timeout}s") from None

    def fail_all(self, exc: BaseException) -> None:
        pending = self._pending
        self._pending = {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._wake_done()


async def publish_sync(nc: Client, subject: str, payload: Any, timeout: float,
                       headers: HeadersLike | None) -> PubAck:
    """One publish and its `PubAck` (over the connection's shared request inbox)."""
    try:
        msg = await nc.request(subject, payload, timeout=timeout, headers=headers)
    except NoRespondersError:
        raise NoStreamResponseError(subject) from None
    return pub_ack(bytes(msg.data))
