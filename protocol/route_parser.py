"""Incremental parser for nats-server's route protocol (what one server sends another over a
cluster connection), in the style of parser.py: `parse(buf, view, end)` consumes every whole
frame in `buf[:end]`, calls the handler once per frame and returns the offset of the first byte
it did not consume; `need` is then the full size of an unfinished frame when known. Payloads are
handed over as memoryviews of the receive buffer, valid only during the call. No I/O.

Ops (names case-insensitive, as nats-server's parser):

    CONNECT {json}          INFO {json}          PING          PONG          +OK        -ERR 'text'
    RS+ <acc> <subject> [<queue> <weight>]       RS- <acc> <subject> [<queue>]
    RMSG <acc> <subject> [<reply>] <size>
    RMSG <acc> <subject> + <reply> <queue>... <size>       RMSG <acc> <subject> | <queue>... <size>
    HMSG <acc> <subject> (any of the three forms, with <hdr_size> <total_size> for <size>)
    A+ / A- (gateway interest, only ever meaningful between gateways: ignored)
    PUB / HPUB (a client's publish: its payload is skipped and the message ignored), SUB (ignored)
    and UNSUB (taken as RS-), as nats-server's parser treats them on a route

Handler methods: on_connect(arg: bytes), on_info(arg: bytes), on_ping(), on_pong(), on_err(text),
on_rsub(account, subject, queue|None, weight: int), on_runsub(account, subject, queue|None),
on_rmsg(account, subject, reply|None, queues: list|None, payload: memoryview) and
on_hmsg(account, subject, reply|None, queues|None, header_len: int, message: memoryview) where
`message` is headers and payload together. `queues` is None for the plain forms and the list of
queue names (possibly empty) for the `+`/`|` forms. A queue weight that is not a number of at
most 9 digits is -1, as nats-server parses it (such a member is never picked).

`need` is the size of an unfinished message as declared; the connection decides how much of it
to make room for (see `room_for`): declared sizes are never allocated before the bytes arrive.
After CONNECT the parser stops when the handler's `closed` is set (a rejected CONNECT ends the
read: nothing after it in the same packet takes effect).

While `expect_connect` is set (an accepted route that has not sent CONNECT), any other op is an
Authorization Violation, as nats-server answers. Malformed RS+/RS-/RMSG lines raise ProtocolError
without an -ERR text: nats-server closes the route without one.
"""

from __future__ import annotations

from .errors import AUTH_VIOLATION, MAX_CONTROL_LINE, UNKNOWN_PROTOCOL, ProtocolError

# Route and leaf control lines carry whole INFO documents and long queue lists: nats-server
# allows them 16 times the client's max_control_line (64 KiB by default).
PEER_CONTROL_LINE_FACTOR = 16
MAX_ROUTE_CONTROL_LINE = PEER_CONTROL_LINE_FACTOR * 4096

# Unfinished frames up to this size get their whole buffer at once; larger ones grow with the
# bytes that arrive.
GROW_AS_ARRIVES = 1 << 16

_BLANKS = (b" ", b"\t")

_CR = 13
_LF = 10
_MAX_SIZE_DIGITS = 9

(_RMSG, _HMSG, _RSUB, _RUNSUB, _PING, _PONG, _CONNECT, _INFO, _OK, _ERR, _GATEWAY, _PUB, _HPUB,
 _SUB) = range(14)
_OPS = {
    b"RMSG": _RMSG,
    b"HMSG": _HMSG,
    b"RS+": _RSUB,
    b"RS-": _RUNSUB,
    b"PING": _PING,
    b"PONG": _PONG,
    b"CONNECT": _CONNECT,
    b"INFO": _INFO,
    b"+OK": _OK,
    b"-ERR": _ERR,
    b"A+": _GATEWAY,
    b"A-": _GATEWAY,
    b"PUB": _PUB,
    b"HPUB": _HPUB,
    b"SUB": _SUB,
    b"UNSUB": _RUNSUB,
}
_NO_ARGS = (_PING, _PONG, _OK)
_WHOLE_ARG = {_CONNECT: b"CONNECT", _INFO: b"INFO", _ERR: b"-ERR"}


def _size(field: bytes) -> int:
    """A non-negative decimal of at most 9 digits, or -1 (nats-server's parseSize)."""
    if field.isdigit() and len(field) <= _MAX_SIZE_DIGITS:
        return int(field)
    return -1


def room_for(need: int, filled: int) -> int:
    """How much buffer to make for an unfinished frame of `need` bytes when `filled` have
    arrived: all of it when small, otherwise twice what arrived (the buffer then doubles as
    reads fill it), so that a declared size costs memory only as its bytes come in."""
    if need <= GROW_AS_ARRIVES:
        return need
    return min(need, 2 * filled)


def _whole_arg(line: bytes, name: bytes) -> bytes:
    return line[len(name):].strip(b" \t\r")


def msg_args(args: list[bytes], tail: int) -> tuple[bytes | None, list[bytes] | None]:
    """The reply and queue list of RMSG/HMSG arguments `acc subj ... <tail sizes>`: nats-server's
    processRoutedMsgArgs. `tail` is 1 for RMSG (size) and 2 for HMSG (header and total size)."""
    n = len(args)
    if n == 2 + tail:
        return None, None
    if n == 3 + tail:
        return args[2], None
    marker = args[2]
    if marker == b"+":
        return args[3], args[4 : n - tail]
    if marker == b"|":
        return None, args[3 : n - tail]
    raise ProtocolError(None, f"routed message: bad or missing reply indicator {marker[:16]!r}")


class RouteOpsParser:
    """Parses a route's byte stream (see the module docstring). A handler may also take runs:
    on_rmsg_run(account, subject, view, first, stride, count, size) for `count` (two or more)
    consecutive plain RMSG frames (no reply, no queues) with one identical control line, payload
    i at view[first + i * stride:][:size]; without it they come one by one through on_rmsg."""

    __slots__ = ("need", "expect_connect", "max_control_line", "_h", "_on_connect", "_on_info",
                 "_on_ping", "_on_pong", "_on_err", "_on_rsub", "_on_runsub", "_on_rmsg",
                 "_on_hmsg", "_on_rmsg_run")

    def __init__(self, handler, *, max_control_line: int = MAX_ROUTE_CONTROL_LINE):
        self.need = 0
        self.expect_connect = False
        self.max_control_line = max_control_line
        self._h = handler
        self._on_connect = handler.on_connect
        self._on_info = handler.on_info
        self._on_ping = handler.on_ping
        self._on_pong = handler.on_pong
        self._on_err = handler.on_err
        self._on_rsub = handler.on_rsub
        self._on_runsub = handler.on_runsub
        self._on_rmsg = handler.on_rmsg
        self._on_hmsg = handler.on_hmsg
        self._on_rmsg_run = getattr(handler, "on_rmsg_run", None)

    def parse(self, buf: bytearray, view: memoryview, end: int) -> int:
        pos = 0
        self.need = 0
        find = buf.find
        startswith = buf.startswith
        on_run = self._on_rmsg_run
        # As ClientOpsParser: after two equal plain RMSG lines in a row, the frames that repeat
        # the line are counted with startswith and handed over as one run.
        prev_line = rep_line = None
        rep_account = rep_subject = None
        rep_len = rep_size = 0
        while pos < end:
            if rep_line is not None:
                stride = rep_len + rep_size + 2
                count = 0
                p = pos
                while p + stride <= end and startswith(rep_line, p) and \
                        buf[p + stride - 2] == _CR and buf[p + stride - 1] == _LF:
                    count += 1
                    p += stride
                if count > 1:
                    on_run(rep_account, rep_subject, view, pos + rep_len, stride, count, rep_size)
                    pos = p
                    continue
                rep_line = None
            eol = find(b"\n", pos, end)
            if eol < 0:
                if end - pos > self.max_control_line:
                    raise ProtocolError(MAX_CONTROL_LINE, "route control line too long")
                if self.expect_connect and buf[pos] not in b"Cc":
                    raise ProtocolError(AUTH_VIOLATION, "route op before CONNECT")
                return pos
            if eol - pos > self.max_control_line:
                raise ProtocolError(MAX_CONTROL_LINE, "route control line too long")
            line = bytes(view[pos:eol])
            args = line.split()
            if not args or line[0] in b" \t\r":
                raise ProtocolError(UNKNOWN_PROTOCOL, "empty route control line or leading blank")
            op = args[0]
            code = _RMSG if op == b"RMSG" else _OPS.get(op)
            if code is None:
                code = _OPS.get(op.upper())
                if code is None:
                    if self.expect_connect:
                        raise ProtocolError(AUTH_VIOLATION, "route op before CONNECT")
                    raise ProtocolError(UNKNOWN_PROTOCOL, f"unknown route op {op[:32]!r}")
            if self.expect_connect and code != _CONNECT:
                raise ProtocolError(AUTH_VIOLATION, "route op before CONNECT")
            if len(args) == 1 and code not in _NO_ARGS and line[len(op):len(op) + 1] not in _BLANKS:
                # nats-server's parser wants a blank after an op that takes arguments (and
                # reads CONNECT and INFO without one as an empty, unusable document).
                text = None if code == _CONNECT or code == _INFO else UNKNOWN_PROTOCOL
                raise ProtocolError(text, f"{op[:32]!r} without arguments")
            if code == _PUB or code == _HPUB:
                # A client's publish on a route: nats-server reads it past its payload and drops
                # it (it names no account).
                tail = 1 if code == _PUB else 2
                if len(args) not in (2 + tail, 3 + tail):
                    raise ProtocolError(UNKNOWN_PROTOCOL, f"{op!r} with {len(args) - 1} arguments")
                size = _size(args[-1])
                hdr = _size(args[-2]) if tail == 2 else 0
                if size < 0 or hdr < 0 or hdr > size:
                    raise ProtocolError(UNKNOWN_PROTOCOL, "publish with a bad size")
                pend = eol + 1 + size
                if pend + 2 > end:
                    self.need = pend + 2 - pos
                    return pos
                if buf[pend] != _CR or buf[pend + 1] != _LF:
                    raise ProtocolError(UNKNOWN_PROTOCOL, "payload not followed by CRLF")
                pos = pend + 2
                continue
            if code == _RMSG or code == _HMSG:
                tail = 1 if code == _RMSG else 2
                margs = args[1:]
                if len(margs) < 2 + tail:
                    raise ProtocolError(None, f"routed message with {len(margs)} arguments")
                reply, queues = msg_args(margs, tail)
                size = _size(margs[-1])
                hdr = _size(margs[-2]) if tail == 2 else 0
                if size < 0 or hdr < 0 or hdr > size:
                    raise ProtocolError(None, "routed message with a bad size")
                pstart = eol + 1
                pend = pstart + size
                if pend + 2 > end:
                    if pend < end and buf[pend] != _CR or pend + 1 < end and buf[pend + 1] != _LF:
                        raise ProtocolError(UNKNOWN_PROTOCOL, "payload not followed by CRLF")
                    self.need = pend + 2 - pos
                    return pos
                if buf[pend] != _CR or buf[pend + 1] != _LF:
                    raise ProtocolError(UNKNOWN_PROTOCOL, "payload not followed by CRLF")
                if tail == 1:
                    if on_run is not None and reply is None and queues is None:
                        if line == prev_line:
                            rep_line = line + b"\n"
                            rep_account, rep_subject = margs[0], margs[1]
                            rep_len, rep_size = pstart - pos, size
                        prev_line = line
                    self._on_rmsg(margs[0], margs[1], reply, queues, view[pstart:pend])
                else:
                    self._on_hmsg(margs[0], margs[1], reply, queues, hdr, view[pstart:pend])
                pos = pend + 2
                continue
            pos = eol + 1
            if code == _RSUB:
                n = len(args)
                if n == 3:
                    self._on_rsub(args[1], args[2], None, 0)
                elif n == 5:
                    self._on_rsub(args[1], args[2], args[3], _size(args[4]))
                else:
                    raise ProtocolError(None, f"RS+ with {n - 1} arguments")
            elif code == _RUNSUB:
                n = len(args)
                if n == 3:
                    self._on_runsub(args[1], args[2], None)
                elif n == 4:
                    self._on_runsub(args[1], args[2], args[3])
                else:
                    raise ProtocolError(None, f"RS- with {n - 1} arguments")
            elif code == _PING:
                self._on_ping()
            elif code == _PONG:
                self._on_pong()
            elif code == _CONNECT:
                self.expect_connect = False
                self._on_connect(_whole_arg(line, op))
                if getattr(self._h, "closed", False):
                    return pos
            elif code == _INFO:
                self._on_info(_whole_arg(line, op))
            elif code == _ERR:
                self._on_err(_whole_arg(line, op).decode(errors="replace").strip("'"))
            # +OK, gateway interest (A+/A-) and SUB are ignored.
        return pos
