"""Authentication and authorization from a configuration file that both zats and the real
nats-server are started with (`-c`): token, user/password (plain and bcrypt), nkeys, accounts,
no_auth_user, permissions, allow_responses, auth timeout. nats-py connects with each mode; the
errors for wrong credentials and denied subjects are compared byte for byte over raw sockets."""

from __future__ import annotations

import json

import bcrypt
import nats
import pytest

from support.natspy import barrier
from support.servers import write_config
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
