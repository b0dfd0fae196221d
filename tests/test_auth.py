"""Authentication and authorization from a configuration file that both zats and the real
nats-server are started with (`-c`): token, user/password (plain and bcrypt), nkeys, accounts,
no_auth_user, permissions, allow_responses, auth timeout. nats-py connects with each mode; the
errors for wrong credentials and denied subjects are compared byte for byte over raw sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import bcrypt
import nats
import pytest
from test_cluster import Node, meshed
from test_leafnode import Leaf

from support.natspy import barrier
from support.servers import free_port, write_config
from support.wire import Wire
from zats.protocol import nkeys

AUTH_VIOLATION = b"-ERR 'Authorization Violation'\r\n"


@pytest.fixture
def conf_server(kind, spawn, tmp_path):
    """Factory: conf_server(text) -> a server of this kind started with `-c` on that text."""

    def start(text: str):
        return spawn(kind, "-c", write_config(tmp_path, text))

    return start


async def connect(srv, **kw):
    kw.setdefault("allow_reconnect", False)
    kw.setdefault("connect_timeout", 2)
    return await nats.connect(srv.url, **kw)


async def roundtrip(nc, subject="auth.check") -> bytes:
    sub = await nc.subscribe(subject)
    await nc.publish(subject, b"ok")
    return (await sub.next_msg(timeout=2)).data


async def refused(srv, **kw) -> str:
    """Connects expecting refusal; returns the error nats-py reported."""
    errors = []

    async def on_error(e):
        errors.append(str(e))

    with pytest.raises((nats.errors.Error, OSError)):
        await connect(srv, error_cb=on_error, max_reconnect_attempts=0, **kw)
    return " ".join(errors)


def raw_refusal(srv, connect_json: bytes) -> bytes:
    with Wire(srv.host, srv.port) as w:
        info = json.loads(w.read_info()[5:])
        assert info["auth_required"] is True
        w.send(b"CONNECT " + connect_json + b"\r\nPING\r\n")
        return w.expect_closed()


async def test_token(conf_server):
    srv = conf_server('authorization { token: "s3cr3t" }')
    nc = await connect(srv, token="s3cr3t")
    assert await roundtrip(nc) == b"ok"
    await nc.close()
    assert "Authorization Violation" in await refused(srv, token="wrong")
    assert raw_refusal(srv, b'{"verbose":false,"auth_token":"nope"}') == AUTH_VIOLATION


async def test_user_password_plain_and_bcrypt(conf_server):
    hashed = bcrypt.hashpw(b"pw2", bcrypt.gensalt(4)).decode()
    srv = conf_server(f'authorization {{ users: [ {{user: a, password: pw1}}, {{user: b, password: "{hashed}"}} ] }}')
    for user, password in (("a", "pw1"), ("b", "pw2")):
        nc = await connect(srv, user=user, password=password)
        assert await roundtrip(nc) == b"ok"
        await nc.close()
    assert "Authorization Violation" in await refused(srv, user="b", password="pw1")
    assert raw_refusal(srv, b'{"verbose":false,"user":"a","pass":"bad"}') == AUTH_VIOLATION
    assert raw_refusal(srv, b'{"verbose":false}') == AUTH_VIOLATION


async def test_single_user_block(conf_server):
    srv = conf_server("authorization { user: admin, password: secret }")
    nc = await connect(srv, user="admin", password="secret")
    assert await roundtrip(nc) == b"ok"
    await nc.close()
    assert raw_refusal(srv, b'{"verbose":false,"user":"admin","pass":"x"}') == AUTH_VIOLATION


async def test_nkey_users_sign_the_nonce(conf_server):
    seed = nkeys.create_seed()
    public = nkeys.KeyPair(seed).public_key
    srv = conf_server(f"authorization {{ users: [ {{nkey: {public}}} ] }}")
    with Wire(srv.host, srv.port) as w:
        info = json.loads(w.read_info()[5:])
        assert info["nonce"]
    nc = await connect(srv, nkeys_seed_str=seed)
    assert await roundtrip(nc) == b"ok"
    await nc.close()
    other = nkeys.create_seed()
    assert "Authorization Violation" in await refused(srv, nkeys_seed_str=other)
    # A valid key that signs something else than this connection's nonce.
    bad_sig = nkeys.KeyPair(seed).sign_nonce("not-the-nonce")
    body = json.dumps({"verbose": False, "nkey": public, "sig": bad_sig}).encode()
    assert raw_refusal(srv, body) == AUTH_VIOLATION


async def test_accounts_isolate_subjects(conf_server):
    srv = conf_server("""
accounts {
  A { users: [ {user: a1, password: p}, {user: a2, password: p} ] }
  B { users: [ {user: b1, password: p} ] }
}
""")
    a1 = await connect(srv, user="a1", password="p")
    a2 = await connect(srv, user="a2", password="p")
    b1 = await connect(srv, user="b1", password="p")
    sub_a = await a2.subscribe("shared")
    sub_b = await b1.subscribe("shared")
    await barrier(a2)
    await barrier(b1)
    await a1.publish("shared", b"for A")
    await barrier(a1)
    assert (await sub_a.next_msg(timeout=2)).data == b"for A"
    with pytest.raises(nats.errors.TimeoutError):
        await sub_b.next_msg(timeout=0.3)
    for nc in (a1, a2, b1):
        await nc.close()


async def test_no_auth_user(conf_server):
    srv = conf_server("""
accounts { A { users: [ {user: anon, password: x}, {user: named, password: y} ] } }
no_auth_user: anon
""")
    anonymous = await connect(srv)  # no credentials: runs as "anon" in account A
    named = await connect(srv, user="named", password="y")
    sub = await named.subscribe("in.a")
    await barrier(named)
    await anonymous.publish("in.a", b"from anon")
    assert (await sub.next_msg(timeout=2)).data == b"from anon"
    await anonymous.close()
    await named.close()
    assert "Authorization Violation" in await refused(srv, user="named", password="wrong")


PERMS_CONF = """
authorization {
  users: [
    { user: limited, password: p, permissions: {
        publish: { allow: ["pub.>", "both.*"], deny: ["pub.secret"] }
        subscribe: { allow: ["sub.>", "both.*"], deny: ["sub.secret"] }
    } }
    { user: root, password: p }
  ]
}
"""


def test_permission_violations_keep_the_connection_open(conf_server):
    srv = conf_server(PERMS_CONF)
    with Wire(srv.host, srv.port) as w:
        w.read_info()
        w.send(b'CONNECT {"verbose":false,"pedantic":false,"user":"limited","pass":"p"}\r\nPING\r\n')
        w.expect(rb"PONG\r\n")
        w.send(b"SUB sub.ok 1\r\nSUB both.x 2\r\nSUB other 3\r\nSUB sub.secret 4\r\nPING\r\n")
        w.expect(rb"-ERR 'Permissions Violation for Subscription to \"other\"'\r\n"
                 rb"-ERR 'Permissions Violation for Subscription to \"sub.secret\"'\r\nPONG\r\n")
        w.send(b"PUB pub.a 1\r\na\r\nPUB other 1\r\nb\r\nPUB pub.secret 1\r\nc\r\nPUB both.x 1\r\nd\r\nPING\r\n")
        w.expect(rb"-ERR 'Permissions Violation for Publish to \"other\"'\r\n"
                 rb"-ERR 'Permissions Violation for Publish to \"pub.secret\"'\r\n"
                 rb"MSG both.x 2 1\r\nd\r\nPONG\r\n")


async def test_permissions_seen_from_nats_py(conf_server):
    srv = conf_server(PERMS_CONF)
    limited = await connect(srv, user="limited", password="p")
    root = await connect(srv, user="root", password="p")
    got = await root.subscribe("pub.>")
    await barrier(root)
    await limited.publish("pub.fine", b"yes")
    await limited.publish("pub.secret", b"no")
    await barrier(limited)
    assert (await got.next_msg(timeout=2)).data == b"yes"
    with pytest.raises(nats.errors.TimeoutError):
        await got.next_msg(timeout=0.3)
    # nats-py 2.16 matches "permissions violation" case-sensitively and so closes its own
    # connection on nats-server's "Permissions Violation"; the server keeps it open.
    await limited.close()
    await root.close()


async def test_allow_responses_lets_a_responder_reply_once(conf_server):
    srv = conf_server("""
authorization {
  users: [
    { user: svc, password: p, permissions: { subscribe: "svc.>", allow_responses: true } }
    { user: client, password: p }
  ]
}
""")
    svc = await connect(srv, user="svc", password="p")

    async def respond(msg):
        await msg.respond(b"answer")
        await msg.respond(b"second answer is refused")

    await svc.subscribe("svc.echo", cb=respond)
    await barrier(svc)
    client = await connect(srv, user="client", password="p")
    reply = await client.request("svc.echo", b"q", timeout=2)
    assert reply.data == b"answer"
    await client.close()
    await svc.close()


def test_op_before_connect_is_an_authorization_violation(conf_server):
    srv = conf_server('authorization { token: "t" }')
    with Wire(srv.host, srv.port) as w:
        w.read_info()
        w.send(b"PING\r\n")
        assert w.expect_closed() == AUTH_VIOLATION


def test_authentication_timeout(conf_server):
    srv = conf_server('authorization { token: "t", timeout: 0.5 }')
    with Wire(srv.host, srv.port, timeout=5) as w:
        w.read_info()
        assert w.expect_closed() == rb"-ERR 'Authentication Timeout'" + b"\r\n"


def test_no_auth_required_without_credentials_configured(conf_server):
    srv = conf_server("port: -1\n".replace("port: -1\n", "") + "max_payload: 1024\n")
    with Wire(srv.host, srv.port) as w:
        info = json.loads(w.read_info()[5:])
        assert "auth_required" not in info and "nonce" not in info


async def test_connz_shows_user_and_account_never_the_password(kind, spawn, tmp_path):
    import urllib.request

    from support.servers import free_port

    path = write_config(tmp_path, "accounts { A { users: [ {user: alice, password: s3cret} ] } }")
    srv = spawn(kind, "-c", path, http_port=free_port())
    nc = await connect(srv, user="alice", password="s3cret")
    await barrier(nc)
    for endpoint in ("/connz?auth=1", "/varz"):
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}{endpoint}") as resp:
            body = resp.read().decode()
        assert "s3cret" not in body
    connz = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/connz?auth=1").read())
    alice = connz["connections"][0]
    assert alice["authorized_user"] == "alice" and alice["account"] == "A"
    await nc.close()


def test_denied_verbose_publish_gets_the_violation_without_ok(tmp_path, spawn, kind):
    """nats-server checks publish permissions before it acknowledges a verbose publish."""
    from support.wire import Wire

    conf = tmp_path / "deny.conf"
    conf.write_text('authorization { users = [ {user: u, password: p, '
                    'permissions: {publish: {deny: ["secret"]}}} ] }\n')
    srv = spawn(kind, "-c", str(conf))
    with Wire(srv.host, srv.port) as w:
        w.read_info()
        w.send(b'CONNECT {"verbose":true,"user":"u","pass":"p"}\r\n'
               b"PUB secret 1\r\nx\r\nPUB open 1\r\nx\r\nPING\r\n")
        w.expect(rb"\+OK\r\n-ERR 'Permissions Violation for Publish to \"secret\"'\r\n"
                 rb"\+OK\r\nPONG\r\n")


@pytest.mark.parametrize("first, second, answer", [
    # no nkeys configured: nats-server does not look at nkey, and no_auth_user applies
    (b'{"verbose":false,"nkey":"UABC"}', None, rb"PONG\r\n"),
    # the no_auth_user's name and password stay in the options a later CONNECT merges into
    (b'{"verbose":false}', b'{"auth_token":"x"}', rb"PONG\r\n"),
    (b'{"verbose":false}', b'{"user":"b","pass":"x"}', rb"-ERR 'Authorization Violation'\r\n"),
])
def test_no_auth_user_as_nats_server_applies_it(tmp_path, spawn, kind, first, second, answer):
    from support.wire import Wire

    conf = tmp_path / "accounts.conf"
    conf.write_text("accounts { A { users [ {user: a, password: pa} ] }\n"
                    "           B { users [ {user: b, password: pb} ] } }\nno_auth_user: a\n")
    srv = spawn(kind, "-c", str(conf))
    with Wire(srv.host, srv.port) as w:
        w.read_info()
        w.send(b"CONNECT " + first + b"\r\n"
               + (b"CONNECT " + second + b"\r\n" if second else b"") + b"PING\r\n")
        w.expect(answer)


def test_with_users_a_connect_after_a_client_err_ends_the_read(tmp_path, spawn, kind):
    """After an -ERR from a client nats-server still parses the rest of that read, but where
    users are configured a CONNECT there ends it: the PUB after it reaches nobody."""
    from support.wire import Wire

    conf = tmp_path / "users.conf"
    conf.write_text("authorization { users = [ {user: u, password: p} ] }\n")
    srv = spawn(kind, "-c", str(conf))
    login = b'CONNECT {"verbose":false,"user":"u","pass":"p"}\r\n'
    with Wire(srv.host, srv.port) as observer, Wire(srv.host, srv.port) as w:
        observer.read_info()
        observer.send(login + b"SUB errusers.> 1\r\nPING\r\n")
        observer.expect(rb"PONG\r\n")
        w.read_info()
        w.send(login + b"-ERR 'x'\r\nPUB errusers.a 1\r\nA\r\nCONNECT {}\r\n"
               b"PUB errusers.b 1\r\nB\r\n")
        assert w.expect_closed() == b""
        observer.send(b"PING\r\n")
        observer.expect(rb"MSG errusers\.a 1 1\r\nA\r\nPONG\r\n")


# -- subscribe deny at delivery, queue permissions ----------------------------------------------

DENY_CONF = """
authorization { users [
  { user: pub, password: p }
  { user: nosecret, password: p, permissions: { subscribe: { deny: "secret.>" } } }
  { user: nopayroll, password: p, permissions: { subscribe: { deny: "payroll" } } }
  { user: allbut, password: p, permissions: { subscribe: { allow: ">", deny: "secret.>" } } }
  { user: noq1, password: p, permissions: { subscribe: { deny: ["foo q1", "bar q.*"] } } }
  { user: worker, password: p, permissions: { subscribe: { allow: ["work queue1", "job q.*", "x"] } } }
  { user: mixed, password: p, permissions: { subscribe: { allow: ["foo", "foo q2"] } } }
  { user: open, password: p, permissions: { subscribe: { allow: [] } } }
] }
"""


def _user(srv, user: str, headers: bool = False) -> Wire:
    w = Wire(srv.host, srv.port)
    w.connect(b'{"verbose":false,"pedantic":false,"headers":%s,"user":"%s","pass":"p"}'
              % (b"true" if headers else b"false", user.encode()))
    return w


def _sync(w: Wire) -> bytes:
    """Everything the server sent `w` before the PONG to a PING sent now."""
    w.send(b"PING\r\n")
    return w.expect(rb"(.*?)PONG\r\n").group(1)


def _msgs(data: bytes) -> list[tuple[bytes, bytes]]:
    """(subject, sid) of each MSG in `data`."""
    return re.findall(rb"MSG (\S+) (\S+) \d+\r\n", data)


SUB_DENY_CASES = [
    # user, SUBs, published subjects, (subject, sid) delivered, as nats-server delivers
    ("nosecret", [b"> 1"], [b"secret.x", b"ok.x"], [(b"ok.x", b"1")]),
    ("nosecret", [b"*.x 1"], [b"secret.x", b"ok.x"], [(b"ok.x", b"1")]),
    ("nosecret", [b"foo 1", b"> 2"], [b"secret.x", b"foo"], [(b"foo", b"2"), (b"foo", b"1")]),
    ("nosecret", [b"> q 1"], [b"secret.x", b"ok.x"], [(b"ok.x", b"1")]),
    ("nopayroll", [b"* 1"], [b"payroll", b"other"], [(b"other", b"1")]),
    ("nopayroll", [b"> 1"], [b"payroll", b"other"], [(b"other", b"1")]),
    ("allbut", [b"> 1"], [b"secret.x", b"ok"], [(b"ok", b"1")]),
    # A queue deny entry: that group's members are dropped, plain and other groups are not.
    ("noq1", [b"foo q2 2", b"foo 3", b"> q1 4", b"* q1 5"], [b"foo"], [(b"foo", b"3"), (b"foo", b"2")]),
]


@pytest.mark.parametrize("case", range(len(SUB_DENY_CASES)))
def test_subscribe_deny_holds_for_wildcard_subscriptions(conf_server, case):
    """A wildcard (or queue) subscription that could receive a denied subject is allowed, and
    the denied subjects are then never delivered to that connection."""
    user, subs, subjects, delivered = SUB_DENY_CASES[case]
    srv = conf_server(DENY_CONF)
    with _user(srv, user) as w, _user(srv, "pub") as p:
        w.send(b"".join(b"SUB " + s + b"\r\n" for s in subs))
        assert _sync(w) == b""
        p.send(b"".join(b"PUB " + s + b" 2\r\nhi\r\n" for s in subjects))
        _sync(p)
        assert _msgs(_sync(w)) == delivered


QUEUE_PERMISSION_CASES = [
    # user, SUB, refused (the -ERR's queue) or None
    ("worker", b"work queue1 1", None),
    ("worker", b"work 1", False),
    ("worker", b"work queue2 1", True),
    ("worker", b"work.x queue1 1", True),
    ("worker", b"job q.a 1", None),  # a queue pattern
    ("worker", b"job q.* 1", None),
    ("worker", b"job q 1", True),
    ("worker", b"job q.a.b 1", True),
    ("worker", b"x q 1", None),  # a plain entry allows any queue
    ("mixed", b"foo 1", None),
    ("mixed", b"foo q2 1", None),
    ("mixed", b"foo q1 1", True),  # queue entries for the subject restrict its queues
    ("noq1", b"foo q1 1", True),
    ("noq1", b"foo q2 1", None),
    ("noq1", b"foo 1", None),
    ("noq1", b"bar q.a 1", True),
    ("noq1", b"bar q.* 1", True),
    ("noq1", b"bar q 1", None),
    ("open", b"foo 1", None),  # an empty subscribe allow list restricts nothing
    ("open", b"foo q 1", None),
]


@pytest.mark.parametrize("case", range(len(QUEUE_PERMISSION_CASES)))
def test_queue_group_permissions(conf_server, case):
    """A "subject queue" entry is a permission for queue subscriptions in groups it names."""
    user, sub, refused = QUEUE_PERMISSION_CASES[case]
    srv = conf_server(DENY_CONF)
    subject, *queue, _ = sub.split()
    with _user(srv, user) as w, _user(srv, "pub") as p:
        w.send(b"SUB " + sub + b"\r\n")
        got = _sync(w)
        if refused is None:
            assert got == b""
            p.send(b"PUB " + subject.replace(b"*", b"z") + b" 2\r\nhi\r\n")
            _sync(p)
            assert len(_msgs(_sync(w))) == 1
        elif refused:
            assert got == (b"-ERR 'Permissions Violation for Subscription to \"%s\" using queue "
                           b"\"%s\"'\r\n" % (subject, queue[0]))
        else:
            assert got == b"-ERR 'Permissions Violation for Subscription to \"%s\"'\r\n" % subject


def test_denied_queue_member_passes_the_message_to_the_next(conf_server):
    """A queue member whose connection may not receive the subject is skipped: every message
    goes to a member that may, none is lost."""
    srv = conf_server(DENY_CONF)
    with _user(srv, "nosecret") as denied, _user(srv, "pub") as member, _user(srv, "pub") as p:
        denied.send(b"SUB > g 1\r\n")
        member.send(b"SUB secret.x g 1\r\n")
        _sync(denied), _sync(member)
        p.send(b"PUB secret.x 2\r\nhi\r\n" * 50 + b"PUB ok.x 2\r\nhi\r\n" * 5)
        _sync(p)
        assert _msgs(_sync(denied)) == [(b"ok.x", b"1")] * 5
        assert _msgs(_sync(member)) == [(b"secret.x", b"1")] * 50


def test_subscribe_deny_on_every_delivery_path(conf_server):
    """Bursts of one PUB line, of varying sizes, to a queue group, with headers, with an UNSUB
    max (denied messages do not count) and with no other receiver (no-responders)."""
    srv = conf_server(DENY_CONF)
    with _user(srv, "nosecret", headers=True) as w, _user(srv, "pub", headers=True) as p, \
            _user(srv, "pub") as everyone:
        everyone.send(b"SUB > 1\r\n")
        w.send(b"SUB > 1\r\nSUB > g 2\r\nSUB *.* 3\r\nUNSUB 3 2\r\n")
        _sync(w), _sync(everyone)
        p.send(b"PUB secret.run 3\r\nabc\r\n" * 100
               + b"".join(b"PUB secret.sizes %d\r\n%s\r\n" % (i % 7, b"x" * (i % 7)) for i in range(100))
               + b"HPUB secret.h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
               + b"PUB ok.1 1\r\n1\r\nPUB ok.2 1\r\n2\r\nPUB ok.3 1\r\n3\r\n")
        _sync(p)
        got = _sync(w)
        assert b"secret" not in got
        assert _msgs(got) == [(b"ok.1", b"1"), (b"ok.1", b"3"), (b"ok.1", b"2"),
                              (b"ok.2", b"1"), (b"ok.2", b"3"), (b"ok.2", b"2"),
                              (b"ok.3", b"1"), (b"ok.3", b"2")]
        assert len(_msgs(_sync(everyone))) == 204
    with _user(srv, "nosecret") as w, Wire(srv.host, srv.port) as r:
        r.connect(b'{"verbose":false,"pedantic":false,"headers":true,"no_responders":true,'
                  b'"user":"pub","pass":"p"}')
        w.send(b"SUB > 1\r\n")
        _sync(w)
        r.send(b"SUB inbox.1 1\r\nPUB secret.svc inbox.1 2\r\nhi\r\n")
        assert _sync(r) == b"HMSG inbox.1 1 42 42\r\nNATS/1.0 503\r\nNats-Subject: secret.svc\r\n\r\n\r\n"
        assert _sync(w) == b""


def _receive_routed(publisher_srv, receiver_srv) -> None:
    """On the receiving server, a denied user's `>` and `> g` and a permitted member of g; the
    publisher, on the other server, sends denied and allowed subjects."""
    with _user(receiver_srv, "nosecret") as denied, _user(receiver_srv, "pub") as member, \
            _user(publisher_srv, "pub", headers=True) as p:
        denied.send(b"SUB > 1\r\nSUB > g 2\r\n")
        member.send(b"SUB secret.x g 1\r\nSUB barrier 2\r\n")
        _sync(denied), _sync(member)
        # Interest crosses in order: once `barrier` is known on the other side, so is the rest.
        for _ in range(200):
            p.send(b"PUB barrier 0\r\n\r\n")
            _sync(p)
            if b"MSG barrier" in _sync(member):
                break
        else:
            pytest.fail("the subscriptions never reached the publisher's server")
        p.send(b"PUB secret.x 2\r\nhi\r\n" * 50 + b"HPUB secret.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
               + b"PUB ok.x 2\r\nhi\r\n" * 5 + b"PUB done 0\r\n\r\n")
        _sync(p)
        got = denied.expect(rb"(.*?)MSG done 2 0\r\n\r\n", timeout=5).group(1)
        got = [m for m in _msgs(got) if m[0] != b"barrier"]
        assert got == [(b"ok.x", b"1"), (b"ok.x", b"2")] * 5 + [(b"done", b"1")]
        assert _msgs(_sync(member)) == [(b"secret.x", b"1")] * 51


ROUTE_PAIRS = [("zats", "zats"), ("nats-server", "zats"), ("zats", "nats-server"),
               ("nats-server", "nats-server")]


@pytest.mark.parametrize("kinds", ROUTE_PAIRS, ids=["-".join(k) for k in ROUTE_PAIRS])
def test_subscribe_deny_for_routed_messages(spawn, tmp_path, kinds):
    """Messages from a route meet the receiving server's delivery filter; a queue group there
    passes them to a member that may receive them."""
    nodes = []
    for i, kind in enumerate(kinds):
        port = free_port()
        routes = f"routes: [nats://127.0.0.1:{nodes[0].cluster_port}]" if nodes else ""
        conf = tmp_path / f"n{i}.conf"
        conf.write_text(DENY_CONF + f"cluster {{ name: C1, listen: 127.0.0.1:{port}\n {routes} }}\n")
        nodes.append(Node(spawn(kind, "-c", str(conf), http_port=free_port()), port))
    deadline = time.monotonic() + 20
    while not meshed(nodes):
        assert time.monotonic() < deadline, "no route"
        time.sleep(0.05)
    _receive_routed(nodes[0].srv, nodes[1].srv)


@pytest.mark.parametrize("hub_kind,spoke_kind", ROUTE_PAIRS)
def test_subscribe_deny_for_leafnode_messages(spawn, tmp_path, hub_kind, spoke_kind):
    """Messages from a hub reach the spoke's clients through the same filter."""
    port = free_port()
    hub_conf = tmp_path / "hub.conf"
    hub_conf.write_text(f"leafnodes {{ listen: 127.0.0.1:{port} }}\n")
    hub = Leaf(spawn(hub_kind, "-c", str(hub_conf), http_port=free_port()))
    spoke_conf = tmp_path / "spoke.conf"
    spoke_conf.write_text(DENY_CONF + f"""leafnodes {{
  remotes: [ {{ url: "nats-leaf://127.0.0.1:{port}" }} ]
}}
""")
    spoke = Leaf(spawn(spoke_kind, "-c", str(spoke_conf), http_port=free_port()))
    deadline = time.monotonic() + 20
    while not (hub.leafs() >= 1 and spoke.leafs() >= 1):
        assert time.monotonic() < deadline, "no leaf connection"
        time.sleep(0.05)
    _receive_routed(hub.srv, spoke.srv)


def test_reload_removes_refused_subscriptions_and_filters_the_rest(kind, spawn, tmp_path):
    """A reload that adds a subscribe deny: subscriptions it refuses go, each with an -ERR
    naming its sid; a wildcard one that stays no longer receives the denied subjects."""
    users = "authorization {{ users [ {{user: pub, password: p}}, {{user: nosecret, password: p{}}} ] }}\n"
    path = write_config(tmp_path, users.format(""))
    srv = spawn(kind, "-c", path)
    with _user(srv, "nosecret") as w, _user(srv, "pub") as p:
        w.send(b"SUB > 1\r\nSUB secret.x 2\r\nSUB foo 3\r\nSUB secret.y q 4\r\n")
        assert _sync(w) == b""
        write_config(tmp_path, users.format(', permissions: {subscribe: {deny: "secret.>"}}'))
        os.kill(srv.proc.pid, signal.SIGHUP)
        errs = w.expect(rb"(-ERR [^\r]*\r\n){2}").group(0)
        assert sorted(errs.splitlines()) == [
            b"-ERR 'Permissions Violation for Subscription to \"secret.x\" (sid \"2\")'",
            b"-ERR 'Permissions Violation for Subscription to \"secret.y\" using queue \"q\" (sid \"4\")'",
        ]
        p.send(b"PUB secret.x 1\r\nx\r\nPUB foo 1\r\ny\r\nPUB secret.y 1\r\nz\r\n")
        _sync(p)
        assert _msgs(_sync(w)) == [(b"foo", b"1"), (b"foo", b"3")]


def test_delivery_filter_decisions_are_bounded():
    """The armed filter remembers at most 256 (subject, queue) decisions per connection."""
    from zats.broker.options import Permissions, SubjectPermission
    from zats.broker.permissions import ConnectionPermissions, UserPermissions

    user = UserPermissions(Permissions(subscribe=SubjectPermission(deny=["secret.>", "q g.*"])))
    perms = ConnectionPermissions(user)
    assert perms.can_subscribe(b"foo") and perms.deny is None  # cannot overlap: not armed
    assert perms.can_subscribe(b">") and perms.deny is not None
    for i in range(10_000):
        assert perms.denies(b"secret.%d" % i, None)
        assert not perms.denies(b"ok.%d" % i, None)
        assert len(perms.deny) <= 256
    assert perms.denies(b"q", b"g.1") and not perms.denies(b"q", b"h") and not perms.denies(b"q", None)


_RESERVED_CASES = [
    # (what the client publishes, what comes back before the PONG), a SUB > 1 in place
    (b"PUB foo _R_.x 1\r\na\r\n", b"-ERR 'Permissions Violation for Publish with Reply of \"_R_.x\"'\r\n"),
    (b"PUB foo _R_. 1\r\na\r\n", b"-ERR 'Permissions Violation for Publish with Reply of \"_R_.\"'\r\n"),
    (b"PUB foo $JS.ACK.s.c.1.2.3.4.5.x 1\r\na\r\n",
     b"-ERR 'Permissions Violation for Publish with Reply of \"$JS.ACK.s.c.1.2.3.4.5.x\"'\r\n"),
    (b"PUB foo $JS.ACK. 1\r\na\r\n", b"MSG foo 1 $JS.ACK. 1\r\na\r\n"),
    (b"PUB foo _GR_.x 1\r\na\r\n", b"-ERR 'Permissions Violation for Publish with Reply of \"_GR_.x\"'\r\n"),
    (b"PUB foo _GR_. 1\r\na\r\n", b"MSG foo 1 _GR_. 1\r\na\r\n"),
    (b"PUB foo $GR.x 1\r\na\r\n", b"-ERR 'Permissions Violation for Publish with Reply of \"$GR.x\"'\r\n"),
    (b"PUB foo _INBOX.x 1\r\na\r\n", b"MSG foo 1 _INBOX.x 1\r\na\r\n"),
    (b"PUB $NRG.x 1\r\na\r\n", b"-ERR 'Permissions Violation for Publish to \"$NRG.x\"'\r\n"),
    (b"PUB $NRG. 1\r\na\r\n", b"-ERR 'Permissions Violation for Publish to \"$NRG.\"'\r\n"),
    (b"PUB $NRG 1\r\na\r\n", b"MSG $NRG 1 1\r\na\r\n"),
    (b"PUB _GR_.x 1\r\na\r\n", b"-ERR 'Permissions Violation for Publish to \"_GR_.x\"'\r\n"),
    (b"PUB $GR.x 1\r\na\r\n", b"-ERR 'Permissions Violation for Publish to \"$GR.x\"'\r\n"),
    (b"PUB _R_.x 1\r\na\r\n", b"MSG _R_.x 1 1\r\na\r\n"),
    (b"HPUB foo _R_.y 12 13\r\nNATS/1.0\r\n\r\na\r\n",
     b"-ERR 'Permissions Violation for Publish with Reply of \"_R_.y\"'\r\n"),
    # runs of identical frames and one subject with varying sizes take the same checks
    (b"PUB $NRG.x 1\r\na\r\n" * 3, b"-ERR 'Permissions Violation for Publish to \"$NRG.x\"'\r\n" * 3),
    (b"PUB $NRG.x 1\r\na\r\nPUB $NRG.x 2\r\nab\r\nPUB $NRG.x 3\r\nabc\r\n",
     b"-ERR 'Permissions Violation for Publish to \"$NRG.x\"'\r\n" * 3),
]


@pytest.mark.parametrize("frames, answer", _RESERVED_CASES)
def test_reserved_subjects_and_replies_are_refused(server, frames, answer):
    """nats-server keeps some names for its own traffic: no client may publish to them or use
    them as a reply subject, whatever its permissions."""
    with Wire(server.host, server.port) as w:
        w.connect(b'{"verbose":false,"pedantic":false,"headers":true}')
        w.send(b"SUB > 1\r\n" + frames + b"PING\r\n")
        got = w.expect(rb"(?:PING\r\n)*(.*?)PONG\r\n").group(1)
        assert got.replace(b"PING\r\n", b"") == answer
