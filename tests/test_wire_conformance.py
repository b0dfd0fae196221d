"""Black-box wire conformance, in the style of nats-server's test/proto_test.go: raw TCP sockets,
exact bytes or regexes expected back. This file owns the behaviour of a well-formed session:
INFO on accept, CONNECT options (verbose, echo, headers, no_responders, pedantic), parsing
leniency (case, whitespace, bare LF), MSG/HMSG framing, wildcards, queue groups, UNSUB with
max, no-responders status messages, pedantic publish checks and bulk/large deliveries.
Protocol errors live in test_wire_errors.py, which reuses the helpers defined here.

Every expectation was recorded from the real nats-server (2.15.1) and every test runs against
both kinds of server through the `server` fixture, so zats is checked against proven behaviour.
Fixed request/response exchanges are listed once in tables and each is also replayed split into
two TCP sends at many offsets and byte by byte, to exercise streaming parsing."""

from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import dataclass

import pytest

from support.wire import Wire

# ---------------------------------------------------------------------------------------------
# Helpers (local on purpose: tests/support is edited by others).



@dataclass(frozen=True)
class Msg:
    """One MSG or HMSG as received; `headers` is None for MSG."""

    subject: bytes
    sid: bytes
    reply: bytes | None
    headers: bytes | None
    payload: bytes


MSG_HEAD = re.compile(rb"MSG ([^ \r\n]+) ([^ \r\n]+) (?:([^ \r\n]+) )?(\d+)\r\n")
HMSG_HEAD = re.compile(rb"HMSG ([^ \r\n]+) ([^ \r\n]+) (?:([^ \r\n]+) )?(\d+) (\d+)\r\n")
OP_HEAD = re.compile(rb"(?:H?MSG |PONG\r\n|\+OK\r\n|-ERR '[^'\r\n]*'\r\n)")


class Peer(Wire):
    """A Wire with TCP_NODELAY, exact-bytes expectations, message parsing, and tolerance for
    server-initiated traffic that may legitimately arrive at any protocol boundary: a keepalive
    `PING` (nats-server sends its first about 2 s after CONNECT) and an asynchronous `INFO`
    (nats-server 2.15 sends one with connect_info after the first PONG when CONNECT carries
    "protocol":1). Such traffic is dropped, only at the front of the unread bytes, and only when
    the test is not expecting it there."""

    def __init__(self, server, timeout: float = 3.0):
        super().__init__(server.host, server.port, timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _drop_unsolicited(self, wanted: bytes = b"") -> None:
        while True:
            if self.buf.startswith(b"PING\r\n") and not wanted.startswith(b"PING"):
                self.buf = self.buf[6:]
                continue
            if self.buf.startswith(b"INFO ") and not wanted.startswith(b"INFO"):
                end = self.buf.find(b"\r\n")
                if end >= 0:
                    self.buf = self.buf[end + 2:]
                    continue
            return

    def _maybe_unsolicited(self) -> bool:
        """True while the unread bytes could still grow into a PING or INFO line."""
        return b"PING\r\n".startswith(self.buf[:6]) or (
            self.buf.startswith(b"INFO ") and b"\r\n" not in self.buf
        )

    def expect(self, pattern, timeout: float | None = None) -> re.Match:
        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, re.S)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = rx.match(self.buf)
            if not m:
                self._drop_unsolicited()
                m = rx.match(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            if not self._fill(deadline):
                raise AssertionError(f"expected {rx.pattern!r}, have {self.buf[:300]!r}")

    def expect_bytes(self, want: bytes, timeout: float | None = None) -> None:
        """Waits until the unread bytes start with exactly `want`; consumes them."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            self._drop_unsolicited(want)
            have = self.buf[: len(want)]
            if have == want:
                self.buf = self.buf[len(want):]
                return
            diverged = have != want[: len(have)]
            if diverged and not self._maybe_unsolicited():
                raise AssertionError(f"expected {want[:300]!r}\n    got {self.buf[:300]!r}")
            if not self._fill(deadline):
                raise AssertionError(
                    f"expected {want[:300]!r}\n    got {self.buf[:300]!r} (then EOF or timeout)"
                )

    def expect_eof(self, timeout: float | None = None) -> None:
        """Asserts the server closes the connection with nothing more sent."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._fill(deadline):
            pass
        self._drop_unsolicited()
        if time.monotonic() >= deadline:
            raise AssertionError(f"connection still open; unread {self.buf[:300]!r}")
        assert self.buf == b"", f"unexpected bytes before close: {self.buf[:300]!r}"

    def expect_quiet(self, wait: float = 0.15) -> None:
        """Asserts nothing (but keepalive traffic) arrives for `wait` seconds."""
        deadline = time.monotonic() + wait
        while self._fill(deadline):
            pass
        self._drop_unsolicited()
        assert self.buf == b"", f"unexpected bytes {self.buf[:300]!r}"

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise AssertionError(f"wanted {n} bytes, have {len(self.buf)}: {self.buf[:200]!r}")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def next_op(self, timeout: float | None = None) -> Msg | bytes:
        """Reads one server op: a Msg for MSG/HMSG, else the raw line (b"PONG\\r\\n", ...)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        head = self.expect(OP_HEAD, timeout)
        op = head.group(0)
        if op not in (b"MSG ", b"HMSG "):
            return op
        self.buf = op + self.buf
        if op == b"MSG ":
            m = self.expect(MSG_HEAD, timeout)
            size, hdr = int(m.group(4)), None
            payload = self._read_exact(size + 2, deadline)
        else:
            m = self.expect(HMSG_HEAD, timeout)
            hlen, size = int(m.group(4)), int(m.group(5))
            assert hlen <= size, m.group(0)
            body = self._read_exact(size + 2, deadline)
            hdr, payload = body[:hlen], body[hlen:]
        assert payload.endswith(b"\r\n"), f"payload not followed by CRLF: {payload[-20:]!r}"
        return Msg(m.group(1), m.group(2), m.group(3), hdr, payload[:-2])

    def flush(self) -> list[Msg]:
        """Sends PING and returns every message that arrives before the PONG (a barrier)."""
        self.send(b"PING\r\n")
        msgs = []
        while True:
            op = self.next_op()
            if op == b"PONG\r\n":
                return msgs
            assert isinstance(op, Msg), f"unexpected {op!r} while waiting for PONG"
            msgs.append(op)


QUIET = b'{"verbose":false,"pedantic":false}'
QUIET_HDR = b'{"verbose":false,"pedantic":false,"headers":true}'
QUIET_NORESP = b'{"verbose":false,"pedantic":false,"headers":true,"no_responders":true}'


def connected(server, opts: bytes = QUIET) -> Peer:
    """A Peer that has read INFO and completed CONNECT+PING/PONG with the given options."""
    p = Peer(server)
    p.read_info()
    p.send(b"CONNECT " + opts + b"\r\nPING\r\n")
    p.expect(rb"(\+OK\r\n)?PONG\r\n")
    return p


@dataclass(frozen=True)
class Exchange:
    """Bytes sent right after reading INFO and the exact bytes the server answers with; then
    either the server closes, or the connection stays usable (checked with a further PING)."""

    id: str
    send: bytes
    reply: bytes
    closes: bool = False
    # nats-server re-runs the pedantic subject check when a PUB's payload arrives in a later
    # read than its control line, so split sends may see `-ERR 'Invalid Publish Subject'` twice.
    split_repeats_err: bool = False

    def split_reply(self) -> re.Pattern:
        err = re.escape(b"-ERR 'Invalid Publish Subject'\r\n")
        return re.compile(re.escape(self.reply).replace(err, b"(?:" + err + b")+"), re.S)


def split_offsets(data: bytes, limit: int = 48) -> list[int]:
    """Every split point for short inputs; for long ones the edges, the bytes around each line
    end, and evenly spaced points, at most `limit` in all."""
    n = len(data)
    if n - 1 <= limit:
        return list(range(1, n))
    picks = set(range(1, 5)) | set(range(n - 4, n))
    for m in re.finditer(rb"\r?\n", data):
        picks |= {m.start(), m.start() + 1, m.end()}
    picks |= set(range(4088, 4120, 4))  # around the 4096-byte control line limit
    picks = {k for k in picks if 0 < k < n}
    picks = sorted(picks)
    if len(picks) > limit // 2:
        step = len(picks) / (limit // 2)
        picks = [picks[int(i * step)] for i in range(limit // 2)]
    spaced = {1 + (i * (n - 2)) // (limit - len(picks)) for i in range(limit - len(picks))}
    return sorted(set(picks) | spaced)


def feed(peer: Peer, data: bytes, chunks: list[int] | None, pause: float = 0.001) -> None:
    """Sends `data` whole, or cut at the given offsets with a short pause between sends so the
    server most likely sees separate reads. A server that already closed may refuse the later
    chunks."""
    if not chunks:
        peer.send(data)
        return
    start = 0
    for k in list(chunks) + [len(data)]:
        try:
            peer.send(data[start:k])
        except OSError:
            return
        start = k
        if k < len(data):
            time.sleep(pause)


def run_exchange(server, ex: Exchange, chunks: list[int] | None = None, pause: float = 0.001) -> None:
    with Peer(server) as p:
        p.read_info()
        feed(p, ex.send, chunks, pause)
        if chunks and ex.split_repeats_err:
            p.expect(ex.split_reply())
        else:
            p.expect_bytes(ex.reply)
        if ex.closes:
            p.expect_eof()
        else:
            p.send(b"PING\r\n")
            p.expect_bytes(b"PONG\r\n")


def check_exchange_split(server, ex: Exchange) -> None:
    for k in split_offsets(ex.send):
        try:
            run_exchange(server, ex, [k])
        except AssertionError as e:
            raise AssertionError(f"split at {k} ({ex.send[:k][-20:]!r} | {ex.send[k:][:20]!r}): {e}") from None


def check_exchange_bytewise(server, ex: Exchange) -> None:
    data = ex.send
    if len(data) > 300:  # long inputs: byte by byte around the start and the end only
        chunks = list(range(1, 64)) + list(range(len(data) - 64, len(data)))
    else:
        chunks = list(range(1, len(data)))
    run_exchange(server, ex, chunks, pause=0.0002)


def connect(opts: bytes) -> bytes:
    return b"CONNECT " + opts + b"\r\n"


Q = connect(QUIET)
QH = connect(QUIET_HDR)
QNR = connect(QUIET_NORESP)
PEDANTIC = connect(b'{"verbose":false,"pedantic":true}')
HDR = b"NATS/1.0\r\nA: b\r\n\r\n"  # 18 bytes

# ---------------------------------------------------------------------------------------------
# Fixed exchanges on one connection, recorded from nats-server.

EXCHANGES = [
    # CONNECT and verbose mode
    Exchange("ping_without_connect", b"PING\r\n", b"PONG\r\n"),
    Exchange(
        "verbose_true_acks_connect_sub_pub_unsub",
        connect(b'{"verbose":true}') + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\nPONG\r\n",
    ),
    Exchange(
        "verbose_defaults_to_true_in_empty_connect",
        connect(b"{}") + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\nPONG\r\n",
    ),
    Exchange(
        "verbose_defaults_to_true_when_connect_omits_it",
        connect(b'{"name":"x","lang":"raw"}') + b"SUB foo 1\r\nPING\r\n",
        b"+OK\r\n+OK\r\nPONG\r\n",
    ),
    Exchange(
        "verbose_defaults_to_true_without_connect",
        b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n",
        b"+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\nPONG\r\n",
    ),
    Exchange(
        "verbose_false_sends_no_ok",
        Q + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n",
        b"MSG foo 1 2\r\nhi\r\nPONG\r\n",
    ),
    Exchange(
        "verbose_acks_ping_with_pong_only",
        connect(b'{"verbose":true}') + b"PING\r\nPING\r\n",
        b"+OK\r\nPONG\r\nPONG\r\n",
    ),
    Exchange(
        "verbose_acks_duplicate_sub_and_unknown_unsub",
        connect(b'{"verbose":true}') + b"SUB foo 1\r\nSUB foo 1\r\nUNSUB 5\r\nPING\r\n",
        b"+OK\r\n+OK\r\n+OK\r\n+OK\r\nPONG\r\n",
    ),
    Exchange(
        "verbose_acks_hpub",
        connect(b'{"verbose":true,"headers":true}') + b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
        b"+OK\r\n+OK\r\nPONG\r\n",
    ),
    Exchange(
        "second_connect_replaces_options",
        Q + connect(b'{"verbose":true}') + b"SUB foo 1\r\nPING\r\n",
        b"+OK\r\n+OK\r\nPONG\r\n",
    ),
    Exchange(
        "connect_ignores_unknown_fields",
        connect(b'{"verbose":false,"protocol":0,"unknown_field":[1,{"a":2}],"tls_required":false}')
        + b"PING\r\n",
        b"PONG\r\n",
    ),
    Exchange(
        "client_pong_ok_and_info_are_ignored",
        Q + b"PONG\r\n+OK\r\nINFO {\"x\":1}\r\nSUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"MSG foo 1 1\r\na\r\nPONG\r\n",
    ),
    # parsing leniency
    Exchange(
        "ops_lowercase",
        b'connect {"verbose":false,"headers":true}\r\nsub foo 1\r\npub foo 2\r\nhi\r\n'
        b"hpub foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nunsub 1\r\npub foo 0\r\n\r\nping\r\n",
        b"MSG foo 1 2\r\nhi\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n",
    ),
    Exchange(
        "ops_mixed_case",
        b'CoNnEcT {"verbose":false,"headers":true}\r\nSuB foo 1\r\npUb foo 2\r\nhi\r\n'
        b"HpUb foo 12 12\r\nNATS/1.0\r\n\r\n\r\nUnSuB 1\r\nPuB foo 0\r\n\r\nPiNg\r\n",
        b"MSG foo 1 2\r\nhi\r\nHMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\nPONG\r\n",
    ),
    Exchange(
        "tabs_and_runs_of_spaces_separate_arguments",
        Q + b"SUB\tfoo \t  1\r\nPUB  foo\t\tbar   2\r\nhi\r\nSUB \t bar\t q   2\r\n"
        b"PUB\tbar\t1\r\nx\r\nUNSUB   1  \r\nPUB foo 1\r\ny\r\nPING\r\n",
        b"MSG foo 1 bar 2\r\nhi\r\nMSG bar 2 1\r\nx\r\nPONG\r\n",
    ),
    Exchange(
        "trailing_whitespace_on_control_lines",
        Q + b"SUB foo 1 \r\nPUB foo 2 \r\nhi\r\nPUB\tfoo\tr\t2\t\r\nho\r\nPING \r\n",
        b"MSG foo 1 2\r\nhi\r\nMSG foo 1 r 2\r\nho\r\nPONG\r\n",
    ),
    Exchange(
        "bare_lf_ends_control_lines",
        b'CONNECT {"verbose":false,"headers":true}\nSUB foo 1\nPUB foo r 2\nhi\r\n'
        b"HPUB foo 12 14\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1\nPUB foo 1\nx\r\nPING\n",
        b"MSG foo 1 r 2\r\nhi\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n",
    ),
    # MSG framing
    Exchange(
        "msg_without_reply",
        Q + b"SUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n",
        b"MSG foo 1 5\r\nhello\r\nPONG\r\n",
    ),
    Exchange(
        "msg_with_reply",
        Q + b"SUB foo 1\r\nPUB foo _INBOX.abc.1 5\r\nhello\r\nPING\r\n",
        b"MSG foo 1 _INBOX.abc.1 5\r\nhello\r\nPONG\r\n",
    ),
    Exchange(
        "msg_zero_length_payload",
        Q + b"SUB foo 1\r\nPUB foo 0\r\n\r\nPUB foo r 0\r\n\r\nPING\r\n",
        b"MSG foo 1 0\r\n\r\nMSG foo 1 r 0\r\n\r\nPONG\r\n",
    ),
    Exchange(
        "payload_is_opaque_bytes",
        Q + b"SUB foo 1\r\nPUB foo 13\r\nPING\r\nPUB x\r\n\r\nPUB foo 4\r\n\r\n\r\n\r\nPING\r\n",
        b"MSG foo 1 13\r\nPING\r\nPUB x\r\n\r\nMSG foo 1 4\r\n\r\n\r\n\r\nPONG\r\n",
    ),
    Exchange(
        "sid_is_an_arbitrary_token",
        Q + b"SUB foo abcDEF-9\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"MSG foo abcDEF-9 1\r\na\r\nPONG\r\n",
    ),
    Exchange(
        "messages_arrive_in_publish_order",
        Q + b"SUB foo 1\r\n" + b"".join(b"PUB foo %d\r\n%s\r\n" % (len(b"%d" % i), b"%d" % i) for i in range(12)) + b"PING\r\n",
        b"".join(b"MSG foo 1 %d\r\n%s\r\n" % (len(b"%d" % i), b"%d" % i) for i in range(12)) + b"PONG\r\n",
    ),
    # subject matching
    Exchange(
        "star_matches_exactly_one_token",
        Q + b"SUB foo.* 1\r\nPUB foo 1\r\na\r\nPUB foo.bar 1\r\nb\r\nPUB foo.bar.baz 1\r\nc\r\n"
        b"PUB x.bar 1\r\nd\r\nPING\r\n",
        b"MSG foo.bar 1 1\r\nb\r\nPONG\r\n",
    ),
    Exchange(
        "star_in_the_middle",
        Q + b"SUB foo.*.baz 1\r\nPUB foo.bar.baz 1\r\na\r\nPUB foo.baz 1\r\nb\r\n"
        b"PUB foo.bar.baz.x 1\r\nc\r\nPUB foo.x.baz 1\r\nd\r\nPING\r\n",
        b"MSG foo.bar.baz 1 1\r\na\r\nMSG foo.x.baz 1 1\r\nd\r\nPONG\r\n",
    ),
    Exchange(
        "gt_matches_one_or_more_tokens",
        Q + b"SUB foo.> 1\r\nPUB foo 1\r\na\r\nPUB foo.bar 1\r\nb\r\nPUB foo.bar.baz 1\r\nc\r\n"
        b"PUB bar.foo 1\r\nd\r\nPING\r\n",
        b"MSG foo.bar 1 1\r\nb\r\nMSG foo.bar.baz 1 1\r\nc\r\nPONG\r\n",
    ),
    Exchange(
        "lone_gt_matches_everything",
        Q + b"SUB > 1\r\nPUB foo 1\r\na\r\nPUB foo.bar.baz 1\r\nb\r\nPING\r\n",
        b"MSG foo 1 1\r\na\r\nMSG foo.bar.baz 1 1\r\nb\r\nPONG\r\n",
    ),
    Exchange(
        "wildcard_chars_inside_a_token_are_literal",
        Q + b"SUB foo* 1\r\nSUB a.b> 2\r\nPUB foox 1\r\na\r\nPUB foo* 1\r\nb\r\n"
        b"PUB a.bc 1\r\nc\r\nPUB a.b> 1\r\nd\r\nPING\r\n",
        b"MSG foo* 1 1\r\nb\r\nMSG a.b> 2 1\r\nd\r\nPONG\r\n",
    ),
    Exchange(
        "subjects_are_case_sensitive",
        Q + b"SUB foo 1\r\nPUB FOO 1\r\na\r\nPUB foo 1\r\nb\r\nPING\r\n",
        b"MSG foo 1 1\r\nb\r\nPONG\r\n",
    ),
    # UNSUB
    Exchange(
        "unsub_stops_delivery",
        Q + b"SUB foo 1\r\nPUB foo 1\r\na\r\nUNSUB 1\r\nPUB foo 1\r\nb\r\nPING\r\n",
        b"MSG foo 1 1\r\na\r\nPONG\r\n",
    ),
    Exchange(
        "unsub_max_delivers_exactly_max",
        Q + b"SUB foo 1\r\nUNSUB 1 2\r\n" + b"PUB foo 1\r\na\r\n" * 4 + b"PING\r\n",
        b"MSG foo 1 1\r\na\r\n" * 2 + b"PONG\r\n",
    ),
    Exchange(
        "unsub_max_counts_messages_already_delivered",
        Q + b"SUB foo 1\r\n" + b"PUB foo 1\r\na\r\n" * 2 + b"UNSUB 1 3\r\n"
        + b"PUB foo 1\r\nb\r\n" * 3 + b"PING\r\n",
        b"MSG foo 1 1\r\na\r\n" * 2 + b"MSG foo 1 1\r\nb\r\nPONG\r\n",
    ),
    Exchange(
        "unsub_max_equal_to_delivered_removes_at_once",
        Q + b"SUB foo 1\r\n" + b"PUB foo 1\r\na\r\n" * 2 + b"UNSUB 1 2\r\nPUB foo 1\r\nb\r\nPING\r\n",
        b"MSG foo 1 1\r\na\r\n" * 2 + b"PONG\r\n",
    ),
    Exchange(
        "unsub_max_below_delivered_removes_at_once",
        Q + b"SUB foo 1\r\n" + b"PUB foo 1\r\na\r\n" * 3 + b"UNSUB 1 2\r\nPUB foo 1\r\nb\r\nPING\r\n",
        b"MSG foo 1 1\r\na\r\n" * 3 + b"PONG\r\n",
    ),
    Exchange(
        "unsub_max_zero_removes_at_once",
        Q + b"SUB foo 1\r\nUNSUB 1 0\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"PONG\r\n",
    ),
    Exchange(
        "unsub_unknown_sid_is_ignored",
        Q + b"SUB foo 1\r\nUNSUB 99\r\nUNSUB 98 5\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"MSG foo 1 1\r\na\r\nPONG\r\n",
    ),
    Exchange(
        "sid_can_be_reused_after_unsub",
        Q + b"SUB foo 1\r\nUNSUB 1\r\nSUB bar 1\r\nPUB foo 1\r\na\r\nPUB bar 1\r\nb\r\nPING\r\n",
        b"MSG bar 1 1\r\nb\r\nPONG\r\n",
    ),
    Exchange(
        "sub_with_existing_sid_is_ignored",
        Q + b"SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\na\r\nPUB foo 1\r\nb\r\nPING\r\n",
        b"MSG foo 1 1\r\nb\r\nPONG\r\n",
    ),
    # echo
    Exchange(
        "echo_false_suppresses_own_messages",
        connect(b'{"verbose":false,"echo":false}') + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n",
        b"PONG\r\n",
    ),
    Exchange(
        "echo_true_delivers_own_messages",
        connect(b'{"verbose":false,"echo":true}') + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n",
        b"MSG foo 1 2\r\nhi\r\nPONG\r\n",
    ),
    # headers
    Exchange(
        "hpub_to_headers_subscriber_is_hmsg",
        QH + b"SUB foo 1\r\nHPUB foo r 18 23\r\n" + HDR + b"hello\r\nPING\r\n",
        b"HMSG foo 1 r 18 23\r\n" + HDR + b"hello\r\nPONG\r\n",
    ),
    Exchange(
        "hpub_headers_only",
        QH + b"SUB foo 1\r\nHPUB foo 18 18\r\n" + HDR + b"\r\nPING\r\n",
        b"HMSG foo 1 18 18\r\n" + HDR + b"\r\nPONG\r\n",
    ),
    Exchange(
        "hpub_with_zero_header_length_arrives_as_msg",
        QH + b"SUB foo 1\r\nHPUB foo 0 5\r\nhello\r\nPING\r\n",
        b"MSG foo 1 5\r\nhello\r\nPONG\r\n",
    ),
    Exchange(
        "pub_to_headers_subscriber_is_msg",
        QH + b"SUB foo 1\r\nPUB foo 5\r\nhello\r\nPUB foo 0\r\n\r\nPING\r\n",
        b"MSG foo 1 5\r\nhello\r\nMSG foo 1 0\r\n\r\nPONG\r\n",
    ),
    Exchange(
        "hpub_status_line_and_multivalue_headers_pass_through",
        QH + b"SUB foo 1\r\nHPUB foo 42 44\r\nNATS/1.0 503 Why\r\nA: 1\r\nA: 2\r\nB-c:  x \r\n\r\nhi\r\nPING\r\n",
        b"HMSG foo 1 42 44\r\nNATS/1.0 503 Why\r\nA: 1\r\nA: 2\r\nB-c:  x \r\n\r\nhi\r\nPONG\r\n",
    ),
    # no responders
    Exchange(
        "no_responders_status_to_reply_subscription",
        QNR + b"SUB inbox.1 7\r\nPUB nobody inbox.1 2\r\nhi\r\nPING\r\n",
        b"HMSG inbox.1 7 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\nPONG\r\n",
    ),
    Exchange(
        "no_responders_for_hpub_and_wildcard_inbox",
        QNR + b"SUB inbox.* 7\r\nHPUB no.body inbox.1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
        b"HMSG inbox.1 7 39 39\r\nNATS/1.0 503\r\nNats-Subject: no.body\r\n\r\n\r\nPONG\r\n",
    ),
    Exchange(
        "no_responders_after_last_subscriber_left",
        QNR + b"SUB inbox.1 7\r\nSUB svc 1\r\nPUB svc inbox.1 1\r\na\r\nUNSUB 1\r\nPUB svc inbox.1 0\r\n\r\nPING\r\n",
        b"MSG svc 1 inbox.1 1\r\na\r\nHMSG inbox.1 7 35 35\r\nNATS/1.0 503\r\nNats-Subject: svc\r\n\r\n\r\nPONG\r\n",
    ),
    Exchange(
        "no_responders_even_with_echo_false",
        connect(b'{"verbose":false,"headers":true,"no_responders":true,"echo":false}')
        + b"SUB inbox.1 7\r\nPUB nobody inbox.1 2\r\nhi\r\nPING\r\n",
        b"HMSG inbox.1 7 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\nPONG\r\n",
    ),
    Exchange(
        "no_status_without_no_responders",
        QH + b"SUB inbox.1 7\r\nPUB nobody inbox.1 2\r\nhi\r\nPING\r\n",
        b"PONG\r\n",
    ),
    Exchange(
        "no_status_without_reply_subject",
        QNR + b"SUB inbox.1 7\r\nPUB nobody 2\r\nhi\r\nPING\r\n",
        b"PONG\r\n",
    ),
    Exchange(
        "no_status_without_own_subscription_on_reply",
        QNR + b"PUB nobody inbox.1 2\r\nhi\r\nPING\r\n",
        b"PONG\r\n",
    ),
    Exchange(
        "no_status_to_a_queue_subscription_on_reply",
        QNR + b"SUB inbox.1 q 7\r\nPUB nobody inbox.1 2\r\nhi\r\nPING\r\n",
        b"PONG\r\n",
    ),
    Exchange(
        "no_status_when_someone_received_it",
        QNR + b"SUB inbox.1 7\r\nSUB svc 1\r\nPUB svc inbox.1 2\r\nhi\r\nPING\r\n",
        b"MSG svc 1 inbox.1 2\r\nhi\r\nPONG\r\n",
    ),
    # publish subject checks
    Exchange(
        "pedantic_wildcard_publish_is_refused_but_delivered",
        PEDANTIC + b"SUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\nPUB foo.> 2\r\nho\r\nPING\r\n",
        b"-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 2\r\nhi\r\n"
        b"-ERR 'Invalid Publish Subject'\r\nMSG foo.> 1 2\r\nho\r\nPONG\r\n",  # '>' is just a token here
        split_repeats_err=True,
    ),
    Exchange(
        "pedantic_empty_token_publish_is_refused_and_dropped",
        PEDANTIC + b"SUB > 1\r\nPUB foo..bar 2\r\nhi\r\nPUB .foo 2\r\nhi\r\nPUB foo. 2\r\nhi\r\n"
        b"PUB ok 2\r\nhi\r\nPING\r\n",
        b"-ERR 'Invalid Publish Subject'\r\n" * 3 + b"MSG ok 1 2\r\nhi\r\nPONG\r\n",
        split_repeats_err=True,
    ),
    Exchange(
        "pedantic_verbose_refusal_is_followed_by_ok",
        connect(b'{"verbose":true,"pedantic":true}') + b"PUB foo.* 2\r\nhi\r\nPING\r\n",
        b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n",
        split_repeats_err=True,
    ),
    Exchange(
        "pedantic_defaults_to_true_without_connect",
        b"SUB foo.* 1\r\nPUB foo.* 1\r\na\r\nPING\r\n",
        b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nMSG foo.* 1 1\r\na\r\nPONG\r\n",
        split_repeats_err=True,
    ),
    Exchange(
        "pedantic_defaults_to_true_when_connect_omits_it",
        connect(b'{"verbose":false}') + b"SUB foo.* 1\r\nPUB foo.* 1\r\na\r\nPING\r\n",
        b"-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 1\r\na\r\nPONG\r\n",
        split_repeats_err=True,
    ),
    Exchange(
        "pedantic_wildcard_reply_subject_is_accepted",
        PEDANTIC + b"SUB foo 1\r\nPUB foo foo.* 2\r\nhi\r\nPING\r\n",
        b"MSG foo 1 foo.* 2\r\nhi\r\nPONG\r\n",
    ),
    Exchange(
        "non_pedantic_wildcard_publish_is_delivered",
        Q + b"SUB foo.> 2\r\nPUB foo.* 1\r\na\r\nPUB foo.> 1\r\nb\r\nPING\r\n",
        b"MSG foo.* 2 1\r\na\r\nMSG foo.> 2 1\r\nb\r\nPONG\r\n",
    ),
    Exchange(
        "non_pedantic_empty_token_publish_matches_nothing",
        Q + b"SUB > 1\r\nPUB foo..bar 1\r\na\r\nPUB .foo 1\r\nb\r\nPUB foo. 1\r\nc\r\nPUB ok 1\r\nd\r\nPING\r\n",
        b"MSG ok 1 1\r\nd\r\nPONG\r\n",
    ),
    # control line length boundary
    Exchange(
        "control_line_of_exactly_4096_is_accepted",
        Q + b"SUB foo 1\r\nPUB foo " + b"r" * 4090 + b" 2\r\nhi\r\nPING\r\n",
        b"MSG foo 1 " + b"r" * 4090 + b" 2\r\nhi\r\nPONG\r\n",
    ),
]
EXCHANGE_IDS = [ex.id for ex in EXCHANGES]
assert len(set(EXCHANGE_IDS)) == len(EXCHANGE_IDS)


@pytest.mark.parametrize("ex", EXCHANGES, ids=EXCHANGE_IDS)
def test_exchange(server, ex):
    run_exchange(server, ex)


@pytest.mark.parametrize("ex", EXCHANGES, ids=EXCHANGE_IDS)
def test_exchange_split_in_two(server, ex):
    check_exchange_split(server, ex)


@pytest.mark.parametrize("ex", EXCHANGES, ids=EXCHANGE_IDS)
def test_exchange_byte_by_byte(server, ex):
    check_exchange_bytewise(server, ex)


# ---------------------------------------------------------------------------------------------
# INFO


def parse_info(raw: bytes) -> dict:
    m = re.fullmatch(rb"INFO (\{.*\}) \r\n", raw, re.S)
    assert m, raw
    return json.loads(m.group(1))


def test_info_is_sent_on_accept_with_required_fields(server):
    with Peer(server) as p:
        raw = p.read_info()
        assert raw.startswith(b"INFO {") and raw.endswith(b"} \r\n")
        info = parse_info(raw)
        p.expect_quiet(0.1)  # nothing else before the client speaks
    assert isinstance(info["server_id"], str) and info["server_id"]
    assert isinstance(info["server_name"], str) and info["server_name"]
    assert re.fullmatch(r"2\.\d+\.\d+([-+].*)?", info["version"]), info["version"]
    assert info["proto"] == 1
    assert info["host"] == server.host
    assert info["port"] == server.port
    assert info["headers"] is True
    assert info["max_payload"] == 1048576
    assert isinstance(info["client_id"], int) and info["client_id"] > 0
    assert info["client_ip"] == "127.0.0.1"
    for flag in ("auth_required", "tls_required", "tls_verify"):
        assert not info.get(flag, False), flag


def test_info_client_id_differs_per_connection(server):
    peers = [Peer(server) for _ in range(3)]
    try:
        infos = [parse_info(p.read_info()) for p in peers]
    finally:
        for p in peers:
            p.close()
    ids = [i["client_id"] for i in infos]
    assert len(set(ids)) == 3, ids
    assert len({i["server_id"] for i in infos}) == 1


def test_async_info_after_protocol_1_connect_is_well_formed(server):
    """nats-server 2.15 may push another INFO after the first PONG; whatever a server pushes
    must be a well-formed INFO line, and the session must keep working."""
    with Peer(server) as p:
        p.read_info()
        p.send(b'CONNECT {"verbose":false,"protocol":1,"headers":true}\r\nPING\r\n')
        p.expect_bytes(b"PONG\r\n")
        p.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n")
        while p.buf.startswith(b"INFO") or not p.buf:
            if p.buf.startswith(b"INFO") and b"\r\n" in p.buf:
                parse_info(p.expect(rb"INFO \{.*?\} \r\n").group(0))
                continue
            assert p._fill(time.monotonic() + 3)
        p.expect_bytes(b"MSG foo 1 1\r\na\r\nPONG\r\n")


# ---------------------------------------------------------------------------------------------
# Delivery across connections


def test_msg_reaches_subscriber_on_other_connection(server):
    with connected(server) as sub, connected(server) as pub:
        sub.send(b"SUB foo 9\r\nSUB foo.* 10\r\n")
        sub.flush()
        pub.send(b"PUB foo reply.x 5\r\nhello\r\nPUB foo.bar 0\r\n\r\n")
        pub.flush()
        assert sub.flush() == [
            Msg(b"foo", b"9", b"reply.x", None, b"hello"),
            Msg(b"foo.bar", b"10", None, None, b""),
        ]


def test_one_publication_matching_several_subscriptions(server):
    subs = {b"1": b"foo.*", b"2": b"foo.>", b"3": b">", b"4": b"foo.*.baz", b"5": b"*.bar",
            b"6": b"foo.bar", b"7": b"*", b"8": b"*.*.*"}
    expected = {
        b"foo": {b"3", b"7"},
        b"foo.bar": {b"1", b"2", b"3", b"5", b"6"},
        b"foo.bar.baz": {b"2", b"3", b"4", b"8"},
        b"x.bar": {b"3", b"5"},
        b"a.b.c.d": {b"3"},
    }
    with connected(server) as sub, connected(server) as pub:
        sub.send(b"".join(b"SUB %s %s\r\n" % (subj, sid) for sid, subj in subs.items()))
        sub.flush()
        for subject, sids in expected.items():
            pub.send(b"PUB %s 1\r\nx\r\n" % subject)
            pub.flush()
            got = sub.flush()
            assert sorted(m.sid for m in got) == sorted(sids), subject
            assert all(m.subject == subject and m.payload == b"x" for m in got)


def test_plain_and_queue_subscription_on_one_connection_get_two_copies(server):
    with connected(server) as p:
        p.send(b"SUB foo q 1\r\nSUB foo 2\r\nPUB foo 1\r\na\r\n")
        got = p.flush()
        assert sorted(m.sid for m in got) == [b"1", b"2"]
        assert all(m.payload == b"a" for m in got)


def test_two_members_of_one_group_on_one_connection_get_one_copy(server):
    with connected(server) as p:
        p.send(b"SUB foo q 1\r\nSUB foo q 2\r\n" + b"PUB foo 1\r\na\r\n" * 10)
        got = p.flush()
        assert len(got) == 10 and all(m.sid in (b"1", b"2") for m in got)


def test_two_queue_groups_each_get_one_copy(server):
    with connected(server) as p:
        p.send(b"SUB foo q 1\r\nSUB foo q 2\r\nSUB foo r 3\r\nSUB foo r 4\r\n")
        p.send(b"PUB foo 1\r\na\r\n" * 10)
        got = p.flush()
        assert len(got) == 20
        assert sum(m.sid in (b"1", b"2") for m in got) == 10
        assert sum(m.sid in (b"3", b"4") for m in got) == 10


def test_queue_names_are_not_validated(server):
    """Even in pedantic mode nats-server accepts any token as a queue name."""
    with connected(server, b'{"verbose":false,"pedantic":true}') as p:
        p.send(b"SUB foo bad..q 1\r\nSUB foo * 2\r\nSUB foo .q 3\r\nSUB foo q> 4\r\nPUB foo 1\r\na\r\n")
        got = p.flush()
        assert sorted(m.sid for m in got) == [b"1", b"2", b"3", b"4"]


def test_queue_group_delivers_each_message_to_exactly_one_member(server):
    n = 60
    members = [connected(server) for _ in range(3)]
    plain = connected(server)
    pub = connected(server)
    try:
        for i, m in enumerate(members):
            m.send(b"SUB work.* workers %d\r\n" % i)
            m.flush()
        plain.send(b"SUB work.* 1\r\n")
        plain.flush()
        pub.send(b"".join(b"PUB work.x %d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(n)))
        pub.flush()
        per_member = [[int(x.payload) for x in m.flush()] for m in members]
        everything = sorted(x for got in per_member for x in got)
        assert everything == list(range(n)), "each message to exactly one member"
        for got in per_member:
            assert got == sorted(got), "a member sees its share in publish order"
            assert got, "with 60 messages and 3 members every member gets some (nats-server picks at random)"
        assert [int(x.payload) for x in plain.flush()] == list(range(n))
    finally:
        for c in members + [plain, pub]:
            c.close()


def test_queue_member_leaving_moves_traffic_to_the_others(server):
    with connected(server) as a, connected(server) as b, connected(server) as pub:
        a.send(b"SUB foo g 1\r\n")
        a.flush()
        b.send(b"SUB foo g 1\r\n")
        b.flush()
        a.send(b"UNSUB 1\r\n")
        a.flush()
        pub.send(b"PUB foo 1\r\nx\r\n" * 10)
        pub.flush()
        assert a.flush() == []
        assert len(b.flush()) == 10


def test_echo_false_still_delivers_to_other_connections(server):
    with connected(server, b'{"verbose":false,"echo":false}') as me, connected(server) as other:
        other.send(b"SUB foo 2\r\n")
        other.flush()
        me.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n")
        assert me.flush() == []
        assert other.flush() == [Msg(b"foo", b"2", None, None, b"hi")]


def test_headers_are_stripped_for_subscriber_without_headers(server):
    with connected(server, QUIET_HDR) as hdr_sub, connected(server) as plain_sub, \
            connected(server, QUIET_HDR) as pub:
        hdr_sub.send(b"SUB foo 1\r\n")
        hdr_sub.flush()
        plain_sub.send(b"SUB foo 2\r\n")
        plain_sub.flush()
        pub.send(b"HPUB foo r 18 23\r\n" + HDR + b"hello\r\nHPUB foo 18 18\r\n" + HDR + b"\r\n")
        pub.flush()
        hdr_sub.send(b"PING\r\n")
        hdr_sub.expect_bytes(b"HMSG foo 1 r 18 23\r\n" + HDR + b"hello\r\nHMSG foo 1 18 18\r\n" + HDR + b"\r\nPONG\r\n")
        plain_sub.send(b"PING\r\n")
        plain_sub.expect_bytes(b"MSG foo 2 r 5\r\nhello\r\nMSG foo 2 0\r\n\r\nPONG\r\n")


def test_no_responders_status_goes_only_to_the_publisher(server):
    with connected(server, QUIET_NORESP) as requester, connected(server) as other:
        other.send(b"SUB inbox.1 5\r\n")
        other.flush()
        requester.send(b"SUB inbox.1 9\r\nPUB nobody inbox.1 2\r\nhi\r\nPING\r\n")
        requester.expect_bytes(
            b"HMSG inbox.1 9 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\nPONG\r\n"
        )
        assert other.flush() == []


def test_no_responders_not_sent_when_a_responder_on_another_connection_exists(server):
    with connected(server, QUIET_NORESP) as requester, connected(server) as responder:
        responder.send(b"SUB svc 1\r\n")
        responder.flush()
        requester.send(b"SUB inbox.1 9\r\nPUB svc inbox.1 2\r\nhi\r\n")
        assert requester.flush() == []
        assert responder.flush() == [Msg(b"svc", b"1", b"inbox.1", None, b"hi")]


# ---------------------------------------------------------------------------------------------
# Volume


def test_many_messages_in_one_send(server):
    n = 2000
    payloads = [bytes([65 + i % 26]) * (i % 50) for i in range(n)]
    with connected(server) as p:
        data = b"SUB bulk 1\r\n" + b"".join(
            b"PUB bulk %d\r\n%s\r\n" % (len(x), x) for x in payloads
        )
        p.send(data)
        got = p.flush()
        assert [m.payload for m in got] == payloads


def test_publish_then_close_delivers_everything(server):
    n = 1000
    with connected(server) as sub:
        sub.send(b"SUB drain 1\r\n")
        sub.flush()
        pub = connected(server)
        pub.send(b"".join(b"PUB drain %d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(n)))
        pub.close()  # no PING: the server must still process everything it was sent
        got = []
        while len(got) < n:
            op = sub.next_op()
            assert isinstance(op, Msg), op
            got.append(int(op.payload))
        assert got == list(range(n))
        assert sub.flush() == []


def test_max_payload_message_is_delivered_intact(server):
    payload = bytes(range(256)) * 4096  # exactly 1 MiB, contains CR, LF and CRLF
    assert len(payload) == 1048576
    with connected(server) as sub, connected(server) as pub:
        sub.send(b"SUB big 1\r\n")
        sub.flush()
        pub.send(b"PUB big 1048576\r\n" + payload + b"\r\nPUB big 3\r\nend\r\n")
        pub.flush()
        msgs = [sub.next_op(timeout=10), sub.next_op()]
        assert msgs[0] == Msg(b"big", b"1", None, None, payload)
        assert msgs[1] == Msg(b"big", b"1", None, None, b"end")


def test_large_hpub_is_delivered_intact(server):
    body = bytes(range(256)) * 2048
    hdr = b"NATS/1.0\r\nX: " + b"y" * 1000 + b"\r\n\r\n"
    with connected(server, QUIET_HDR) as sub, connected(server, QUIET_HDR) as pub:
        sub.send(b"SUB big 1\r\n")
        sub.flush()
        pub.send(b"HPUB big %d %d\r\n%s%s\r\n" % (len(hdr), len(hdr) + len(body), hdr, body))
        pub.flush()
        assert sub.next_op(timeout=10) == Msg(b"big", b"1", None, hdr, body)


def test_a_later_connect_changes_only_the_options_it_names(server):
    """nats-server decodes a later CONNECT into the options it has: what it leaves out stays."""
    with Wire(server.host, server.port) as w:
        w.read_info()
        w.send(b'CONNECT {"verbose":false,"pedantic":false}\r\nCONNECT {}\r\nPING\r\n')
        w.expect(rb"PONG\r\n")  # no +OK: verbose is still off
        w.send(b'CONNECT {"verbose":true}\r\nPUB a..b 0\r\n\r\nPING\r\n')
        w.expect(rb"\+OK\r\n\+OK\r\nPONG\r\n")  # pedantic still off: no -ERR for a..b


def test_a_later_connect_drops_the_connections_subscriptions(server):
    """nats-server registers the connection with its account again on every CONNECT, which
    removes the subscriptions it had; new ones work (the same sid included)."""
    with Wire(server.host, server.port) as w:
        w.connect()
        w.send(b"SUB a 1\r\nSUB b 2\r\nPUB a 1\r\nx\r\nPING\r\n")
        w.expect(rb"MSG a 1 1\r\nx\r\nPONG\r\n")
        w.send(b'CONNECT {"verbose":false}\r\nPUB a 1\r\ny\r\nPUB b 1\r\ny\r\nPING\r\n')
        w.expect(rb"PONG\r\n")
        w.send(b"SUB a 1\r\nPUB a 1\r\nz\r\nPING\r\n")
        w.expect(rb"MSG a 1 1\r\nz\r\nPONG\r\n")


def test_an_err_from_a_client_closes_it_after_the_rest_of_that_read(server):
    """nats-server closes a client that sends -ERR without a word, yet still parses the rest of
    the read it came in: a PUB there reaches others (a SUB there is ignored); a PUB in a later
    read does not."""
    import time

    with Wire(server.host, server.port) as observer, Wire(server.host, server.port) as w:
        observer.connect()
        observer.send(b"SUB errread.> 1\r\nPING\r\n")
        observer.expect(rb"PONG\r\n")
        w.read_info()
        w.send(b"CONNECT {}\r\n-ERR 'x'\r\nSUB errread.a 1\r\nPUB errread.a 1\r\nA\r\n"
               b"CONNECT {}\r\nPUB errread.c 1\r\nC\r\n")
        time.sleep(0.2)
        try:
            w.send(b"PUB errread.b 1\r\nB\r\n")
        except OSError:
            pass
        assert w.expect_closed() == b"+OK\r\n"
        observer.send(b"PING\r\n")
        observer.expect(rb"MSG errread\.a 1 1\r\nA\r\nMSG errread\.c 1 1\r\nC\r\nPONG\r\n")


# CONNECT JSON as nats-server's decoder (Go's encoding/json) reads it: invalid UTF-8 and lone
# surrogate escapes become U+FFFD, nesting is allowed to 10,000 levels (beyond: closed silently).
ODD_CONNECTS = {
    "invalid UTF-8 in a string": (b'{"verbose":false,"name":"a\xff\xe2\x82b"}', b"PONG\r\n"),
    "a lone high surrogate": (b'{"verbose":false,"name":"\\ud800x"}', b"PONG\r\n"),
    "a lone low surrogate, then a high one": (b'{"verbose":false,"name":"\\udc00\\ud800"}', b"PONG\r\n"),
    "nested 2,000 deep": (b'{"verbose":false,"x":' + b"[" * 1999 + b"]" * 1999 + b"}", b"PONG\r\n"),
    "nested 10,000 deep": (b'{"verbose":false,"x":' + b"[" * 9999 + b"]" * 9999 + b"}", b"PONG\r\n"),
    "nested 10,001 deep": (b'{"verbose":false,"x":' + b"[" * 10000 + b"]" * 10000 + b"}", b""),
    "nested 20,000 deep": (b'{"verbose":false,"x":' + b"{\"a\":" * 19999 + b"1" + b"}" * 19999 + b"}", b""),
}


@pytest.mark.parametrize("case", sorted(ODD_CONNECTS))
def test_odd_connect_json_is_read_as_nats_server_reads_it(kind, spawn, tmp_path, case):
    from support.servers import write_config

    arg, answer = ODD_CONNECTS[case]
    srv = spawn(kind, "-c", write_config(tmp_path, "max_control_line: 262144\n"))
    with Wire(srv.host, srv.port) as w:
        w.read_info()
        w.send(b"CONNECT " + arg + b"\r\nPING\r\n")
        if answer:
            w.expect(re.escape(answer))
            w.send(b"SUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n")
            w.expect(rb"MSG a 1 1\r\nx\r\nPONG\r\n")
        else:
            assert w.expect_closed() == b""


# Keys and values in CONNECT as Go's decoder assigns them: keys match fields ignoring case (the
# last given wins), null leaves a field as it was, a value of the wrong type closes silently.
# Each is followed by `PUB a..b 0` (answered while pedantic) and PING.
CONNECT_FIELDS = {
    "upper-case key": (b'{"VERBOSE":false}', b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n"),
    "long s in a key": (b'{"verbo\xc5\xbfe":false}', b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n"),
    "case variants, the last wins": (b'{"Verbose":false,"verbose":true}',
                                     b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n"),
    "case variants, the last wins (2)": (b'{"verbose":true,"Verbose":false}',
                                         b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n"),
    "repeated key, the last wins": (b'{"verbose":true,"Verbose":true,"verbose":false}',
                                    b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n"),
    "mixed case for two fields": (b'{"Verbose":false,"PEDANTIC":false}', b"PONG\r\n"),
    "null booleans keep defaults": (b'{"verbose":null,"pedantic":null}',
                                    b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n"),
    "null everywhere else": (b'{"verbose":false,"echo":null,"protocol":null,"headers":null,'
                             b'"name":null,"no_responders":null}',
                             b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n"),
    "a number for a boolean": (b'{"verbose":1}', b""),
    "a float protocol": (b'{"verbose":false,"protocol":1.0}', b""),
    "a string protocol": (b'{"verbose":false,"protocol":"1"}', b""),
    "a protocol over 64 bits": (b'{"verbose":false,"protocol":99999999999999999999}', b""),
    "a number for a name": (b'{"verbose":false,"name":5}', b""),
    "an array, not an object": (b"[]", b""),
}


@pytest.mark.parametrize("case", sorted(CONNECT_FIELDS))
def test_connect_fields_are_assigned_as_nats_server_assigns_them(server, case):
    arg, answer = CONNECT_FIELDS[case]
    with Wire(server.host, server.port) as w:
        w.read_info()
        w.send(b"CONNECT " + arg + b"\r\nPUB a..b 0\r\n\r\nPING\r\n")
        if answer:
            w.expect(re.escape(answer))
        else:
            assert w.expect_closed() == b""


def test_a_later_connect_with_null_keeps_what_the_first_set(server):
    with Wire(server.host, server.port) as w:
        w.read_info()
        w.send(b'CONNECT {"verbose":false,"pedantic":false}\r\nCONNECT {"verbose":null,"Pedantic":null}\r\n'
               b"PUB a..b 0\r\n\r\nPING\r\n")
        w.expect(rb"PONG\r\n")
