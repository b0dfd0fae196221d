"""Hostile probes: attempts to get around authentication and permissions (wildcard and queue
subscriptions over denied subjects, reply subjects, allow_responses, header smuggling, a later
CONNECT as another user). Each runs against zats and nats-server configured alike and checks
what the offender gets, that a bystander keeps its messages and its responsiveness, and that
the server's memory stays bounded."""

from __future__ import annotations

import re

import pytest

from support.hostile import MemoryWatch, Pinger
from support.servers import write_config
from support.wire import Wire

# The bystanders connect without credentials: as `pub`.
CONF = """
no_auth_user: pub
authorization { users [
  { user: pub, password: p }
  { user: spy, password: p, permissions: {
      subscribe: { deny: ["secret.>", "work secret"] }, publish: { deny: "secret.>" } } }
  { user: svc, password: p, permissions: { subscribe: "svc", allow_responses: true } }
] }
"""


@pytest.fixture
def srv(kind, spawn, tmp_path):
    return spawn(kind, "-c", write_config(tmp_path, CONF))


def login(srv, user: str, password: str = "p") -> Wire:
    w = Wire(srv.host, srv.port, timeout=5)
    w.connect(b'{"verbose":false,"pedantic":false,"headers":true,"user":"%s","pass":"%s"}'
              % (user.encode(), password.encode()))
    return w


def sync(w: Wire) -> bytes:
    """Everything the server sent `w` before the PONG to a PING sent now."""
    w.send(b"PING\r\n")
    return w.expect(rb"(.*?)PONG\r\n").group(1)


def sub_violation(subject: bytes, queue: bytes | None = None) -> bytes:
    q = b' using queue "%s"' % queue if queue else b""
    return b"-ERR 'Permissions Violation for Subscription to \"%s\"%s'\r\n" % (subject, q)


def pub_violation(subject: bytes) -> bytes:
    return b"-ERR 'Permissions Violation for Publish to \"%s\"'\r\n" % subject


def test_wildcard_and_queue_subscriptions_get_no_denied_message(srv):
    """Every way to cover `secret.>` with a wildcard, plain or in a queue group (alone in it,
    or beside a member that may have the messages), under a flood of denied subjects."""
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as pinger, \
            login(srv, "spy") as spy, login(srv, "pub") as member, login(srv, "pub") as p:
        subs = [b">", b"*.*", b"*.>", b"*.x", b"> q", b"*.* q", b"*.x work", b"> work",
                b"secret.*", b"secret.x work", b"secret.>"]
        spy.send(b"".join(b"SUB %s %d\r\n" % (s, i) for i, s in enumerate(subs)))
        assert sync(spy) == (sub_violation(b"secret.*") + sub_violation(b"secret.x", b"work")
                             + sub_violation(b"secret.>"))
        member.send(b"SUB secret.x work 1\r\n")
        sync(member)
        flood = b"".join(b"PUB secret.x %d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(500))
        for _ in range(10):
            p.send(flood + b"PUB secret.y.z 1\r\nz\r\nHPUB secret.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
        p.send(b"PUB ok.x 1\r\nk\r\n")
        sync(p)
        got = sync(spy)
        assert b"secret" not in got
        # ok.x: to `>`, `*.*`, `*.>` and `*.x`, and to one member each of q and work.
        sids = sorted(re.findall(rb"MSG ok\.x (\d+) 1\r\nk\r\n", got))
        assert len(sids) == 6 and sids[:4] == [b"0", b"1", b"2", b"3"]
        assert sids[4] in (b"4", b"5") and sids[5] in (b"6", b"7")
        assert len(re.findall(rb"MSG secret\.x 1 ", sync(member))) == 10 * 501
        pinger.assert_unharmed()
        memory.assert_bounded()


def test_reply_subject_does_not_open_a_denied_subject(srv):
    """The spy asks a service to answer on a denied subject, and listens with `>`: the answer
    is published (the service may) but never delivered to the spy. Publishing a denied
    subject as a reply is no violation, publishing to it is."""
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as pinger, \
            login(srv, "spy") as spy, login(srv, "svc") as svc, login(srv, "pub") as witness:
        svc.send(b"SUB svc 1\r\n")
        witness.send(b"SUB secret.answer 1\r\n")
        spy.send(b"SUB > 1\r\n")
        sync(svc), sync(witness), sync(spy)
        spy.send(b"PUB svc secret.answer 3\r\nask\r\n")
        assert sync(spy) == b"MSG svc 1 secret.answer 3\r\nask\r\n"
        svc.expect(rb"MSG svc 1 secret\.answer 3\r\nask\r\n")
        svc.send(b"PUB secret.answer 6\r\nanswer\r\n")
        assert sync(svc) == b""
        assert sync(witness) == b"MSG secret.answer 1 6\r\nanswer\r\n"
        assert sync(spy) == b""
        spy.send(b"PUB secret.answer 1\r\nx\r\n")
        assert sync(spy) == pub_violation(b"secret.answer")
        assert sync(witness) == b""
        pinger.assert_unharmed()
        memory.assert_bounded()


def test_allow_responses_answers_once_and_only_requests(srv):
    """A responder that may publish only responses: one answer per request received, none to
    subjects it was not asked on, none after the answer, however it is phrased."""
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as pinger, \
            login(srv, "svc") as svc, login(srv, "pub") as client:
        svc.send(b"SUB svc 1\r\n")
        client.send(b"SUB admin.> 1\r\n")
        sync(svc), sync(client)
        client.send(b"PUB svc admin.cmd 1\r\nq\r\n")
        sync(client)
        svc.expect(rb"MSG svc 1 admin\.cmd 1\r\nq\r\n")
        svc.send(b"PUB admin.cmd 1\r\na\r\nPUB admin.cmd 1\r\nb\r\nPUB admin.other 1\r\nc\r\n"
                 b"HPUB admin.cmd 12 13\r\nNATS/1.0\r\n\r\nd\r\nPUB admin.cmd svc 1\r\ne\r\n")
        assert sync(svc) == (pub_violation(b"admin.cmd") + pub_violation(b"admin.other")
                             + pub_violation(b"admin.cmd") * 2)
        assert sync(client) == b"MSG admin.cmd 1 1\r\na\r\n"
        pinger.assert_unharmed()
        memory.assert_bounded()


SMUGGLED = b"NATS/1.0\r\nX: a\r\nPUB secret.x 1\r\nz\r\nSUB secret.> 9\r\nCONNECT {\"user\":\"pub\"}\r\n\r\n"


def test_header_block_carries_no_operations(srv):
    """Protocol lines inside an HPUB's header block are header bytes: delivered verbatim, never
    run (no publish to a denied subject, no subscription, no change of user)."""
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as pinger, \
            login(srv, "spy") as spy, login(srv, "pub") as listener, login(srv, "pub") as p:
        listener.send(b"SUB > 1\r\n")
        sync(listener)
        frame = b"HPUB ok.h %d %d\r\n%shi\r\n" % (len(SMUGGLED), len(SMUGGLED) + 2, SMUGGLED)
        # And a header size that ends inside the block: the rest is payload, not protocol.
        short = b"HPUB ok.s 10 %d\r\n%s\r\n" % (len(SMUGGLED), SMUGGLED)
        spy.send(frame * 100 + short)
        assert sync(spy) == b""
        got = sync(listener)
        assert got == (b"HMSG ok.h 1 %d %d\r\n%shi\r\n" % (len(SMUGGLED), len(SMUGGLED) + 2, SMUGGLED)
                       * 100 + b"HMSG ok.s 1 10 %d\r\n%s\r\n" % (len(SMUGGLED), SMUGGLED))
        p.send(b"PUB secret.q 1\r\nq\r\n")
        sync(p)
        assert sync(spy) == b""  # no smuggled SUB secret.>
        spy.send(b"PUB secret.x 1\r\nz\r\n")  # still the spy, not pub
        assert sync(spy) == pub_violation(b"secret.x")
        pinger.assert_unharmed()
        memory.assert_bounded()


def test_later_connect_switches_user_and_drops_subscriptions(srv):
    """A second CONNECT authenticates again: the subscriptions made as another user go, the
    new user's permissions apply, and wrong credentials close the connection."""
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as pinger, \
            login(srv, "pub") as w, login(srv, "pub") as p:
        w.send(b"SUB secret.> 1\r\n")
        assert sync(w) == b""
        w.send(b'CONNECT {"verbose":false,"pedantic":false,"user":"spy","pass":"p"}\r\n')
        assert sync(w) == b""
        p.send(b"PUB secret.a 1\r\nq\r\n")
        sync(p)
        assert sync(w) == b""
        w.send(b"SUB secret.> 2\r\nSUB > 3\r\n")
        assert sync(w) == sub_violation(b"secret.>")
        p.send(b"PUB secret.a 1\r\nq\r\n")
        sync(p)
        assert sync(w) == b""
        w.send(b'CONNECT {"verbose":false,"pedantic":false,"user":"pub","pass":"p"}\r\n'
               b"SUB secret.> 4\r\n")
        assert sync(w) == b""
        p.send(b"PUB secret.a 1\r\nq\r\n")
        sync(p)
        assert sync(w) == b"MSG secret.a 4 1\r\nq\r\n"
        w.send(b'CONNECT {"verbose":false,"pedantic":false,"user":"pub","pass":"wrong"}\r\nPING\r\n')
        assert w.expect_closed() == b"-ERR 'Authorization Violation'\r\n"
        pinger.assert_unharmed()
        memory.assert_bounded()
