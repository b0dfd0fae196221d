"""Incremental parser for what one server sends another: nats-server's route protocol (a cluster
connection) and its leafnode protocol, which differ only in their op names, in whether interest
and message lines name the account first (a leaf connection is bound to one account), and in a
few rules listed with ROUTE and LEAF below. In the style of parser.py (and sharing its op codes
and lookup, size parsing, trailer check, and PING/PONG/INFO/+OK/-ERR handling): `parse(buf, view, end)` consumes every whole frame in
`buf[:end]`, calls the handler once per frame and returns the offset of the first byte it did
not consume; `need` is then the full size of an unfinished frame when known. Payloads are
handed over as memoryviews of the receive buffer, valid only during the call. No I/O.

Ops (names case-insensitive, as nats-server's parser), <acc> on routes only:

    CONNECT {json}          INFO {json}          PING          PONG          +OK        -ERR 'text'
    RS+ / LS+ [<acc>] <subject> [<queue> <weight>]       RS- / LS- [<acc>] <subject> [<queue>]
    RMSG / LMSG [<acc>] <subject> [<reply>] <size>
    RMSG / LMSG [<acc>] <subject> + <reply> <queue>... <size>
    RMSG / LMSG [<acc>] <subject> | <queue>... <size>
    HMSG [<acc>] <subject> (any of the three forms, with <hdr_size> <total_size> for <size>)

Handler methods, the same for both kinds (`account` is None on a leaf connection):
on_connect(arg: bytes), on_info(arg: bytes), on_ping(), on_pong(), on_err(text),
on_rsub(account, subject, queue|None, weight: int), on_runsub(account, subject, queue|None),
on_rmsg(account, subject, reply|None, queues: list|None, header_len: int, message: memoryview)
where `message` is headers and payload together (header_len 0 for RMSG/LMSG). `queues` is None
for the plain forms and the list of queue names (possibly empty) for the `+`/`|` forms. A queue
weight that is not a number of at most 9 digits is -1, as nats-server parses it (such a member
is never picked). Optionally on_rmsg_run(account, subject, view, first, stride, count, size) for
`count` (two or more) consecutive plain messages (no headers, reply or queues) with one identical
control line, payload i at view[first + i * stride:][:size]; without it (or when it is None)
they come one by one through on_rmsg. A true result from on_rmsg or on_rmsg_run stops the parse
after that message or run (the connection parses the rest later: fan-out slices).

`need` is the size of an unfinished message as declared; the connection decides how much of it
to make room for (see `room_for`): declared sizes are never allocated before the bytes arrive.
After CONNECT the parser stops when the handler's `closed` is set (a rejected CONNECT ends the
read: nothing after it in the same packet takes effect).

While `expect_connect` is set (a connection we accepted that has not sent CONNECT), any other op
is an Authorization Violation, as nats-server answers. Malformed interest and message lines
raise ProtocolError without an -ERR text: nats-server closes the connection without one.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import AUTH_VIOLATION, MAX_CONTROL_LINE, MAX_PAYLOAD, UNKNOWN_PROTOCOL, ProtocolError
from .parser import (
    _CONNECT,
    _CONTROL_OPS,
    _CR,
    _DROP_HPUB,
    _DROP_PUB,
    _HMSG,
    _IGNORED,
    _INFO,
    _LF,
    _MSG,
    _OK,
    _PING,
    _PONG,
    _SUB,
    _UNSUB,
    MAX_CONTROL_LINE_SIZE,
    MAX_PAYLOAD_SIZE,
    _frame_sizes,
    _Parser,
    _repeats,
    _size,
    _whole_arg,
)

# Route and leaf control lines carry whole INFO documents and long queue lists: nats-server
# allows them 16 times the client's max_control_line (64 KiB by default).
PEER_CONTROL_LINE_FACTOR = 16

# Unfinished frames up to this size get their whole buffer at once; larger ones grow with the
# bytes that arrive.
GROW_AS_ARRIVES = 1 << 16

_BLANKS = (b" ", b"\t")

# The op codes are parser.py's: RS+/LS+ take SUB's, RS-/LS- UNSUB's, RMSG/LMSG MSG's.
_NO_ARGS = (_PING, _PONG, _OK)
_COMMON_OPS = {b"HMSG": _HMSG, b"CONNECT": _CONNECT, **_CONTROL_OPS}

# No size has more than 9 digits: a limit no message reaches.
_NO_PAYLOAD_LIMIT = 10**9


class PeerKind(NamedTuple):
    """What tells the route protocol from the leafnode protocol."""

    name: str  # in error details
    msg_op: bytes  # the plain message op as sent, looked up first
    ops: dict  # op name (upper case) -> op code
    account: bool  # interest and message lines name the account first
    # A message declared over max_payload is refused from its control line (Maximum Payload
    # Violation), before any of its payload is buffered.
    checks_max_payload: bool
    # The parser stops before the next frame as soon as the handler's `closed` is set (otherwise
    # only after CONNECT).
    stops_when_closed: bool


# On a route, a client's PUB/HPUB is read past its payload and dropped (it names no account),
# SUB is dropped, UNSUB is taken as RS-, and gateway interest (A+/A-, only ever meaningful
# between gateways) is ignored, as nats-server's parser treats them there.
ROUTE = PeerKind(
    name="route", msg_op=b"RMSG",
    ops={**_COMMON_OPS, b"RMSG": _MSG, b"RS+": _SUB, b"RS-": _UNSUB, b"A+": _IGNORED,
         b"A-": _IGNORED, b"PUB": _DROP_PUB, b"HPUB": _DROP_HPUB, b"SUB": _IGNORED,
         b"UNSUB": _UNSUB},
    account=True, checks_max_payload=False, stops_when_closed=False)

# nats-server's parser goes by an op's first letter and the kind of connection, so a leaf port
# also takes RMSG and PUB as LMSG, HPUB as HMSG, RS+/SUB as LS+ and RS-/UNSUB as LS-.
LEAF = PeerKind(
    name="leafnode", msg_op=b"LMSG",
    ops={**_COMMON_OPS, b"LMSG": _MSG, b"LS+": _SUB, b"LS-": _UNSUB, b"RMSG": _MSG, b"PUB": _MSG,
         b"HPUB": _HMSG, b"RS+": _SUB, b"SUB": _SUB, b"RS-": _UNSUB, b"UNSUB": _UNSUB},
    account=False, checks_max_payload=True, stops_when_closed=True)


def room_for(need: int, filled: int) -> int:
    """How much buffer to make for an unfinished frame of `need` bytes when `filled` have
    arrived: all of it when small, otherwise twice what arrived (the buffer then doubles as
    reads fill it), so that a declared size costs memory only as its bytes come in."""
    if need <= GROW_AS_ARRIVES:
        return need
    return min(need, 2 * filled)


def msg_args(args: list[bytes], tail: int) -> tuple[bytes | None, list[bytes] | None]:
    """The reply and queue list of message arguments `<acc> <subj> ... <tail sizes>`:
    nats-server's processRoutedMsgArgs. `tail` is 1 for RMSG (size) and 2 for HMSG (header and
    total size)."""
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


class PeerOpsParser(_Parser):
    """Parses a route's or leaf's byte stream (see the module docstring); `kind` is ROUTE or
    LEAF. `max_control_line` and `max_payload` are the server's client limits: a peer's control
    line may be PEER_CONTROL_LINE_FACTOR times longer, and max_payload is checked only where the
    kind says so."""

    # Op names are matched whole (after upper-casing), never by prefix.
    prefix_ops = whole_arg_ops = ()

    __slots__ = ("expect_connect", "max_payload", "_kind", "_h", "_on_connect", "_on_rsub",
                 "_on_runsub", "_on_rmsg", "_on_rmsg_run", "_cut_pub")

    def __init__(self, handler, kind: PeerKind, *, expect_connect: bool = False,
                 max_control_line: int = MAX_CONTROL_LINE_SIZE,
                 max_payload: int = MAX_PAYLOAD_SIZE):
        super().__init__(kind.ops, PEER_CONTROL_LINE_FACTOR * max_control_line)
        self._kind = kind
        self.expect_connect = expect_connect
        self.max_payload = max_payload if kind.checks_max_payload else _NO_PAYLOAD_LIMIT
        self._h = handler
        self._bind(handler, ("on_connect", "on_info", "on_ping", "on_pong", "on_err", "on_rsub",
                             "on_runsub", "on_rmsg"), ("on_rmsg_run",))
        self._on_ok = None  # +OK is dropped
        # The line of a route's PUB/HPUB that a read cut, to be read as a routed message's.
        self._cut_pub: bytes | None = None

    def _before_connect(self) -> ProtocolError:
        return ProtocolError(AUTH_VIOLATION, f"{self._kind.name} op before CONNECT")

    def parse(self, buf: bytearray, view: memoryview, end: int) -> int:
        pos = 0
        self.need = 0
        # A PUB/HPUB line that the last read cut (see _DROP_PUB below): the first frame now.
        cut, self._cut_pub = self._cut_pub, None
        find = buf.find
        h = self._h
        name, msg_op, table, has_account, _, stops_when_closed = self._kind
        first = 1 if has_account else 0  # message fields from args[first]: <acc> <subject> ...
        # As ClientOpsParser: after two equal plain message lines in a row, the frames that
        # repeat the line are counted with startswith and handed over as one run.
        prev_line = rep_line = None
        rep_account = rep_subject = None
        rep_len = rep_size = 0
        max_payload = self.max_payload
        mcl = self.max_control_line
        on_rmsg = self._on_rmsg
        on_run = self._on_rmsg_run
        while pos < end:
            if rep_line is not None:
                stride = rep_len + rep_size + 2
                count = _repeats(buf, rep_line, pos, end, stride)
                if count > 1:
                    stop = on_run(rep_account, rep_subject, view, pos + rep_len, stride, count,
                                  rep_size)
                    pos += count * stride
                    if stop:
                        return pos
                    continue
                rep_line = None
            if stops_when_closed and h.closed:
                return pos
            eol = find(b"\n", pos, end)
            if eol < 0:
                if end - pos > mcl:
                    raise ProtocolError(MAX_CONTROL_LINE, f"{name} control line too long")
                if self.expect_connect and buf[pos] not in b"Cc":
                    raise self._before_connect()
                return pos
            if eol - pos > mcl:
                raise ProtocolError(MAX_CONTROL_LINE, f"{name} control line too long")
            line = bytes(view[pos:eol])
            args = line.split()
            if not args or line[0] in b" \t\r":
                raise ProtocolError(UNKNOWN_PROTOCOL, f"empty {name} control line or leading blank")
            op = args[0]
            code = _MSG if op == msg_op else table.get(op)
            if code is None:
                try:
                    code = self._op_of(op)
                except ProtocolError:
                    if self.expect_connect:
                        raise self._before_connect() from None
                    raise
            if self.expect_connect and code != _CONNECT:
                raise self._before_connect()
            if len(args) == 1 and code not in _NO_ARGS and line[len(op):len(op) + 1] not in _BLANKS:
                # nats-server's parser wants a blank after an op that takes arguments (and
                # reads CONNECT and INFO without one as an empty, unusable document).
                text = None if code == _CONNECT or code == _INFO else UNKNOWN_PROTOCOL
                raise ProtocolError(text, f"{op[:32]!r} without arguments")
            if cut is not None and pos == 0 and line == cut:
                code = _MSG if code == _DROP_PUB else _HMSG
            if code == _MSG or code == _HMSG:
                tail = 1 if code == _MSG else 2
                # On a leaf the op stands where a routed message has its account.
                margs = args[first:] if first else args
                if len(margs) < 2 + tail:
                    raise ProtocolError(None, f"{name} message with {len(args) - 1} arguments")
                reply, queues = msg_args(margs, tail)
                hdr, size = _frame_sizes(margs, tail, op)
                if size > max_payload:
                    raise ProtocolError(MAX_PAYLOAD, f"{name} message of {size} bytes")
                pstart = eol + 1
                pend = pstart + size
                if pend + 2 > end or buf[pend] != _CR or buf[pend + 1] != _LF:
                    if self._unfinished(buf, pos, pend, end):
                        if cut is not None and pos == 0:
                            self._cut_pub = cut  # still cut: still a routed message
                        return pos
                account = margs[0] if has_account else None
                if on_run is not None and tail == 1 and reply is None and queues is None:
                    if line == prev_line:
                        rep_line = line + b"\n"
                        rep_account, rep_subject = account, margs[1]
                        rep_len, rep_size = pstart - pos, size
                    prev_line = line
                pos = pend + 2
                if on_rmsg(account, margs[1], reply, queues, hdr, view[pstart:pend]):
                    return pos
                continue
            if code == _DROP_PUB or code == _DROP_HPUB:
                tail = 1 if code == _DROP_PUB else 2
                if len(args) not in (2 + tail, 3 + tail):
                    raise ProtocolError(UNKNOWN_PROTOCOL, f"{op!r} with {len(args) - 1} arguments")
                _, size = _frame_sizes(args, tail, op, UNKNOWN_PROTOCOL)
                pend = eol + 1 + size
                if self._unfinished(buf, pos, pend, end):
                    # nats-server, when a read ends inside such a frame, reads its arguments
                    # again as a routed message's (RMSG's for PUB, HMSG's for HPUB): the frame is
                    # then delivered as one, or the route gets Unknown Protocol Operation.
                    if len(args) - 1 < 2 + tail:
                        raise ProtocolError(UNKNOWN_PROTOCOL, f"{op!r} cut by a read: no routed message")
                    self._cut_pub = line
                    return pos
                pos = pend + 2
                continue
            pos = eol + 1
            if code == _SUB:
                n = len(args) - first
                account = args[1] if has_account else None
                if n == 2:
                    self._on_rsub(account, args[first + 1], None, 0)
                elif n == 4:
                    self._on_rsub(account, args[first + 1], args[first + 2], _size(args[first + 3]))
                else:
                    raise ProtocolError(None, f"{op!r} with {len(args) - 1} arguments")
            elif code == _UNSUB:
                n = len(args) - first
                account = args[1] if has_account else None
                if n == 2:
                    self._on_runsub(account, args[first + 1], None)
                elif n == 3:
                    self._on_runsub(account, args[first + 1], args[first + 2])
                else:
                    raise ProtocolError(None, f"{op!r} with {len(args) - 1} arguments")
            elif code == _CONNECT:
                self.expect_connect = False
                self._on_connect(_whole_arg(line, b"CONNECT"))
                if getattr(h, "closed", False):
                    return pos
            else:
                self._control(code, line)  # the ignored ops (see ROUTE) fall through
        return pos
