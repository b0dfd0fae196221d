"""WireConnection: what every connection the broker serves over a byte transport shares, whatever
its kind (client, route, leafnode); a kind adds its parser, its ops and its handshake.

- Reading: the transport puts bytes into the connection's ReceiveBuffer (get_buffer, then
  buffer_updated: the read side of the transport seam, see transport.py); `_process` parses them
  with the kind's parser, whose handlers apply the ops and deliver messages into receivers'
  outbound buffers; then the broker flushes every connection the read touched, once each, and a
  reader whose receivers filled up pauses briefly (outbound.py). The work of a read is two
  functions, `_on_read` and `_parse_read`, that the compiled build calls as C (wire.pxd).
- Fan-out slices: a read whose messages reach very many receivers is parsed in slices of
  SLICE_DELIVERIES deliveries, one slice per loop iteration. nats-server fans a connection's
  messages out on that connection's own goroutine; here one loop serves every connection, and a
  read of small messages to a subject with thousands of subscribers would hold it for seconds.
  A message handler returns True when `_fanned_out` says the slice is used up; the parser stops
  after it, reading pauses, and the rest of the read is parsed in the next iteration. Only
  messages that reach more than HEAVY_FANOUT receivers are counted: the others are bounded by
  the size of a read.
- Tracing (-V): what is read and written, one line per operation, secrets redacted (trace.py).
- Keepalive: PINGs on a timer, a connection with too many unanswered closed as stale.
- Closing: `close` (an optional -ERR, what is queued, then the transport), `slow_consumer`, the
  peer's -ERR (closed without a word at the end of the read), the transport going away.

A kind provides `_opened()` (its handshake, once the transport is there), `_release()` (leaving
the registry it is in, idempotent) and may refine `_log_close`, `_ping_interval` and
`_ping_needless`. Its ops and handshake call `queue`, `close` and the timers here, never the
transport."""

from __future__ import annotations

import asyncio
import time
from time import monotonic

from zats.protocol import errors
from zats.protocol.errors import ProtocolError, err_frame
from zats.protocol.frames import PING, PONG
from zats.protocol.peer_parser import room_for

from . import trace
from .endpoint import WireState
from .outbound import HOLD_READ, OutboundMixin, flush_touched, write_buffer_high

SLICE_DELIVERIES = 20_000
HEAVY_FANOUT = 64
# Bytes read and held unparsed while parsing waits (a CONNECT checked off the loop, the rest of
# a read for its slice) before reading pauses: reading on sees a peer hang up, within a small
# bound.
_HELD_WHILE_WAITING = 4096


class WireConnection(WireState, OutboundMixin, asyncio.BufferedProtocol):
    # What the read path and delivery read is WireState's and Endpoint's; __slots__ keeps many
    # idle connections small and lookups fast.
    __slots__ = (
        "account", "cid", "err_at", "close_reason", "waiters", "stall_handle",
        "stall_timer", "ip", "port", "start", "pings_out", "ping_timer", "ping_sent_at", "rtt",
        "rtt_at", "handshake_timer", "__weakref__",
    )
    is_route = False  # routes and leafnodes say True: delivery forwards to those
    trace_kind = "cid"  # how log lines name the connection (route: rid, leafnode: lid)

    def __init__(self, broker, cid: int):
        WireState.__init__(self, broker)
        self.account = broker.global_account
        self.cid = cid
        # After the peer's -ERR (`closing`), nothing queued for it from `err_at` (the length of
        # `out` then) on is sent.
        self.err_at = 0
        self.close_reason = ""
        self.holds_output = True  # (an internal client's flush runs handlers: never held)
        # Backpressure: readers paused until this connection drains (see outbound.py).
        self.waiters: list[WireConnection] = []
        self.stall_handle: asyncio.TimerHandle | None = None
        self.stall_timer: asyncio.TimerHandle | None = None
        self.ip = ""
        self.port = 0
        self.start = time.time()
        self.last_activity = time.monotonic()
        self.pings_out = 0
        self.ping_timer: asyncio.TimerHandle | None = None
        self.ping_sent_at = 0.0
        self.rtt = 0.0  # the last round trip of our PING (seconds)
        self.rtt_at = 0.0  # when it was measured (monotonic)
        self.handshake_timer: asyncio.TimerHandle | None = None  # the kind's handshake deadline

    # -- the transport's calls (asyncio.BufferedProtocol) -----------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.ip, self.port = peer[0], peer[1]
        transport.set_write_buffer_limits(high=write_buffer_high(self.broker.options.max_pending))
        self._opened()

    def buffer_updated(self, nbytes: int) -> None:
        _on_read(self, nbytes)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = self.close_reason or "Client Closed"
            self._log_close("")
        self._cancel_timers()
        self._release()

    # -- read, parse, flush -------------------------------------------------------------------

    def _process(self, first=None) -> None:
        """Parses and applies what the receive buffer holds, then flushes what that touched.
        `first`, when given, is called first under the same error handling (a client's
        CONNECT finishing after its credentials were checked off the loop)."""
        _parse_read(self, first)

    def _abandon(self, text: str | None, reason: str, detail: str) -> None:
        """Ends a read that closes the connection: what the read queued for others is still
        flushed; after the peer's -ERR nothing more is sent to it."""
        if self.closing:
            del self.out[self.err_at:]
        self.broker.flush_touched(self)
        self.close(text, reason, detail)

    def _next_slice(self) -> None:
        self.next_slice = None
        if self.closed:
            return
        self._process()
        self._resume_reading()

    def _fanned_out(self, deliveries: int) -> bool:
        """Counts a heavy fan-out; True (stop parsing) when the slice is used up."""
        self.slice_work += deliveries
        return self.slice_work >= SLICE_DELIVERIES

    def _resume_reading(self) -> None:
        if self.may_read():
            self.transport.resume_reading()

    def _heard_err(self) -> None:
        """The peer sent -ERR: nats-server closes the connection without a word, once the rest
        of that read is processed."""
        if not self.closing:
            self.closing = True
            self.err_at = len(self.out)

    def _trace(self, direction: str, data) -> None:
        trace.trace(self, direction, data)

    # -- keepalive ------------------------------------------------------------------------

    def _schedule_ping(self, delay: float) -> None:
        self.ping_timer = self.broker.loop.call_later(delay, self._ping_due)

    def _ping_interval(self) -> float:
        return self.broker.options.ping_interval

    def _ping_needless(self, now: float) -> bool:
        """Whether this PING may be skipped (the next one is then an interval later)."""
        return False

    def _ping_due(self) -> None:
        self.ping_timer = None
        if self.closed:
            return
        now = time.monotonic()
        if self._ping_needless(now):
            self._schedule_ping(self._ping_interval())
            return
        if self.pings_out + 1 > self.broker.options.ping_max:
            self.close(errors.STALE_CONNECTION, "Stale Connection")
            return
        self.pings_out += 1
        self.ping_sent_at = now
        self.queue(PING)
        self.broker.flush_touched()
        self._schedule_ping(self._ping_interval())

    def on_ping(self) -> None:
        if not self.closing:
            self.queue(PONG)

    def on_pong(self) -> None:
        if self.pings_out:
            self.rtt_at = time.monotonic()
            self.rtt = self.rtt_at - self.ping_sent_at
        self.pings_out = 0

    # -- closing --------------------------------------------------------------------------

    def close(self, err_text: str | None = None, reason: str = "", detail: str = "") -> None:
        """Sends `-ERR '<err_text>'` when given, writes what is queued, closes. `reason` is the
        closed state the log names (nats-server's wording), `detail` what happened."""
        if self.closed:
            return
        if err_text and not self.closing:  # after its own -ERR the peer hears nothing
            self.out += err_frame(err_text)
        self.close_reason = reason or "Client Closed"
        self._log_close(detail)
        self.touched = False
        transport = self.transport
        if self.out and transport is not None:
            transport.write(self.out)
            self.out = bytearray()
        self.closed = True
        self._cancel_timers()
        if transport is not None:
            transport.close()
        # Subscriptions and interest go at once, not when the transport finishes closing.
        self._release()

    def slow_consumer(self, why: str) -> None:
        if self.closed:
            return
        broker = self.broker
        broker.slow_consumers += 1
        broker.log.notice("%s:%d - %s:%d - Slow Consumer Detected: %s", self.ip, self.port,
                          self.trace_kind, self.cid, why)
        self.out = bytearray()
        self.closed = True
        self.close_reason = "Slow Consumer"
        self._cancel_timers()
        self.transport.abort()
        self._release()

    def _log_close(self, detail: str) -> None:
        if detail:
            self.broker.log.debug("%s:%d - %s:%d - closing: %s", self.ip, self.port,
                                  self.trace_kind, self.cid, detail)

    def _cancel_timers(self) -> None:
        self._release_waiters()
        for name in ("next_slice", "handshake_timer", "ping_timer", "stall_handle", "stall_timer"):
            timer = getattr(self, name)
            if timer is not None:
                timer.cancel()
                setattr(self, name, None)

    # -- what a kind provides -------------------------------------------------------------

    def _opened(self) -> None:
        """The transport is there: the kind's handshake starts."""
        raise NotImplementedError

    def _release(self) -> None:
        """Leaves the registry the connection is in (idempotent)."""
        raise NotImplementedError


# -- the read path, as functions: the compiled build calls them as C and types their locals
# (wire.pxd) -------------------------------------------------------------------------------

def _on_read(conn, nbytes: int) -> None:
    """WireConnection.buffer_updated: `nbytes` arrived in the receive buffer. Compiled, `conn`
    is WireState's C struct (its fields are C reads) and `wire`, the same object untyped, calls
    the connection's methods."""
    wire = conn
    if conn.upgrading:
        wire.close(None, "TLS Handshake Error", "plain text before the TLS handshake")
        return
    rbuf = conn.rbuf
    rbuf.received(nbytes)
    conn.last_activity = monotonic()
    if conn.broker.log.trace_enabled:
        wire._trace("<<-", rbuf.view[rbuf.filled - nbytes:rbuf.filled])
    if conn.auth_check is None and conn.next_slice is None:
        _parse_read(conn, None)
    elif rbuf.filled > _HELD_WHILE_WAITING:
        conn.transport.pause_reading()


def _parse_read(conn, first) -> None:
    """WireConnection._process; `conn` and `wire` as in _on_read."""
    wire = conn
    rbuf = conn.rbuf
    broker = conn.broker
    parser = conn.parser
    conn.slice_work = 0
    try:
        if first is not None:
            first()
        consumed = parser.parse(rbuf.buf, rbuf.view, rbuf.filled)
    except ProtocolError as exc:
        wire._abandon(exc.text, exc.text or "Parse Error", str(exc))
        return
    except Exception as exc:  # a bug must cost this connection only, never the broker
        broker.log.error("%s:%d internal error: %r", wire.trace_kind, wire.cid, exc)
        wire._abandon(None, "Internal Error", repr(exc))
        return
    if conn.closing:
        wire._abandon(None, "Parse Error", "the peer sent -ERR")
        return
    need = parser.need
    if conn.room_as_arrives:
        need = room_for(need, rbuf.filled - consumed)
    large = rbuf.filled >= HOLD_READ  # a stream is flowing: receivers' output may be held
    rbuf.consume(consumed, need)
    held = broker.held
    held.reads += 1
    stalled = flush_touched(broker, conn, large)
    if stalled:
        wire._stall(stalled)
    if conn.slice_work >= SLICE_DELIVERIES and not conn.closed:
        # The parser stopped after a slice of heavy fan-out: the rest of what was read is
        # parsed in the next loop iteration, other connections served in between.
        conn.transport.pause_reading()
        conn.next_slice = wire.broker.loop.call_soon(wire._next_slice)
