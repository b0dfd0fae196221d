"""The little of the NATS client protocol a load generator needs, on plain blocking sockets:
connect and handshake, pre-encoded frames, and a `Scanner` that counts the MSG frames (and PING,
PONG, -ERR) in a received stream at C speed, without parsing each message.

Counting relies on one rule the benchmark controls: payloads are filled with `x`, and subjects are
the benchmark's own, so the four-byte token `MSG ` can only appear where a frame starts. The
scanner counts tokens with `bytearray.count` over each received block, keeping the last few bytes
of a block so that a token split across two reads is counted exactly once."""

from __future__ import annotations

import json
import select
import socket
from urllib.parse import urlsplit

from .wsock import WsSocket

PING = b"PING\r\n"
PONG = b"PONG\r\n"
CRLF = b"\r\n"
_MSG = b"MSG "
_ERR = b"-ERR"
# The longest token scanned for is PING\r\n / PONG\r\n (6 bytes): 5 bytes carried between reads.
_CARRY = 5
RECV_SIZE = 256 * 1024


def connect_frame(name: str = "zats-bench", headers: bool = False) -> bytes:
    opts = {
        "verbose": False, "pedantic": False, "tls_required": False, "name": name,
        "lang": "python", "version": "zats-bench", "protocol": 1, "echo": True,
        "headers": headers, "no_responders": headers,
    }
    return b"CONNECT " + json.dumps(opts, separators=(",", ":")).encode() + CRLF


def parse_url(url: str) -> tuple[str, int]:
    """(host, port) of `nats://host:port`, `host:port`, or `host` (port 4222)."""
    if "//" not in url:
        url = "nats://" + url
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 4222


def payload(size: int) -> bytes:
    """A payload that can never contain a protocol token the scanner counts."""
    return b"x" * size


def pub_frame(subject: bytes, size: int, reply: bytes | None = None) -> bytes:
    head = b"PUB " + subject + (b" " + reply if reply else b"")
    return b"%s %d\r\n%s\r\n" % (head, size, payload(size))


def msg_frame_len(subject: bytes, sid: bytes, size: int) -> int:
    """Length of the MSG frame a subscriber with `sid` receives for one PUB without reply."""
    return len(b"MSG %s %s %d\r\n" % (subject, sid, size)) + size + 2


class ServerError(Exception):
    """The server answered -ERR, or closed the connection."""


class Scanner:
    """Receives into one reusable buffer and counts protocol tokens in the stream."""

    __slots__ = ("buf", "view", "carry", "msgs", "pings", "pongs", "bytes", "error", "_err_open")

    def __init__(self, size: int = RECV_SIZE):
        self.buf = bytearray(_CARRY + size)
        self.view = memoryview(self.buf)
        self.carry = 0
        self.msgs = 0
        self.pings = 0
        self.pongs = 0
        self.bytes = 0
        self.error: str | None = None
        self._err_open = False  # the -ERR line continues in the next read

    def feed_from(self, sock: socket.socket) -> int:
        """One recv; returns the number of bytes (0 on EOF). Server PINGs are counted in
        `pings`; the caller answers them (see `answer_pings`)."""
        c = self.carry
        n = sock.recv_into(self.view[c:])
        if n == 0:
            return 0
        self._scan(c, c + n)
        return n

    def feed(self, data: bytes) -> None:
        """Scans bytes already received (tests, and leftovers of a handshake)."""
        pos = 0
        room = len(self.buf) - _CARRY
        while pos < len(data):
            chunk = data[pos:pos + room]
            c = self.carry
            self.buf[c:c + len(chunk)] = chunk
            self._scan(c, c + len(chunk))
            pos += len(chunk)

    def _scan(self, c: int, end: int) -> None:
        buf = self.buf
        self.bytes += end - c
        # Occurrences wholly inside the carried bytes were counted with the previous block.
        if c:
            self.msgs += buf.count(_MSG, 0, end) - buf.count(_MSG, 0, c)
        else:
            self.msgs += buf.count(_MSG, 0, end)
        # PING, PONG and -ERR are rare: a memchr for their first byte (never in a payload or in
        # the benchmark's subjects) decides whether the exact counts are needed at all.
        if buf.find(b"P", 0, end) >= 0:
            self.pings += buf.count(PING, 0, end) - (buf.count(PING, 0, c) if c else 0)
            self.pongs += buf.count(PONG, 0, end) - (buf.count(PONG, 0, c) if c else 0)
        if self._err_open:
            eol = buf.find(b"\n", c, end)
            self.error += bytes(buf[c:eol if eol >= 0 else end]).decode(errors="replace")
            self._err_open = eol < 0
            if not self._err_open:
                self.error = self.error.rstrip("\r")
        elif self.error is None and buf.find(b"-", 0, end) >= 0:
            err = buf.find(_ERR, 0, end)
            if err >= 0 and (c == 0 or buf.find(_ERR, 0, c) < 0):
                eol = buf.find(b"\n", err, end)
                self.error = bytes(buf[err:eol if eol >= 0 else end]).decode(errors="replace")
                self._err_open = eol < 0
                if not self._err_open:
                    self.error = self.error.rstrip("\r")
        keep = min(_CARRY, end)
        buf[0:keep] = buf[end - keep:end]
        self.carry = keep


class FrameSkipper(Scanner):
    """The same counts as Scanner, found by reading each frame's control line and skipping its
    payload: Python work per frame instead of C work per byte, the cheaper of the two for large
    payloads (a few KiB and up). Makes no assumption about payload bytes."""

    __slots__ = ("skip", "line")

    def __init__(self, size: int = RECV_SIZE):
        super().__init__(size)
        self.skip = 0
        self.line = b""  # an unfinished control line from the previous read

    def feed_from(self, sock: socket.socket) -> int:
        n = sock.recv_into(self.view)
        if n:
            self._frames(0, n)
        return n

    def feed(self, data: bytes) -> None:
        room = len(self.buf)
        for pos in range(0, len(data), room):
            chunk = data[pos:pos + room]
            self.buf[:len(chunk)] = chunk
            self._frames(0, len(chunk))

    def _frames(self, pos: int, end: int) -> None:
        self.bytes += end - pos
        buf = self.buf
        while pos < end:
            if self.skip:
                k = min(self.skip, end - pos)
                self.skip -= k
                pos += k
                continue
            eol = buf.find(b"\n", pos, end)
            if eol < 0:
                self.line += bytes(buf[pos:end])
                return
            line = bytes(buf[pos:eol + 1])
            if self.line:
                line = self.line + line
                self.line = b""
            pos = eol + 1
            if line.startswith(_MSG):
                self.msgs += 1
                self.skip = int(line.split()[-1]) + 2
            elif line.startswith(PING):
                self.pings += 1
            elif line.startswith(PONG):
                self.pongs += 1
            elif line.startswith(_ERR) and self.error is None:
                self.error = line.strip().decode(errors="replace")


class Conn:
    """One client connection: a blocking socket (a WsSocket for `ws://` URLs), its scanner, and
    the PINGs answered so far."""

    def __init__(self, url: str, name: str = "zats-bench", timeout: float = 10.0,
                 skip_frames: bool = False, scanner=None, headers: bool = False):
        host, port = parse_url(url)
        if url.startswith("ws://"):
            self.sock = WsSocket(host, port, timeout)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # `scanner`: another counter of the same interface (varied.Checker parses every frame).
        self.scanner = scanner or (FrameSkipper() if skip_frames else Scanner())
        self.answered = 0
        self.info = self._read_info()
        self.sock.sendall(connect_frame(name, headers))

    def _read_info(self) -> bytes:
        data = b""
        while CRLF not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ServerError("connection closed before INFO")
            data += chunk
            if len(data) > 1 << 20:
                raise ServerError("no INFO line from the server")
        line, rest = data.split(CRLF, 1)
        if not line.startswith(b"INFO"):
            raise ServerError(f"expected INFO, got {line[:80]!r}")
        if rest:
            self.scanner.feed(rest)
        return line

    def answer_pings(self) -> None:
        due = self.scanner.pings - self.answered
        if due > 0:
            self.sock.sendall(PONG * due)
            self.answered += due

    def recv(self) -> int:
        """One read; raises ServerError on EOF or -ERR. Answers server PINGs."""
        n = self.scanner.feed_from(self.sock)
        if n == 0:
            raise ServerError(self.scanner.error or "connection closed by the server")
        if self.scanner.error is not None:
            raise ServerError(self.scanner.error)
        if self.scanner.pings != self.answered:
            self.answer_pings()
        return n

    def poll(self) -> None:
        """Reads whatever has arrived without blocking (a publisher answering the server's
        PINGs during a long run); raises ServerError on EOF or -ERR."""
        # A socket with a timeout waits for readability before any recv (MSG_DONTWAIT or
        # not): ask select first.
        if not select.select([self.sock], [], [], 0)[0]:
            return
        n = self.scanner.feed_from(self.sock)
        if n == 0:
            raise ServerError(self.scanner.error or "connection closed by the server")
        if self.scanner.error is not None:
            raise ServerError(self.scanner.error)
        self.answer_pings()

    def flush(self, extra: bytes = b"", timeout: float = 30.0) -> None:
        """Sends `extra` then PING, and reads until the matching PONG: afterwards the server has
        processed everything this connection sent before."""
        want = self.scanner.pongs + 1
        self.sock.settimeout(timeout)
        self.sock.sendall(extra + PING)
        while self.scanner.pongs < want:
            self.recv()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
