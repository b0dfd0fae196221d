"""Incremental parser for nats-server's leafnode protocol, in the style of route_parser.py: the
same CONNECT/INFO/PING/PONG/+OK/-ERR ops, and interest and messages without an account field
(a leaf connection is bound to one account):

    LS+ <subject> [<queue> <weight>]       LS- <subject> [<queue>]
    LMSG <subject> [<reply>] <size>
    LMSG <subject> + <reply> <queue>... <size>       LMSG <subject> | <queue>... <size>
    HMSG <subject> (any of the three forms, with <hdr_size> <total_size> for <size>)

nats-server's parser goes by an op's first letter and the kind of connection, so a leaf port
also takes RMSG as LMSG, RS+/SUB as LS+, RS-/UNSUB as LS-, PUB as LMSG and HPUB as HMSG.
A message declared over `max_payload` is refused from its control line (Maximum Payload
Violation), before any of its payload is buffered.

Handler methods: on_connect(arg), on_info(arg), on_ping(), on_pong(), on_err(text),
on_lsub(subject, queue|None, weight), on_lunsub(subject, queue|None),
on_lmsg(subject, reply|None, queues|None, header_len, message: memoryview) (header_len 0 for
LMSG; `message` is headers and payload together). While `expect_connect` is set, any op but
CONNECT is an Authorization Violation. Malformed LS+/LS-/LMSG lines raise ProtocolError.
"""

from __future__ import annotations

from .errors import AUTH_VIOLATION, MAX_CONTROL_LINE, MAX_PAYLOAD, UNKNOWN_PROTOCOL, ProtocolError
from .route_parser import MAX_ROUTE_CONTROL_LINE, _size, _whole_arg, msg_args

_BLANKS = (b" ", b"\t")

_CR = 13
_LF = 10

_LMSG, _HMSG, _LSUB, _LUNSUB, _PING, _PONG, _CONNECT, _INFO, _OK, _ERR = range(10)
_OPS = {
    b"LMSG": _LMSG,
    b"HMSG": _HMSG,
    b"LS+": _LSUB,
    b"LS-": _LUNSUB,
    b"PING": _PING,
    b"PONG": _PONG,
    b"CONNECT": _CONNECT,
    b"INFO": _INFO,
    b"+OK": _OK,
    b"-ERR": _ERR,
    b"RMSG": _LMSG,
    b"PUB": _LMSG,
    b"HPUB": _HMSG,
    b"RS+": _LSUB,
    b"SUB": _LSUB,
    b"RS-": _LUNSUB,
    b"UNSUB": _LUNSUB,
}
_NO_ARGS = (_PING, _PONG, _OK)


class LeafOpsParser:
    __slots__ = ("need", "expect_connect", "max_control_line", "max_payload", "h")

    def __init__(self, handler, *, max_control_line: int = MAX_ROUTE_CONTROL_LINE,
                 max_payload: int = 1 << 20):
        self.need = 0
        self.expect_connect = False
        self.max_control_line = max_control_line
        self.max_payload = max_payload
        self.h = handler

    def parse(self, buf: bytearray, view: memoryview, end: int) -> int:
        pos = 0
        self.need = 0
        find = buf.find
        h = self.h
        while pos < end:
            if h.closed:
                return pos
            eol = find(b"\n", pos, end)
            if eol < 0:
                if end - pos > self.max_control_line:
                    raise ProtocolError(MAX_CONTROL_LINE, "leafnode control line too long")
                if self.expect_connect and buf[pos] not in b"Cc":
                    raise ProtocolError(AUTH_VIOLATION, "leafnode op before CONNECT")
                return pos
            if eol - pos > self.max_control_line:
                raise ProtocolError(MAX_CONTROL_LINE, "leafnode control line too long")
            line = bytes(view[pos:eol])
            args = line.split()
            if not args or line[0] in b" \t\r":
                raise ProtocolError(UNKNOWN_PROTOCOL, "empty leafnode control line")
            op = args[0]
            code = _OPS.get(op)
            if code is None:
                code = _OPS.get(op.upper())
                if code is None:
                    if self.expect_connect:
                        raise ProtocolError(AUTH_VIOLATION, "leafnode op before CONNECT")
                    raise ProtocolError(UNKNOWN_PROTOCOL, f"unknown leafnode op {op[:32]!r}")
            if self.expect_connect and code != _CONNECT:
                raise ProtocolError(AUTH_VIOLATION, "leafnode op before CONNECT")
            if len(args) == 1 and code not in _NO_ARGS and line[len(op):len(op) + 1] not in _BLANKS:
                # nats-server's parser wants a blank after an op that takes arguments (and
                # reads CONNECT and INFO without one as an empty, unusable document).
                text = None if code == _CONNECT or code == _INFO else UNKNOWN_PROTOCOL
                raise ProtocolError(text, f"{op[:32]!r} without arguments")
            if code == _LMSG or code == _HMSG:
                tail = 1 if code == _LMSG else 2
                if len(args) < 2 + tail:
                    raise ProtocolError(None, f"leaf message with {len(args) - 1} arguments")
                # The op stands where a routed message has its account.
                reply, queues = msg_args(args, tail)
                size = _size(args[-1])
                hdr = _size(args[-2]) if tail == 2 else 0
                if size < 0 or hdr < 0 or hdr > size:
                    raise ProtocolError(None, "leaf message with a bad size")
                if size > self.max_payload:
                    raise ProtocolError(MAX_PAYLOAD, f"leaf message of {size} bytes")
                pstart = eol + 1
                pend = pstart + size
                if pend + 2 > end:
                    if pend < end and buf[pend] != _CR or pend + 1 < end and buf[pend + 1] != _LF:
                        raise ProtocolError(UNKNOWN_PROTOCOL, "payload not followed by CRLF")
                    self.need = pend + 2 - pos
                    return pos
                if buf[pend] != _CR or buf[pend + 1] != _LF:
                    raise ProtocolError(UNKNOWN_PROTOCOL, "payload not followed by CRLF")
                h.on_lmsg(args[1], reply, queues, hdr, view[pstart:pend])
                pos = pend + 2
                continue
            pos = eol + 1
            n = len(args)
            if code == _LSUB:
                if n == 2:
                    h.on_lsub(args[1], None, 0)
                elif n == 4:
                    h.on_lsub(args[1], args[2], _size(args[3]))
                else:
                    raise ProtocolError(None, f"LS+ with {n - 1} arguments")
            elif code == _LUNSUB:
                if n == 2:
                    h.on_lunsub(args[1], None)
                elif n == 3:
                    h.on_lunsub(args[1], args[2])
                else:
                    raise ProtocolError(None, f"LS- with {n - 1} arguments")
            elif code == _PING:
                h.on_ping()
            elif code == _PONG:
                h.on_pong()
            elif code == _CONNECT:
                self.expect_connect = False
                h.on_connect(_whole_arg(line, op))
            elif code == _INFO:
                h.on_info(_whole_arg(line, op))
            elif code == _ERR:
                h.on_err(_whole_arg(line, op).decode(errors="replace").strip("'"))
        return pos
