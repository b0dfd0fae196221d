"""The outbound half of a WireConnection (wire.py), for every kind (client, route, leafnode): one
outbound bytearray that deliveries append to, flushed once at the end of each read (the broker's
`touched` list), or held over a few reads while a stream flows (`HeldOutput`); the slow-consumer
rules (pending over max_pending, or a write stuck past write_deadline); and backpressure, a
publisher whose read filled receivers past their high-water mark pausing its reading briefly
while they drain.

`flush_touched` is the flush at the end of a read (Broker.flush_touched says what it does).
`OutboundMixin` holds the methods; WireConnection provides the attributes they use (broker,
transport, rbuf, out, touched, closed, held, tls_pending, auth_check, next_slice: its WireState
fields, endpoint.py; paused, stall_timer, stall_handle, waiters) and the methods
`slow_consumer(why)` and `_trace(direction, data)`."""

from __future__ import annotations

from .delivery import recycle

HIGH_WATER = 1024 * 1024  # transport buffer size above which a receiver counts as stalled
MAX_STALL = 0.05  # longest pause of a publisher waiting for its receivers to drain

# Holding output (HeldOutput): after a read of HOLD_READ bytes or more, receivers' output under
# HOLD_MAX bytes is held; it is written once a loop round reads nothing, or after HOLD_ROUNDS
# rounds that kept reading.
HOLD_READ = 8192
HOLD_MAX = 65536
HOLD_ROUNDS = 4

NOT_FLUSHING = object()  # the broker's `origin` between flushes (see flush_touched)


def write_buffer_high(max_pending: int) -> int:
    """The transport high-water mark for a connection: pause_writing fires above it."""
    return min(max_pending // 2, HIGH_WATER)


def _flush(conn) -> None:
    """OutboundMixin.flush's work, as a function so that the compiled build holds the buffer in
    a C-typed variable (outbound.pxd): recycle() then sees the transport's references alone.
    Compiled, `conn` is WireState's C struct (its fields are C reads) and `wire`, the same
    object untyped, reads the connection's own attributes."""
    wire = conn
    conn.touched = False
    conn.held = False
    out = conn.out
    if not out or conn.closed or conn.tls_pending:
        return
    transport = conn.transport
    broker = conn.broker
    if transport.get_write_buffer_size() + len(out) > broker.options.max_pending:
        wire.slow_consumer("pending outbound over max_pending")
        return
    # The transport may keep a reference to the bytearray: give it away, start a new one
    # (which takes over this one's memory if the transport let go of it: recycle).
    conn.out = bytearray()
    transport.write(out)
    if broker.log.trace_enabled:
        wire._trace("->>", out)
    recycle(out)


def flush_touched(broker, origin=None, hold=False):
    """Broker.flush_touched's work, a function so that the compiled build calls it as C from
    the read path (wire.py) and reads the broker and held output as C structs (outbound.pxd)."""
    touched = broker.touched
    if not touched or broker.origin is not NOT_FLUSHING:
        return None
    broker.origin = origin
    stalled = None
    held = broker.held
    hold = hold and held.loop is not None  # a broker driven without its loop writes at once
    try:
        for conn in touched:
            if hold and conn.holds_output and len(conn.out) < HOLD_MAX:
                held.hold(conn)
                continue
            conn.flush()
            if conn.paused:
                if stalled is None:
                    stalled = []
                stalled.append(conn)
    finally:
        touched.clear()
        broker.origin = NOT_FLUSHING
    return stalled


class OutboundMixin:
    __slots__ = ()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.rbuf.get_buffer()

    # -- outbound -------------------------------------------------------------------------

    def queue(self, data: bytes) -> None:
        """Queues protocol bytes for the flush at the end of the current read."""
        self.out += data
        if not self.touched:
            self.touched = True
            self.broker.touched.append(self)

    def flush(self) -> None:
        """Hands the outbound buffer to the transport (one write per read processed, or per
        run of reads while output is held)."""
        _flush(self)

    def pending_bytes(self) -> int:
        if self.transport is None or self.closed:
            return len(self.out)
        return len(self.out) + self.transport.get_write_buffer_size()

    # -- write side of backpressure -------------------------------------------------------

    def pause_writing(self) -> None:
        self.paused = True
        if self.stall_timer is None:
            self.stall_timer = self.broker.loop.call_later(
                self.broker.options.write_deadline, self._write_stalled)

    def resume_writing(self) -> None:
        self.paused = False
        if self.stall_timer is not None:
            self.stall_timer.cancel()
            self.stall_timer = None
        self._release_waiters()

    def _write_stalled(self) -> None:
        self.stall_timer = None
        if self.paused:
            self.slow_consumer("write deadline exceeded")

    # -- read side of backpressure --------------------------------------------------------

    def _stall(self, receivers: list) -> None:
        """Pauses reading from this publisher while receivers it filled drain, for at most
        MAX_STALL (as nats-server briefly stalls a producer): bursts do not turn a reading
        subscriber into a slow consumer, and a subscriber that never reads still is one."""
        if self.closed or self.stall_handle is not None:
            return
        waiting = False
        for conn in receivers:
            if conn is not self and not conn.closed:
                conn.waiters.append(self)
                waiting = True
        if waiting:
            self.transport.pause_reading()
            self.stall_handle = self.broker.loop.call_later(MAX_STALL, self.unstall)

    def may_read(self) -> bool:
        """Whether nothing holds reading paused: backpressure, a credentials check, or the
        rest of a read still to be parsed."""
        return not self.closed and self.stall_handle is None and self.auth_check is None and \
            self.next_slice is None

    def unstall(self) -> None:
        handle = self.stall_handle
        if handle is None:
            return
        self.stall_handle = None
        handle.cancel()
        if self.may_read():
            self.transport.resume_reading()

    def _release_waiters(self) -> None:
        waiters = self.waiters
        if waiters:
            self.waiters = []
            for conn in waiters:
                conn.unstall()


class HeldOutput:
    """Receivers' output held back while messages stream in, so that one write carries many
    reads' worth. A receiver is otherwise written to at the end of every read that reached it:
    one system call per receiver per read, where nats-server (whose writers run on their own
    goroutines while the reader keeps reading) writes a receiver once per many reads. Output is
    held only after a read of HOLD_READ bytes or more, so that a lone request, or a burst that
    fits one read, is written at once.

    Held output is written when the event loop goes a round without reading anything (the
    streams have paused), or after HOLD_ROUNDS rounds, or when a read brings a receiver's
    output to HOLD_MAX bytes (Broker.flush_touched, which then applies backpressure as
    usual). A round is one pass of the loop's callbacks: `_round` runs there and reschedules
    itself, the loop polling for I/O in between."""

    __slots__ = ("loop", "conns", "reads", "seen", "rounds", "scheduled")

    def __init__(self) -> None:
        self.loop = None  # the broker's, once started
        self.conns: list = []  # connections whose `held` is set
        self.reads = 0  # reads processed, counted by WireConnection._process
        self.seen = -1  # `reads` at the last round
        self.rounds = 0
        self.scheduled = False

    def hold(self, conn) -> None:
        """Holds `conn`'s output (taken off the broker's touched list) until a later round."""
        conn.touched = False
        if not conn.held:
            conn.held = True
            self.conns.append(conn)
        if not self.scheduled:
            self.scheduled = True
            self.seen = -1  # the first round runs before the loop polls again: no verdict yet
            self.loop.call_soon(self._round)

    def _round(self) -> None:
        if self.reads != self.seen and self.rounds < HOLD_ROUNDS:
            self.seen = self.reads
            self.rounds += 1
            self.loop.call_soon(self._round)
            return
        self.scheduled = False
        self.rounds = 0
        self.release()

    def release(self) -> None:
        """Writes every held output now."""
        conns = self.conns
        self.conns = []
        for conn in conns:
            if conn.held:  # not written meanwhile
                conn.flush()
