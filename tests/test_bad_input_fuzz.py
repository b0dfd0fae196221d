"""Bad input on one connection must not hurt anybody else.

Hypothesis builds byte streams from valid protocol fragments, near-misses (wrong sizes, lower
case, tabs, bare LF, stray CR), huge numbers, over-long control lines and raw garbage, and sends
each stream on one raw connection, split at random points into several writes. Between those
writes a publisher connection sends a known sequence of messages (plain and with headers) to a
bystander connection. After each example:

- the bystander received exactly the publisher's messages, byte for byte, in order, nothing else;
- whatever the server wrote to the fuzzed connection is a well-formed server protocol stream;
- the server closes the fuzzed connection once the client half-closes it;
- a brand-new connection still completes CONNECT/PING/PONG.

Each kind gets its own server for this module, with its stderr drained: a server that logs every
parser error must not stall on a full pipe.
"""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from support.servers import KINDS, start_server
from support.wire import Wire

pytestmark = pytest.mark.timeout(120)

BYSTANDER_SUBJECT = b"bystander.stream"
HEADERS_OPTS = b'{"verbose":false,"pedantic":false,"headers":true}'


@pytest.fixture(scope="module", params=KINDS)
def fuzz_server(request):
    srv = start_server(request.param)  # its stderr goes to a file: no pipe to fill
    yield srv
    srv.stop()


# --------------------------------------------------------------------------------------------
# strategies

TOKENS = [b"foo", b"bar", b"a", b"*", b">", b"foo*", b"", b"\xff", b"x" * 40]
subjects = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=4).map(b".".join)
small_numbers = st.integers(0, 40)
huge_numbers = st.sampled_from([
    b"99999999999999999999", b"18446744073709551616", b"9223372036854775808", b"-1", b"+3",
    b"0x10", b"1048577", b"1048576", b"4294967296", b"3.0", b"", b"\xd9\xa3",
])
number_text = st.one_of(small_numbers.map(lambda n: str(n).encode()), huge_numbers)
sep = st.sampled_from([b" ", b"\t", b"  ", b" \t "])
eol = st.sampled_from([b"\r\n", b"\n", b"\r\n", b"\r\r\n", b"\n\r", b"\r"])
payload = st.binary(max_size=40)


@st.composite
def pub_op(draw) -> bytes:
    verb = draw(st.sampled_from([b"PUB", b"pub", b"Pub"]))
    subj = draw(subjects)
    reply = draw(st.one_of(st.just(b""), st.tuples(sep, subjects).map(b"".join)))
    body = draw(payload)
    size = draw(st.one_of(st.just(str(len(body)).encode()), number_text))
    return b"%s%s%s%s%s%s%s%s%s" % (
        verb, draw(sep), subj, reply, draw(sep), size, draw(eol), body,
        draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b"", b"xx\r\n"])),
    )


@st.composite
def hpub_op(draw) -> bytes:
    headers = draw(st.sampled_from([
        b"NATS/1.0\r\n\r\n", b"NATS/1.0\r\nA: b\r\n\r\n", b"NATS/1.0 503\r\n\r\n",
        b"garbage\r\n\r\n", b"NATS/1.0\r\n", b"",
    ]))
    body = draw(payload)
    hlen = draw(st.one_of(st.just(str(len(headers)).encode()), number_text))
    total = draw(st.one_of(st.just(str(len(headers) + len(body)).encode()), number_text))
    return b"HPUB %s %s %s%s%s%s\r\n" % (draw(subjects), hlen, total, draw(eol), headers, body)


@st.composite
def sub_op(draw) -> bytes:
    verb = draw(st.sampled_from([b"SUB", b"sub"]))
    queue = draw(st.one_of(st.just(b""), st.sampled_from([b" q", b" workers", b" *"])))
    return b"%s%s%s%s%s%s%s" % (
        verb, draw(sep), draw(subjects), queue, draw(sep), draw(number_text), draw(eol)
    )


@st.composite
def unsub_op(draw) -> bytes:
    limit = draw(st.one_of(st.just(b""), number_text.map(lambda n: b" " + n)))
    return b"UNSUB %s%s%s" % (draw(number_text), limit, draw(eol))


connect_op = st.sampled_from([
    b"CONNECT {}\r\n",
    b'CONNECT {"verbose":true}\r\n',
    b'CONNECT {"verbose":false,"pedantic":true}\r\n',
    b'CONNECT {"headers":true,"no_responders":true}\r\n',
    b'CONNECT {"no_responders":true}\r\n',
    b'CONNECT {"protocol":7}\r\n',
    b'CONNECT {"echo":false,"name":"\xff\xfe"}\r\n',
    b"CONNECT {bad json\r\n",
    b"CONNECT\r\n",
    b'CONNECT {"verbose":true} trailing\r\n',
])
fixed_fragments = st.sampled_from([
    b"PUB foo 3\r\nabc\r\n", b"PUB foo.bar reply.x 5\r\nhello\r\n", b"PUB foo 0\r\n\r\n",
    b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", b"SUB x 1\r\n", b"SUB > 2\r\n",
    b"SUB foo.* q 3\r\n", b"UNSUB 1\r\n", b"UNSUB 2 5\r\n", b"PING\r\n", b"PONG\r\n", b"ping\n",
    b"PING\r\r\n", b"PING x\r\n", b"PUB\r\n", b"SUB\r\n", b"UNSUB\r\n", b"PUB foo\r\n",
    b"SUB a b c d\r\n", b"PUB foo 1048577\r\n", b"PUB foo 2 3\r\nabc\r\n",
    b"MSG foo 1 3\r\nabc\r\n", b"HMSG foo 1 2 2\r\n\r\n\r\n", b"INFO {}\r\n", b"+OK\r\n",
    b"-ERR 'x'\r\n", b"\r\n", b"\n", b"\r", b"\x00", b" ", b"\t", b"P", b"PU", b"PUB ", b"S",
    b"PUB " + b"a" * 5000 + b" 1\r\n", b"SUB " + b"x" * 4100, b"SUB foo 1" + b" " * 4100 + b"\r\n",
])
garbage = st.binary(min_size=1, max_size=64)


@st.composite
def good_op(draw) -> bytes:
    """A well-formed operation, so that streams get deep into the parser before going wrong."""
    kind = draw(st.sampled_from(["pub", "pub", "hpub", "sub", "sub", "unsub", "ping"]))
    if kind == "sub":  # wildcards too, and a copy of the bystander's stream
        subj = draw(st.sampled_from([b"foo", b"foo.bar", b"*", b">", b"foo.*", b"bystander.>"]))
    else:
        subj = draw(st.sampled_from([b"foo", b"foo.bar", b"bar", b"foo.bar.baz"]))
    if kind == "pub":
        body = draw(payload)
        return b"PUB %s %d\r\n%s\r\n" % (subj, len(body), body)
    if kind == "hpub":
        hdr, body = b"NATS/1.0\r\nK: v\r\n\r\n", draw(payload)
        return b"HPUB %s %d %d\r\n%s%s\r\n" % (subj, len(hdr), len(hdr) + len(body), hdr, body)
    if kind == "sub":
        return b"SUB %s %d\r\n" % (subj, draw(st.integers(1, 5)))
    if kind == "unsub":
        return b"UNSUB %d %d\r\n" % (draw(st.integers(1, 5)), draw(st.integers(0, 3)))
    return b"PING\r\n"


near_miss = st.one_of(fixed_fragments, pub_op(), hpub_op(), sub_op(), unsub_op(), connect_op)
anything = st.one_of(near_miss, garbage, eol, sep)


@st.composite
def fuzz_session(draw):
    """(opening handshake or None, list of chunks to send).

    A third of the streams are well-formed operations with one bad fragment spliced in, a third
    are mostly well-formed with the odd near-miss, a third are anything-goes."""
    opening = draw(st.sampled_from([
        None, b"CONNECT {}\r\n", b'CONNECT {"verbose":true}\r\n',
        b"CONNECT " + HEADERS_OPTS + b"\r\n",
        # Subscribed to everything: the server writes MSGs to it while it misbehaves.
        b"CONNECT " + HEADERS_OPTS + b"\r\nSUB > 99\r\n",
        b'CONNECT {"verbose":true}\r\nSUB bystander.* 98\r\n',
    ]))
    mode = draw(st.sampled_from(["one-bad", "mostly-good", "anything"]))
    if mode == "one-bad":
        parts = draw(st.lists(good_op(), min_size=1, max_size=10))
        parts.insert(draw(st.integers(0, len(parts))), draw(anything))
    else:
        fragment = st.one_of(good_op(), good_op(), near_miss) if mode == "mostly-good" else anything
        parts = draw(st.lists(fragment, min_size=1, max_size=12))
    stream = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=6, unique=True)))
    chunks, start = [], 0
    for cut in cuts + [len(stream)]:
        chunks.append(stream[start:cut])
        start = cut
    return opening, [c for c in chunks if c]


# --------------------------------------------------------------------------------------------
# checking what the server wrote to the fuzzed connection

CONTROL_RE = re.compile(
    rb"INFO (\{[^\r\n]*\}) \r\n"
    rb"|PING\r\n|PONG\r\n|\+OK\r\n"
    rb"|-ERR '[^'\r\n]*'\r\n"
    # a sid is any token (both servers echo `SUB foo -1`'s sid as given)
    rb"|MSG ([^ \t\r\n]+) ([^ \t\r\n]+)(?: ([^ \t\r\n]+))? (\d+)\r\n"
    rb"|HMSG ([^ \t\r\n]+) ([^ \t\r\n]+)(?: ([^ \t\r\n]+))? (\d+) (\d+)\r\n"
)


def check_server_stream(data: bytes) -> None:
    """Asserts that `data` is a sequence of complete, well-formed server->client operations."""
    pos = 0
    while pos < len(data):
        m = CONTROL_RE.match(data, pos)
        assert m, f"malformed server output at {pos}: {data[pos:pos + 120]!r}"
        pos = m.end()
        if m.group(1) is not None:
            json.loads(m.group(1))
        elif m.group(0).startswith(b"MSG "):
            n = int(m.group(5))
            assert data[pos + n:pos + n + 2] == b"\r\n", f"MSG payload framing: {m.group(0)!r}"
            pos += n + 2
        elif m.group(0).startswith(b"HMSG "):
            hlen, total = int(m.group(9)), int(m.group(10))
            assert hlen <= total, m.group(0)
            body = data[pos:pos + total]
            assert body.startswith(b"NATS/1.0") and body[:hlen].endswith(b"\r\n\r\n"), body[:80]
            assert data[pos + total:pos + total + 2] == b"\r\n", f"HMSG framing: {m.group(0)!r}"
            pos += total + 2


def read_until_eof(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Everything the peer sends until EOF; (data, closed) where closed is False on timeout."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(data), False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return bytes(data), False
        except (ConnectionResetError, BrokenPipeError):
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk


def read_through(sock: socket.socket, marker: bytes, timeout: float) -> bytes:
    """Reads until `marker` has arrived; returns everything read (possibly more than that)."""
    deadline = time.monotonic() + timeout
    data = b""
    while marker not in data:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} from the server; have {data[-200:]!r}"
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        assert chunk, f"server closed before {marker!r}; have {data[-200:]!r}"
        data += chunk
    return data


# --------------------------------------------------------------------------------------------
# the bystander's known sequence


def bystander_message(i: int) -> tuple[bytes, bytes]:
    """(what the publisher sends, what the bystander must receive) for message i."""
    body = b"m%d|\r\nMSG x 1 2\r\n|%s" % (i, bytes([i % 256]) * (i % 7))
    if i % 5 == 0:
        hdr = b"NATS/1.0\r\nSeq: %d\r\n\r\n" % i
        sizes = b"%d %d" % (len(hdr), len(hdr) + len(body))
        return (b"HPUB %s %s\r\n%s%s\r\n" % (BYSTANDER_SUBJECT, sizes, hdr, body),
                b"HMSG %s 1 %s\r\n%s%s\r\n" % (BYSTANDER_SUBJECT, sizes, hdr, body))
    return (b"PUB %s %d\r\n%s\r\n" % (BYSTANDER_SUBJECT, len(body), body),
            b"MSG %s 1 %d\r\n%s\r\n" % (BYSTANDER_SUBJECT, len(body), body))


BATCH = 7


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)
@given(session=fuzz_session())
def test_bad_input_does_not_disturb_others(fuzz_server, session):
    opening, chunks = session
    host, port = fuzz_server.host, fuzz_server.port
    with Wire(host, port) as bystander, Wire(host, port) as publisher:
        for w in (bystander, publisher):
            w.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bystander.connect(HEADERS_OPTS)
        bystander.send(b"SUB %s 1\r\nPING\r\n" % BYSTANDER_SUBJECT)
        bystander.expect(rb"PONG\r\n")
        publisher.connect(HEADERS_OPTS)

        fuzz = socket.create_connection((host, port), timeout=5)
        try:
            fuzz.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            fuzz_alive = True

            def send_fuzz(data: bytes) -> None:
                nonlocal fuzz_alive
                if fuzz_alive:
                    try:
                        fuzz.sendall(data)
                    except (BrokenPipeError, ConnectionResetError):
                        fuzz_alive = False  # the server hung up on it: fine

            expected = bytearray()
            seq = 0

            def publish_batch() -> None:
                nonlocal seq
                out = bytearray()
                for _ in range(BATCH):
                    sent, received = bystander_message(seq)
                    out += sent
                    expected.extend(received)
                    seq += 1
                publisher.send(bytes(out))

            prefix = b""
            if opening is not None:
                # A well-behaved start, confirmed by PONG, then a batch the server has routed
                # (to the fuzzed connection too, if it subscribed) before any bad byte arrives.
                send_fuzz(opening + b"PING\r\n")
                prefix = read_through(fuzz, b"PONG\r\n", timeout=5)
                publish_batch()
                publisher.send(b"PING\r\n")
                publisher.expect(rb"PONG\r\n")
            for chunk in chunks:
                send_fuzz(chunk)
                publish_batch()

            # Half-close the fuzzed connection: the server must process it and hang up.
            try:
                fuzz.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            output, closed = read_until_eof(fuzz, timeout=5)
            output = prefix + output
        finally:
            fuzz.close()
        assert closed, f"server kept the fuzzed connection open after EOF; got {output[-200:]!r}"
        check_server_stream(output)
        for what in set(re.findall(rb"^(?:MSG|HMSG|PONG|\+OK|-ERR '[^']*')", output, re.M)):
            event(f"fuzzed connection got {what.decode(errors='replace')}")

        publisher.send(b"PING\r\n")
        publisher.expect(rb"PONG\r\n")
        bystander.send(b"PING\r\n")
        got = bystander.expect(re.compile(rb"(.*?)PONG\r\n", re.S), timeout=5).group(1)
        assert got == bytes(expected), "bystander stream differs from what was published"
        bystander.expect_nothing(0)

    with Wire(host, port) as probe:
        probe.connect()
        probe.send(b"SUB probe 1\r\nPUB probe 2\r\nok\r\nPING\r\n")
        probe.expect(rb"MSG probe 1 2\r\nok\r\nPONG\r\n")


def test_server_survives_a_flood_of_bad_connections(fuzz_server):
    """Many connections each sending one bad thing at once, then the server is still healthy."""
    bad = [
        b"garbage\r\n", b"PUB foo 99999999999\r\n", b"PUB foo 3\r\nabcd\r\n", b"x" * 5000,
        b"SUB\r\n", b"CONNECT {bad\r\n", b"PUB a b c d e\r\n", b"HPUB a 5 3\r\n",
        b"PUB foo 1048577\r\n", b"\x00\xff" * 100, b"PUB " + b"a" * 5000,
        b"CONNECT {}\r\nPUB foo 2\r\nabc\r\n", b'CONNECT {"protocol":9}\r\n',
    ]
    socks = []
    try:
        for i in range(200):
            s = socket.create_connection((fuzz_server.host, fuzz_server.port), timeout=5)
            s.sendall(bad[i % len(bad)])
            socks.append(s)
        for s in socks:
            data, closed = read_until_eof(s, timeout=5)
            assert closed, f"server kept a connection open after bad input: {data[-200:]!r}"
            check_server_stream(data)
    finally:
        for s in socks:
            s.close()
    with Wire(fuzz_server.host, fuzz_server.port) as probe:
        probe.connect()
