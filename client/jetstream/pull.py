"""`PullSubscription`: a pull consumer's messages over one inbox subscription
(`<inbox>.<random>.*`, each pull request replying to its own token under it).

* `fetch(batch, timeout)` sends one pull request and returns when `batch` messages came, or the
  request ended (status 404 no messages, 408 expired, 409 ...), or `timeout` passed.
* `consume()` is an async iterator that keeps a window of `batch` messages requested or
  buffered: when the messages requested and not yet taken fall to `threshold`, it asks for
  more. Pull requests carry an idle heartbeat; when neither a message nor a heartbeat came in
  two heartbeat intervals, or after a reconnect, the requests are taken as lost and re-issued.
  A 408/409 status gives back its unfilled part (`Nats-Pending-Messages`).

Messages are built straight from the receive buffer as owned `JsMsg`s, in the read's call, and
the waiting task is woken once for a whole batch (fetch) or once per read (consume)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import msgspec

from zats.protocol.headers import Headers, decode_headers

from ..errors import TimeoutError
from ..mux import random_token
from ..subscription import Subscription
from .api import Api
from .errors import ConsumerDeletedError, FetchError
from .msg import JsMsg
from .structs import ConsumerInfo

_SPACE = b" "  # after "NATS/1.0": a status line follows
Client = Any  # zats.client.Client (not imported: client.py imports this package)

_encode = msgspec.json.encode

# 409 statuses after which pulling again cannot succeed: the request itself is wrong
_FATAL_409 = ("Exceeded MaxRequestBatch", "Exceeded MaxRequestExpires", "Exceeded MaxRequestMaxBytes",
              "Consumer is push based")


def _pending_of(headers: Headers) -> int:
    value = headers.get("Nats-Pending-Messages")
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


class PullSubscription:
    """A pull consumer bound to this connection. Get one with `js.pull_subscribe(...)` or
    `js.pull_subscribe_bind(...)`. Use `fetch()` or `consume()` (one at a time)."""

    def __init__(self, nc: Client, api: Api, stream: str, consumer: str):
        self._nc = nc
        self._api = api
        self.stream = stream
        self.consumer = consumer
        self._next_subject = api.subject("CONSUMER", "MSG", "NEXT", stream, consumer)
        prefix = f"{nc.options.inbox_prefix}.{random_token()}."
        self._prefix = prefix
        self._plen = len(prefix)
        self._counter = 0
        self._msgs: deque[JsMsg] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._want = 1  # wake the waiter once this many messages are queued
        self._active = False  # something came in since the last heartbeat check
        self._outstanding = 0  # messages asked for and not yet received (consume)
        self._on_status: Any = None  # what the mode in use does with a status message
        self._sub = Subscription(nc, nc._subs, nc._subs.new_sid(), prefix + "*", "", None,
                                 deliver=self._deliver)
        nc._add_sub(self._sub)

    @property
    def pending_msgs(self) -> int:
        """Messages received and not yet taken."""
        return len(self._msgs)

    # ---------------------------------------------------------------------------- delivery

    def _deliver(self, subject: bytes, reply: bytes | None, view: memoryview, hview: memoryview | None) -> None:
        self._active = True
        if hview is not None and hview[8:9] == _SPACE:  # "NATS/1.0 408 ...": a status, not a message
            self._status(subject, hview)
            return
        msgs = self._msgs
        msgs.append(JsMsg(subject.decode(), "" if reply is None else reply.decode(), bytes(view),
                          None if hview is None else bytes(hview), self._sub, len(view)))
        self._outstanding -= 1
        w = self._waiter
        if w is not None and len(msgs) >= self._want:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def _status(self, subject: bytes, hview: memoryview) -> None:
        try:
            headers = decode_headers(hview)
        except ValueError:
            return
        on_status = self._on_status
        if on_status is not None and headers.status is not None:
            on_status(subject[self._plen:].decode(), headers.status, headers.description, headers)

    def _wake(self) -> None:
        w = self._waiter
        self._waiter = None
        if w is not None and not w.done():
            w.set_result(None)

    def _pull(self, batch: int, expires: float | None, max_bytes: int | None = None,
              heartbeat: float | None = None, no_wait: bool = False) -> str:
        """Sends one pull request; returns its reply token."""
        self._counter += 1
        token = f"{self._counter:x}"
        body: dict[str, Any] = {"batch": batch}
        if expires:
            body["expires"] = int(expires * 1e9)
        if max_bytes:
            body["max_bytes"] = max_bytes
        if heartbeat:
            body["idle_heartbeat"] = int(heartbeat * 1e9)
        if no_wait:
            body["no_wait"] = True
        self._nc.publish(self._next_subject, _encode(body), self._prefix + token)
        return token

    # ---------------------------------------------------------------------------- fetch

    async def fetch(self, batch: int = 1, timeout: float | None = 5.0, *, max_bytes: int | None = None,
                    heartbeat: float | None = None) -> list[JsMsg]:
        """Up to `batch` messages: returns when `batch` came, or the server ended the request
        with fewer (then what came, or `TimeoutError` when none), or after `timeout` seconds
        (the same). `max_bytes` bounds the payload bytes of the batch."""
        msgs = self._msgs
        if len(msgs) >= batch:
            return [msgs.popleft() for _ in range(batch)]
        loop = self._nc._loop
        need = batch - len(msgs)
        # the server ends the request just before the local timeout, so its answer decides
        expires = None if timeout is None else max(timeout - min(0.1, timeout / 10), 0.001)
        ended: list[tuple[int, str]] = []
        token = ""

        def on_status(tok: str, code: int, desc: str, headers: Headers) -> None:
            if tok == token and code != 100:
                ended.append((code, desc))
                self._wake()

        self._on_status = on_status
        token = self._pull(need, expires, max_bytes, heartbeat)
        self._nc._write_if_writable()
        self._want = batch
        deadline = None if timeout is None else loop.time() + timeout
        try:
            while len(msgs) < batch and not ended:
                w = self._waiter = loop.create_future()
                if deadline is None:
                    await w
                    continue
                left = deadline - loop.time()
                if left <= 0:
                    break
                handle = loop.call_later(left, self._wake)
                try:
                    await w
                finally:
                    handle.cancel()
        finally:
            self._waiter = None
            self._on_status = None
        got = [msgs.popleft() for _ in range(min(batch, len(msgs)))]
        if got:
            return got
        if ended:
            code, desc = ended[0]
            if code == 409 and desc == "Consumer Deleted":
                raise ConsumerDeletedError(f"consumer {self.consumer!r} was deleted")
            if code == 409 and desc.startswith(_FATAL_409):
                raise FetchError(code, desc)
        raise TimeoutError(f"no messages from {self.stream}/{self.consumer} in {timeout}s")

    # ---------------------------------------------------------------------------- consume

    def consume(self, batch: int = 100, *, expires: float = 30.0, max_bytes: int | None = None,
                heartbeat: float | None = None, threshold: int | None = None) -> ConsumeIterator:
        """An async iterator over the consumer's messages that keeps `batch` messages requested
        or buffered (see the module docstring). `heartbeat` defaults to half of `expires`
        (at most 15 s). Stop it with `iterator.stop()` or by leaving the `async for`."""
        return ConsumeIterator(self, batch, expires, max_bytes, heartbeat, threshold)

    async def unsubscribe(self) -> None:
        """Stops receiving (the consumer itself stays on the server)."""
        self._sub.unsubscribe()
        self._wake()

    async def consumer_info(self) -> ConsumerInfo:
        """The consumer's info."""
        return await self._api.call(ConsumerInfo, self._api.subject("CONSUMER", "INFO", self.stream, self.consumer))


class ConsumeIterator:
    """What `PullSubscription.consume()` returns: `async for msg in it`; `stop()` ends it."""

    def __init__(self, psub: PullSubscription, batch: int, expires: float, max_bytes: int | None,
                 heartbeat: float | None, threshold: int | None):
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self._psub = psub
        self._batch = batch
        self._expires = expires
        self._max_bytes = max_bytes
        self._heartbeat = heartbeat if heartbeat is not None else min(expires / 2, 15.0)
        self._threshold = batch // 2 if threshold is None else threshold
        self._error: BaseException | None = None
        self._stopped = False
        self._hb_handle: asyncio.TimerHandle | None = None
        self._started = False

    def __aiter__(self) -> ConsumeIterator:
        return self

    def _start(self) -> None:
        psub = self._psub
        self._started = True
        psub._on_status = self._on_status
        psub._outstanding = 0
        psub._nc._reconnect_listeners.append(self._restart)
        psub._active = True
        self._topup()
        self._schedule_check()

    def _topup(self) -> None:
        psub = self._psub
        have = psub._outstanding + len(psub._msgs)
        if have <= self._threshold and not self._stopped and psub._nc.is_connected:
            n = self._batch - have
            psub._outstanding += n
            psub._pull(n, self._expires, self._max_bytes, self._heartbeat)

    def _restart(self) -> None:
        """The pull requests are lost (reconnect, missed heartbeats): ask again."""
        self._psub._outstanding = 0
        self._topup()

    def _on_status(self, token: str, code: int, desc: str, headers: Headers) -> None:
        psub = self._psub
        if code == 100:
            return
        if code in (408, 409, 404):
            if code == 409 and (desc == "Consumer Deleted" or desc.startswith(_FATAL_409)):
                self._error = (ConsumerDeletedError(f"consumer {psub.consumer!r} was deleted")
                               if desc == "Consumer Deleted" else FetchError(code, desc))
                self.stop()
                return
            psub._outstanding = max(psub._outstanding - _pending_of(headers), 0)
            if code == 404:
                psub._outstanding = 0
            self._topup()

    def _schedule_check(self) -> None:
        if self._heartbeat and not self._stopped:
            self._hb_handle = self._psub._nc._loop.call_later(self._heartbeat * 2, self._check)

    def _check(self) -> None:
        psub = self._psub
        if not psub._active:
            self._restart()
        psub._active = False
        self._schedule_check()

    async def __anext__(self) -> JsMsg:
        psub = self._psub
        if not self._started:
            self._start()
        msgs = psub._msgs
        while not msgs:
            if self._error is not None:
                exc, self._error = self._error, None
                raise exc
            if self._stopped:
                raise StopAsyncIteration
            self._topup()
            psub._want = 1
            w = psub._waiter = psub._nc._loop.create_future()
            try:
                await w
            except asyncio.CancelledError:
                self.stop()
                raise
        msg = msgs.popleft()
        if psub._outstanding + len(msgs) <= self._threshold:
            self._topup()
        return msg

    def stop(self) -> None:
        """Ends the iteration (messages already buffered stay for the next `fetch` or
        `consume`; unacknowledged ones are redelivered after the consumer's ack wait)."""
        if self._stopped:
            return
        self._stopped = True
        psub = self._psub
        if self._hb_handle is not None:
            self._hb_handle.cancel()
        try:
            psub._nc._reconnect_listeners.remove(self._restart)
        except ValueError:
            pass
        if psub._on_status == self._on_status:
            psub._on_status = None
        psub._wake()

    async def __aenter__(self) -> ConsumeIterator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
