"""Incremental parsers for the NATS client protocol, one per direction, over a buffer the caller
owns (see buffer.ReceiveBuffer). No I/O.

Each `parse(buf, view, end)` call consumes every whole frame in `buf[:end]`, calls the handler
once per frame, and returns the offset of the first byte it did not consume; `need` is then the
full size of the unfinished frame at that offset when it is known (a payload still arriving).
Control lines are found with `bytearray.find` and split with `bytes.split` (runs of spaces and
tabs separate arguments; the CR before LF is optional); a payload is skipped over by its declared
size and handed to the handler as a memoryview of the receive buffer, valid only during the call.

`ClientOpsParser` reads what clients send (CONNECT, PUB, HPUB, SUB, UNSUB, PING, PONG) and is used
by the broker; `ServerOpsParser` reads what servers send (INFO, MSG, HMSG, +OK, -ERR, PING, PONG)
and is used by the client. Bad input raises errors.ProtocolError carrying the -ERR text that
nats-server sends for it (or None where nats-server closes without one)."""

from __future__ import annotations

import re

from .errors import (
    AUTH_VIOLATION,
    MAX_CONTROL_LINE,
    MAX_PAYLOAD,
    UNKNOWN_PROTOCOL,
    ProtocolError,
)

MAX_CONTROL_LINE_SIZE = 4096
MAX_PAYLOAD_SIZE = 1024 * 1024

_CR = 13
_LF = 10
_BLANKS = b" \t\r"  # an op must start a line; nats-server fails on these at once

# Op codes, one set for every parser (peer_parser's too), looked up by the op name as sent and
# then upper-cased. A peer's interest and message ops (RS+, LMSG, ...) take the codes of SUB,
# UNSUB, MSG and HMSG; _IGNORED, _DROP_PUB and _DROP_HPUB are ops a peer may send but that
# carry nothing for it.
(_PUB, _HPUB, _SUB, _UNSUB, _PING, _PONG, _CONNECT, _INFO, _MSG, _HMSG, _OK, _ERR, _IGNORED,
 _DROP_PUB, _DROP_HPUB) = range(15)
# The ops every direction may receive, each handled by _Parser._control.
_CONTROL_OPS = {b"PING": _PING, b"PONG": _PONG, b"INFO": _INFO, b"+OK": _OK, b"-ERR": _ERR}
# From a client nats-server accepts INFO, +OK and -ERR too (it ignores the first two).
_CLIENT_OPS = {b"PUB": _PUB, b"HPUB": _HPUB, b"SUB": _SUB, b"UNSUB": _UNSUB, b"CONNECT": _CONNECT,
               **_CONTROL_OPS}
_SERVER_OPS = {b"MSG": _MSG, b"HMSG": _HMSG, **_CONTROL_OPS}
# Ops whose name is matched by prefix, anything up to the newline ignored (nats-server does so).
_PREFIX_OPS = (b"PING", b"PONG", b"+OK")
# Ops whose argument is the rest of the line, not split.
_WHOLE_ARG_OPS = (b"CONNECT", b"INFO", b"-ERR")


def _could_start(prefix: bytes, table: dict) -> bool:
    """Whether an incomplete line can still become a known op (upper-cased `prefix`)."""
    for name in table:
        n = min(len(prefix), len(name))
        if prefix[:n] == name[:n]:
            if len(prefix) <= len(name) or prefix[len(name)] in b" \t" or name in _PREFIX_OPS:
                return True
            if name in _WHOLE_ARG_OPS:
                return True
    return False


def _arg_length(line: bytes) -> int:
    """Length of a control line's arguments: the line less its op name and the blanks after it
    (nats-server's max_control_line applies to that part)."""
    parts = line.split(None, 1)
    return len(parts[1].rstrip(b"\r")) if len(parts) > 1 else 0


_MAX_SIZE_DIGITS = 9  # nats-server's parseSize refuses longer numbers

# This module runs compiled (see zats.compiled): _scan_pub is then C and reads PUB lines.
COMPILED = not __file__.endswith(".py")


def _payload(view: memoryview, spare, start: int, end: int) -> memoryview:
    """Compiled only (parser.pxd makes it C): view[start:end], a frame's payload for its
    handler; or the previous payload `spare` pointed at these bytes, when nothing but the parse
    loop holds it (the handler copied what it needed and kept no reference). Slicing makes a
    memoryview and a slice object per message, and their allocation and release cost more than
    the rest of a plain PUB's parsing. A payload a handler keeps is never reused (its reference
    count says so), nor one it released; slices and copies made of it are their own views."""
    if spare is not None and VIEW_REUSABLE(spare, view):  # noqa: F821 (parser.pxd)
        VIEW_RETARGET(spare, view, start, end)  # noqa: F821
        return spare
    return view[start:end]


def _size(field: bytes) -> int:
    """A non-negative decimal size of at most 9 digits, or -1 (nats-server's parseSize)."""
    if field.isdigit() and len(field) <= _MAX_SIZE_DIGITS:
        return int(field)
    return -1


def _header_frame_args(args: list[bytes], first: int, op: bytes) -> tuple[bytes | None, int, int]:
    """(reply, header size, total size) of HPUB/HMSG arguments, which from index `first` are
    `[reply] <header size> <total size>`. Wrong counts or sizes close silently, as nats-server."""
    rest = len(args) - first
    if rest == 2:
        reply = None
    elif rest == 3:
        reply = args[first]
    else:
        raise ProtocolError(None, f"{op.decode()} with {len(args) - 1} arguments")
    hdr, size = _frame_sizes(args, 2, op)
    return reply, hdr, size


def _frame_sizes(args: list[bytes], tail: int, op: bytes, text: str | None = None) -> tuple[int, int]:
    """(header size, total size) of a message line whose last `tail` arguments are its sizes:
    `<size>` (tail 1, header size 0) or `<header size> <total size>` (tail 2). A size that is
    not a number, or a header larger than the whole, raises ProtocolError(text)."""
    # _size's rule, inline: this is on the path of every message with headers.
    field = args[-1]
    if field.isdigit() and len(field) <= _MAX_SIZE_DIGITS:
        if tail == 1:
            return 0, int(field)
        hfield = args[-2]
        if hfield.isdigit() and len(hfield) <= _MAX_SIZE_DIGITS:
            hdr, size = int(hfield), int(field)
            if hdr <= size:
                return hdr, size
    raise ProtocolError(text, f"{op[:32].decode(errors='replace')} with bad sizes")


def _repeats(buf: bytearray, line: bytes, pos: int, end: int, stride: int) -> int:
    """How many whole frames of `stride` bytes from `pos` on start with the control line `line`
    (LF included) and end with CRLF: a run of one repeated line, handed over in one call.

    Frames are checked one by one, until a line that keeps coming in runs has a regular
    expression of its own (see _walked): sre walks a frame in about a quarter of the time of
    this loop, skipping the payload by its size."""
    startswith = buf.startswith
    count = 0
    while pos + stride <= end and startswith(line, pos) and \
            buf[pos + stride - 2] == _CR and buf[pos + stride - 1] == _LF:
        count += 1
        pos += stride
        if count == _SHORT_RUN:
            pattern = _RUN_PATTERNS.get(line)
            if pattern is not None:
                rest = pattern.match(buf, pos, end)
                return count + (rest.end() - pos) // stride if rest else count
    if count >= _SHORT_RUN:
        _walked(line, count, stride)
    return count


_SHORT_RUN = 8  # frames of a run always checked one by one
_COMPILE_AFTER = 1024  # frames of a line walked one by one before it gets a pattern
_MAX_LINES = 256  # lines counted, and patterns kept; each table is cleared when full
_WALKED: dict[bytes, int] = {}
_RUN_PATTERNS: dict[bytes, re.Pattern] = {}


def _walked(line: bytes, count: int, stride: int) -> None:
    """Counts the frames of `line` the loop walked in runs. A compile costs about as much as
    walking a few hundred frames, so only a line that has cost _COMPILE_AFTER frames gets a
    pattern: one or more whole frames of the line, its payload size and CRLF."""
    walked = _WALKED.pop(line, 0) + count
    if walked < _COMPILE_AFTER:
        if len(_WALKED) >= _MAX_LINES:
            _WALKED.clear()
        _WALKED[line] = walked
        return
    if len(_RUN_PATTERNS) >= _MAX_LINES:
        _RUN_PATTERNS.clear()
    size = stride - len(line) - 2
    _RUN_PATTERNS[line] = re.compile(b"(?:%s.{%d}\r\n)+" % (re.escape(line), size), re.DOTALL)


def _no_arguments(line: bytes, op: bytes, code: int) -> ProtocolError:
    """PUB/HPUB/SUB/UNSUB with nothing after the op: nats-server expects a blank after the op
    name and fails with Unknown Protocol Operation at the line end; with a blank but no
    arguments it closes silently."""
    if len(line.rstrip(b"\r")) == len(op):
        return ProtocolError(UNKNOWN_PROTOCOL, f"{op!r} without arguments")
    return ProtocolError(None, f"{op!r} with empty arguments")


class _Parser:
    """What the parsers share: the op table and its lookup, the control-line limit, `need`, the
    payload trailer check, and the ops every direction may receive (PING, PONG, INFO, +OK, -ERR:
    see _control)."""

    __slots__ = ("max_control_line", "need", "_table", "_on_ping", "_on_pong", "_on_info",
                 "_on_ok", "_on_err")

    # Ops also recognised by prefix (see _PREFIX_OPS, _WHOLE_ARG_OPS); a subclass whose peers
    # are held to exact op names empties these.
    prefix_ops = _PREFIX_OPS
    whole_arg_ops = _WHOLE_ARG_OPS

    def __init__(self, table: dict, max_control_line: int):
        self._table = table
        self.max_control_line = max_control_line
        self.need = 0

    def _bind(self, handler, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
        """Keeps each handler method `on_x` as `self._on_x` (an optional one missing: None)."""
        for name in required:
            setattr(self, "_" + name, getattr(handler, name))
        for name in optional:
            setattr(self, "_" + name, getattr(handler, name, None))

    def _op_of(self, name: bytes) -> int:
        code = self._table.get(name)
        if code is None:
            upper = name.upper()
            code = self._table.get(upper)
            if code is None:
                for prefix in self.prefix_ops:
                    if upper.startswith(prefix) and prefix in self._table:
                        return self._table[prefix]
                for prefix in self.whole_arg_ops:
                    # CONNECT{...} without a blank is valid for nats-server.
                    if upper.startswith(prefix) and prefix in self._table and len(upper) > len(prefix):
                        return self._table[prefix]
                raise ProtocolError(UNKNOWN_PROTOCOL, f"unknown op {name[:32]!r}")
        return code

    def _incomplete_line(self, buf: bytearray, pos: int, end: int) -> None:
        """Checks an unterminated control line: unknown ops fail at once, overlong ones too."""
        head = bytes(buf[pos : min(end, pos + 16)])
        if head[0] in _BLANKS:
            raise ProtocolError(UNKNOWN_PROTOCOL, "control line starts with a blank")
        name = head.split(None, 1)[0].upper() if head.strip() else b""
        if name and not _could_start(name, self._table):
            raise ProtocolError(UNKNOWN_PROTOCOL, f"unknown op {head!r}")
        if end - pos > self.max_control_line and _arg_length(bytes(buf[pos:end])) > self.max_control_line:
            raise ProtocolError(MAX_CONTROL_LINE, "control line too long")

    def _unfinished(self, buf: bytearray, pos: int, pend: int, end: int) -> bool:
        """Whether the frame at `pos`, whose payload ends at `pend`, has not fully arrived (its
        CRLF included); `need` is then the frame's size. Raises when the bytes after the payload
        are not CRLF."""
        if pend + 2 <= end:
            if buf[pend] != _CR or buf[pend + 1] != _LF:
                raise ProtocolError(UNKNOWN_PROTOCOL, "payload not followed by CRLF")
            return False
        if pend < end and buf[pend] != _CR:
            raise ProtocolError(UNKNOWN_PROTOCOL, "payload not followed by CRLF")
        self.need = pend + 2 - pos
        return True

    def _control(self, code: int, line: bytes) -> None:
        """PING, PONG, INFO, +OK or -ERR (any other code: nothing): each to its handler method,
        INFO with its document, -ERR with its text unquoted. A parser whose direction ignores
        INFO or +OK keeps None for its method."""
        if code == _PING:
            self._on_ping()
        elif code == _PONG:
            self._on_pong()
        elif code == _INFO:
            if self._on_info is not None:
                self._on_info(_whole_arg(line, b"INFO"))
        elif code == _ERR:
            self._on_err(_whole_arg(line, b"-ERR").decode(errors="replace").strip("'"))
        elif code == _OK and self._on_ok is not None:
            self._on_ok()


class ClientOpsParser(_Parser):
    """Parses a client's byte stream for the broker.

    Handler methods: on_connect(arg: bytes) (a true result stops the parse after that CONNECT:
    parse returns the offset after it), on_pub(subject, reply|None, payload: memoryview),
    on_hpub(subject, reply|None, header_len: int, message: memoryview) where `message` is headers
    and payload together, on_sub(subject, queue|None, sid), on_unsub(sid, max|None), on_ping(),
    on_pong(). All arguments are bytes except where noted. A handler may raise ProtocolError.
    A true result from on_pub, on_hpub, on_pub_run or on_pub_sizes stops the parse after that
    frame (or run): parse returns the offset after it, and the caller parses the rest later
    (the broker does so to serve other connections between slices of a heavy fan-out).
    An -ERR from a client raises ProtocolError (nats-server closes such a connection silently),
    or goes to the optional on_client_err() and parsing goes on.

    Optionally on_pub_run(subject, reply|None, view, first, stride, count, size): `count` (two
    or more) consecutive PUB frames with one identical control line, payload i at
    view[first + i * stride : first + i * stride + size], each followed by its CRLF. Without it,
    such a run is handed over message by message through on_pub.

    Optionally on_pub_sizes(subject, view, bounds): two or more consecutive PUB frames for one
    subject without reply whose sizes differ, payload i at view[bounds[2*i]:bounds[2*i+1]], each
    followed by its CRLF. Without it, they are handed over message by message through on_pub."""

    __slots__ = ("max_payload", "headers", "auth_pending", "pedantic", "_line_checked",
                 "_on_connect", "_on_pub", "_on_hpub", "_on_sub", "_on_unsub", "_on_pub_run",
                 "_on_pub_sizes", "_on_publish_line", "_on_client_err",
                 "_scan_reply", "_scan_size", "_scan_eol")

    def __init__(self, handler, *, max_control_line: int = MAX_CONTROL_LINE_SIZE,
                 max_payload: int = MAX_PAYLOAD_SIZE):
        super().__init__(_CLIENT_OPS, max_control_line)
        self.max_payload = max_payload
        # HPUB is refused until CONNECT negotiates headers; the broker sets this.
        self.headers = False
        # While authentication is pending, any op but CONNECT is an Authorization Violation.
        self.auth_pending = False
        # Pedantic: each PUB/HPUB subject goes to on_publish_line(subject) as soon as its control
        # line is read, before the payload (nats-server answers an invalid one then, even when
        # the payload turns out bad or is still on its way; see _unfinished_publish). The broker
        # sets this.
        self.pedantic = False
        # The frame at the start of the next parse call already had that call (it was unfinished).
        self._line_checked = False
        self._bind(handler, ("on_connect", "on_pub", "on_hpub", "on_sub", "on_unsub", "on_ping",
                             "on_pong"),
                   ("on_pub_run", "on_pub_sizes", "on_publish_line", "on_client_err"))
        # INFO and +OK from a client are ignored, as nats-server does.
        self._on_info = self._on_ok = None
        self._on_err = self._err_from_client

    def _err_from_client(self, _text: str) -> None:
        if self._on_client_err is None:
            raise ProtocolError(None, "-ERR from a client")
        self._on_client_err()

    def _unfinished_publish(self, subject: bytes, reported: bool) -> None:
        """A pedantic PUB/HPUB whose payload has not fully arrived. nats-server, when a read
        ends inside a payload, processes the control line a second time (once), so an invalid
        subject is answered twice; the same here, and then not again for that frame."""
        if not reported:
            self._on_publish_line(subject)
        self._line_checked = True

    def _scan_pub(self, buf: bytearray, pos: int, end: int, mcl: int):
        """Compiled only (parser.pxd makes it C): the control line at buf[pos:end] read without a
        copy or a split, when it is a whole PUB line of the plain form `PUB <subject> [<reply> ]
        <size>[\\r]\\n`, single spaces, the size 1-9 digits, no longer than `mcl`: its subject,
        with its reply (or None), size and the position of its LF left in `_scan_reply`,
        `_scan_size` and `_scan_eol` (C fields: no tuple or integers to allocate). Anything else
        is None, and the general path reads that line (and raises for it, or waits for the rest
        of it)."""
        if end - pos < 8:  # the shortest: `PUB a 0\\n`
            return None
        p = BYTEARRAY_UCHARS(buf) + pos  # noqa: F821 (a C-API name, from parser.pxd)
        if p[0] != 80 or p[1] != 85 or p[2] != 66 or p[3] != 32:  # `PUB `
            return None
        lf = find_byte(p, 10, min(end - pos, mcl + 1))  # noqa: F821 (memchr)
        if not lf:
            return None
        n = lf - p
        eol = pos + n
        if n < 7:
            return None
        if p[n - 1] == 13:  # CR
            n -= 1
        # Up to three tokens, each of bytes above the space (bytes.split splits on ASCII whitespace,
        # all of it at or below the space; a control byte other than those ends the scan too).
        tokens = 0
        i = 4
        while tokens < 3:
            start = i
            while i < n and p[i] > 32:
                i += 1
            if i == start:
                return None  # an empty token: two spaces in a row, or a trailing space
            if tokens == 0:
                first_start, first_end = start, i
            elif tokens == 1:
                second_start, second_end = start, i
            else:
                third_start, third_end = start, i
            tokens += 1
            if i == n:
                break
            if p[i] != 32:
                return None
            i += 1
        if i != n or tokens < 2:
            return None
        if tokens == 2:
            size_start, size_end = second_start, second_end
        else:
            size_start, size_end = third_start, third_end
        if size_end - size_start > _MAX_SIZE_DIGITS:
            return None
        size = 0
        for i in range(size_start, size_end):
            if p[i] < 48 or p[i] > 57:
                return None
            size = size * 10 + (p[i] - 48)
        self._scan_reply = None if tokens == 2 else PyBytes_FromStringAndSize(  # noqa: F821
            BYTEARRAY_CHARS(buf) + pos + second_start, second_end - second_start)  # noqa: F821
        self._scan_size = size
        self._scan_eol = eol
        return PyBytes_FromStringAndSize(BYTEARRAY_CHARS(buf) + pos + first_start,  # noqa: F821
                                         first_end - first_start)

    def parse(self, buf: bytearray, view: memoryview, end: int) -> int:
        pos = 0
        self.need = 0
        pub_op = None if self.auth_pending else b"PUB"  # no PUB fast path before CONNECT
        scan_pub = COMPILED and pub_op is not None
        find = buf.find
        startswith = buf.startswith
        mcl = self.max_control_line
        max_payload = self.max_payload
        on_pub = self._on_pub
        on_pub_run = self._on_pub_run
        # A publisher's burst often repeats one PUB control line (same subject, reply and size).
        # Once two consecutive PUB frames have the same subject, reply and size, `rep_line` (the
        # second one's line with its LF) is tried first: one startswith then replaces find,
        # copy, split and int. A miss turns it off.
        rep_line = None
        rep_subject = rep_reply = None
        rep_len = rep_size = 0
        # A publisher that keeps its subject while sizes vary sends `PUB <subject> <size>` lines
        # that differ only in the size. Once two consecutive ones (in the canonical form: single
        # spaces, no reply) name the same subject, `subj_prefix` is `PUB <subject> ` and the
        # frames that start with it are gathered: startswith, find, isdigit and int per frame,
        # no copy or split, and one on_pub_sizes call for all. Anything unusual in a frame
        # (another form, a bad or too large size, a bad trailer, an unfinished frame) ends the
        # gathering and that frame takes the ordinary path, which raises or waits as it does.
        on_pub_sizes = self._on_pub_sizes
        subj_prefix = subj = last_subject = last_reply = None
        last_size = -1
        # Pedantic: no run paths (each frame's line is checked), and the first frame skips the
        # check when the previous call already made it.
        pedantic = self.pedantic
        line_checked = self._line_checked
        self._line_checked = False
        payload = None  # the previous PUB's, which _payload may reuse
        # What the per-message path compares with, as locals: compiled, C integers (a module
        # global is a dictionary lookup and a compare of objects).
        pub_code = _PUB
        cr = _CR
        lf = _LF
        while pos < end:
            if rep_line is not None:
                if startswith(rep_line, pos):
                    if on_pub_run is not None:
                        # Count the whole frames of this line that follow; two or more go over
                        # in one call. A frame with a bad trailer ends the run and then fails
                        # below, in order.
                        stride = rep_len + rep_size + 2
                        count = _repeats(buf, rep_line, pos, end, stride)
                        if count > 1:
                            p = pos + count * stride
                            if on_pub_run(rep_subject, rep_reply, view, pos + rep_len, stride,
                                          count, rep_size):
                                return p
                            pos = p
                            continue
                    pstart = pos + rep_len
                    pend = pstart + rep_size
                    if pend + 2 > end or buf[pend] != cr or buf[pend + 1] != lf:
                        if self._unfinished(buf, pos, pend, end):
                            return pos
                    payload = _payload(view, payload, pstart, pend) if scan_pub else \
                        view[pstart:pend]
                    if on_pub(rep_subject, rep_reply, payload):
                        return pend + 2
                    pos = pend + 2
                    continue
                rep_line = None
            if subj_prefix is not None and startswith(subj_prefix, pos):
                bounds = []
                plen = len(subj_prefix)
                p = pos
                while True:
                    fstart = p + plen
                    eol = find(b"\n", fstart, fstart + _MAX_SIZE_DIGITS + 1)  # size <= 9 digits
                    if eol < 0 or eol - p > mcl:
                        break
                    field = buf[fstart:eol - 1] if buf[eol - 1] == _CR else buf[fstart:eol]
                    if not field.isdigit():
                        break
                    size = int(field)
                    if size == last_size:
                        # The size repeats: this line probably repeats too, and the run path
                        # (rep_line) serves that better. The ordinary path takes this frame and,
                        # finding subject, reply and size those of the last frame, starts that
                        # run.
                        break
                    pstart = eol + 1
                    pend = pstart + size
                    if size > max_payload or pend + 2 > end or buf[pend] != cr or \
                            buf[pend + 1] != lf:
                        break
                    bounds.append(pstart)
                    bounds.append(pend)
                    last_size = size
                    p = pend + 2
                    if not startswith(subj_prefix, p):
                        break
                if bounds:
                    pos = bounds[-1] + 2
                    if len(bounds) > 2:
                        if on_pub_sizes(subj, view, bounds):
                            return pos
                    elif on_pub(subj, None, view[bounds[0]:bounds[1]]):
                        return pos
                    continue
            # Compiled, a PUB line in the plain form (single spaces, a size of digits) is read
            # by _scan_pub in C; any other line, or uncompiled, by the split below.
            subject = self._scan_pub(buf, pos, end, mcl) if scan_pub else None
            if subject is not None:
                reply = self._scan_reply
                size = self._scan_size
                eol = self._scan_eol
                code = pub_code
                plain = reply is None  # `PUB <subject> <size>`
            else:
                eol = find(b"\n", pos, end)
                if eol < 0:
                    if self.auth_pending and buf[pos] not in b"Cc":
                        raise ProtocolError(AUTH_VIOLATION, "op before CONNECT")
                    self._incomplete_line(buf, pos, end)
                    return pos
                line = bytes(view[pos:eol])
                if eol - pos > mcl and _arg_length(line) > mcl:
                    raise ProtocolError(MAX_CONTROL_LINE, "control line too long")
                args = line.split()
                if not args or line[0] in _BLANKS:
                    raise ProtocolError(UNKNOWN_PROTOCOL, "empty control line or leading blank")
                op = args[0]
                code = _PUB if op == pub_op else self._op_of(op)
                if pub_op is None and self.auth_pending and code != _CONNECT:
                    raise ProtocolError(AUTH_VIOLATION, "op before CONNECT")
                if code == _PUB:
                    n = len(args)
                    if n == 3:
                        reply = None
                        field = args[2]
                    elif n == 4:
                        reply = args[2]
                        field = args[3]
                    elif n == 1:
                        raise _no_arguments(line, op, code)
                    else:
                        raise ProtocolError(None, f"PUB with {n - 1} arguments")
                    if len(field) > _MAX_SIZE_DIGITS or not field.isdigit():
                        raise ProtocolError(None, "PUB with a bad size")
                    size = int(field)
                    subject = args[1]
                    plain = reply is None and op == b"PUB" and \
                        len(line) == 5 + len(subject) + len(field) + (line[-1] == _CR)
            if code == pub_code:
                # The hot path: sizes and the trailing CRLF checked inline, no helper calls.
                if size > max_payload:
                    raise ProtocolError(MAX_PAYLOAD, "payload over max_payload")
                if pedantic:  # no runs: each frame's line is checked
                    if not (pos == 0 and line_checked):
                        self._on_publish_line(subject)
                pstart = eol + 1
                pend = pstart + size
                if pend + 2 > end or buf[pend] != cr or buf[pend + 1] != lf:
                    if self._unfinished(buf, pos, pend, end):
                        if pedantic:
                            self._unfinished_publish(subject, pos == 0 and line_checked)
                        return pos
                if subject == last_subject and not pedantic:
                    if size == last_size and reply == last_reply:
                        rep_line = bytes(view[pos:pstart])
                        rep_subject, rep_reply, rep_size, rep_len = subject, reply, size, \
                            pstart - pos
                    elif plain and on_pub_sizes is not None:
                        subj = subject
                        subj_prefix = b"PUB " + subj + b" "
                last_subject = subject
                last_reply = reply
                last_size = size
                pos = pend + 2
                payload = _payload(view, payload, pstart, pend) if scan_pub else \
                    view[pstart:pend]
                if on_pub(subject, reply, payload):
                    return pos
            elif code == _HPUB:
                n = len(args)
                if n == 1:
                    raise _no_arguments(line, op, code)
                if not self.headers:
                    raise ProtocolError(None, "HPUB without headers negotiated")
                reply, hdr, size = _header_frame_args(args, 2, b"HPUB")
                if size > self.max_payload:
                    raise ProtocolError(MAX_PAYLOAD, "payload over max_payload")
                if pedantic and not (pos == 0 and line_checked):
                    self._on_publish_line(args[1])
                pstart = eol + 1
                pend = pstart + size
                if self._unfinished(buf, pos, pend, end):
                    if pedantic:
                        self._unfinished_publish(args[1], pos == 0 and line_checked)
                    return pos
                pos = pend + 2
                if self._on_hpub(args[1], reply, hdr, view[pstart:pend]):
                    return pos
            else:
                pos = eol + 1
                if code == _SUB:
                    n = len(args)
                    if n == 3:
                        self._on_sub(args[1], None, args[2])
                    elif n == 4:
                        self._on_sub(args[1], args[2], args[3])
                    elif n == 1:
                        raise _no_arguments(line, op, code)
                    else:
                        raise ProtocolError(None, f"SUB with {n - 1} arguments")
                elif code == _UNSUB:
                    n = len(args)
                    if n == 2:
                        self._on_unsub(args[1], None)
                    elif n == 3:
                        # A max that is not a number means no max: removed at once.
                        limit = _size(args[2])
                        self._on_unsub(args[1], limit if limit > 0 else None)
                    elif n == 1:
                        raise _no_arguments(line, op, code)
                    else:
                        raise ProtocolError(None, f"UNSUB with {n - 1} arguments")
                elif code == _CONNECT:
                    if self._on_connect(_whole_arg(line, b"CONNECT")):
                        return pos  # the handler resumes parsing when it is ready
                    pub_op = None if self.auth_pending else b"PUB"
                    scan_pub = COMPILED and pub_op is not None
                    subj_prefix = rep_line = last_subject = None
                    pedantic = self.pedantic
                else:
                    self._control(code, line)
        return pos


class ServerOpsParser(_Parser):
    """Parses a server's byte stream for the client.

    Handler methods: on_msg(subject, sid, reply|None, payload: memoryview), on_hmsg(subject, sid,
    reply|None, header_len: int, message: memoryview), on_info(arg: bytes), on_ok(),
    on_err(text: str) with the quotes removed, on_ping(), on_pong().

    A stream of messages for one subscription repeats one control line (`MSG <subject> <sid>
    <size>`), so the last MSG line split is kept (across calls too): when the next frame starts
    with that exact line (one `startswith`, no allocation) its subject, sid, reply and size are
    known and the frame costs a bounds check, a CRLF check and a memoryview slice.
    `repeat_cache=False` turns that off (tests compare both ways).

    Optional tables, keyed by sid (bytes), for a client that routes by sid itself:
    - `dispatch`: sid -> deliver(subject, reply|None, payload, None); a MSG goes there instead of
      on_msg, and a sid missing from the table is dropped.
    - `runs`: sid -> deliver_run(subject, reply|None, view, first, stride, count, size); the
      frames that repeat the kept line go over in one call, payload i being
      `view[first + i * stride:][:size]`. When a bad frame ends a run, the good ones are handed
      over first and then the error is raised.
    `msgs` and `bytes` count the MSG frames and payload bytes parsed (the caller resets them)."""

    __slots__ = ("_on_msg", "_on_hmsg", "_dispatch", "_runs", "_cache", "_run_count", "msgs", "bytes",
                 "_last", "_l_subject", "_l_sid", "_l_reply", "_l_size", "_l_len")

    def __init__(self, handler, *, max_control_line: int = 1 << 20, dispatch=None, runs=None,
                 repeat_cache: bool = True):
        super().__init__(_SERVER_OPS, max_control_line)
        self._bind(handler, ("on_msg", "on_hmsg", "on_info", "on_ok", "on_err", "on_ping",
                             "on_pong"))
        self._dispatch = dispatch
        self._runs = runs
        self._cache = repeat_cache
        self._run_count = 0
        self.msgs = 0
        self.bytes = 0
        self._last: bytes | None = None
        self._l_subject = b""
        self._l_sid = b""
        self._l_reply: bytes | None = None
        self._l_size = 0
        self._l_len = 0

    def parse(self, buf: bytearray, view: memoryview, end: int) -> int:
        pos = 0
        self.need = 0
        dispatch_get = self._dispatch.get if self._dispatch is not None else None
        runs_get = self._runs.get if self._runs is not None else None
        find = buf.find
        startswith = buf.startswith
        on_msg = self._on_msg
        cache = self._cache
        nmsgs = nbytes = 0
        last = self._last
        l_subject, l_sid, l_reply = self._l_subject, self._l_sid, self._l_reply
        l_size, l_len = self._l_size, self._l_len
        try:
            while pos < end:
                if last is not None and startswith(last, pos):
                    pstart = pos + l_len
                    pend = pstart + l_size
                    if pend + 2 <= end:
                        run = runs_get(l_sid) if runs_get is not None else None
                        if run is not None:
                            pos = self._run(run, buf, view, pos, end, last, l_subject, l_reply,
                                            l_size, l_len)
                            k = self._run_count
                            nmsgs += k
                            nbytes += k * l_size
                            continue
                        if buf[pend] != _CR or buf[pend + 1] != _LF:
                            raise ProtocolError(UNKNOWN_PROTOCOL, "payload not followed by CRLF")
                        if dispatch_get is None:
                            on_msg(l_subject, l_sid, l_reply, view[pstart:pend])
                        else:
                            deliver = dispatch_get(l_sid)
                            if deliver is not None:
                                deliver(l_subject, l_reply, view[pstart:pend], None)
                        nmsgs += 1
                        nbytes += l_size
                        pos = pend + 2
                        continue
                    if self._unfinished(buf, pos, pend, end):
                        return pos
                eol = find(b"\n", pos, end)
                if eol < 0:
                    self._incomplete_line(buf, pos, end)
                    return pos
                line = bytes(view[pos:eol])
                args = line.split()
                if not args or line[0] in _BLANKS:
                    raise ProtocolError(UNKNOWN_PROTOCOL, "empty control line or leading blank")
                code = _MSG if args[0] == b"MSG" else self._op_of(args[0])
                if code == _MSG:
                    n = len(args)
                    if n == 4:
                        reply = None
                        size = _size(args[3])
                    elif n == 5:
                        reply = args[3]
                        size = _size(args[4])
                    else:
                        raise ProtocolError(None, f"MSG with {n - 1} arguments")
                    if size < 0:
                        raise ProtocolError(None, "MSG with a bad size")
                    if cache:
                        # Kept with its LF, for the frames that repeat it.
                        last = line + b"\n"
                        l_subject, l_sid, l_reply, l_size, l_len = \
                            args[1], args[2], reply, size, len(last)
                    pstart = eol + 1
                    pend = pstart + size
                    if self._unfinished(buf, pos, pend, end):
                        return pos
                    if dispatch_get is None:
                        on_msg(args[1], args[2], reply, view[pstart:pend])
                    else:
                        deliver = dispatch_get(args[2])
                        if deliver is not None:
                            deliver(args[1], reply, view[pstart:pend], None)
                    nmsgs += 1
                    nbytes += size
                    pos = pend + 2
                elif code == _HMSG:
                    reply, hdr, size = _header_frame_args(args, 3, b"HMSG")
                    pstart = eol + 1
                    pend = pstart + size
                    if self._unfinished(buf, pos, pend, end):
                        return pos
                    self._on_hmsg(args[1], args[2], reply, hdr, view[pstart:pend])
                    pos = pend + 2
                else:
                    pos = eol + 1
                    self._control(code, line)
            return pos
        finally:
            self.msgs += nmsgs
            self.bytes += nbytes
            self._last = last
            self._l_subject, self._l_sid, self._l_reply = l_subject, l_sid, l_reply
            self._l_size, self._l_len = l_size, l_len

    def _run(self, run, buf: bytearray, view: memoryview, pos: int, end: int, last: bytes,
             subject: bytes, reply: bytes | None, size: int, line_len: int) -> int:
        """Hands the complete frames from `pos` on that repeat the kept line to `run` in one
        call. Returns the offset after them and sets `_run_count`."""
        startswith = buf.startswith
        frame = line_len + size + 2
        start = pos
        count = 0
        try:
            while True:
                pend = pos + line_len + size
                if buf[pend] != _CR or buf[pend + 1] != _LF:
                    raise ProtocolError(UNKNOWN_PROTOCOL, "payload not followed by CRLF")
                count += 1
                pos = pend + 2
                if pos + frame > end or not startswith(last, pos):
                    break
        finally:
            self._run_count = count
            if count:
                run(subject, reply, view, start + line_len, frame, count, size)
        return pos


def _whole_arg(line: bytes, name: bytes) -> bytes:
    """The rest of a control line after its op name, blanks and trailing CR removed."""
    return line[len(name):].strip(b" \t\r")
