"""`Subscription`: delivery of one subscription's messages, in one of three modes chosen at
`subscribe()` time.

* Plain (non-async) callback: called inline while the receive buffer is parsed, once per message,
  with a zero-copy `Msg` (`data` is a memoryview valid only during the call; see `msg.py`). No
  queue, so no pending limits apply: the callback runs at read speed or slows the reads.
* `async def` callback: messages are queued (owned copies) and one task per subscription awaits
  the callback for each in order, as nats-py does. The task is woken once per read, however many
  messages the read carried.
* No callback: messages are queued for `async for msg in sub` and `await sub.next_msg()`.

Queued modes enforce `pending_msgs_limit` and `pending_bytes_limit`: past either, new messages
are dropped and counted in `dropped`, and a `SlowConsumerError` goes to `error_cb` once per run
of drops (another after the queue has emptied). A typed subscription (`type=`) decodes each
payload straight from the receive buffer with msgspec; `msg.data` is then the decoded object.

`max_msgs` (or `unsubscribe(limit)`) ends the subscription after that many messages counting from
its start: the server stops too (UNSUB with a max), queued messages are still delivered, then
`async for` ends. `unsubscribe()` ends it at once and discards what is queued; `drain()` ends
interest at the server, delivers everything that was sent before, then returns.

A subscription belongs to its client's `subtable.SubTable`, which it reaches through the
`SubOwner` interface below; the table and the client use the package interface listed in
`Subscription`'s docstring."""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from .errors import (
    BadSubscriptionError,
    ConnectionClosedError,
    MsgDecodeError,
    SlowConsumerError,
    TimeoutError,
)
from .msg import DONE, Msg, _Done

if TYPE_CHECKING:
    from .events import Events

_UNLIMITED = sys.maxsize
_FAILED: Any = object()  # a payload that failed to decode


def _wake_false(fut: asyncio.Future[bool]) -> None:
    if not fut.done():
        fut.set_result(False)


class SubOwner(Protocol):
    """What a subscription needs from the table that holds it (`subtable.SubTable`)."""

    events: Events

    def remove(self, sub: Subscription) -> None:
        """Stops delivery to `sub`."""

    def unsub(self, sub: Subscription, limit: int = 0) -> None:
        """Sends UNSUB for `sub` (with a message limit when `limit`)."""

    def write_pending(self) -> None:
        """Writes now what the client buffered for the next loop iteration."""


class Subscription:
    """One subscription. Get one from `await nc.subscribe(...)`.

    Iterate it (`async for msg in sub`) or call `await sub.next_msg(timeout)` when it has no
    callback. Attributes: `sid`, `subject`, `queue`, `client` (the `Client` it belongs to),
    `delivered` (messages received, dropped ones included), `dropped`, `pending_msgs`,
    `pending_bytes`, `max_msgs`.

    Package interface (for the other zats.client modules, not for applications): `deliver` and
    `deliver_run`, the entry points of the parser's dispatch tables (`deliver_run` is None when
    runs are not taken); `start_callbacks()`, `close_delivery()`, `wait_consumed()` and
    `cancel_task()`."""

    __slots__ = (
        "client", "_owner", "sid", "subject", "queue", "_cb", "_decode", "_pending",
        "_pending_bytes", "_waiters", "_max", "delivered", "_closed", "_end_exc", "_task",
        "_last_sb", "_last_s", "dropped", "_slow", "_pmax", "_bmax", "deliver", "_empty_waiters",
        "deliver_run", "__weakref__",
    )

    def __init__(self, client: Any, owner: SubOwner, sid: int, subject: str, queue: str,
                 cb: Any = None, *, decode: Any = None, deliver: Any = None, max_msgs: int = 0,
                 pending_msgs_limit: int = 0, pending_bytes_limit: int = 0):
        """`client`: the `Client` (not imported here: client.py imports this module).
        `decode`: the payload decoder of a typed subscription. `deliver`: a delivery function
        that replaces the three modes (the request mux's)."""
        self.client = client
        self._owner = owner
        self.sid = sid
        self.subject = subject
        self.queue = queue
        self._cb = cb
        self._decode = decode
        self._pending: deque[Msg] = deque()
        self._pending_bytes = 0
        self._waiters: list[asyncio.Future[bool]] = []
        self._empty_waiters: list[asyncio.Future[None]] = []
        self._max = max_msgs if max_msgs and max_msgs > 0 else 0
        self.delivered = 0
        self._closed = False
        self._end_exc: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_sb: bytes | None = None
        self._last_s = ""
        self.dropped = 0
        self._slow = False
        self._pmax = pending_msgs_limit if pending_msgs_limit > 0 else _UNLIMITED
        self._bmax = pending_bytes_limit if pending_bytes_limit > 0 else _UNLIMITED
        if deliver is not None:
            self.deliver = deliver
            self.deliver_run = None
        elif cb is None or asyncio.iscoroutinefunction(cb):
            self.deliver = self._deliver_queued
            self.deliver_run = self._deliver_run_queued
        elif callable(cb):
            self.deliver = self._deliver_inline
            self.deliver_run = self._deliver_run_inline
        else:
            raise TypeError("cb must be a function, an async function or None")

    def start_callbacks(self) -> None:
        """Starts the task that awaits an `async def` callback (once subscribed)."""
        cb = self._cb
        if cb is not None and asyncio.iscoroutinefunction(cb):
            self._task = self._owner.events.loop.create_task(self._run_callbacks())

    # ---- delivery (called by the client while the receive buffer is parsed)

    def _subject_str(self, subject: bytes) -> str:
        s = subject.decode()
        self._last_sb = subject
        self._last_s = s
        return s

    def _deliver_queued(self, subject: bytes, reply: bytes | None, view: memoryview, hview: memoryview | None) -> None:
        self.delivered += 1
        q = self._pending
        n = len(view)
        pending = self._pending_bytes + n
        if pending > self._bmax or len(q) >= self._pmax:
            self._drop()
        elif self._decode is None:
            q.append(Msg(self._last_s if subject == self._last_sb else self._subject_str(subject),
                         "" if reply is None else reply.decode(), bytes(view),
                         None if hview is None else bytes(hview), self, n))
            self._pending_bytes = pending
            if self._waiters:
                self._wake()
        else:
            self._append_decoded(subject, reply, view, hview, n)
        if self._max and self.delivered >= self._max:
            self._owner.remove(self)
            self.close_delivery(None)

    def enqueue(self, msg: Msg) -> None:
        """Package interface: queues a message built elsewhere (a JetStream push consumer's),
        under the pending limits, for the callback task or `async for`."""
        self.delivered += 1
        n = msg._size
        if self._pending_bytes + n > self._bmax or len(self._pending) >= self._pmax:
            self._drop()
            return
        self._pending.append(msg)
        self._pending_bytes += n
        if self._waiters:
            self._wake()

    def _deliver_run_queued(self, subject: bytes, reply: bytes | None, view: memoryview, first: int,
                            stride: int, count: int, size: int) -> None:
        """`count` messages with the same subject, reply and size, payload i at
        `view[first + i * stride:][:size]` (see protocol.parser.ServerOpsParser). Untyped payloads
        are copied out of the receive buffer in one piece and sliced from that copy."""
        if self._decode is not None:
            for i in range(count):
                if self._closed:
                    return
                at = first + i * stride
                self._deliver_queued(subject, reply, view[at:at + size], None)
            return
        s = self._last_s if subject == self._last_sb else self._subject_str(subject)
        r = "" if reply is None else reply.decode()
        q = self._pending
        append = q.append
        pending = self._pending_bytes
        bmax, pmax, limit = self._bmax, self._pmax, self._max
        delivered = self.delivered
        if count == 1:
            chunk, first, stride = bytes(view[first:first + size]), 0, 0
        else:
            chunk = bytes(view[first:first + (count - 1) * stride + size])
        at = 0
        for _ in range(count):
            delivered += 1
            if pending + size > bmax or len(q) >= pmax:
                self._drop()
            else:
                append(Msg(s, r, chunk[at:at + size], None, self, size))
                pending += size
            at += stride
            if limit and delivered >= limit:
                break
        self.delivered = delivered
        self._pending_bytes = pending
        if self._waiters:
            self._wake()
        if limit and delivered >= limit:
            self._owner.remove(self)
            self.close_delivery(None)

    def _deliver_run_inline(self, subject: bytes, reply: bytes | None, view: memoryview, first: int,
                            stride: int, count: int, size: int) -> None:
        s = self._last_s if subject == self._last_sb else self._subject_str(subject)
        r = "" if reply is None else reply.decode()
        cb = self._cb
        dec = self._decode
        at = first
        for _ in range(count):
            if self._closed:
                return
            self.delivered += 1
            v = view[at:at + size]
            at += stride
            if dec is None:
                data = v
            else:
                try:
                    data = dec(v)
                except Exception as exc:
                    self._owner.events.report(MsgDecodeError(s, exc))
                    data = _FAILED
            if data is not _FAILED:
                try:
                    cb(Msg(s, r, data, None, self, size))
                except Exception as exc:
                    self._owner.events.report(exc)
            if self._max and self.delivered >= self._max and not self._closed:
                self._owner.remove(self)
                self.close_delivery(None)
                return

    def _append_decoded(self, subject: bytes, reply: bytes | None, view: memoryview, hview: memoryview | None, n: int) -> None:
        s = self._last_s if subject == self._last_sb else self._subject_str(subject)
        try:
            data = self._decode(view)
        except Exception as exc:
            self._owner.events.report(MsgDecodeError(s, exc))
            return
        self._pending.append(Msg(s, "" if reply is None else reply.decode(), data,
                                 None if hview is None else bytes(hview), self, n))
        self._pending_bytes += n
        if self._waiters:
            self._wake()

    def _wake(self) -> None:
        ws = self._waiters
        self._waiters = []
        for w in ws:
            if not w.done():
                w.set_result(True)

    def _deliver_inline(self, subject: bytes, reply: bytes | None, view: memoryview, hview: memoryview | None) -> None:
        self.delivered += 1
        s = self._last_s if subject == self._last_sb else self._subject_str(subject)
        dec = self._decode
        if dec is None:
            data = view
        else:
            try:
                data = dec(view)
            except Exception as exc:
                self._owner.events.report(MsgDecodeError(s, exc))
                data = _FAILED
        if data is not _FAILED:
            try:
                self._cb(Msg(s, "" if reply is None else reply.decode(), data, hview, self,
                             len(view)))
            except Exception as exc:
                self._owner.events.report(exc)
        if self._max and self.delivered >= self._max and not self._closed:
            self._owner.remove(self)
            self.close_delivery(None)

    def _drop(self) -> None:
        self.dropped += 1
        if not self._slow:
            self._slow = True
            self._owner.events.report(SlowConsumerError(self.subject, self.sid, self.dropped))

    def _popped(self) -> None:
        """After taking the last queued message."""
        self._slow = False
        if self._closed:
            self._signal_empty()

    def _signal_empty(self) -> None:
        ews = self._empty_waiters
        if ews:
            self._empty_waiters = []
            for w in ews:
                if not w.done():
                    w.set_result(None)

    def close_delivery(self, exc: BaseException | None, *, discard: bool = False) -> None:
        """No more messages will be delivered; queued ones still are unless `discard`.
        `exc` is what a consumer then sees (None: the iteration simply ends)."""
        self._closed = True
        if exc is not None and self._end_exc is None:
            self._end_exc = exc
        if discard:
            self._pending.clear()
            self._pending_bytes = 0
        ws = self._waiters
        self._waiters = []
        for w in ws:
            if not w.done():
                w.set_result(False)
        if not self._pending and (self._task is None or self._task.done()):
            self._signal_empty()

    async def _run_callbacks(self) -> None:
        q = self._pending
        cb = self._cb
        owner = self._owner
        report = owner.events.report
        loop = owner.events.loop
        try:
            while True:
                while q:
                    msg = q.popleft()
                    self._pending_bytes -= msg._size
                    try:
                        await cb(msg)
                    except Exception as exc:
                        report(exc)
                self._slow = False
                owner.write_pending()  # what the callbacks published, now
                if self._closed:
                    break
                w = loop.create_future()
                self._waiters.append(w)
                await w
        finally:
            self._task = None
            self._signal_empty()

    # ---- consuming

    def __aiter__(self) -> Subscription:
        if self._cb is not None:
            raise BadSubscriptionError("a subscription with a callback cannot be iterated")
        return self

    async def __anext__(self) -> Msg:
        q = self._pending
        while not q:
            if self._closed:
                raise StopAsyncIteration
            w = self._owner.events.loop.create_future()
            self._waiters.append(w)
            await w
        msg = q.popleft()
        self._pending_bytes -= msg._size
        if not q:
            self._popped()
        return msg

    @property
    def messages(self) -> Subscription:
        """The subscription itself, as an async iterator (nats-py's `sub.messages`)."""
        return self.__aiter__()

    async def next_msg(self, timeout: float | None = 1.0) -> Msg:
        """The next message; raises `TimeoutError` after `timeout` seconds (None: no limit),
        `BadSubscriptionError` once the subscription has ended and nothing is queued."""
        if self._cb is not None:
            raise BadSubscriptionError("next_msg() is for subscriptions without a callback")
        q = self._pending
        if not q:
            loop = self._owner.events.loop
            deadline = None if timeout is None else loop.time() + timeout
            while not q:
                if self._closed:
                    exc = self._end_exc
                    if isinstance(exc, ConnectionClosedError):
                        raise ConnectionClosedError(str(exc))
                    raise BadSubscriptionError("subscription ended")
                w = loop.create_future()
                self._waiters.append(w)
                if deadline is None:
                    await w
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    self._forget(w)
                    raise TimeoutError(f"no message on {self.subject!r} in {timeout}s")
                h = loop.call_later(remaining, _wake_false, w)
                try:
                    await w
                finally:
                    h.cancel()
                    self._forget(w)
        msg = q.popleft()
        self._pending_bytes -= msg._size
        if not q:
            self._popped()
        return msg

    def _forget(self, w: asyncio.Future[bool]) -> None:
        try:
            self._waiters.remove(w)
        except ValueError:
            pass

    @property
    def pending_msgs(self) -> int:
        """Messages queued and not yet consumed."""
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        """Payload bytes queued and not yet consumed."""
        return self._pending_bytes

    @property
    def max_msgs(self) -> int:
        return self._max

    @property
    def is_closed(self) -> bool:
        """True once no more messages will be delivered to the queue or callback."""
        return self._closed

    # ---- ending

    def unsubscribe(self, limit: int = 0) -> _Done:
        """Ends the subscription. With `limit`, the subscription ends after `limit` messages in
        total (counting those already delivered); when that many arrived already, at once.
        Without, at once: queued messages are discarded. A plain call; may be awaited."""
        if self._closed:
            return DONE
        owner = self._owner
        if limit and limit > self.delivered:
            self._max = limit
            owner.unsub(self, limit)
            return DONE
        owner.unsub(self)
        owner.remove(self)
        self.close_delivery(None, discard=True)
        return DONE

    async def drain(self, timeout: float | None = None) -> None:
        """Ends interest at the server, then delivers every message it sent before that, then
        returns once the callback (or the consumer of `async for`) has taken them all."""
        client = self.client
        owner = self._owner
        if not self._closed:
            owner.unsub(self)
            try:
                await client.flush(timeout=timeout or client.options.drain_timeout)
            finally:
                owner.remove(self)
                self.close_delivery(None)
        await self.wait_consumed(timeout or client.options.drain_timeout)

    async def wait_consumed(self, timeout: float | None) -> None:
        """Returns when nothing is queued and no callback is running."""
        if not self._pending and (self._task is None or self._task.done()):
            return
        w = self._owner.events.loop.create_future()
        self._empty_waiters.append(w)
        async with asyncio.timeout(timeout):
            await w

    def cancel_task(self) -> None:
        """Cancels the callback task (unless it is the caller)."""
        task = self._task
        if task is not None and not task.done():
            try:
                current = asyncio.current_task()
            except RuntimeError:
                current = None
            if task is not current:
                task.cancel()

    def __repr__(self) -> str:
        q = f" queue={self.queue!r}" if self.queue else ""
        return f"<Subscription sid={self.sid} subject={self.subject!r}{q}>"
