"""The -V/-DV protocol trace, and the debug lines for client connections opening and closing, in
nats-server's format: one line per protocol operation, tagged with the connection,

    127.0.0.1:50124 - cid:5 - "v2.9.0:python3:app" - "$G/user:alice" - <<- [PUB foo 2]
    127.0.0.1:50124 - cid:5 - "v2.9.0:python3:app" - "$G/user:alice" - <<- MSG_PAYLOAD: ["hi"]
    127.0.0.1:6222 - rid:1 - ->> [RS+ $G foo]

with the payload Go-quoted on its own line, and the secrets of every CONNECT (client, route,
leafnode) redacted. Connections trace raw bytes as they are read and written; this module cuts
them into operations, keeping an operation cut by a read boundary until the rest arrives.

The callers check `log.trace_enabled` (or `debug_enabled`) first: with tracing off nothing here
runs. A client's tag gets its name and user from CONNECT, as nats-server's does; operations read
in the same chunk after a CONNECT are logged once that chunk has been processed (so that they
carry the tag the CONNECT gave), and before any later trace line.
"""

from __future__ import annotations

import re
import weakref

_REDACT = re.compile(rb'"(pass|auth_token|sig|jwt)"\s*:\s*"[^"]*"')
_PAYLOAD_OPS = frozenset((b"PUB", b"HPUB", b"MSG", b"HMSG", b"RMSG", b"HRMSG", b"LMSG"))
_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
               "\r": "\\r", "\t": "\\t", "\v": "\\v"}


class _State:
    """A connection's unfinished operations: bytes of a line or payload cut by a read, per
    direction, and the payload size still owed after a control line."""

    __slots__ = ("carry", "owed")

    def __init__(self):
        self.carry = {"<<-": b"", "->>": b""}
        self.owed = {"<<-": -1, "->>": -1}


_states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_deferred: list[tuple[object, list[str]]] = []  # (connection, lines) waiting for their tag


def go_quote(data: bytes) -> str:
    """`data` as Go's %q prints it: a double-quoted string, UTF-8 kept where printable."""
    out = []
    for ch in data.decode("utf-8", "surrogateescape"):
        code = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def tag(conn) -> str:
    """The connection as nats-server's log lines name it: `ip:port - cid:N`, a client's
    `"version:lang:name"` and `"account/user"` once it has sent CONNECT."""
    base = f"{conn.ip}:{conn.port} - {conn.trace_kind}:{conn.cid}"
    if conn.is_route or not conn.connected:
        return base
    ncs = ":".join(p for p in (f"v{conn.version}" if conn.version else "", conn.lang, conn.name) if p)
    acs = ""
    opts = conn.connect_opts
    user = opts and (f"nkey:{opts.nkey}" if opts.nkey else f"user:{opts.user}" if opts.user
                     else "token" if opts.auth_token else "")
    if user:
        acs = f"{conn.account.name}/{user}"
    return base + "".join(f' - "{p}"' for p in (ncs, acs) if p)


def _ops(state: _State, direction: str, data: bytes) -> list[bytes | tuple[bytes]]:
    """The complete operations in `data` after what was carried: control lines (bytes) and
    payloads (a 1-tuple); what is incomplete is carried to the next call."""
    buf = state.carry[direction] + data
    owed = state.owed[direction]
    ops: list = []
    i = 0
    while True:
        if owed >= 0:
            if len(buf) - i < owed + 2:
                break
            ops.append((buf[i:i + owed],))
            i += owed + 2
            owed = -1
            continue
        end = buf.find(b"\n", i)
        if end < 0:
            break
        line = buf[i:end].rstrip()
        i = end + 1
        if not line:
            continue
        ops.append(line)
        words = line.split()
        if words[0].upper() in _PAYLOAD_OPS and words[-1].isdigit():
            owed = int(words[-1])
    state.carry[direction] = buf[i:]
    state.owed[direction] = owed
    return ops


def _render(direction: str, op) -> str:
    if isinstance(op, tuple):
        return f"{direction} MSG_PAYLOAD: [{go_quote(op[0])}]" if op[0] else ""
    if op.startswith(b"+OK"):
        op = b"OK"
    elif op[:7].upper() == b"CONNECT":
        op = _REDACT.sub(rb'"\1":"[REDACTED]"', op)
    return f"{direction} [{op.decode('utf-8', 'replace')}]"


def trace(conn, direction: str, data) -> None:
    """Logs what `conn` read (`<<-`) or wrote (`->>`), one line per operation."""
    flush_deferred()
    state = _states.get(conn)
    if state is None:
        state = _states[conn] = _State()
    log = conn.broker.log
    ops = _ops(state, direction, bytes(data))
    prefix = tag(conn)
    for n, op in enumerate(ops):
        text = _render(direction, op)
        if text:
            log.trace("%s - %s", prefix, text)
        if direction == "<<-" and not conn.is_route and isinstance(op, bytes) \
                and op[:7].upper() == b"CONNECT" and n + 1 < len(ops):
            _defer(conn, [_render(direction, o) for o in ops[n + 1:]])
            return


def _defer(conn, lines: list[str]) -> None:
    if not _deferred:
        conn.broker.loop.call_soon(flush_deferred)
    _deferred.append((conn, lines))


def flush_deferred() -> None:
    """Logs the operations that waited for their CONNECT to be processed."""
    while _deferred:
        conn, lines = _deferred.pop(0)
        prefix = tag(conn)
        for text in lines:
            if text:
                conn.broker.log.trace("%s - %s", prefix, text)


def created(conn) -> None:
    log = conn.broker.log
    if log.debug_enabled:
        log.debug("%s - Client connection created", tag(conn))


def closed(conn, reason: str) -> None:
    log = conn.broker.log
    if log.debug_enabled:
        log.debug("%s - Client connection closed: %s", tag(conn), reason)
