"""`Client`: a connection to a NATS server (zats or nats-server) and everything done over it.

Writes. `publish()` is a plain call that appends the frame to one outbound `bytearray`; the
first append after a write schedules one write for the next event-loop iteration
(`loop.call_soon`), and a buffer past `flush_threshold` is handed to the transport at once, so a
burst of publishes costs one syscall. The buffer is swapped for a fresh one on each write, never
copied. Outbound memory is bounded: while the transport is paused (the socket does not drain) the
buffer may grow to `max_outbound_bytes`, while reconnecting to `reconnect_buffer_size`; past that
`publish()` raises `OutboundBufferFullError` and `apublish()` waits for room. Publishes made while
reconnecting are sent after the subscriptions are restored.

Reads are done by `connection.Connection`; this module dispatches MSG/HMSG by sid to the
subscriptions (`_on_msg`/`_on_hmsg`) and handles PONG, async INFO (discovered servers, lame
duck) and -ERR.

Reconnection: when a connection breaks the client (unless `allow_reconnect=False`) tries the
server pool in turn with backoff and jitter (`servers.py`), restores every subscription (with
the remaining count of an auto-unsubscribe), then sends what was published meanwhile. Events go
to `disconnected_cb`, `reconnected_cb`, `closed_cb`, `error_cb`, `discovered_server_cb` and
`lame_duck_mode_cb` (plain or async functions)."""

from __future__ import annotations

import asyncio
import builtins
import inspect
import logging
import random
import ssl
from collections import deque
from typing import Any

from zats.protocol.frames import PING
from zats.protocol.headers import Headers, encode_headers
from zats.protocol.structs import Connect, Info, encode_connect

from . import __version__ as _version
from .codec import get_codec
from .connection import Connection
from .errors import (
    AuthorizationError,
    BadHeaderError,
    BadSubjectError,
    ConnectionClosedError,
    ConnectionDrainingError,
    ConnectionLostError,
    DrainTimeoutError,
    FlushTimeoutError,
    MaxPayloadError,
    NoRespondersError,
    NoServersError,
    OutboundBufferFullError,
    SecureConnFailedError,
    SecureConnRequiredError,
    StaleConnectionError,
    TimeoutError,
    ZatsError,
    error_from_server,
)
from .msg import DONE, Msg, _Done
from .mux import RequestMux, random_token
from .nkeys import KeyPair, load_creds
from .options import Options
from .servers import Server, ServerPool, backoff_delay, monotonic
from .subscription import Subscription

log = logging.getLogger("zats.client")

# Status values (nats-py's names).
DISCONNECTED = 0
CONNECTED = 1
CLOSED = 2
RECONNECTING = 3
CONNECTING = 4
DRAINING_SUBS = 5
DRAINING_PUBS = 6

_SIZE_LINES = [b"%d\r\n" % i for i in range(4096)]
_CRLF = b"\r\n"
_WHITESPACE = (b" ", b"\t", b"\r", b"\n")
_HEAD_CACHE_MAX = 8192
_BUFFER_TYPES = (bytes, bytearray, memoryview)


def _check_token(value: bytes, what: str) -> bytes:
    if not value:
        raise BadSubjectError(f"empty {what}")
    for ch in _WHITESPACE:
        if ch in value:
            raise BadSubjectError(f"{what} {value!r} contains whitespace")
    return value


def _as_bytes(value: str | bytes, what: str) -> bytes:
    if type(value) is str:
        return _check_token(value.encode(), what)
    if isinstance(value, (bytes, bytearray)):
        return _check_token(bytes(value), what)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


class Client:
    """A NATS client connection. Create it with `await zats.client.connect(...)` (or
    `Client(...)` then `await client.connect()`)."""

    def __init__(self, options: Options | None = None, **kwargs: Any):
        if options is None:
            options = Options(**kwargs)
        elif kwargs:
            raise TypeError("pass either an Options or keyword arguments")
        self.options = options
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._status = DISCONNECTED
        self._codec = get_codec(options.codec)
        self._pool = ServerPool(options.servers, randomize=not options.dont_randomize)
        self._current: Server | None = None
        self._conn: Connection | None = None
        self._transport = None
        self._info: Info | None = None
        self._max_payload = 1024 * 1024
        # outbound
        self._out = bytearray()
        self._out_check_at = -1  # publish() calls _make_room() once len(_out) reaches this
        self._can_write = False
        self._flush_scheduled = False
        self._pub_heads: dict[Any, bytes] = {}
        self._typed_size_guess = b"00"
        self._writable_waiters: list[asyncio.Future] = []
        # keepalive / flush
        self._pongs: deque[asyncio.Future | None] = deque()
        self._pings_unsent = 0
        self._pings_outstanding = 0
        self._ping_handle: asyncio.TimerHandle | None = None
        # subscriptions
        self._subs: dict[int, Subscription] = {}
        self._dispatch: dict[bytes, Any] = {}  # sid -> sub._deliver (one message)
        self._runs: dict[bytes, Any] = {}  # sid -> sub._deliver_run (a run of messages)
        self._next_sid = 0
        self._mux: RequestMux | None = None
        # tasks
        self._reconnect_task: asyncio.Task | None = None
        self._bg: set[asyncio.Task] = set()
        self._closed_fut: asyncio.Future | None = None
        # stats
        self._in_msgs = 0
        self._in_bytes = 0
        self._out_msgs = 0
        self._out_bytes = 0
        self._reconnects = 0
        self._errors_received = 0
        self._last_error: BaseException | None = None
        # auth
        self._keypair: KeyPair | None = None
        self._user_jwt: str | None = None
        self._setup_auth()

    # ------------------------------------------------------------------ connect

    def _setup_auth(self) -> None:
        opts = self.options
        if opts.user_credentials:
            jwt, seed = load_creds(opts.user_credentials)
            self._user_jwt = jwt
            self._keypair = KeyPair(seed)
        elif opts.nkeys_seed:
            try:
                with open(opts.nkeys_seed, encoding="utf-8") as f:
                    seed = f.read().strip()
            except OSError as exc:
                from .errors import InvalidUserCredentialsError

                raise InvalidUserCredentialsError(f"cannot read {opts.nkeys_seed}: {exc}") from None
            self._keypair = KeyPair(seed)
        elif opts.nkeys_seed_str:
            self._keypair = KeyPair(opts.nkeys_seed_str.strip())

    async def connect(self) -> Client:
        """Connects to the first reachable server of the pool (each tried once, in pool order).
        Raises `AuthorizationError` when credentials are refused, `NoServersError` (with the
        last failure as its cause) when no server could be reached."""
        if self._status != DISCONNECTED:
            raise ZatsError("connect() was already called")
        self._loop = asyncio.get_running_loop()
        self._closed_fut = self._loop.create_future()
        self._status = CONNECTING
        last: BaseException | None = None
        for srv in list(self._pool):
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

    def _tls_name(self, srv: Server) -> str:
        return self.options.tls_hostname or srv.tls_name or srv.host

    def _tls_context(self, srv: Server) -> ssl.SSLContext | None:
        """The SSL context to use with `srv`, or None when TLS was not asked for (it may still
        be required by the server's INFO, see `_open`)."""
        if self.options.tls is not None:
            return self.options.tls
        if srv.uri.scheme == "tls" or self.options.tls_handshake_first:
            return ssl.create_default_context()
        return None

    async def _open(self, srv: Server) -> Connection:
        """Opens a connection to `srv` and runs the handshake (INFO, optional TLS upgrade,
        CONNECT, PING/PONG). Returns the connection, not yet installed."""
        opts = self.options
        loop = self._loop
        srv.last_attempt = monotonic()
        conn = Connection(self)
        ctx = self._tls_context(srv)
        try:
            async with asyncio.timeout(opts.connect_timeout):
                if opts.tls_handshake_first:
                    await loop.create_connection(lambda: conn, srv.host, srv.port, ssl=ctx,
                                                 server_hostname=self._tls_name(srv))
                    conn.tls = True
                else:
                    await loop.create_connection(lambda: conn, srv.host, srv.port)
                info: Info = await conn.info_fut
                if not conn.tls and (ctx is not None or info.tls_required):
                    if ctx is None:
                        ctx = ssl.create_default_context()
                    transport = await loop.start_tls(conn.transport, conn, ctx,
                                                     server_hostname=self._tls_name(srv))
                    if transport is None:
                        raise SecureConnFailedError("TLS upgrade failed")
                    conn.transport = transport
                    conn.tls = True
                conn.transport.write(self._connect_frame(info, conn.tls, srv) + PING)
                await conn.pong_fut
        except builtins.TimeoutError:
            conn.abort()
            raise TimeoutError(f"connecting to {srv.url} timed out") from None
        except ssl.SSLError as exc:
            conn.abort()
            raise SecureConnFailedError(f"TLS with {srv.url} failed: {exc}") from exc
        except BaseException:
            conn.abort()
            raise
        if conn.closed:
            raise ConnectionLostError(f"{srv.url} closed the connection after the handshake")
        return conn

    def _connect_frame(self, info: Info, tls: bool, srv: Server) -> bytes:
        opts = self.options
        c = Connect(
            verbose=opts.verbose, pedantic=opts.pedantic, tls_required=tls, name=opts.name,
            lang="python3-zats", version=_version, protocol=1, echo=opts.echo,
            headers=bool(info.headers), no_responders=bool(info.headers),
        )
        user, password = opts.user, opts.password
        token = opts.token
        if user is None and token is None and srv.uri.username:
            if srv.uri.password is None:
                token = srv.uri.username
            else:
                user, password = srv.uri.username, srv.uri.password
        if user is not None:
            c.user = user
            c.password = password
        if token is not None:
            c.auth_token = token
        if info.nonce:
            if self._keypair is not None:
                c.sig = self._keypair.sign_nonce(info.nonce)
                if self._user_jwt is not None:
                    c.jwt = self._user_jwt
                else:
                    c.nkey = self._keypair.public_key
            elif opts.signature_cb is not None:
                sig = opts.signature_cb(info.nonce)
                c.sig = sig.decode() if isinstance(sig, bytes) else sig
            if opts.user_jwt_cb is not None:
                jwt = opts.user_jwt_cb()
                c.jwt = jwt.decode() if isinstance(jwt, bytes) else jwt
        elif self._keypair is not None and info.auth_required:
            raise AuthorizationError("server sent no nonce to sign")
        if info.tls_required and not tls:
            raise SecureConnRequiredError("server requires TLS")
        return encode_connect(c)

    def _install(self, conn: Connection, srv: Server, *, initial: bool) -> None:
        """Makes a handshaken connection the current one and sends what must go first."""
        self._conn = conn
        self._transport = conn.transport
        self._current = srv
        srv.did_connect = True
        srv.reconnects = 0
        srv.lame_duck = False
        conn.active = True
        self._apply_info(conn.info, initial=True)
        self._status = CONNECTED
        self._can_write = not conn.paused
        self._out_check_at = self.options.flush_threshold if self._can_write else self.options.max_outbound_bytes
        self._pings_outstanding = 0
        if not initial:
            resub = bytearray()
            for sub in self._subs.values():
                if sub._max:
                    remaining = sub._max - sub.delivered
                    if remaining <= 0:
                        continue
                    resub += self._sub_frame(sub)
                    resub += b"UNSUB %d %d\r\n" % (sub.sid, remaining)
                else:
                    resub += self._sub_frame(sub)
            resub += self._out
            self._out = resub
        self._write_out()
        self._schedule_ping()
        self._wake_writable()

    def _apply_info(self, info: Info | None, *, initial: bool) -> None:
        if info is None:
            return
        self._info = info
        self._max_payload = info.max_payload
        if info.connect_urls:
            added = self._pool.add_discovered(info.connect_urls, current=self._current,
                                              tls=bool(self._conn and self._conn.tls))
            if added and not initial:
                self._fire(self.options.discovered_server_cb)

    # ------------------------------------------------------------------ publish

    def publish(self, subject: str | bytes, payload: Any = b"", reply: str | bytes | None = None,
                headers: Headers | dict | None = None) -> _Done:
        """Queues a message for `subject` and returns at once (a plain call: the write happens
        on the next loop iteration, or now when the outbound buffer is past `flush_threshold`).

        `payload` is bytes, bytearray or memoryview (sent as is), or any object msgspec can
        encode (a `msgspec.Struct`, dict, list...), encoded with the connection's codec straight
        into the outbound buffer. `headers` is a `Headers`, a dict (a list value repeats the
        key) or a list of pairs. Raises `MaxPayloadError`, `BadSubjectError`,
        `OutboundBufferFullError` (see `apublish()`), `ConnectionClosedError`. The returned
        object may be awaited (for code written for nats-py); that completes at once."""
        out = self._out
        if len(out) >= self._out_check_at:
            out = self._make_room()
        if reply is None and headers is None and type(payload) is bytes:
            n = len(payload)
            if n > self._max_payload:
                raise MaxPayloadError(f"payload of {n} bytes exceeds max_payload {self._max_payload}")
            head = self._pub_heads.get(subject)
            if head is None:
                head = self._pub_head(subject)
            out += head
            out += _SIZE_LINES[n] if n < 4096 else b"%d\r\n" % n
            out += payload
            out += _CRLF
            self._out_msgs += 1
            self._out_bytes += n
        else:
            self._publish_slow(out, subject, payload, reply, headers)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._write_out)
        return DONE

    async def apublish(self, subject: str | bytes, payload: Any = b"", reply: str | bytes | None = None,
                       headers: Headers | dict | None = None) -> None:
        """`publish()` that waits for room in the outbound buffer instead of raising
        `OutboundBufferFullError`."""
        while True:
            try:
                self.publish(subject, payload, reply, headers)
                return
            except OutboundBufferFullError:
                await self.wait_writable()

    async def wait_writable(self, timeout: float | None = None) -> None:
        """Waits until the outbound buffer has room (below its current limit)."""
        while len(self._out) >= self._current_limit():
            if self._status in (CLOSED, DRAINING_PUBS):
                raise ConnectionClosedError("connection closed")
            fut = self._loop.create_future()
            self._writable_waiters.append(fut)
            async with asyncio.timeout(timeout):
                await fut

    def _current_limit(self) -> int:
        if self._status == RECONNECTING:
            return self.options.reconnect_buffer_size
        return self.options.max_outbound_bytes

    def _wake_writable(self) -> None:
        ws = self._writable_waiters
        if ws:
            self._writable_waiters = []
            for w in ws:
                if not w.done():
                    w.set_result(None)

    def _make_room(self) -> bytearray:
        """Called when the outbound buffer reached `_out_check_at`: writes it out when the
        transport takes data, else raises once it is at its limit."""
        st = self._status
        if st == CLOSED or st == DISCONNECTED or st == CONNECTING:
            raise ConnectionClosedError("not connected" if st != CLOSED else "connection closed")
        if st == DRAINING_PUBS:
            raise ConnectionDrainingError("connection draining: no more publishes")
        if self._can_write:
            self._write_out()
            return self._out
        limit = self._current_limit()
        if len(self._out) >= limit:
            what = "reconnect_buffer_size" if st == RECONNECTING else "max_outbound_bytes"
            raise OutboundBufferFullError(
                f"outbound buffer full ({len(self._out)} bytes, {what}={limit}): the server or the "
                f"network is not keeping up; await wait_writable() or use apublish()")
        self._out_check_at = limit
        return self._out

    def _pub_head(self, subject: str | bytes) -> bytes:
        sb = _as_bytes(subject, "subject")
        head = b"PUB " + sb + b" "
        heads = self._pub_heads
        if len(heads) >= _HEAD_CACHE_MAX:
            heads.clear()
        heads[subject] = head
        return head

    def _publish_slow(self, out: bytearray, subject, payload, reply, headers) -> None:
        head = self._pub_heads.get(subject)
        if head is None:
            head = self._pub_head(subject)
        sb = head[4:-1]
        rb = b"" if reply is None or reply == "" else _as_bytes(reply, "reply subject") + b" "
        hdr = None
        if headers is not None:
            if self._info is not None and not self._info.headers:
                raise BadHeaderError("the server does not support headers")
            try:
                hdr = encode_headers(headers)
            except (ValueError, TypeError) as exc:
                raise BadHeaderError(str(exc)) from None
        if isinstance(payload, _BUFFER_TYPES):
            n = payload.nbytes if type(payload) is memoryview else len(payload)
            if n > self._max_payload:
                raise MaxPayloadError(f"payload of {n} bytes exceeds max_payload {self._max_payload}")
            if hdr is None:
                out += b"PUB %b %b%d\r\n" % (sb, rb, n)
            else:
                hl = len(hdr)
                out += b"HPUB %b %b%d %d\r\n" % (sb, rb, hl, hl + n)
                out += hdr
            out += payload
            out += _CRLF
        else:
            if isinstance(payload, str):
                raise TypeError("payload must be bytes-like or an object for the codec; "
                                "encode str payloads first")
            n = self._encode_payload(out, sb, rb, hdr, payload)
        self._out_msgs += 1
        self._out_bytes += n

    def _encode_payload(self, out: bytearray, sb: bytes, rb: bytes, hdr: bytes | None, obj: Any) -> int:
        """Writes a PUB/HPUB frame whose payload msgspec encodes straight into `out`; the size
        field is written after encoding (a guess of its width is reserved, and corrected by an
        in-place move when wrong)."""
        start = len(out)
        hl = 0 if hdr is None else len(hdr)
        if hdr is None:
            out += b"PUB %b %b" % (sb, rb)
        else:
            out += b"HPUB %b %b%d " % (sb, rb, hl)
        size_at = len(out)
        guess = self._typed_size_guess
        out += guess
        out += _CRLF
        if hdr is not None:
            out += hdr
        body_at = len(out)
        try:
            self._codec.encoder.encode_into(obj, out, -1)
        except Exception:
            del out[start:]
            raise
        n = len(out) - body_at
        if n > self._max_payload:
            del out[start:]
            raise MaxPayloadError(f"payload of {n} bytes exceeds max_payload {self._max_payload}")
        digits = b"%d" % (n + hl)
        out[size_at:size_at + len(guess)] = digits
        if len(digits) != len(guess):
            self._typed_size_guess = b"0" * len(digits)
        out += _CRLF
        return n

    def _write_out(self) -> None:
        """Hands the outbound buffer to the transport (when connected and not paused)."""
        self._flush_scheduled = False
        if not self._can_write:
            return
        out = self._out
        if out:
            self._out = bytearray()
            self._pings_unsent = 0
            self._transport.write(out)

    def _on_pause_writing(self) -> None:
        self._can_write = False
        self._out_check_at = self.options.max_outbound_bytes

    def _on_resume_writing(self) -> None:
        if self._status in (CONNECTED, DRAINING_SUBS, DRAINING_PUBS, CLOSED) and self._conn is not None:
            self._can_write = True
            if self._status != CLOSED:
                self._out_check_at = self.options.flush_threshold
            self._write_out()
            self._wake_writable()

    # ------------------------------------------------------------------ flush / ping

    async def flush(self, timeout: float | None = 10.0) -> None:
        """Waits until the server has processed everything sent before (a PING/PONG round
        trip). Raises `FlushTimeoutError`, `ConnectionClosedError`, or `ConnectionLostError`
        when the connection broke after the PING went out."""
        if self._status == CLOSED:
            raise ConnectionClosedError("connection closed")
        fut = self._loop.create_future()
        self._pongs.append(fut)
        self._out += PING
        self._pings_unsent += 1
        self._write_out()
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
            self._report(StaleConnectionError(
                f"no PONG for {self._pings_outstanding} PINGs: the connection is stale"))
            conn.abort()
            return
        self._pings_outstanding += 1
        self._pongs.append(None)
        self._out += PING
        self._pings_unsent += 1
        self._write_out()
        self._schedule_ping()

    # ------------------------------------------------------------------ receive

    def _on_msg(self, subject: bytes, sid: bytes, reply: bytes | None, payload: memoryview) -> None:
        self._in_msgs += 1
        self._in_bytes += len(payload)
        deliver = self._dispatch.get(sid)
        if deliver is not None:
            deliver(subject, reply, payload, None)

    def _on_hmsg(self, subject: bytes, sid: bytes, reply: bytes | None, header_len: int,
                 message: memoryview) -> None:
        self._in_msgs += 1
        self._in_bytes += len(message)
        deliver = self._dispatch.get(sid)
        if deliver is not None:
            deliver(subject, reply, message[header_len:], message[:header_len])

    def _on_async_info(self, conn: Connection, info: Info) -> None:
        if conn is not self._conn:
            return
        self._apply_info(info, initial=False)
        if info.ldm:
            self._on_lame_duck()

    def _on_lame_duck(self) -> None:
        srv = self._current
        if srv is not None:
            srv.lame_duck = True
        self._fire(self.options.lame_duck_mode_cb)
        opts = self.options
        if not (opts.allow_reconnect and opts.lame_duck_reconnect):
            return
        if any(s is not srv and not s.lame_duck for s in self._pool):
            # Move to another server before this one starts closing connections; spread the
            # moves of many clients a little.
            self._loop.call_later(random.uniform(0, 0.25), self._force_reconnect, self._conn)

    def _force_reconnect(self, conn: Connection | None = None) -> None:
        if conn is not None and conn is not self._conn:
            return
        if self._conn is None or self._status != CONNECTED:
            return
        self._write_out()
        self._conn.close()

    def _on_server_err(self, conn: Connection, text: str) -> None:
        self._errors_received += 1
        err = error_from_server(text)
        self._report(err)
        # nats-server closes the connection itself after the errors that end it; the
        # connection_lost that follows starts the reconnect.

    def _on_connection_lost(self, conn: Connection, exc: Exception | None) -> None:
        if conn is not self._conn:
            return
        self._conn = None
        self._transport = None
        self._can_write = False
        if self._ping_handle is not None:
            self._ping_handle.cancel()
            self._ping_handle = None
        self._fail_sent_pongs()
        st = self._status
        if st == CLOSED:
            return
        if exc is not None:
            self._report(ConnectionLostError(f"connection to {self._current.url if self._current else '?'} lost: {exc}"))
        if self.options.allow_reconnect and st == CONNECTED:
            self._status = RECONNECTING
            self._out_check_at = self.options.reconnect_buffer_size
            self._fire(self.options.disconnected_cb)
            self._reconnect_task = self._loop.create_task(self._reconnect_loop())
        else:
            self._fire(self.options.disconnected_cb)
            self._spawn(self._close(ConnectionClosedError("connection lost")))

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

    async def _reconnect_loop(self) -> None:
        opts = self.options
        pool = self._pool
        try:
            while self._status == RECONNECTING:
                srv = pool.next(opts.max_reconnect_attempts)
                if srv is None:
                    self._last_error = NoServersError("reconnect attempts exhausted")
                    self._report(self._last_error)
                    await self._close(NoServersError("reconnect attempts exhausted"))
                    return
                jitter = opts.reconnect_jitter_tls if (opts.tls or srv.uri.scheme == "tls") else opts.reconnect_jitter
                delay = backoff_delay(srv, now=monotonic(), wait=opts.reconnect_time_wait,
                                      max_wait=opts.reconnect_max_wait, jitter=jitter)
                if delay > 0:
                    await asyncio.sleep(delay)
                    if self._status != RECONNECTING:
                        return
                try:
                    conn = await self._open(srv)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    srv.reconnects += 1
                    srv.last_attempt = monotonic()
                    self._report(exc)
                    continue
                if self._status != RECONNECTING:
                    conn.abort()
                    return
                self._reconnects += 1
                self._install(conn, srv, initial=False)
                self._fire(opts.reconnected_cb)
                return
        finally:
            if self._reconnect_task is asyncio.current_task():
                self._reconnect_task = None

    # ------------------------------------------------------------------ subscribe

    def _sub_frame(self, sub: Subscription) -> bytes:
        if sub.queue:
            return b"SUB %b %b %d\r\n" % (sub.subject.encode(), sub.queue.encode(), sub.sid)
        return b"SUB %b %d\r\n" % (sub.subject.encode(), sub.sid)

    def _check_open_for_subs(self) -> None:
        st = self._status
        if st == CLOSED:
            raise ConnectionClosedError("connection closed")
        if st in (DRAINING_SUBS, DRAINING_PUBS):
            raise ConnectionDrainingError("connection draining: no new subscriptions")

    async def subscribe(self, subject: str, queue: str = "", cb: Any = None, *, type: Any = None,
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
        sb = _as_bytes(subject, "subject")
        qb = _as_bytes(queue, "queue group") if queue else b""
        opts = self.options
        self._next_sid += 1
        sub = Subscription(
            self, self._next_sid, sb.decode(), qb.decode(), cb, type=type, max_msgs=max_msgs,
            pending_msgs_limit=opts.pending_msgs_limit if pending_msgs_limit is None else pending_msgs_limit,
            pending_bytes_limit=opts.pending_bytes_limit if pending_bytes_limit is None else pending_bytes_limit,
        )
        self._add_sub(sub)
        if sub._max:
            self._send_unsub(sub, sub._max)
        sub._start()
        return sub

    def _add_sub(self, sub: Subscription) -> None:
        self._subs[sub.sid] = sub
        self._dispatch[sub._sid_b] = sub._deliver
        if sub._deliver_run is not None:
            self._runs[sub._sid_b] = sub._deliver_run
        if self._status != RECONNECTING:
            # While reconnecting, the restore after the handshake sends it.
            self._append_control(self._sub_frame(sub))

    def _append_control(self, frame: bytes) -> None:
        self._out += frame
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._write_out)

    def _send_unsub(self, sub: Subscription, limit: int = 0) -> None:
        if self._status == CLOSED:
            return
        if limit:
            self._append_control(b"UNSUB %d %d\r\n" % (sub.sid, limit))
        else:
            self._append_control(b"UNSUB %d\r\n" % sub.sid)

    def _remove_sub(self, sub: Subscription) -> None:
        if self._subs.pop(sub.sid, None) is not None:
            self._dispatch.pop(sub._sid_b, None)
            self._runs.pop(sub._sid_b, None)

    # ------------------------------------------------------------------ request

    def new_inbox(self) -> str:
        """A unique subject under `inbox_prefix` for replies."""
        return f"{self.options.inbox_prefix}.{random_token()}"

    def _ensure_mux(self) -> RequestMux:
        mux = self._mux
        if mux is None:
            mux = self._mux = RequestMux(self, self.options.inbox_prefix)
            self._next_sid += 1
            sub = Subscription(self, self._next_sid, mux.subject, "", None)
            sub._deliver = mux.deliver
            sub._deliver_run = None
            mux.sub = sub
            self._add_sub(sub)
        return mux

    async def request(self, subject: str | bytes, payload: Any = b"", timeout: float = 2.0,
                      headers: Headers | dict | None = None, *, type: Any = None,
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
        if self._can_write:
            self._write_out()
        loop = self._loop
        handle = loop.call_later(timeout, _expire, fut, subj_str, timeout)
        try:
            return await fut
        finally:
            handle.cancel()
            mux.forget(token)

    async def _request_old_style(self, subject, payload, timeout, headers, type_) -> Msg:
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
        subs = list(self._subs.values())
        try:
            async with asyncio.timeout(timeout):
                for sub in subs:
                    self._send_unsub(sub)
                await self.flush(timeout=None)
                for sub in subs:
                    self._remove_sub(sub)
                    sub._close_delivery(None)
                await asyncio.gather(*(sub._wait_consumed(None) for sub in subs))
                self._status = DRAINING_PUBS
                self._out_check_at = -1
                await self.flush(timeout=None)
        except builtins.TimeoutError:
            self._report(DrainTimeoutError(f"drain did not finish in {timeout}s"))
        except ZatsError as exc:
            self._report(exc)
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
        self._out_check_at = -1
        task = self._reconnect_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._reconnect_task = None
        if self._ping_handle is not None:
            self._ping_handle.cancel()
            self._ping_handle = None
        conn = self._conn
        if conn is not None:
            out = self._out
            if out and not conn.closed:
                self._out = bytearray()
                conn.transport.write(out)
            conn.close()
            await conn.wait_closed(5.0)
        self._conn = None
        self._transport = None
        self._can_write = False
        pongs = self._pongs
        self._pongs = deque()
        for fut in pongs:
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionClosedError("connection closed"))
        if self._mux is not None:
            self._mux.fail_all(ConnectionClosedError("connection closed"))
        if not isinstance(reason, ConnectionClosedError):
            reason = ConnectionClosedError(f"connection closed: {reason}")
        for sub in list(self._subs.values()):
            self._remove_sub(sub)
            sub._close_delivery(reason, discard=True)
            sub._cancel_task()
        self._wake_writable()
        if was_connected:
            await self._fire_and_wait(self.options.disconnected_cb)
        await self._fire_and_wait(self.options.closed_cb)
        if self._closed_fut is not None and not self._closed_fut.done():
            self._closed_fut.set_result(None)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    # ------------------------------------------------------------------ events

    def _report(self, exc: BaseException) -> None:
        """Sends an asynchronous error to `error_cb` (or the log)."""
        self._last_error = exc
        cb = self.options.error_cb
        if cb is None:
            log.warning("zats.client: %s: %s", type(exc).__name__, exc)
            return
        self._fire(cb, exc)

    def _fire(self, cb: Any, *args: Any) -> None:
        if cb is None:
            return
        try:
            result = cb(*args)
        except Exception:
            log.exception("zats.client: callback %r raised", cb)
            return
        if inspect.isawaitable(result):
            self._spawn(result)

    async def _fire_and_wait(self, cb: Any, *args: Any) -> None:
        if cb is None:
            return
        try:
            result = cb(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("zats.client: callback %r raised", cb)

    def _spawn(self, coro) -> None:
        task = self._loop.create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # ------------------------------------------------------------------ state

    @property
    def stats(self) -> dict[str, int]:
        """Counters: in_msgs, in_bytes, out_msgs, out_bytes (payload bytes, headers included
        for received messages), reconnects, errors_received."""
        return {
            "in_msgs": self._in_msgs, "in_bytes": self._in_bytes,
            "out_msgs": self._out_msgs, "out_bytes": self._out_bytes,
            "reconnects": self._reconnects, "errors_received": self._errors_received,
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
    def max_payload(self) -> int:
        return self._max_payload

    @property
    def client_id(self) -> int | None:
        return self._info.client_id if self._info else None

    @property
    def connected_url(self):
        """The parsed URL of the current server, or None while not connected."""
        return self._current.uri if (self._current is not None and self._conn is not None) else None

    @property
    def connected_server_version(self) -> str | None:
        return self._info.version if self._info else None

    @property
    def servers(self) -> list:
        """Parsed URLs of the server pool (configured and discovered)."""
        return [s.uri for s in self._pool]

    @property
    def discovered_servers(self) -> list:
        return [s.uri for s in self._pool if s.discovered]

    @property
    def last_error(self) -> BaseException | None:
        return self._last_error

    @property
    def pending_data_size(self) -> int:
        """Bytes in the outbound buffer, not yet handed to the transport."""
        return len(self._out)

    @property
    def outbound_limit(self) -> int:
        """Current bound of the outbound buffer (depends on whether reconnecting)."""
        return self._current_limit()

    def __repr__(self) -> str:
        url = self._current.url if self._current else None
        return f"<zats.client.Client {url} status={self._status}>"


def _expire(fut: asyncio.Future, subject: str, timeout: float) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError(f"no reply on {subject!r} in {timeout}s"))
