"""`PushSubscription`: a push consumer's messages, delivered by the server to a deliver subject.

The messages go through a local `Subscription` (never subscribed at the server) that gives the
usual modes: an async callback (acked after it returns unless `manual_ack`), a plain callback
(called inline, with an owned message), or `async for` / `next_msg()`. The wire subscription
on the deliver subject builds each `JsMsg` in the read's call and answers the server's status
messages: a flow control request (status 100 with a reply subject) and a heartbeat announcing
a stall (`Nats-Consumer-Stalled`) get an empty reply; heartbeats are not delivered.

An ordered consumer (ADR-17) is an ephemeral push consumer with flow control, heartbeats, no
acks and one delivery per message. It checks each message's consumer sequence: on a gap, on a
heartbeat whose `Nats-Last-Consumer` is not the last one seen, on missed heartbeats, or after a
reconnect, it makes a new consumer (on a new deliver subject) starting after the last stream
sequence delivered, so the application sees every message once and in order."""

from __future__ import annotations

import asyncio
from typing import Any

from zats.protocol.headers import decode_headers

from ..msg import Msg
from ..mux import random_token
from ..subscription import Subscription
from .errors import JetStreamError
from .msg import JsMsg, parse_metadata
from .structs import AckPolicy, ConsumerConfig, DeliverPolicy

_SPACE = b" "  # after "NATS/1.0": a status line follows
Client = Any  # zats.client.Client (not imported: client.py imports this package)


class PushSubscription:
    """A push consumer bound to this connection: get one with `js.subscribe(...)`.
    `async for msg in sub`, `await sub.next_msg(timeout)`, `await sub.unsubscribe()`."""

    def __init__(self, js: Any, stream: str, config: ConsumerConfig, queue: str, cb: Any, *,
                 manual_ack: bool, ordered: bool, delete_on_unsubscribe: bool,
                 pending_msgs_limit: int, pending_bytes_limit: int):
        nc = js._nc
        self._js = js
        self._nc = nc
        self.stream = stream
        self.consumer = ""
        self._config = config
        self._queue = queue
        self._ordered = ordered
        self._delete = delete_on_unsubscribe
        self._closed = False
        user_cb = cb
        if cb is not None and asyncio.iscoroutinefunction(cb) and not manual_ack and config.ack_policy != AckPolicy.NONE:
            async def acking(msg: Msg) -> None:
                await user_cb(msg)
                if isinstance(msg, JsMsg) and not msg._acked:
                    msg.ack()
            cb = acking
        self._inline = cb if cb is not None and not asyncio.iscoroutinefunction(cb) else None
        self._auto_ack = self._inline is not None and not manual_ack and config.ack_policy != AckPolicy.NONE
        # the local queue of delivered messages: never subscribed at the server
        self._local = Subscription(nc, nc._subs, 0, config.deliver_subject or "", queue,
                                   None if self._inline else cb,
                                   pending_msgs_limit=pending_msgs_limit, pending_bytes_limit=pending_bytes_limit)
        self._wire: Subscription | None = None
        self._sseq = 0  # ordered: last stream sequence delivered
        self._cseq = 0  # ordered: last consumer sequence delivered
        self._active = False
        self._hb_handle: asyncio.TimerHandle | None = None
        self._resetting: asyncio.Task[None] | None = None

    async def _start(self, deliver_subject: str | None) -> None:
        self._local.start_callbacks()
        await self._bind(deliver_subject)
        if self._ordered:
            self._nc._reconnect_listeners.append(self._schedule_reset)
        hb = self._config.idle_heartbeat
        if hb and self._ordered:
            self._hb_handle = self._nc._loop.call_later(hb * 2, self._check_heartbeat)

    async def _bind(self, deliver_subject: str | None) -> None:
        """Subscribes the deliver subject, creating the consumer when `deliver_subject` is None."""
        nc = self._nc
        if deliver_subject is None:
            deliver_subject = f"{nc.options.inbox_prefix}.{random_token()}"
            create = True
        else:
            create = False
        wire = Subscription(nc, nc._subs, nc._subs.new_sid(), deliver_subject, self._queue, None,
                            deliver=self._deliver)
        nc._add_sub(wire)
        self._wire = wire
        if create:
            cfg = self._config.evolve(deliver_subject=deliver_subject)
            if self._ordered and self._sseq:
                cfg = cfg.evolve(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._sseq + 1,
                                 opt_start_time=None)
            try:
                info = await self._js.add_consumer(self.stream, cfg)
            except BaseException:
                wire.unsubscribe()
                raise
            self.consumer = info.name

    # ---------------------------------------------------------------------------- delivery

    def _deliver(self, subject: bytes, reply: bytes | None, view: memoryview, hview: memoryview | None) -> None:
        self._active = True
        if hview is not None and hview[8:9] == _SPACE:
            self._status(reply, hview)
            return
        msg = JsMsg(subject.decode(), "" if reply is None else reply.decode(), bytes(view),
                    None if hview is None else bytes(hview), self._local, len(view))
        if self._ordered:
            try:
                meta = parse_metadata(msg.reply)
            except JetStreamError:
                return
            if meta.sequence.consumer != self._cseq + 1:
                self._schedule_reset()
                return
            self._cseq = meta.sequence.consumer
            self._sseq = meta.sequence.stream
        inline = self._inline
        if inline is None:
            self._local.enqueue(msg)
            return
        try:
            inline(msg)
        except Exception as exc:
            self._nc._events.report(exc)
        if self._auto_ack and not msg._acked:
            msg.ack()

    def _status(self, reply: bytes | None, hview: memoryview) -> None:
        try:
            headers = decode_headers(hview)
        except ValueError:
            return
        if headers.status != 100:
            return
        if reply:  # flow control request
            self._nc.publish(reply, b"")
            return
        stalled = headers.get("Nats-Consumer-Stalled")
        if stalled:
            self._nc.publish(stalled, b"")
        if self._ordered:
            last = headers.get("Nats-Last-Consumer")
            if last is not None and last.isdigit() and int(last) != self._cseq:
                self._schedule_reset()

    # ---------------------------------------------------------------------------- ordered resets

    def _check_heartbeat(self) -> None:
        if self._closed:
            return
        if not self._active:
            self._schedule_reset()
        self._active = False
        hb = self._config.idle_heartbeat or 5.0
        self._hb_handle = self._nc._loop.call_later(hb * 2, self._check_heartbeat)

    def _schedule_reset(self) -> None:
        if self._closed or (self._resetting is not None and not self._resetting.done()):
            return
        wire = self._wire
        if wire is not None:
            wire.unsubscribe()  # messages of the old consumer are not delivered any more
            self._wire = None
        self._resetting = self._nc._loop.create_task(self._reset())

    async def _reset(self) -> None:
        self._cseq = 0
        delay = 0.0
        while not self._closed:
            try:
                await self._bind(None)
                return
            except Exception as exc:  # the server may be restarting: try again, slower
                self._nc._events.report(exc)
                delay = min(delay * 2 or 0.25, 5.0)
                await asyncio.sleep(delay)

    # ---------------------------------------------------------------------------- user side

    def __aiter__(self) -> Subscription:
        return self._local.__aiter__()

    async def next_msg(self, timeout: float | None = 1.0) -> Msg:
        """The next message (a `JsMsg`); `TimeoutError` after `timeout` seconds."""
        return await self._local.next_msg(timeout)

    @property
    def pending_msgs(self) -> int:
        return self._local.pending_msgs

    @property
    def delivered(self) -> int:
        return self._local.delivered

    async def consumer_info(self) -> Any:
        """The consumer's info (a `ConsumerInfo`)."""
        return await self._js.consumer_info(self.stream, self.consumer)

    async def unsubscribe(self) -> None:
        """Stops delivery; an ephemeral or ordered consumer this subscription made is deleted."""
        if self._closed:
            return
        self._closed = True
        if self._hb_handle is not None:
            self._hb_handle.cancel()
        if self._resetting is not None:
            self._resetting.cancel()
        try:
            self._nc._reconnect_listeners.remove(self._schedule_reset)
        except ValueError:
            pass
        if self._wire is not None:
            self._wire.unsubscribe()
        self._local.close_delivery(None)
        self._local.cancel_task()
        if self._delete and self.consumer and self._nc.is_connected:
            try:
                await self._js.delete_consumer(self.stream, self.consumer)
            except JetStreamError:
                pass
