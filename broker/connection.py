"""One client connection: a WireConnection (wire.py: reading, parsing, flushing, keepalive,
closing) that parses client ops with ClientOpsParser and applies them (CONNECT and
authentication, SUB, UNSUB, PUB, HPUB, PING, PONG), delivering messages into the outbound
buffers of the receiving connections, plus the TLS upgrade after INFO."""

from __future__ import annotations

import asyncio
import functools
import random
import ssl

import msgspec

from zats.protocol import errors
from zats.protocol.errors import ProtocolError, err_frame
from zats.protocol.frames import OK
from zats.protocol.parser import ClientOpsParser
from zats.protocol.structs import decode_connect
from zats.protocol.subjects import is_valid_publish_subject, is_valid_subject

from . import trace
from .auth import check_pool
from .delivery import deliver, deliver_run, deliver_sizes
from .permissions import (
    RESERVED_FIRST,
    RESERVED_REPLY_PREFIXES,
    RESERVED_SUBJECT_PREFIXES,
    ConnectionPermissions,
    reserved_reply,
    reserved_subject,
)
from .subscription import Subscription
from .wire import HEAVY_FANOUT, WireConnection

_RTT_MEASUREMENT_INTERVAL = 3600.0
_NO_RESPONDERS_HEAD = b"NATS/1.0 503\r\nNats-Subject: "


class ClientConnection(WireConnection):
    __slots__ = (
        "subs", "pedantic", "connected",
        "name", "lang", "version", "identity", "nonce", "recheck",
        "tls_socket_transport", "connect_opts", "in_process", "websocket",
    )

    def __init__(self, broker, cid: int, *, in_process: bool = False, websocket=None):
        super().__init__(broker, cid)
        self.sublist = self.account.sublist
        opts = broker.options
        self.parser = ClientOpsParser(self, max_control_line=opts.max_control_line,
                                      max_payload=opts.max_payload)
        self.subs: dict[bytes, Subscription] = {}
        # nats-server's defaults, also for a client that never sends CONNECT.
        self.echo = True
        self.verbose = True
        self.pedantic = self.parser.pedantic = True
        self.headers = False
        self.no_responders = False
        self.connected = False
        self.name = self.lang = self.version = ""
        # Authentication: who this connection is, what it may do, the nonce INFO carried.
        self.identity = None
        self.connect_opts = None  # the CONNECT options, to authenticate again after a reload
        self.perms: ConnectionPermissions | None = None
        self.nonce: str | None = None
        # A bcrypt check of this connection's CONNECT running off the loop: until it returns,
        # nothing more is parsed (see on_connect). `recheck`: the same after a reload.
        self.auth_check: asyncio.Future | None = None
        self.recheck: asyncio.Future | None = None
        # TLS upgrade: `upgrading` until the TLS layer owns the socket (plain text then is an
        # error); `tls_pending` until the handshake is done (nothing may be written before).
        self.upgrading = False
        self.tls_pending = False
        self.tls_socket_transport = None  # under the TLS transport, after a NATS TLS upgrade
        # Over an in-process transport (Broker.connect_in_process): no TLS, as nats-server's.
        self.in_process = in_process
        # Through the WebSocket listener: what its upgrade said (websocket.Upgrade), else None.
        self.websocket = websocket

    @property
    def auth(self):
        """The Authenticator for this connection: the websocket block's when it overrides."""
        broker = self.broker
        if self.websocket is not None and broker.ws_auth is not None:
            return broker.ws_auth
        return broker.auth

    # -- the handshake --------------------------------------------------------------------

    def _opened(self) -> None:
        broker = self.broker
        trace.created(self)
        auth = self.auth
        if auth.needs_nonce:
            self.nonce = auth.new_nonce()
        # A WebSocket brings its own TLS (the listener's); no NATS TLS upgrade inside it.
        tls = None if self.in_process or self.websocket is not None else broker.options.tls
        transport = self.transport
        if not broker.register(self):
            # As nats-server: the (plain-text) INFO, then the error.
            info = broker.info_frame(self) if tls is None or not tls.handshake_first else b""
            transport.write(info + err_frame(errors.MAX_CONNECTIONS))
            self.closed = True
            transport.close()
            return
        if auth.required:
            # Nothing but CONNECT is processed until the client authenticates.
            self.parser.auth_pending = True
            self.handshake_timer = broker.loop.call_later(auth.timeout, self._auth_timeout)
        if tls is not None and not tls.handshake_first:
            # The NATS upgrade: TLS starts right after the plain-text INFO, which _start_tls
            # writes in the same step that hands the socket to the TLS layer, so that a client's
            # ClientHello (its answer to INFO) cannot be read here as plain text first.
            self.upgrading = self.tls_pending = True
            broker.loop.create_task(self._start_tls(tls.timeout))
        else:
            transport.write(broker.info_frame(self))
        # nats-server: the first PING after the shorter of the two intervals, plus up to 20%.
        opts = broker.options
        first = min(opts.ping_interval, opts.first_ping_interval)
        self._schedule_ping(first * (1 + random.random() * 0.2))

    async def _start_tls(self, timeout: float) -> None:
        broker = self.broker
        if self.closed:
            return
        self.transport.write(broker.info_frame(self))
        # start_tls hands the socket to the TLS layer before it awaits the handshake; decrypted
        # data may reach buffer_updated before this coroutine resumes.
        self.upgrading = False
        try:
            transport = await broker.loop.start_tls(
                self.transport, self, broker.tls_context, server_side=True,
                ssl_handshake_timeout=timeout)
        except (TimeoutError, OSError, ConnectionError, ssl.SSLError) as exc:
            self._tls_failed(str(exc))
            return
        if transport is None:
            # asyncio's answer when the client hangs up cleanly during the handshake.
            self._tls_failed("EOF")
            return
        if self.closed:
            transport.abort()
            return
        self.tls_socket_transport = self.transport
        self.transport = transport
        self.tls_pending = False
        self.flush()

    def tls_close_sent(self) -> bool:
        """Whether this closing TLS connection has handed everything, its close_notify too, to
        the kernel. nats-server does not wait for the client's close_notify; asyncio's TLS
        transport would, for as long as the client takes to answer."""
        tcp = self.tls_socket_transport
        if tcp is None or tcp.get_write_buffer_size():
            return False
        # A closing socket: the TLS layer is done with it (its shutdown sent, or the connection
        # lost, and then asyncio's TLS transport can no longer say what it holds).
        return tcp.is_closing() or self.transport.get_write_buffer_size() == 0

    def _tls_failed(self, why: str) -> None:
        """The TLS handshake did not finish: logged as nats-server logs it, and the connection
        is dropped without a word."""
        self.broker.log.error("%s:%d - cid:%d - TLS handshake error: %s", self.ip, self.port,
                              self.cid, why)
        if not self.closed:
            self.closed = True
            self._cancel_timers()
            self.transport.abort()
            self.broker.unregister(self)

    def _auth_timeout(self) -> None:
        self.handshake_timer = None
        if not self.closed:
            self.close(errors.AUTH_TIMEOUT, "Authentication Timeout", "authentication timeout")

    def on_client_err(self) -> None:
        """An -ERR from the client: nats-server closes the connection without a word, but the
        rest of the read it came in is still parsed: its PUBs reach other connections, its SUBs
        are ignored, a CONNECT ends the read where users are configured, and nothing more is
        written to this one. Closed at the end of the read."""
        self._heard_err()

    def _check_off_loop(self, opts) -> None:
        """Checks CONNECT options in check_pool; what arrives meanwhile waits in the receive
        buffer (see buffer_updated) until _checked has the verdict."""
        auth = self.auth
        self.auth_check = check = self.broker.loop.run_in_executor(
            check_pool(), auth.authenticate, opts, self.nonce)
        check.add_done_callback(functools.partial(self._checked, opts, auth))

    def _checked(self, opts, auth, check: asyncio.Future) -> None:
        """A check started by _check_off_loop has returned: the CONNECT ends, what came after
        it in the receive buffer is parsed, and reading resumes if it had paused."""
        if check is not self.auth_check or check.cancelled() or self.closed:
            return
        if auth is not self.auth:  # reloaded meanwhile: the new configuration decides
            self._check_off_loop(opts)
            return
        self.auth_check = None
        self._process(lambda: self._authenticated(opts, check.result()))
        self._resume_reading()

    # -- closing --------------------------------------------------------------------------

    def _log_close(self, detail: str) -> None:
        trace.closed(self, detail or self.close_reason)

    def _release(self) -> None:
        self.broker.unregister(self)

    def slow_consumer(self, why: str) -> None:
        if not self.closed:
            self.account.stats.slow_consumers += 1  # /accstatz counts them per account
        super().slow_consumer(why)

    def _cancel_timers(self) -> None:
        for check in (self.auth_check, self.recheck):
            if check is not None:
                check.cancel()  # a check not yet started never runs
        self.auth_check = self.recheck = None
        super()._cancel_timers()

    # -- keepalive ------------------------------------------------------------------------

    def _ping_needless(self, now: float) -> bool:
        # As nats-server: a client active within the interval gets no PING, unless its
        # round-trip time still needs measuring (no PONG yet, or the last one over an hour ago).
        need_rtt = not self.rtt_at or now - self.rtt_at > _RTT_MEASUREMENT_INTERVAL
        return not need_rtt and now - self.last_activity < self.broker.options.ping_interval

    # -- client ops (called by ClientOpsParser) -----------------------------------------

    def on_connect(self, arg: bytes) -> bool:
        """Applies a CONNECT; True when its credentials are being checked off the loop (see
        _check_off_loop): the parser then stops after it until the verdict."""
        if self.closing and (self.auth.by_user or self.auth.by_nkey):
            # nats-server cannot register a closed connection as a user again: the read ends.
            raise ProtocolError(None, "CONNECT after an -ERR from the client")
        try:
            opts = decode_connect(arg, self.connect_opts)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolError(None, f"malformed CONNECT: {exc}") from None
        if self.websocket is not None:
            opts = self.websocket.with_cookies(opts)
        if opts.protocol < 0 or opts.protocol > 1:
            raise ProtocolError(errors.INVALID_CLIENT_PROTOCOL, "invalid client protocol")
        if opts.no_responders and not opts.headers:
            raise ProtocolError(errors.NO_RESPONDERS_REQUIRES_HEADERS, "no_responders without headers")
        if self.connect_opts is not None:
            # A later CONNECT: nats-server authenticates again (with the options merged above)
            # and registers the connection with its account anew, which drops every
            # subscription the connection had.
            for sub in list(self.subs.values()):
                self.remove_sub(sub)
        elif self.identity is not None:
            self._apply_connect(opts)
            return False
        auth = self.auth
        opts = auth.with_no_auth_user(opts)
        if not auth.costly(opts):
            self._authenticated(opts, auth.authenticate(opts, self.nonce))
            return False
        self._check_off_loop(opts)
        return True

    def _authenticated(self, opts, identity) -> None:
        """The end of a CONNECT that was authenticated: `identity` None is a violation."""
        broker = self.broker
        if identity is None:
            who = opts.user or opts.nkey or ("token" if opts.auth_token else "anonymous")
            broker.log.error("%s:%d - cid:%d - authentication error - User %r", self.ip, self.port,
                             self.cid, who)
            raise ProtocolError(errors.AUTH_VIOLATION, "authorization violation")
        self.identity = identity
        self.account = broker.accounts[identity.account]
        self.sublist = self.account.sublist
        self.perms = (ConnectionPermissions(identity.permissions)
                      if identity.permissions is not None else None)
        self.parser.auth_pending = False
        if self.handshake_timer is not None:
            self.handshake_timer.cancel()
            self.handshake_timer = None
        self._apply_connect(opts)

    def _apply_connect(self, opts) -> None:
        self.connect_opts = opts
        self.verbose = opts.verbose
        self.pedantic = self.parser.pedantic = opts.pedantic
        self.echo = opts.echo
        self.headers = self.parser.headers = opts.headers
        self.no_responders = opts.no_responders
        self.name = opts.name or ""
        self.lang = opts.lang or ""
        self.version = opts.version or ""
        self.connected = True
        if self.verbose:
            self.queue(OK)

    def reconfigure(self) -> None:
        """After a configuration reload: new limits, and the credentials checked again. As
        nats-server: a connection whose user (or nkey) is gone or now in another account is
        closed without a word; one whose credentials no longer authorise gets an Authorization
        Violation."""
        if self.closed:
            return
        broker = self.broker
        opts = broker.options
        self.parser.max_payload = opts.max_payload
        self.parser.max_control_line = opts.max_control_line
        if self.identity is None:  # no CONNECT yet: authenticates when it comes, if required
            if self.auth.required and not self.parser.auth_pending:
                self.close(errors.AUTH_VIOLATION, "Authentication Failure", "no longer authorised after reload")
            return
        if self.auth_check is not None:  # a later CONNECT being checked: see _checked
            return
        auth = self.auth
        opts = self.connect_opts
        if auth.moved(opts, self.identity.account):
            self.close(None, "Authentication Failure", "user gone or in another account after reload")
            return
        if self.recheck is not None:
            self.recheck.cancel()
            self.recheck = None
        if auth.costly(opts):
            # As nats-server, the connection keeps running meanwhile with what it had.
            self.recheck = broker.loop.run_in_executor(check_pool(), auth.authenticate, opts,
                                                       self.nonce)
            self.recheck.add_done_callback(functools.partial(self._rechecked, opts))
            return
        self._reauthorised(auth.authenticate(opts, self.nonce))

    def _rechecked(self, opts, check: asyncio.Future) -> None:
        if check is not self.recheck or check.cancelled() or self.closed:
            return
        self.recheck = None
        if opts is self.connect_opts:  # else a later CONNECT authenticated afresh
            self._reauthorised(check.result())

    def _reauthorised(self, identity) -> None:
        """After a reload: the connection as who it authenticates as now."""
        if identity is None or identity.account != self.identity.account:
            self.close(errors.AUTH_VIOLATION, "Authentication Failure", "no longer authorised after reload")
            return
        self.identity = identity
        self.perms = ConnectionPermissions(identity.permissions) if identity.permissions else None
        if self.perms is not None:
            self._recheck_subscriptions()

    def _recheck_subscriptions(self) -> None:
        """After a reload, as nats-server: each subscription the new permissions refuse is
        removed with an -ERR naming its sid; the others may arm the delivery filter again."""
        for sub in list(self.subs.values()):
            if not self.perms.can_subscribe(sub.subject, sub.queue):
                self.remove_sub(sub)
                text = errors.permissions_subscribe(sub.subject, sub.queue)
                self.queue(err_frame(f"{text} (sid {errors.go_quote(sub.sid)})"))

    def on_sub(self, subject: bytes, queue: bytes | None, sid: bytes) -> None:
        if self.closing:  # closed: nats-server ignores its SUBs
            return
        # nats-server's order: permissions, the subscription limit, a known sid (ignored), and
        # only then the subject's validity.
        if self.perms is not None and not self.perms.can_subscribe(subject, queue):
            self.queue(err_frame(errors.permissions_subscribe(subject, queue)))
            self.broker.log.error("%s:%d - cid:%d - Subscription Violation - Subject %r", self.ip,
                                  self.port, self.cid, subject.decode(errors="replace"))
            return
        limit = self.broker.options.max_subscriptions
        if limit and len(self.subs) >= limit:
            self.queue(err_frame(errors.MAX_SUBSCRIPTIONS))
            return
        if sid not in self.subs:
            if not is_valid_subject(subject):
                self.queue(err_frame(errors.INVALID_SUBJECT))
                return
            sub = Subscription(self, subject, queue, sid)
            self.subs[sid] = sub
            self.sublist.insert(sub)
        if self.verbose:
            self.queue(OK)

    def on_unsub(self, sid: bytes, max_msgs: int | None) -> None:
        sub = self.subs.get(sid)
        if sub is not None:
            if max_msgs and max_msgs > sub.delivered:
                sub.max = max_msgs
            else:
                self.remove_sub(sub)
        if self.verbose:
            self.queue(OK)

    def remove_sub(self, sub: Subscription) -> None:
        if self.subs.pop(sub.sid, None) is not None:
            self.sublist.remove(sub)

    def on_pub(self, subject: bytes, reply: bytes | None, message: memoryview,
               header_len: int = 0) -> bool:
        """A PUB, or an HPUB (see on_hpub) whose `message` starts with `header_len` bytes of
        headers; True when the parser is to stop after it (see _fanned_out)."""
        return _publish(self, subject, reply, message, header_len)

    def _may_publish(self, subject: bytes) -> bool:
        if self.perms.can_publish(subject):
            return True
        text = subject.decode(errors="replace")
        self.queue(err_frame(errors.permissions_publish(subject)))
        self.broker.log.error("%s:%d - cid:%d - Publish Violation - Subject %r", self.ip,
                              self.port, self.cid, text)
        return False

    def _reserved(self, subject: bytes, reply: bytes | None) -> bool:
        """A subject or reply subject that nats-server keeps for itself gets a violation."""
        if reserved_subject(subject):
            self.queue(err_frame(errors.permissions_publish(subject)))
            self.broker.log.error("%s:%d - cid:%d - Publish Violation - Subject %r", self.ip,
                                  self.port, self.cid, subject.decode(errors="replace"))
            return True
        if reply is not None and reserved_reply(reply):
            self.queue(err_frame(errors.permissions_reply(reply)))
            self.broker.log.error("%s:%d - cid:%d - Publish Violation - Reply %r", self.ip,
                                  self.port, self.cid, reply.decode(errors="replace"))
            return True
        return False

    def on_publish_line(self, subject: bytes) -> None:
        """A pedantic client's PUB/HPUB line, before its payload: an invalid subject is
        answered at once, as nats-server does (the message is still delivered)."""
        if not is_valid_publish_subject(subject):
            self.queue(err_frame(errors.INVALID_PUBLISH_SUBJECT))

    def on_pub_run(self, subject: bytes, reply: bytes | None, view: memoryview, first: int,
                   stride: int, count: int, size: int) -> bool:
        """A run of PUB frames with one control line (see ClientOpsParser): the same as `count`
        on_pub calls, with the per-message work that the run shares done once. True when the
        parser is to stop after it."""
        stop = False
        if self.pedantic or self.verbose or self.perms is not None or reply is not None or \
                subject[0] in RESERVED_FIRST:
            for a in range(first, first + count * stride, stride):
                stop = self.on_pub(subject, reply, view[a:a + size]) or stop
            return stop
        self.in_msgs += count
        self.in_bytes += count * size
        before = self.broker.out_msgs
        deliver_run(self, self.sublist.match(subject), subject, view, first, stride, count, size)
        n = self.broker.out_msgs - before
        return n > HEAVY_FANOUT and self._fanned_out(n)

    def on_pub_sizes(self, subject: bytes, view: memoryview, bounds: list) -> bool:
        """PUB frames for one subject without reply, sizes varying (see ClientOpsParser): the
        same as one on_pub call per message, with the match done once. True when the parser is
        to stop after them."""
        stop = False
        if self.pedantic or self.verbose or self.perms is not None or subject[0] in RESERVED_FIRST:
            for i in range(0, len(bounds), 2):
                stop = self.on_pub(subject, None, view[bounds[i]:bounds[i + 1]]) or stop
            return stop
        count = len(bounds) // 2
        self.in_msgs += count
        self.in_bytes += sum(bounds[1::2]) - sum(bounds[::2])
        before = self.broker.out_msgs
        deliver_sizes(self, self.sublist.match(subject), subject, view, bounds)
        n = self.broker.out_msgs - before
        return n > HEAVY_FANOUT and self._fanned_out(n)

    def on_hpub(self, subject: bytes, reply: bytes | None, header_len: int,
                message: memoryview) -> bool:
        """An HPUB: as a PUB (see on_pub)."""
        return self.on_pub(subject, reply, message, header_len)

    def _no_responders(self, subject: bytes, reply: bytes) -> None:
        """The 503 status message to the publisher's own subscription on the reply subject."""
        for sub in self.sublist.match(reply).plain:
            if sub.conn is self:
                break
        else:
            return
        block = _NO_RESPONDERS_HEAD + subject + b"\r\n\r\n"
        n = len(block)
        self.queue(b"HMSG %s %s %d %d\r\n%s\r\n" % (reply, sub.sid, n, n, block))


# The bytes reserved names start with (permissions.RESERVED_FIRST), as integers: compiled, C
# integers (connection.pxd), so that a publish tests its first byte without a call.
_RESERVED_A, _RESERVED_B = RESERVED_FIRST
_HEAVY_FANOUT = HEAVY_FANOUT  # the same, for a publish's fan-out count


def _publish(conn, subject: bytes, reply: bytes | None, message, header_len: int) -> bool:
    """ClientConnection.on_pub's work, as a function so that the compiled build reads the
    connection as its C struct (endpoint.Endpoint; see connection.pxd)."""
    conn.in_msgs += 1
    conn.in_bytes += len(message)
    # nats-server: a denied publish gets the violation and no +OK.
    if conn.perms is not None and not conn._may_publish(subject):
        return False
    # The first byte, then the prefixes.
    first = subject[0]
    if reply is not None:
        reply_first = reply[0]
    if ((first == _RESERVED_A or first == _RESERVED_B)
            and subject.startswith(RESERVED_SUBJECT_PREFIXES)
            or reply is not None and (reply_first == _RESERVED_A or reply_first == _RESERVED_B)
            and reply.startswith(RESERVED_REPLY_PREFIXES)) and conn._reserved(subject, reply):
        return False
    if conn.verbose:
        conn.queue(OK)
    # An empty header block (header_len 0) is delivered as a plain message, as nats-server.
    n = deliver(conn, conn.sublist.match(subject), subject, reply, message, header_len)
    if n > _HEAVY_FANOUT:
        return conn._fanned_out(n)
    if not n and reply and conn.no_responders:
        conn._no_responders(subject, reply)
    return False
