"""Differential fuzzing: the same client byte stream goes to zats and to the real nats-server,
split into the same writes, and both must answer with the same bytes.

Hypothesis builds streams of client ops: CONNECT with varied options, SUB/UNSUB (wildcards,
invalid subjects, UNSUB max), PUB/HPUB to what was subscribed (so that MSG/HMSG come back on
the same connection), PING, and near-misses: lower case, tabs, bare LF, wrong sizes, bad
subjects, missing arguments, unknown ops. After the stream an unknown op makes both servers
close a connection that is still open, so each answer ends at EOF.

A second test does the same against both servers started with one configuration file of users
with passwords and publish/subscribe permissions (allow, deny, allow_responses): logins right and
wrong, ops before CONNECT, and publishes and subscriptions each user may or may not make. A third
uses tight limits (max_payload, max_control_line, max_subscriptions). A fourth watches from a
second connection subscribed to `>` without headers: what the stream publishes reaches it the
same way from both servers (headers stripped, replies, no-responder statuses not meant for it).
A fifth does that with two accounts and no_auth_user, the watcher in one of them.

Compared: everything the server wrote except INFO lines (ids, ports and nonces differ) and
server PINGs (keepalive timing), with a repeated pedantic `-ERR 'Invalid Publish Subject'` counted
once: nats-server sends it a second time when a read ends inside that message's payload (zats
does the same, tests/test_parser.py), and where reads end is up to the kernel. Left out of the
streams on purpose, because nats-server itself answers them in no fixed order: queue groups of
several members (a random one). For the same reason the frames of one message to several
subscriptions of the connection are compared in sid order: nats-server's order depends on its
match cache (a subscription added while a subject's result is cached is appended to it), that
is on what other connections did before.
"""

from __future__ import annotations

import itertools
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.servers import KINDS, start_server
from support.wire import exchange

pytestmark = pytest.mark.timeout(300)

# An unknown op: both servers answer -ERR 'Unknown Protocol Operation' and close, so the answer
# ends at EOF, with no waiting for quiet (a connection the stream already closed ignores it).
SENTINEL = b"BOGUS\r\n"
INVALID_SUBJECT = b"-ERR 'Invalid Publish Subject'"


def _pair(*args: str):
    """zats and nats-server, started alike."""
    servers = {kind: start_server(kind, *args) for kind in KINDS}
    yield servers
    for srv in servers.values():
        srv.stop()


def _pair_with_config(tmp_path_factory, name: str, text: str):
    conf = tmp_path_factory.mktemp(name) / f"{name}.conf"
    conf.write_text(text)
    yield from _pair("-c", str(conf))


@pytest.fixture(scope="module")
def both():
    yield from _pair()


def transcript(srv, writes: list[bytes]) -> tuple[bytes, bool]:
    """What the server answers to `writes` then the sentinel, up to EOF: (bytes without INFO
    and server PING lines, whether EOF came before the timeout)."""
    sock = socket.create_connection((srv.host, srv.port), timeout=5)
    got, closed = exchange(sock, writes + [SENTINEL])
    return b"\r\n".join(_normalised(_frames(got))), closed


def _frames(data: bytes) -> list[bytes]:
    """The server's output as frames: a line, or a message line (MSG/HMSG, and RMSG/LMSG on a
    peer's connection) with its payload."""
    out, pos = [], 0
    while pos < len(data):
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            out.append(data[pos:])
            break
        line, pos = data[pos:eol], eol + 2
        if line.startswith((b"MSG ", b"HMSG ", b"RMSG ", b"LMSG ")):
            size = line.rsplit(b" ", 1)[-1]
            size = int(size) if size.isdigit() else 0
            out.append(line + b"\r\n" + data[pos:pos + size])
            pos += size + 2
        else:
            out.append(line)
    return out


def _message(frame: bytes) -> bytes | None:
    """A MSG/HMSG frame without its sid: the same for every subscription one message reached."""
    if not frame.startswith((b"MSG ", b"HMSG ")):
        return None
    line, _, payload = frame.partition(b"\r\n")
    parts = line.split(b" ")
    return b" ".join(parts[:2] + parts[3:]) + b"\r\n" + payload


def _normalised(frames: list[bytes]) -> list[bytes]:
    """INFO and server PING lines dropped, a repeated pedantic subject -ERR kept once, and the
    frames of one message to several subscriptions of the connection sorted by sid (see the
    module docstring)."""
    kept: list[bytes] = []
    for frame in frames:
        if frame.startswith(b"INFO ") or frame == b"PING":
            continue
        if frame == INVALID_SUBJECT and kept and kept[-1] == INVALID_SUBJECT:
            continue
        kept.append(frame)
    out: list[bytes] = []
    i = 0
    while i < len(kept):
        key = _message(kept[i])
        j = i + 1
        while key is not None and j < len(kept) and _message(kept[j]) == key:
            j += 1
        out.extend(sorted(kept[i:j]))
        i = j
    return out


# -- strategies -------------------------------------------------------------------------------

TOKENS = [b"a", b"b", b"foo", b"*", b">"]
good_subjects = st.lists(st.sampled_from([b"a", b"b", b"foo"]), min_size=1, max_size=3).map(b".".join)
_GOOD_LITERALS = {b".".join(p) for n in (1, 2, 3)
                  for p in itertools.product([b"a", b"b", b"foo"], repeat=n)}
sub_subjects = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=3).map(b".".join)
bad_subjects = st.sampled_from([b"a..b", b".a", b"a.", b"a.>.b", b"fo*o", b"a b", b"\xff", b"a.*.>x"])
sep = st.sampled_from([b" ", b" ", b" ", b"\t", b"  "])
eol = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"])
payloads = st.one_of(st.sampled_from([b"", b"hello", b"\r\n", b"PING\r\n"]), st.binary(max_size=12))

connect_opts = st.fixed_dictionaries({}, optional={
    "verbose": st.booleans(), "pedantic": st.booleans(), "echo": st.booleans(),
    "headers": st.booleans(), "no_responders": st.booleans(), "protocol": st.sampled_from([0, 1]),
    "name": st.sampled_from(["x", ""]), "lang": st.just("python"),
})


@st.composite
def connect_op(draw):
    opts = draw(connect_opts)
    body = b"{" + b",".join(
        b'"%s":%s' % (k.encode(), (b"true" if v is True else b"false" if v is False else
                                   (b'"%s"' % v.encode()) if isinstance(v, str) else b"%d" % v))
        for k, v in opts.items()) + b"}"
    return draw(st.sampled_from([b"CONNECT", b"connect"])) + draw(sep) + body + draw(eol)


@st.composite
def stream(draw):
    ops = [draw(connect_op())]
    subscribed: dict[bytes, bytes] = {}  # subject -> sid
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["sub", "sub", "pub", "pub", "pub", "hpub", "unsub", "ping",
                                     "bad", "connect"]))
        if kind == "sub":
            subject = draw(st.one_of(sub_subjects, sub_subjects, bad_subjects))
            if subject in subscribed:
                continue
            sid = b"%d" % (len(subscribed) + 1)
            subscribed[subject] = sid
            # A queue group of one member delivers like a plain subscription, deterministically.
            queue = draw(st.sampled_from([b"", b"", b"", b"q%s" % sid]))
            middle = draw(sep) + queue + draw(sep) if queue else draw(sep)
            ops.append(b"SUB" + draw(sep) + subject + middle + sid + draw(eol))
        elif kind in ("pub", "hpub"):
            literal = sorted(k for k in subscribed if b"*" not in k and b">" not in k
                             and k in _GOOD_LITERALS)
            if literal and draw(st.booleans()):
                subject = draw(st.sampled_from(literal))  # one that was subscribed
            else:
                subject = draw(st.one_of(good_subjects, good_subjects, bad_subjects))
            data = draw(payloads)
            reply = draw(st.sampled_from([None, None, b"r.1", b"r.*"]))
            delta = draw(st.sampled_from([0, 0, 0, 0, 1, -1]))
            args = [subject] + ([reply] if reply else [])
            if kind == "pub":
                size = max(0, len(data) + delta)
                head = b"PUB" + draw(sep) + draw(sep).join(args + [b"%d" % size])
                ops.append(head + draw(eol) + data + b"\r\n")
            else:
                hdr = draw(st.sampled_from([b"NATS/1.0\r\n\r\n", b"NATS/1.0\r\nK: v\r\n\r\n"]))
                total = max(0, len(hdr) + len(data) + delta)
                head = b"HPUB " + b" ".join(args + [b"%d" % len(hdr), b"%d" % total])
                ops.append(head + draw(eol) + hdr + data + b"\r\n")
        elif kind == "unsub" and subscribed:
            sid = draw(st.sampled_from(sorted(subscribed.values())))
            limit = draw(st.sampled_from([b"", b" 1", b" 2", b" 0", b" x"]))
            ops.append(b"UNSUB " + sid + limit + draw(eol))
        elif kind == "ping":
            ops.append(draw(st.sampled_from([b"PING\r\n", b"ping\n", b"PING  \r\n"])))
        elif kind == "connect":
            ops.append(draw(st.one_of(connect_op(), st.sampled_from([
                b"CONNECT {}\r\n", b"CONNECT {bad json}\r\n", b"CONNECT\r\n",
                b'CONNECT {"protocol":2}\r\n', b'CONNECT {"verbose":"yes"}\r\n',
                b'CONNECT {"unknown_field":1,"verbose":false}\r\n', b'CONNECT {"auth_token":"x"}\r\n',
            ]))))
        elif kind == "bad":
            ops.append(draw(st.sampled_from([
                b"PUB\r\n", b"SUB a\r\n", b"UNSUB\r\n", b"BOGUS\r\n", b"PUB a b c 1\r\nx\r\n",
                b"SUB a b c d\r\n", b"PUB a -1\r\n", b"PUB a 1x\r\nx\r\n", b" PING\r\n",
                b"\r\n", b"UNSUB 1 2 3\r\n", b"HPUB a 5 2\r\nNATS/\r\n", b"+OK\r\n",
                b"-ERR 'x'\r\n", b"INFO {}\r\n", b"PONG\r\n", b"SUB a q\r\n", b"MSG a 1 1\r\nx\r\n",
                b"HPUB a 2 5\r\nNA\r\n\r\n", b"HPUB a 12 12\r\nNATS/1.0 503\r\n\r\n\r\n",
            ])))
    return split_writes(draw, b"".join(ops))


def split_writes(draw, data: bytes) -> list[bytes]:
    """`data` cut at up to three random places: the writes a stream arrives in."""
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=3))))
    writes, start = [], 0
    for cut in cuts + [len(data)]:
        if cut > start:
            writes.append(data[start:cut])
            start = cut
    return writes


FUZZ_SETTINGS = settings(max_examples=300, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.function_scoped_fixture])


@FUZZ_SETTINGS
@given(stream())
def test_zats_answers_like_nats_server(both, writes):
    theirs = transcript(both["nats-server"], writes)
    ours = transcript(both["zats"], writes)
    assert ours == theirs, b"".join(writes)


# -- with users and permissions ----------------------------------------------------------------

USERS_CONF = """
authorization {
  users = [
    {user: a, password: pa, permissions: {publish: {allow: ["foo.>", "a", "r.*"]},
                                          subscribe: {deny: ["foo.b", "b.>"]}}}
    {user: b, password: pb, permissions: {publish: {deny: ["a.>", "foo"]},
                                          subscribe: {allow: ["a", "a.*", "foo.>", "r.*"]},
                                          allow_responses: true}}
    {user: c, password: pc}
  ]
}
"""

logins = st.sampled_from([
    b'CONNECT {"verbose":false,"user":"a","pass":"pa"}\r\n',
    b'CONNECT {"verbose":true,"pedantic":false,"user":"a","pass":"pa"}\r\n',
    b'CONNECT {"verbose":false,"user":"b","pass":"pb","headers":true}\r\n',
    b'CONNECT {"verbose":true,"user":"b","pass":"pb","headers":true}\r\n',
    b'CONNECT {"verbose":true,"pedantic":false,"user":"c","pass":"pc"}\r\n',
    b'CONNECT {"verbose":false,"user":"a","pass":"wrong"}\r\n',
    b'CONNECT {"verbose":false}\r\n',
    b'CONNECT {"user":"nobody","pass":"x"}\r\n',
    b"PING\r\n",
    b"SUB a 1\r\n",
])


@pytest.fixture(scope="module")
def both_with_users(tmp_path_factory):
    yield from _pair_with_config(tmp_path_factory, "users", USERS_CONF)


@st.composite
def stream_opening_with(draw, first_ops):
    """A stream whose first op (its CONNECT) is replaced by one drawn from `first_ops`."""
    data = b"".join(draw(stream()))
    return [draw(first_ops) + data[len(data.split(b"\n", 1)[0]) + 1:]]


@FUZZ_SETTINGS
@given(stream_opening_with(logins))
def test_zats_answers_like_nats_server_with_users_and_permissions(both_with_users, writes):
    theirs = transcript(both_with_users["nats-server"], writes)
    ours = transcript(both_with_users["zats"], writes)
    assert ours == theirs, b"".join(writes)


# -- with tight limits -------------------------------------------------------------------------

LIMITS_CONF = """
max_payload: 8
max_control_line: 32
max_subscriptions: 3
"""


@pytest.fixture(scope="module")
def both_with_limits(tmp_path_factory):
    yield from _pair_with_config(tmp_path_factory, "limits", LIMITS_CONF)


# CONNECTs that fit in the control line limit (the rest of a stream may not).
short_connects = st.sampled_from([b'CONNECT {"verbose":false}\r\n', b"CONNECT {}\r\n",
                                  b'CONNECT {"headers":true,"verbose":false}\r\n'])


@FUZZ_SETTINGS
@given(stream_opening_with(short_connects))
def test_zats_answers_like_nats_server_with_tight_limits(both_with_limits, writes):
    theirs = transcript(both_with_limits["nats-server"], writes)
    ours = transcript(both_with_limits["zats"], writes)
    assert ours == theirs, b"".join(writes)


# -- seen from another connection ----------------------------------------------------------------


def observed(srv, writes: list[bytes], login: bytes = b"") -> tuple[bytes, bytes]:
    """(the stream's own answer, what a `>` subscriber without headers received meanwhile)."""
    with socket.create_connection((srv.host, srv.port), timeout=5) as obs:
        obs.sendall(b'CONNECT {"verbose":false,"pedantic":false%s}\r\nSUB > 1\r\nPING\r\n' % login)
        got = b""
        while not got.endswith(b"PONG\r\n"):
            got += obs.recv(65536)
        own = transcript(srv, writes)[0]
        # The stream's connection is closed and all it sent was processed: a PONG to this PING
        # comes after every message it was sent.
        obs.sendall(b"PING\r\n")
        got = b""
        # A payload may itself end in PONG\r\n: wait for a PONG frame, not for those bytes.
        while not (got.endswith(b"\r\n") and _frames(got)[-1:] == [b"PONG"]):
            chunk = obs.recv(65536)
            if not chunk:
                break
            got += chunk
    return own, b"\r\n".join(_normalised(_frames(got)))


@FUZZ_SETTINGS
@given(stream())
def test_another_connection_sees_what_nats_server_delivers(both, writes):
    assert observed(both["zats"], writes) == observed(both["nats-server"], writes), b"".join(writes)


# -- accounts -------------------------------------------------------------------------------------

ACCOUNTS_CONF = """
accounts {
  A { users [ {user: a, password: pa} ] }
  B { users [ {user: b, password: pb} ] }
}
no_auth_user: a
"""

account_logins = st.sampled_from([
    b'CONNECT {"verbose":false,"user":"a","pass":"pa"}\r\n',
    b'CONNECT {"verbose":false,"user":"b","pass":"pb","headers":true}\r\n',
    b'CONNECT {"verbose":false}\r\n',  # no_auth_user: a, in A
    b'CONNECT {"verbose":false,"user":"b","pass":"x"}\r\n',
])


@pytest.fixture(scope="module")
def both_with_accounts(tmp_path_factory):
    yield from _pair_with_config(tmp_path_factory, "accounts", ACCOUNTS_CONF)


@FUZZ_SETTINGS
@given(stream_opening_with(account_logins), st.sampled_from([b',"user":"a","pass":"pa"', b',"user":"b","pass":"pb"']))
def test_accounts_keep_apart_as_in_nats_server(both_with_accounts, writes, observer):
    """The observer is in account A or B; what it sees of the stream's publishes (only those
    of its own account) is the same from both servers."""
    ours = observed(both_with_accounts["zats"], writes, observer)
    theirs = observed(both_with_accounts["nats-server"], writes, observer)
    assert ours == theirs, b"".join(writes)
