"""The transport seam: how a connection (wire.WireConnection) gets the bytes it reads and hands
over the bytes it writes, so that any byte transport carries the NATS protocols without
touching parsing or delivery.

A transport drives its connection with asyncio's BufferedProtocol calls:

    connection_made(transport)           once, before anything else
    get_buffer(hint) -> memoryview       bytes arrived: the transport copies them into that
    buffer_updated(nbytes)               (the connection's receive buffer) and says how many
    eof_received() -> bool               the other side finished sending (False: close too)
    pause_writing() / resume_writing()   the transport's unsent bytes crossed its high-water
                                         mark / drained below its low one
    connection_lost(exc)                 the transport is gone

and the connection calls only what `Transport` lists, the part of asyncio's transports it uses.
asyncio's socket and TLS transports are Transports as they are, so the seam costs the hot path
nothing: a flush hands `conn.out` to `transport.write` in one call, as before there was a seam.
A new transport (WebSocket frames, see docs/architecture.md) implements `Transport` and feeds
the connection through the calls above; the connection does not know which it has. The NATS TLS
upgrade after INFO (ClientConnection) is the one thing that needs a socket transport; other
transports bring their own security (a WebSocket listener's TLS) or need none (in-process).

`pipe()` makes the in-process transport: two connected `PipeEnd`s inside one event loop
(Broker.connect_in_process puts a broker client connection at one end and any asyncio protocol
at the other, as nats-server's in-process connections do with a net.Pipe)."""

from __future__ import annotations

import asyncio
from typing import Protocol

# The most one delivery hands the reading protocol at once, as one read from a socket would.
READ_SIZE = 256 * 1024
_DEFAULT_HIGH = 64 * 1024


class Transport(Protocol):
    """What a connection calls on its transport."""

    def write(self, data) -> None:
        """Queues bytes to send; the caller may reuse nothing it passed (a bytearray is
        given away)."""

    def get_write_buffer_size(self) -> int:
        """Bytes written and not yet taken by the other side."""

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Where pause_writing and resume_writing fire."""

    def pause_reading(self) -> None:
        """No more buffer_updated calls until resume_reading."""

    def resume_reading(self) -> None: ...

    def close(self) -> None:
        """Closes once what was written has been sent; connection_lost follows."""

    def abort(self) -> None:
        """Closes at once, dropping what was not sent; connection_lost follows."""

    def get_extra_info(self, name: str, default=None):
        """"peername": the peer's (host, port), or None when there is no address."""


class PipeEnd(asyncio.Transport):
    """One end of an in-process byte pipe: the transport of the protocol at this end. Bytes
    written here reach the other end's protocol on a later turn of the loop, at most READ_SIZE
    at a time, as from a socket; they wait here while that protocol's reading is paused (the
    write buffer), and this end's protocol gets pause_writing while they are over the high-water
    mark. `close` delivers what is written, then end of file; `abort` drops it."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self._loop = loop
        self._protocol = None
        self.peer: PipeEnd | None = None
        self._buffer = bytearray()  # written here, not yet read by the peer's protocol
        self._reading = True  # this end's protocol takes bytes
        self._scheduled = False  # a delivery of _buffer to the peer is due
        self._closing = False  # close() called: end of file once _buffer is delivered
        self._closed = False  # connection_lost sent
        self._high = _DEFAULT_HIGH
        self._low = _DEFAULT_HIGH // 4
        self._writing_paused = False

    def connect(self, protocol) -> None:
        """Attaches the protocol at this end (connection_made)."""
        self._protocol = protocol
        protocol.connection_made(self)

    # -- what the protocol at this end calls -------------------------------------------------

    def write(self, data) -> None:
        if self._closing or not data:
            return
        self._buffer += data
        self._schedule()
        if not self._writing_paused and len(self._buffer) > self._high:
            self._writing_paused = True
            self._protocol.pause_writing()

    def writelines(self, lines) -> None:
        for data in lines:
            self.write(data)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = _DEFAULT_HIGH if high is None else high
        self._low = self._high // 4 if low is None else low

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if not self._reading:
            self._reading = True
            self.peer._schedule()

    def is_reading(self) -> bool:
        return self._reading

    def can_write_eof(self) -> bool:
        return False

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._schedule()

    def abort(self) -> None:
        if self._closed:
            return
        self._closing = True
        self._buffer.clear()
        self._finish()
        self._loop.call_soon(self.peer._end_of_file)

    def get_extra_info(self, name: str, default=None):
        return default  # no socket, no address

    def get_protocol(self):
        return self._protocol

    def set_protocol(self, protocol) -> None:
        self._protocol = protocol

    # -- moving bytes ----------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self._scheduled and not self._closed:
            self._scheduled = True
            self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        """One read's worth of what was written here, to the peer's protocol; end of file
        after the last byte once this end is closing."""
        self._scheduled = False
        if self._closed:
            return
        peer = self.peer
        buffer = self._buffer
        if peer._closed:
            buffer.clear()  # nobody reads any more
        elif buffer and peer._reading:
            n = peer._receive(buffer)
            del buffer[:n]
            if self._writing_paused and len(buffer) <= self._low:
                self._writing_paused = False
                self._protocol.resume_writing()
            if buffer:
                self._schedule()
                return
        if self._closing and not buffer:
            self._finish()
            peer._end_of_file()

    def _receive(self, data: bytearray) -> int:
        """Hands this end's protocol the first bytes of `data`; returns how many it took."""
        protocol = self._protocol
        n = min(len(data), READ_SIZE)
        if isinstance(protocol, asyncio.BufferedProtocol):
            buf = protocol.get_buffer(n)
            n = min(n, len(buf))
            buf[:n] = data[:n]
            protocol.buffer_updated(n)
        else:
            protocol.data_received(bytes(data[:n]))
        return n

    def _end_of_file(self) -> None:
        """The peer will send nothing more."""
        if self._closed:
            return
        if not self._protocol.eof_received():
            self.close()

    def _finish(self) -> None:
        self._closed = True
        self._buffer.clear()
        self._loop.call_soon(self._protocol.connection_lost, None)


def pipe(loop: asyncio.AbstractEventLoop) -> tuple[PipeEnd, PipeEnd]:
    """Two connected ends of an in-process byte pipe; attach a protocol to each with
    `connect`."""
    a, b = PipeEnd(loop), PipeEnd(loop)
    a.peer, b.peer = b, a
    return a, b
