"""WebSocketTransport: the transport (transport.py's `Transport`) of a client connection that came
through the WebSocket listener (websocket.py), after the HTTP upgrade. It is the asyncio protocol
of the socket (or TLS) transport and turns RFC 6455 frames into the byte stream the ordinary
ClientConnection reads, and the bytes it writes into frames; parsing, authentication and
delivery stay the connection's.

Frames are read and written by `websockets`' sans-I/O Protocol (its C masking makes it about
twice as fast per frame as wsproto here; see pyproject.toml), with permessage-deflate when the
upgrade negotiated it. The bytes cost little more than over TCP: frames are parsed from views of
the socket's reads (ViewReader: no copy but the unmasking), and all the payloads of one read go
to the connection in one receive buffer, so one parse and one flush (one outbound frame) per
read, not per frame (benchmarks/bench_ws_transport.py). As nats-server (websocket.go):
- binary and text frames carry the protocol; a NATS op may span frames and a frame many ops;
- a frame that breaks the protocol (unmasked, a long or fragmented control frame, a bad
  opcode, ...) gets a close frame 1002 with nats-server's words, and the connection closes;
- a client's close frame is answered with the same status, and the connection closes;
- what the connection closes for maps to the close status nats-server sends;
- frames to a browser are at most 4096 bytes; others carry each flush whole.
zats refuses a frame larger than websocket.max_frame (close 1009) instead of streaming it into
the parser; nats-server would take it."""

from __future__ import annotations

import asyncio

from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Protocol, Side, State
from websockets.streams import StreamReader

from zats.protocol import errors

from .transport import READ_SIZE

# nats-server's words for the frames it refuses (websocket.go wsReadLoop), by websockets' words.
_NATS_WORDS = {
    "incorrect masking": "mask bit missing",
    "reserved bits must be 0": "RSV2 and RSV3 must be clear",
    "control frame too long": "control frame length bigger than maximum allowed of 125 bytes",
    "fragmented control frame": "control frame does not have final bit set",
    "expected a continuation frame": ("new message started before final frame for previous "
                                      "message was received"),
    "unexpected continuation frame": "invalid continuation frame",
}
BROWSER_FRAME_SIZE = 4096  # nats-server's wsFrameSizeForBrowsers

# The close status nats-server sends for why it closes a client (wsEnqueueCloseMessage).
_POLICY = {"Authentication Timeout", "Authentication Failure", "Slow Consumer",
           "Maximum Connections Exceeded", "Maximum Control Line Exceeded",
           "Maximum Subscriptions Exceeded", "Authentication Expired"}
_PROTOCOL = {"Parse Error", "Protocol Violation", "Bad Client Protocol Version"}
_GOING_AWAY = {"Write Error", "Read Error", "Stale Connection", "Server Shutdown"}


# A read that ends in a protocol error names the error as the close reason; nats-server's
# closed state for it (its close frame's words).
_STATE_OF_ERROR = {
    errors.UNKNOWN_PROTOCOL: "Parse Error",
    errors.AUTH_VIOLATION: "Authentication Failure",
    errors.MAX_PAYLOAD: "Maximum Payload Exceeded",
    errors.MAX_CONTROL_LINE: "Maximum Control Line Exceeded",
    errors.INVALID_CLIENT_PROTOCOL: "Bad Client Protocol Version",
    errors.NO_RESPONDERS_REQUIRES_HEADERS: "Protocol Violation",
}


def closed_state(reason: str) -> str:
    return _STATE_OF_ERROR.get(reason, reason)


def close_status(reason: str) -> int:
    if reason == "Client Closed":
        return CloseCode.NORMAL_CLOSURE
    if reason in _POLICY:
        return CloseCode.POLICY_VIOLATION
    if reason == "TLS Handshake Error":
        return CloseCode.TLS_HANDSHAKE
    if reason in _PROTOCOL:
        return CloseCode.PROTOCOL_ERROR
    if reason == "Maximum Payload Exceeded":
        return CloseCode.MESSAGE_TOO_BIG
    if reason in _GOING_AWAY:
        return CloseCode.GOING_AWAY
    return CloseCode.INTERNAL_ERROR


def _failed_frame(exc: Exception) -> Frame | None:
    """The frame whose check raised `exc` (websockets says "reserved bits" for all three;
    nats-server tells a compressed frame apart)."""
    tb = exc.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if isinstance(candidate, Frame):
            return candidate
        tb = tb.tb_next
    return None


def close_frame(status: int, text: str) -> bytes:
    """An unmasked close frame; the text cut to fit a control frame, with "..." as nats-server."""
    data = text.encode()
    if len(data) > 123:
        data = data[:120] + b"..."
    return Frame(Opcode.CLOSE, status.to_bytes(2, "big") + data).serialize(mask=False)


class ViewReader(StreamReader):
    """websockets' StreamReader without its copies: a read from the socket is kept as it came
    and `read_exact` hands out views of it (Frame.parse unmasks a payload into new bytes, so
    no view outlives the parse); only the bytes of a frame split across reads are gathered in
    `buffer`. The library's own reader copies every read into its buffer and every payload out
    of it again."""

    def __init__(self):
        super().__init__()
        self.view = memoryview(b"")
        self.pos = 0  # bytes of `view` read
        self.size = 0

    def feed_data(self, data: bytes) -> None:
        if self.eof:
            raise EOFError("stream ended")
        # Only called once the parser waits for more: `view` is read to its end.
        self.view = memoryview(data)
        self.pos = 0
        self.size = len(data)

    def read_exact(self, n: int):
        buffer = self.buffer
        while True:
            have = len(buffer)
            if not have:
                start = self.pos
                end = start + n
                if end <= self.size:
                    self.pos = end
                    return self.view[start:end]
            take = min(n - have, self.size - self.pos)
            if take > 0:
                buffer += self.view[self.pos:self.pos + take]
                self.pos += take
                have += take
            if have >= n:
                data = buffer[:n]
                del buffer[:n]
                return data
            if self.eof:
                raise EOFError(f"stream ends after {have} bytes, expected {n} bytes")
            yield

    def at_eof(self):
        while True:
            if self.buffer or self.pos < self.size:
                return False
            if self.eof:
                return True
            yield

    def discard(self) -> None:
        del self.buffer[:]
        self.pos = self.size


def binary_frame_head(size: int) -> bytes:
    """The header of a final, unmasked binary frame of `size` bytes (RFC 6455 section 5.2), as
    a server sends it."""
    if size < 126:
        return bytes((0x82, size))
    if size < 0x10000:
        return bytes((0x82, 126)) + size.to_bytes(2, "big")
    return bytes((0x82, 127)) + size.to_bytes(8, "big")


def frame_protocol(max_frame: int, extensions: list) -> Protocol:
    """websockets' server-side Protocol, open, reading through a ViewReader (its parser is
    started again on the new reader)."""
    frames = Protocol(Side.SERVER, state=State.OPEN, max_size=max_frame)
    frames.extensions = extensions
    frames.reader = ViewReader()
    frames.parser = frames.parse()
    next(frames.parser)
    return frames


class WebSocketTransport(asyncio.Protocol):
    """Frames one client connection over the socket transport `sock`."""

    def __init__(self, sock: asyncio.Transport, *, extensions: list, browser: bool,
                 peername: tuple | None, max_frame: int):
        self.sock = sock
        self.frames = frame_protocol(max_frame, extensions)
        self.frame_cap = BROWSER_FRAME_SIZE if browser else 0
        self.peername = peername
        self.conn = None
        self.reading = True  # the connection takes bytes (pause_reading / resume_reading)
        self.held: list[memoryview] = []  # payloads decoded while the connection did not read
        self.close_sent = False
        self.closing = False
        self.keep = None  # the upgrade's StreamWriter (see websocket.py)

    def attach(self, conn) -> None:
        """Hands this transport to its connection (connection_made), then lets bytes in."""
        self.conn = conn
        # A read from the socket may hold many frames: the connection takes it in one buffer,
        # up to what one read brings (one parse and one flush for it; 64 KiB buffers cost a
        # quarter more parses and outbound frames, and 10% of the broker's CPU at 128 B).
        conn.rbuf.max_size = max(conn.rbuf.max_size, READ_SIZE)
        conn.connection_made(self)

    # -- the socket's calls (asyncio.Protocol) ------------------------------------------------

    def data_received(self, data: bytes) -> None:
        frames = self.frames
        frames.receive_data(data)
        events = frames.events_received()
        exc = frames.parser_exc
        if exc is not None:
            frames.data_to_send()  # websockets' own close frame: nats-server's is sent instead
        else:
            self._send(frames.data_to_send())  # pongs, the answer to a close
        for frame in events:
            if frame.opcode in (Opcode.BINARY, Opcode.TEXT, Opcode.CONT):
                if frame.data:
                    self.held.append(memoryview(frame.data))
            elif frame.opcode is Opcode.CLOSE:
                self.close_sent = True  # websockets answered with the same status
                self._feed()
                if self.conn is not None:
                    self.conn.close(None, "Client Closed", "the client sent a close frame")
                return
        self._feed()
        if exc is not None:
            self._refuse(exc)

    def _refuse(self, exc: Exception) -> None:
        conn = self.conn
        if isinstance(exc, PayloadTooBig) and (getattr(exc, "size", 0) or 0) >> 63:
            status, text = CloseCode.PROTOCOL_ERROR, "invalid 64-bit payload length"
        elif isinstance(exc, PayloadTooBig):
            status, text = CloseCode.MESSAGE_TOO_BIG, "frame too large"
        else:
            text = str(exc) if isinstance(exc, ProtocolError) else repr(exc)
            status, text = CloseCode.PROTOCOL_ERROR, _NATS_WORDS.get(text, text)
            if text == "invalid opcode" and isinstance(exc.__cause__, ValueError):
                text = f"unknown opcode {exc.__cause__.args[0]}".removesuffix(" is not a valid Opcode")
            elif text == _NATS_WORDS["reserved bits must be 0"]:
                frame = _failed_frame(exc)
                if frame is not None and frame.rsv1 and not (frame.rsv2 or frame.rsv3):
                    text = "compressed frame received without negotiated permessage-deflate"
        # nats-server queues this close frame and closes the connection at once: whether the
        # frame goes out first is a race there; here it always does.
        if not self.close_sent:
            self.close_sent = True
            self.sock.write(close_frame(status, text))
        if conn is not None and not conn.closed:
            conn.close(None, "Read Error", f"websocket: {text}")

    def _feed(self) -> None:
        """Copies held payloads into the connection's receive buffer while it reads: each
        buffer is filled from as many payloads as fit before the connection is told, so that
        frame boundaries do not cut its reads (one parse and one flush per buffer, as over
        TCP, not an extra one for the few bytes of a frame that did not fit)."""
        conn = self.conn
        held = self.held
        while held and self.reading and conn is not None and not conn.closed:
            buf = conn.get_buffer(len(held[0]))
            room = len(buf)
            n = 0
            while held and n < room:
                view = held[0]
                take = min(room - n, len(view))
                buf[n:n + take] = view[:take]
                n += take
                if take == len(view):
                    held.pop(0)
                else:
                    held[0] = view[take:]
            conn.buffer_updated(n)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc) -> None:
        self.held.clear()
        if self.conn is not None:
            self.conn.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.conn is not None:
            self.conn.pause_writing()

    def resume_writing(self) -> None:
        if self.conn is not None:
            self.conn.resume_writing()

    # -- the connection's calls (transport.Transport) -----------------------------------------

    def write(self, data) -> None:
        if self.closing or self.close_sent or not data:
            return
        # Frames are encoded here, not by the library's Protocol.send_binary: the state it
        # checks is ours (close_sent). With permessage-deflate, the library's Frame encoding
        # compresses; without it, only headers are built and the payload (given away by the
        # flush) is written as it is, not copied into a serialized frame.
        extensions = self.frames.extensions
        cap = self.frame_cap
        if cap and len(data) > cap:
            view = memoryview(data)
            chunks = [view[at:at + cap] for at in range(0, len(view), cap)]
        else:
            chunks = (data,)
        if extensions:
            for chunk in chunks:
                self.sock.write(Frame(Opcode.BINARY, chunk).serialize(
                    mask=False, extensions=extensions))
        else:
            pieces = []
            for chunk in chunks:
                pieces.append(binary_frame_head(len(chunk)))
                pieces.append(chunk)
            self.sock.writelines(pieces)

    def _send(self, chunks: list[bytes]) -> None:
        sock = self.sock
        for chunk in chunks:
            if chunk:  # b"": websockets' end of file marker, the socket closes with close()
                sock.write(chunk)

    def get_write_buffer_size(self) -> int:
        return self.sock.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.sock.set_write_buffer_limits(high, low)

    def pause_reading(self) -> None:
        if self.reading:
            self.reading = False
            self.sock.pause_reading()

    def resume_reading(self) -> None:
        if not self.reading:
            self.reading = True
            self._feed()
            if self.reading:
                self.sock.resume_reading()

    def close(self) -> None:
        """The close frame nats-server sends for the connection's close reason, then the
        socket closes once written."""
        if self.closing:
            return
        self.closing = True
        if not self.close_sent:
            self.close_sent = True
            # No reason: the broker is stopping (or in lame duck mode) and closes every client.
            reason = closed_state(self.conn.close_reason if self.conn is not None else "")
            reason = reason or "Server Shutdown"
            self.sock.write(close_frame(close_status(reason), reason))
        self.sock.close()

    def abort(self) -> None:
        self.closing = True
        self.sock.abort()

    def is_closing(self) -> bool:
        return self.closing or self.sock.is_closing()

    def get_extra_info(self, name: str, default=None):
        if name == "peername":
            return self.peername
        return self.sock.get_extra_info(name, default)

