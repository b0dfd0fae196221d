"""`FastServerOpsParser`: `zats.protocol.parser.ServerOpsParser` with a faster MSG path for the
client's read loop. Same handler calls, same results, same errors (a property test checks it
against the base parser on random streams split at random points).

Profiling the client's receive path showed the shared parser at about two thirds of the cost of
delivering a message to a plain callback. A stream of messages for one subscription repeats the
same control line (`MSG <subject> <sid> <size>\\r\\n`) for every message, so this parser keeps
the last MSG control line it split; when the bytes at the next frame start with that exact line
(one `bytearray.startswith`, no allocation), the subject, sid, reply and size are already
known, and the frame costs a bounds check, a CRLF check, one memoryview slice and the handler
call. With a `dispatch` table (sid -> deliver function, the client's) a MSG skips the handler
and goes straight to the subscription. Other lines go the ordinary way (split, then the base class's op lookup and checks).

The rest of `parse` mirrors `ServerOpsParser.parse`; tests/test_client_fastparser.py checks on
random streams that both make the same calls and raise the same errors, so a change to the
shared parser that is not carried over here fails that test."""

from __future__ import annotations

from zats.protocol.errors import UNKNOWN_PROTOCOL, ProtocolError
from zats.protocol.parser import (
    _BLANKS,
    _ERR,
    _HMSG,
    _INFO,
    _MSG,
    _OK,
    _PING,
    _PONG,
    ServerOpsParser,
    _size,
    _whole_arg,
)

_CR = 13
_LF = 10


class FastServerOpsParser(ServerOpsParser):
    """Drop-in `ServerOpsParser` (see the module docstring)."""

    __slots__ = ("_last", "_l_subject", "_l_sid", "_l_reply", "_l_size", "_l_len", "_dispatch",
                 "_runs", "_run_count", "msgs", "bytes")

    def __init__(self, handler, *, dispatch: dict | None = None, runs: dict | None = None, **kw):
        super().__init__(handler, **kw)
        # sid -> deliver(subject, reply, payload, None): MSG frames skip handler.on_msg and go
        # straight to the subscription; `msgs`/`bytes` count them (the caller resets them).
        self._dispatch = dispatch if dispatch is not None else _OnMsg(handler.on_msg)
        # sid -> deliver_run(subject, reply, view, first, stride, count, size): a run of frames
        # with the same cached control line is handed over in one call (see _run).
        self._runs = runs
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
        find = buf.find
        startswith = buf.startswith
        dispatch_get = self._dispatch.get
        runs_get = self._runs.get if self._runs is not None else None
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
                        deliver = dispatch_get(l_sid)
                        if deliver is not None:
                            deliver(l_subject, l_reply, view[pstart:pend], None)
                        nmsgs += 1
                        nbytes += l_size
                        pos = pend + 2
                        continue
                    if not self._check_trailer(buf, pend, end):
                        self.need = pend + 2 - pos
                        return pos
                eol = find(b"\n", pos, end)
                if eol < 0:
                    self._incomplete_line(buf, pos, end)
                    return pos
                line = bytes(view[pos:eol])
                args = line.split()
                if not args or line[0] in _BLANKS:
                    raise ProtocolError(UNKNOWN_PROTOCOL, "empty control line or leading blank")
                op = args[0]
                code = _MSG if op == b"MSG" else self._op_of(op)
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
                    # Remember this line (with its LF) for the frames that repeat it.
                    last = line + b"\n"
                    l_subject, l_sid, l_reply, l_size, l_len = args[1], args[2], reply, size, len(last)
                    pstart = eol + 1
                    pend = pstart + size
                    if not self._check_trailer(buf, pend, end):
                        self.need = pend + 2 - pos
                        return pos
                    deliver = dispatch_get(l_sid)
                    if deliver is not None:
                        deliver(l_subject, reply, view[pstart:pend], None)
                    nmsgs += 1
                    nbytes += size
                    pos = pend + 2
                elif code == _HMSG:
                    n = len(args)
                    if n == 5:
                        reply = None
                        hdr, size = _size(args[3]), _size(args[4])
                    elif n == 6:
                        reply = args[3]
                        hdr, size = _size(args[4]), _size(args[5])
                    else:
                        raise ProtocolError(None, f"HMSG with {n - 1} arguments")
                    if hdr < 0 or size < 0 or hdr > size:
                        raise ProtocolError(None, "HMSG with bad sizes")
                    pstart = eol + 1
                    pend = pstart + size
                    if not self._check_trailer(buf, pend, end):
                        self.need = pend + 2 - pos
                        return pos
                    self._on_hmsg(args[1], args[2], reply, hdr, view[pstart:pend])
                    pos = pend + 2
                else:
                    pos = eol + 1
                    if code == _PING:
                        self._on_ping()
                    elif code == _PONG:
                        self._on_pong()
                    elif code == _OK:
                        self._on_ok()
                    elif code == _INFO:
                        self._on_info(_whole_arg(line, b"INFO"))
                    elif code == _ERR:
                        self._on_err(_whole_arg(line, b"-ERR").decode(errors="replace").strip("'"))
            return pos
        finally:
            self.msgs += nmsgs
            self.bytes += nbytes
            self._last = last
            self._l_subject, self._l_sid, self._l_reply = l_subject, l_sid, l_reply
            self._l_size, self._l_len = l_size, l_len

    def _run(self, run, buf: bytearray, view: memoryview, pos: int, end: int, last: bytes,
             subject: bytes, reply: bytes | None, size: int, line_len: int) -> int:
        """Counts the complete frames from `pos` on that repeat the cached line and hands them to
        `run` in one call as `run(subject, reply, view, first, stride, count, size)`: payload i
        is `view[first + i * stride:][:size]`. When a bad frame ends the run the good ones are
        handed over first, then the error is raised. Returns the offset after the run and sets
        `_run_count`."""
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


class _OnMsg:
    """A dispatch table that sends every sid to `on_msg` (the base parser's interface)."""

    __slots__ = ("_on_msg",)

    def __init__(self, on_msg):
        self._on_msg = on_msg

    def get(self, sid: bytes):
        on_msg = self._on_msg
        return lambda subject, reply, payload, _hview: on_msg(subject, sid, reply, payload)
