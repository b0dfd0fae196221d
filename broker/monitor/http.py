"""HTTP/1.x for the monitoring port, with the limits and the answers of Go's net/http as
nats-server configures it: a request head (request line and headers) must arrive within 5 seconds
of the connection (or of the first byte of a later request on a kept-alive connection) and stay
within 1 MiB + 4 KiB; a connection kept alive between requests has no idle limit. Malformed
requests get net/http's own plain-text answers, byte for byte, and the connection is closed.

net/http takes a partial last line as a whole one when the peer stops sending (timeout or EOF),
so `GET /x` followed by silence is a malformed request line (400), while a complete request line
followed by silence is closed without an answer; both behaviours are kept here."""

from __future__ import annotations

import asyncio
import email.utils
import re
from urllib.parse import unquote_to_bytes

HEADER_TIMEOUT = 5.0  # nats-server's ReadHeaderTimeout
MAX_HEAD_BYTES = (1 << 20) + 4096  # nats-server's MaxHeaderBytes plus net/http's allowance
MAX_SKIPPED_BODY = 256 * 1024  # larger unread request bodies close the connection instead

REASONS = {200: "OK", 307: "Temporary Redirect", 400: "Bad Request", 404: "Not Found",
           417: "Expectation Failed", 431: "Request Header Fields Too Large",
           500: "Internal Server Error",
           501: "Not Implemented", 505: "HTTP Version Not Supported"}

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOST = re.compile(rb"[!$%&'()*+,\-.0-9:;=A-Z\[\]_a-z~]*")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_URI = re.compile(r"[\x00-\x1f\x7f]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*://[^/?]*")


class Refused(Exception):
    """A request net/http answers itself before any handler runs; the connection then closes."""

    def __init__(self, answer: bytes):
        super().__init__(answer)
        self.answer = answer


def _refusal(status: int, detail: str = "", body: str | None = None) -> Refused:
    line = f"{status} {REASONS[status]}" + (f": {detail}" if detail else "")
    text = line if body is None else body
    return Refused(f"HTTP/1.1 {line}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   f"Connection: close\r\n\r\n{text}".encode())


BAD_REQUEST = _refusal(400)
TOO_LARGE = _refusal(431)


class Request:
    """One parsed request head."""

    __slots__ = ("method", "target", "path", "query", "minor", "headers", "close", "body_length",
                 "chunked")

    def __init__(self):
        self.method = self.target = self.path = self.query = ""
        self.minor = 1
        self.headers: dict[str, list[str]] = {}  # lower-case names
        self.close = False  # no further request on this connection
        self.body_length = 0
        self.chunked = False

    def header(self, name: str) -> str:
        values = self.headers.get(name)
        return values[0] if values else ""

    def connection_has(self, token: str) -> bool:
        """Whether the Connection header lists `token` (close, keep-alive)."""
        return any(token in (t.strip().lower() for t in v.split(","))
                   for v in self.headers.get("connection", ()))


class _Head:
    """Builds a Request line by line, refusing what net/http refuses, in its order."""

    def __init__(self):
        self.req = Request()
        self.started = False
        self.version = (1, 1)
        self.names: list[bytes] = []  # header names as sent

    def feed(self, line: bytes) -> bool:
        """Takes one line (without its line end); True when the head is complete."""
        if not self.started:
            self.started = True
            self._request_line(line.decode("latin-1"))
            return False
        if not line:
            self._finish()
            return True
        if line[:1] in (b" ", b"\t"):
            if not self.names:
                raise BAD_REQUEST  # a continuation before any header
            values = self.req.headers[self.names[-1].decode("latin-1").lower()]
            values[-1] = (values[-1] + " " + line.strip(b" \t").decode("latin-1")).strip()
            return False
        name, colon, value = line.partition(b":")
        if not colon or _BAD_VALUE.search(value):
            raise BAD_REQUEST
        if not _TOKEN.fullmatch(name.replace(b" ", b"")):
            raise BAD_REQUEST  # net/http lets only a space through, refused in _finish
        self.names.append(name)
        key = name.decode("latin-1").lower()
        self.req.headers.setdefault(key, []).append(value.strip(b" \t").decode("latin-1"))
        return False

    def _request_line(self, line: str) -> None:
        req = self.req
        method, sp1, rest = line.partition(" ")
        target, sp2, proto = rest.partition(" ")
        if not sp1 or not sp2:
            raise BAD_REQUEST
        if proto == "HTTP/1.1":
            major, minor = 1, 1
        elif proto == "HTTP/1.0":
            major, minor = 1, 0
        elif m := _VERSION.fullmatch(proto):
            major, minor = int(m.group(1)), int(m.group(2))
        else:
            raise BAD_REQUEST
        if not _TOKEN.fullmatch(method.encode("latin-1")):
            raise BAD_REQUEST
        if _BAD_URI.search(target):
            raise BAD_REQUEST
        if target.startswith("/") or target == "*":
            rest = target
        elif m := _ABSOLUTE.match(target):
            rest = target[m.end():] or "/"
        else:
            raise BAD_REQUEST
        raw_path, _, query = rest.partition("?")
        if _BAD_ESCAPE.search(raw_path):
            raise BAD_REQUEST
        req.method, req.target, req.query = method, target, query
        req.path = unquote_to_bytes(raw_path).decode("utf-8", "replace")
        self.version = (major, minor)
        req.minor = minor

    def _finish(self) -> None:
        req = self.req
        headers = req.headers
        hosts = headers.get("host", [])
        if len(hosts) > 1:
            raise BAD_REQUEST
        if self.version >= (1, 1):
            self._body(headers)
        if not req.chunked:
            self._content_length(headers)
        if self.version[0] != 1:
            raise _refusal(505, "unsupported protocol version")
        if req.minor >= 1 and not hosts:
            raise _refusal(400, "missing required Host header")
        if hosts and not _HOST.fullmatch(hosts[0].encode("latin-1")):
            raise _refusal(400, "malformed Host header")
        if any(b" " in name for name in self.names):
            raise _refusal(400, "invalid header name")
        if req.minor >= 1:
            req.close = req.connection_has("close")
        else:
            req.close = not req.connection_has("keep-alive")
        # A body the handlers would leave unread and that is not cheap to skip ends the connection.
        req.close = req.close or req.chunked or req.body_length > MAX_SKIPPED_BODY

    def _body(self, headers: dict[str, list[str]]) -> None:
        codings = headers.get("transfer-encoding")
        if codings is None:
            return
        if len(codings) != 1 or codings[0].lower() != "chunked":
            raise _refusal(501, body="Unsupported transfer encoding")
        self.req.chunked = True

    def _content_length(self, headers: dict[str, list[str]]) -> None:
        values = headers.get("content-length")
        if not values:
            return
        if len(values) > 1 and len({v.strip() for v in values}) > 1:
            raise BAD_REQUEST
        value = values[0].strip(" \t")
        if not value.isascii() or not value.isdigit() or int(value) >= 1 << 63:
            raise BAD_REQUEST
        self.req.body_length = int(value)


class Connection:
    """The reading side of one monitoring connection."""

    def __init__(self, reader: asyncio.StreamReader):
        self.reader = reader
        self.buf = bytearray()
        self.loop = asyncio.get_running_loop()

    async def _fill(self, deadline: float | None) -> str | None:
        """Reads more; None when data came, else "timeout" or "eof"."""
        try:
            if deadline is None:
                chunk = await self.reader.read(65536)
            else:
                timeout = deadline - self.loop.time()
                if timeout <= 0:
                    return "timeout"
                chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
        except TimeoutError:
            return "timeout"
        if not chunk:
            return "eof"
        self.buf += chunk
        return None

    async def next_request(self, deadline: float) -> Request | None:
        """The next request head; None when the peer went away or fell silent without an answer
        due. Raises Refused with net/http's answer for a malformed or oversized head."""
        head = _Head()
        used = 0  # head bytes consumed so far
        scanned = 0  # bytes of buf known to hold no line end
        while True:
            end = self.buf.find(b"\n", scanned)
            if end >= 0:
                used += end + 1
                if used > MAX_HEAD_BYTES:
                    raise TOO_LARGE
                line = bytes(self.buf[:end])
                del self.buf[:end + 1]
                scanned = 0
                if head.feed(line[:-1] if line.endswith(b"\r") else line):
                    return head.req
                continue
            scanned = len(self.buf)
            if used + scanned > MAX_HEAD_BYTES:
                raise TOO_LARGE
            outcome = await self._fill(deadline)
            if outcome is None:
                continue
            if self.buf:  # the partial last line counts as a line
                line = bytes(self.buf)
                self.buf.clear()
                head.feed(line)
            if outcome == "eof" and head.started:
                raise BAD_REQUEST  # the head ended early
            return None

    async def wait_next(self) -> bool:
        """Between requests: waits, without limit as net/http does, for the first byte of the
        next request; False when the peer closed."""
        return bool(self.buf) or await self._fill(None) is None

    async def skip_body(self, req: Request) -> bool:
        """Discards a (small) request body the handlers do not read; False when it does not
        arrive in time."""
        deadline = self.loop.time() + HEADER_TIMEOUT
        while len(self.buf) < req.body_length:
            if await self._fill(deadline) is not None:
                return False
        del self.buf[:req.body_length]
        return True


def response(req: Request, status: int, headers: list[tuple[str, str]], body: bytes, *,
             close: bool = False) -> bytes:
    """A complete response as net/http frames a handler's answer (the body left out for HEAD).
    `headers` may place Date and Content-Length (value None) where net/http puts them for that
    kind of answer; otherwise they follow the others."""
    filled = {"Date": email.utils.formatdate(usegmt=True), "Content-Length": str(len(body))}
    names = [k for k, _ in headers]
    headers = headers + [(k, None) for k in filled if k not in names]
    lines = [f"HTTP/1.{req.minor} {status} {REASONS[status]}"]
    lines += [f"{k}: {filled[k] if v is None else v}" for k, v in headers]
    if "Connection" in names:
        pass
    elif req.close or close:
        if req.minor >= 1:
            lines.append("Connection: close")
    elif req.minor == 0:
        lines.append("Connection: keep-alive")
    lines += ["", ""]
    return "\r\n".join(lines).encode("latin-1") + (b"" if req.method == "HEAD" else body)


def expectation_failed() -> bytes:
    return (f"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\n"
            f"Date: {email.utils.formatdate(usegmt=True)}\r\nContent-Length: 0\r\n\r\n").encode()
