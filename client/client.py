"""`Client`: a connection to a NATS server (zats or nats-server) and everything done over it.

The client ties together the parts that each own one job:

* `outbound.Outbound` (its base class): the outbound buffer, `publish()`/`apublish()`, writes and
  their bounds;
* `handshake.Handshake`: credentials, TLS and the handshake of a new connection;
* `connection.Connection`: the current connection, its reads and the parser;
* `subtable.SubTable`: subscriptions by sid and the tables messages are dispatched through;
* `reconnect.Reconnector`: the server pool and the reconnect loop;
* `events.Events`: `error_cb` and the other event callbacks;
* `mux.RequestMux`: the shared reply subscription of `request()`.

The client itself owns the connection status (`status.py`), installing a new connection
(subscriptions restored first, then what was published meanwhile), keepalive (PING/PONG,
`flush()`), what the connection reports (async INFO, -ERR, loss), subscribe/request, drain and
close. Events go to `disconnected_cb`, `reconnected_cb`, `closed_cb`, `error_cb`,
`discovered_server_cb` and `lame_duck_mode_cb` (plain or async functions)."""

from __future__ import annotations

import asyncio
import builtins
import functools
import ssl
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Unpack
from urllib.parse import ParseResult

from zats.protocol.frames import unsub
from zats.protocol.headers import HeadersLike
from zats.protocol.structs import Info

from .codec import get_codec
from .connection import Connection
from .errors import (
    AuthorizationError,
    ConnectionClosedError,
    ConnectionDrainingError,
    ConnectionLostError,
    DrainTimeoutError,
    FlushTimeoutError,
    NoRespondersError,
    NoServersError,
    StaleConnectionError,
    TimeoutError,
    ZatsError,
    error_from_server,
)
from .events import Events
from .handshake import Handshake
from .msg import Msg, MsgCallback
from .mux import RequestMux, random_token
from .options import ConnectOptions, Options, make_options
from .outbound import Outbound, as_token
from .reconnect import Reconnector
from .servers import Server
from .status import (
    CLOSED,
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    DRAINING_PUBS,
    DRAINING_SUBS,
    RECONNECTING,
)
from .subscription import Subscription
from .subtable import SubTable, sub_frame

if TYPE_CHECKING:  # imported when first used: a client that never uses JetStream starts faster
    from .jetstream import JetStreamContext, JetStreamManager


class Client(Outbound):
    """A NATS client connection. Create it with `await zats.client.connect(...)` (or
    `Client(...)` then `await client.connect()`)."""

    def __init__(self, options: Options | None = None, *, servers: str | list[str] | None = None,
                 **kwargs: Unpack[ConnectOptions]):
        if options is None:
            options = make_options(servers, **kwargs)
        elif kwargs or servers is not None:
            raise TypeError("pass either an Options or keyword arguments")
        self.options = options
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._status = DISCONNECTED
        self._codec = get_codec(options.codec)
        self._init_outbound()
        self._events = Events(options)
        self._handshake = Handshake(options)
        self._subs = SubTable(self._events, send_unsub=self._send_unsub, write_pending=self._write_pending)
        self._rc = Reconnector(
            options, self._events, open=self._open, install=functools.partial(self._install, initial=False),
            close=self._close, force_reconnect=self._force_reconnect,
            is_reconnecting=lambda: self._status == RECONNECTING)
        self._conn: Connection | None = None
        self._info: Info | None = None
        self._mux: RequestMux | None = None
        self._closed_fut: asyncio.Future[None] | None = None
        # keepalive / flush
        self._pongs: deque[asyncio.Future[None] | None] = deque()
        self._pings_outstanding = 0
        self._ping_handle: asyncio.TimerHandle | None = None
        self._errors_received = 0
        # package interface: called after each reconnect, once subscriptions are restored (the
        # JetStream consumers re-issue their pull requests, the server having dropped them)
        self._reconnect_listeners: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ connect

    async def connect(self) -> Client:
        """Connects to the first reachable server of the pool (each tried once, in pool order).
        Raises `AuthorizationError` when credentials are refused, `NoServersError` (with the
        last failure as its cause) when no server could be reached."""
        if self._status != DISCONNECTED:
            raise ZatsError("connect() was already called")
        self._loop = self._events.loop = asyncio.get_running_loop()
        self._closed_fut = self._loop.create_future()
        self._status = CONNECTING
        last: BaseException | None = None
        for srv in list(self._rc.pool):
            try:
                conn = await self._open(srv)
            except AuthorizationError:
                self._status = CLOSED
                raise
            except (OSError, ZatsError, asyncio.TimeoutError, ssl.SSLError) as exc:  # noqa: UP041 (TimeoutError is ours here)
                srv.reconnects += 1
                last = exc
                continue
            except BaseException:
                self._status = CLOSED
                raise
            self._install(conn, srv, initial=True)
            return self
        self._status = CLOSED
        raise NoServersError(f"could not connect to any server: {last}") from last

    def _new_connection(self) -> Connection:
        return Connection(
            self._loop, self._subs, report=self._events.report, write_pending=self._write_pending,
            on_info=self._on_async_info, on_err=self._on_server_err, on_pong=self._on_pong,
            on_lost=self._on_connection_lost, on_pause=self._on_pause_writing,
            on_resume=self._on_resume_writing)

    async def _open(self, srv: Server) -> Connection:
        """A new connection to `srv`, handshaken, not yet installed."""
        return await self._handshake.run(self._loop, self._new_connection(), srv)

    def _install(self, conn: Connection, srv: Server, *, initial: bool) -> None:
        """Makes a handshaken connection the current one and sends what must go first."""
        self._conn = conn
        self._rc.current = srv
        srv.reconnects = 0
        srv.lame_duck = False
        conn.active = True
        self._apply_info(conn.info, initial=True)
        self._status = CONNECTED
        self._attach_transport(conn.transport, paused=conn.paused)  # type: ignore[arg-type]  # handshaken
        self._pings_outstanding = 0
        if not initial:
            self._prepend(self._subs.restore_frames())
            for listener in list(self._reconnect_listeners):
                try:
                    listener()
                except Exception as exc:
                    self._events.report(exc)
        self._write_out()
        self._schedule_ping()
        self._wake_writable()

    def _apply_info(self, info: Info | None, *, initial: bool) -> None:
        if info is None:
            return
        self._info = info
        self._set_server_limits(info.max_payload, bool(info.headers))
        if info.connect_urls:
            self._rc.add_discovered(info.connect_urls, tls=bool(self._conn and self._conn.tls),
                                    initial=initial)

    # ------------------------------------------------------------------ flush / ping

    async def flush(self, timeout: float | None = 10.0) -> None:
        """Waits until the server has processed everything sent before (a PING/PONG round
        trip). Raises `FlushTimeoutError`, `ConnectionClosedError`, or `ConnectionLostError`
        when the connection broke after the PING went out."""
        if self._status == CLOSED:
            raise ConnectionClosedError("connection closed")
        fut = self._loop.create_future()
        self._pongs.append(fut)
        self._send_ping()
        try:
            async with asyncio.timeout(timeout):
                await fut
        except builtins.TimeoutError:
            if fut.done() and not fut.cancelled():
                return
            raise FlushTimeoutError(f"no PONG in {timeout}s") from None

    async def rtt(self, timeout: float = 10.0) -> float:
        """Round-trip time to the server in seconds (a flush, timed)."""
        start = self._loop.time()
        await self.flush(timeout)
        return self._loop.time() - start

    def _on_pong(self) -> None:
        self._pings_outstanding = 0
        pongs = self._pongs
        if pongs:
            fut = pongs.popleft()
            if fut is not None and not fut.done():
                fut.set_result(None)

    def _schedule_ping(self) -> None:
        if self._ping_handle is not None:
            self._ping_handle.cancel()
        interval = self.options.ping_interval
        self._ping_handle = self._loop.call_later(interval, self._ping_tick) if interval and interval > 0 else None

    def _ping_tick(self) -> None:
        self._ping_handle = None
        conn = self._conn
        if conn is None or self._status not in (CONNECTED, DRAINING_SUBS, DRAINING_PUBS):
            return
        if self._pings_outstanding >= self.options.max_outstanding_pings:
            self._events.report(StaleConnectionError(
                f"no PONG for {self._pings_outstanding} PINGs: the connection is stale"))
            conn.abort()
            return
        self._pings_outstanding += 1
        self._pongs.append(None)
        self._send_ping()
        self._schedule_ping()

    def _cancel_ping(self) -> None:
        if self._ping_handle is not None:
            self._ping_handle.cancel()
            self._ping_handle = None

    # ------------------------------------------------------------------ what the connection reports

    def _on_async_info(self, conn: Connection, info: Info) -> None:
        if conn is not self._conn:
            return
        self._apply_info(info, initial=False)
        if info.ldm:
            self._rc.on_lame_duck(self._conn)

    def _force_reconnect(self, conn: Connection | None = None) -> None:
        if conn is not None and conn is not self._conn:
            return
        if self._conn is None or self._status != CONNECTED:
            return
        self._write_out()
        self._conn.close()

    def _on_server_err(self, conn: Connection, text: str) -> None:
        self._errors_received += 1
        self._events.report(error_from_server(text))
        # nats-server closes the connection itself after the errors that end it; the
        # connection_lost that follows starts the reconnect.

    def _on_connection_lost(self, conn: Connection, exc: Exception | None) -> None:
        if conn is not self._conn:
            return
        self._conn = None
        self._detach_transport()
        self._cancel_ping()
        self._fail_sent_pongs()
        st = self._status
        if st == CLOSED:
            return
        if exc is not None:
            current = self._rc.current
            self._events.report(ConnectionLostError(f"connection to {current.url if current else '?'} lost: {exc}"))
        if self.options.allow_reconnect and st == CONNECTED:
            self._status = RECONNECTING
            self._hold_for_reconnect()
            self._events.fire(self.options.disconnected_cb)
            self._rc.start()
        else:
            self._events.fire(self.options.disconnected_cb)
            self._events.spawn(self._close(ConnectionClosedError("connection lost")))

    def _fail_sent_pongs(self) -> None:
        """Fails the flushes whose PING went out on the connection that broke; those whose PING
        is still in the outbound buffer are answered after the reconnect."""
        pongs = self._pongs
        lost = len(pongs) - self._pings_unsent
        self._pings_outstanding = 0
        for _ in range(max(lost, 0)):
            fut = pongs.popleft()
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionLostError("connection lost before the PONG"))

    # ------------------------------------------------------------------ subscribe

    def _check_open_for_subs(self) -> None:
        st = self._status
        if st == CLOSED:
            raise ConnectionClosedError("connection closed")
        if st in (DRAINING_SUBS, DRAINING_PUBS):
            raise ConnectionDrainingError("connection draining: no new subscriptions")

    async def subscribe(self, subject: str, queue: str = "", cb: MsgCallback | None = None, *,
                        type: Any = None,
                        max_msgs: int = 0, pending_msgs_limit: int | None = None,
                        pending_bytes_limit: int | None = None) -> Subscription:
        """Subscribes to `subject` (wildcards allowed), in queue group `queue` when given.

        `cb`: an `async def cb(msg)` (awaited in order, one message at a time, owned messages),
        a plain `def cb(msg)` (called inline during the read with a zero-copy message, see
        `zats.client.msg`), or None to consume with `async for msg in sub` / `next_msg()`.
        `type`: decode every payload into this type with the connection's codec.
        `max_msgs`: end after that many messages. `pending_msgs_limit`/`pending_bytes_limit`:
        bounds of the queue of a non-inline subscription (default 512k messages / 128 MiB;
        0 or less: no bound) past which messages are dropped and a `SlowConsumerError` is
        reported."""
        self._check_open_for_subs()
        sb = as_token(subject, "subject")
        qb = as_token(queue, "queue group") if queue else b""
        opts = self.options
        sub = Subscription(
            self, self._subs, self._subs.new_sid(), sb.decode(), qb.decode(), cb,
            decode=self._codec.decoder(type).decode if type is not None else None, max_msgs=max_msgs,
            pending_msgs_limit=opts.pending_msgs_limit if pending_msgs_limit is None else pending_msgs_limit,
            pending_bytes_limit=opts.pending_bytes_limit if pending_bytes_limit is None else pending_bytes_limit,
        )
        self._add_sub(sub)
        if sub.max_msgs:
            self._send_unsub(sub, sub.max_msgs)
        sub.start_callbacks()
        return sub

    def _add_sub(self, sub: Subscription) -> None:
        self._subs.add(sub)
        if self._status != RECONNECTING:
            # While reconnecting, the restore after the handshake sends it.
            self._append_control(sub_frame(sub))

    def _send_unsub(self, sub: Subscription, limit: int = 0) -> None:
        if self._status == CLOSED:
            return
        self._append_control(unsub(sub.sid, limit))

    # ------------------------------------------------------------------ JetStream

    def jetstream(self, prefix: str = "$JS.API", domain: str | None = None, timeout: float = 5.0,
                  publish_async_max_pending: int = 4000) -> JetStreamContext:
        """A `JetStreamContext` on this connection (see zats.client.jetstream)."""
        from .jetstream import JetStreamContext

        return JetStreamContext(self, prefix, domain, timeout, publish_async_max_pending)

    def jsm(self, prefix: str = "$JS.API", domain: str | None = None, timeout: float = 5.0) -> JetStreamManager:
        """A `JetStreamManager` (management only) on this connection."""
        from .jetstream import JetStreamContext

        return JetStreamContext(self, prefix, domain, timeout)

    # ------------------------------------------------------------------ request

    def new_inbox(self) -> str:
        """A unique subject under `inbox_prefix` for replies."""
        return f"{self.options.inbox_prefix}.{random_token()}"

    def _ensure_mux(self) -> RequestMux:
        mux = self._mux
        if mux is None:
            mux = self._mux = RequestMux(self._events, self.options.inbox_prefix)
            sub = Subscription(self, self._subs, self._subs.new_sid(), mux.subject, "", None,
                               deliver=mux.deliver)
            mux.sub = sub
            self._add_sub(sub)
        return mux

    async def request(self, subject: str | bytes, payload: Any = b"", timeout: float = 2.0,
                      headers: HeadersLike | None = None, *, type: Any = None,
                      old_style: bool = False) -> Msg:
        """Publishes a request and returns the first reply. Replies come in over one shared
        wildcard inbox subscription. Raises `NoRespondersError` when nobody is subscribed to
        `subject` (status 503 from the server), `TimeoutError` after `timeout` seconds. With
        `type`, the reply's `data` is decoded into that type."""
        if self._status == CLOSED:
            raise ConnectionClosedError("connection closed")
        if old_style:
            return await self._request_old_style(subject, payload, timeout, headers, type)
        mux = self._ensure_mux()
        decode = self._codec.decoder(type).decode if type is not None else None
        subj_str = subject if isinstance(subject, str) else bytes(subject).decode()
        reply, token, fut = mux.new_request(decode, subj_str)
        try:
            self.publish(subject, payload, reply, headers)
        except BaseException:
            mux.forget(token)
            raise
        # A request waits for the reply: write now rather than at the next iteration.
        self._write_if_writable()
        loop = self._loop
        handle = loop.call_later(timeout, _expire, fut, subj_str, timeout)
        try:
            return await fut
        finally:
            handle.cancel()
            mux.forget(token)

    async def _request_old_style(self, subject: str | bytes, payload: Any, timeout: float,
                                 headers: HeadersLike | None, type_: Any) -> Msg:
        inbox = self.new_inbox()
        sub = await self.subscribe(inbox, max_msgs=1, type=type_)
        self.publish(subject, payload, inbox, headers)
        try:
            msg = await sub.next_msg(timeout)
        except TimeoutError:
            sub.unsubscribe()
            raise
        if msg.headers is not None and msg.headers.status == 503 and not msg.data:
            raise NoRespondersError(str(subject))
        return msg

    # ------------------------------------------------------------------ drain / close

    async def drain(self, timeout: float | None = None) -> None:
        """Drains every subscription (interest removed at the server, everything already sent
        delivered and consumed), then flushes the outbound buffer and closes. Past
        `drain_timeout` the connection is closed anyway and `DrainTimeoutError` is reported."""
        st = self._status
        if st == CLOSED:
            raise ConnectionClosedError("connection closed")
        if st in (DRAINING_SUBS, DRAINING_PUBS):
            return
        if st != CONNECTED:
            await self.close()
            return
        timeout = self.options.drain_timeout if timeout is None else timeout
        self._status = DRAINING_SUBS
        subs = list(self._subs.by_sid.values())
        try:
            async with asyncio.timeout(timeout):
                for sub in subs:
                    self._send_unsub(sub)
                await self.flush(timeout=None)
                for sub in subs:
                    self._subs.remove(sub)
                    sub.close_delivery(None)
                await asyncio.gather(*(sub.wait_consumed(None) for sub in subs))
                self._status = DRAINING_PUBS
                self._stop_publishes()
                await self.flush(timeout=None)
        except builtins.TimeoutError:
            self._events.report(DrainTimeoutError(f"drain did not finish in {timeout}s"))
        except ZatsError as exc:
            self._events.report(exc)
        await self._close(ConnectionClosedError("connection drained"))

    async def close(self) -> None:
        """Closes the connection: what is buffered is written out first; subscriptions end
        (`async for` stops), pending requests and flushes fail with `ConnectionClosedError`,
        `closed_cb` runs. Safe to call more than once."""
        await self._close(ConnectionClosedError("connection closed"))

    async def _close(self, reason: BaseException) -> None:
        if self._status == CLOSED:
            if self._closed_fut is not None and not self._closed_fut.done():
                await asyncio.shield(self._closed_fut)
            return
        was_connected = self._conn is not None
        self._status = CLOSED
        self._stop_publishes()
        self._rc.stop()
        self._cancel_ping()
        conn = self._conn
        if conn is not None:
            if not conn.closed:
                self._write_final(conn.transport)  # type: ignore[arg-type]  # not closed
            conn.close()
            await conn.wait_closed(5.0)
        self._conn = None
        self._detach_transport()
        pongs = self._pongs
        self._pongs = deque()
        for fut in pongs:
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionClosedError("connection closed"))
        if self._mux is not None:
            self._mux.fail_all(ConnectionClosedError("connection closed"))
        if not isinstance(reason, ConnectionClosedError):
            reason = ConnectionClosedError(f"connection closed: {reason}")
        for sub in list(self._subs.by_sid.values()):
            self._subs.remove(sub)
            sub.close_delivery(reason, discard=True)
            sub.cancel_task()
        self._wake_writable()
        events = self._events
        if was_connected:
            await events.fire_and_wait(self.options.disconnected_cb)
        await events.fire_and_wait(self.options.closed_cb)
        if self._closed_fut is not None and not self._closed_fut.done():
            self._closed_fut.set_result(None)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # ------------------------------------------------------------------ state

    @property
    def stats(self) -> dict[str, int]:
        """Counters: in_msgs, in_bytes, out_msgs, out_bytes (payload bytes, headers included
        for received messages), reconnects, errors_received."""
        subs = self._subs
        return {
            "in_msgs": subs.in_msgs, "in_bytes": subs.in_bytes,
            "out_msgs": self._out_msgs, "out_bytes": self._out_bytes,
            "reconnects": self._rc.reconnects, "errors_received": self._errors_received,
        }

    @property
    def status(self) -> int:
        return self._status

    @property
    def is_connected(self) -> bool:
        return self._status in (CONNECTED, DRAINING_SUBS, DRAINING_PUBS)

    @property
    def is_closed(self) -> bool:
        return self._status == CLOSED

    @property
    def is_reconnecting(self) -> bool:
        return self._status == RECONNECTING

    @property
    def is_connecting(self) -> bool:
        return self._status == CONNECTING

    @property
    def is_draining(self) -> bool:
        return self._status in (DRAINING_SUBS, DRAINING_PUBS)

    @property
    def is_draining_pubs(self) -> bool:
        return self._status == DRAINING_PUBS

    @property
    def server_info(self) -> Info | None:
        """The last INFO from the current server."""
        return self._info

    @property
    def client_id(self) -> int | None:
        return self._info.client_id if self._info else None

    @property
    def connected_url(self) -> ParseResult | None:
        """The parsed URL of the current server, or None while not connected."""
        current = self._rc.current
        return current.uri if (current is not None and self._conn is not None) else None

    @property
    def connected_server_version(self) -> str | None:
        return self._info.version if self._info else None

    @property
    def servers(self) -> list[ParseResult]:
        """Parsed URLs of the server pool (configured and discovered)."""
        return [s.uri for s in self._rc.pool]

    @property
    def discovered_servers(self) -> list[ParseResult]:
        return [s.uri for s in self._rc.pool if s.discovered]

    @property
    def last_error(self) -> BaseException | None:
        return self._events.last_error

    def __repr__(self) -> str:
        current = self._rc.current
        url = current.url if current else None
        return f"<zats.client.Client {url} status={self._status}>"


def _expire(fut: asyncio.Future[Msg], subject: str, timeout: float) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError(f"no reply on {subject!r} in {timeout}s"))
