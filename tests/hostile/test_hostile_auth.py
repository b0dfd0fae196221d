"""Hostile probes: authentication abuse. Floods of bad logins (plain and bcrypt passwords),
connections that never finish authenticating (slow-loris against the auth timeout), clients that
hang up while their password is being checked, reloads that check every connection again, and
TLS mismatches. Each runs against zats and
nats-server configured alike and checks what the offender gets, that a bystander keeps its
messages and its responsiveness, and that the server's memory stays bounded."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import signal
import socket
import ssl
import time
import urllib.request

import bcrypt
import pytest
import trustme

from support.hostile import MemoryWatch, Pinger
from support.servers import free_port, write_config
from support.wire import Wire
from zats.broker import Broker
from zats.broker.options import TLSConfig

AUTH_VIOLATION = b"-ERR 'Authorization Violation'\r\n"
AUTH_TIMEOUT = b"-ERR 'Authentication Timeout'\r\n"
BYSTANDER = b'{"verbose":false,"pedantic":false,"user":"by","pass":"plain"}'


@functools.cache
def bcrypt_hash(password: bytes) -> str:
    """Cost 12: a check takes about a quarter of a second, far longer than a round trip."""
    return bcrypt.hashpw(password, bcrypt.gensalt(12)).decode()


def auth_conf(extra: str = "", password: bytes = b"good") -> str:
    """A bcrypt user `u` (password `good` unless told), a plain user `by` for the bystanders,
    and the given extra authorization settings."""
    return (f'authorization {{ {extra}\n users = [ {{user: u, password: "{bcrypt_hash(password)}"}},'
            ' {user: by, password: plain} ] }\n')


@pytest.fixture
def auth_server(kind, spawn, tmp_path):
    """Factory: a server of this kind started with auth_conf(extra)."""

    def start(extra: str = ""):
        return spawn(kind, "-c", write_config(tmp_path, auth_conf(extra)))

    return start


def pinger(srv) -> Pinger:
    return Pinger(srv.host, srv.port, connect=BYSTANDER)


def test_bystander_is_answered_while_a_bad_password_is_checked(auth_server):
    srv = auth_server()
    with Wire(srv.host, srv.port, timeout=5) as bystander, Wire(srv.host, srv.port, timeout=5) as offender:
        bystander.connect(BYSTANDER)
        offender.read_info()
        offender.send(b'CONNECT {"verbose":false,"user":"u","pass":"bad"}\r\nPING\r\n')
        bystander.send(b"PING\r\n")
        bystander.expect(rb"PONG\r\n")
        # The check still runs: the offender has had no answer yet.
        offender.sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            offender.sock.recv(100)
        offender.sock.setblocking(True)
        assert offender.expect_closed() == AUTH_VIOLATION


@pytest.mark.parametrize("password, after, answer", [
    (b"good", b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n",
     b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n"),
    (b"good", b"PUB foo 2\r\nhi\r\nBAD\r\nPING\r\n", b"+OK\r\n+OK\r\n-ERR 'Unknown Protocol Operation'\r\n"),
    (b"bad", b"SUB foo 1\r\nPING\r\n", AUTH_VIOLATION),
])
def test_ops_after_a_bcrypt_connect_in_the_same_packet(auth_server, password, after, answer):
    """What follows the CONNECT in the same read is parsed after the verdict, in order."""
    srv = auth_server()
    with Wire(srv.host, srv.port, timeout=5) as w:
        w.read_info()
        w.send(b'CONNECT {"verbose":true,"user":"u","pass":"' + password + b'"}\r\n' + after)
        if answer.startswith(b"+OK\r\n+OK\r\n+OK"):
            w.expect(re.escape(answer))
            w.expect_nothing()
        else:
            assert w.expect_closed() == answer


@pytest.mark.parametrize("token, answer", [(b"good", b"PONG\r\n"), (b"bad", AUTH_VIOLATION)])
def test_a_bcrypt_token_is_checked_off_the_loop_too(kind, spawn, tmp_path, token, answer):
    """nats-server compares tokens as it compares passwords: a bcrypt hash is a bcrypt hash."""
    srv = spawn(kind, "-c", write_config(tmp_path, f'authorization {{ token: "{bcrypt_hash(b"good")}" }}\n'))
    with Wire(srv.host, srv.port, timeout=5) as bystander, Wire(srv.host, srv.port, timeout=5) as w:
        bystander.connect(b'{"verbose":false,"auth_token":"good"}')
        w.read_info()
        w.send(b'CONNECT {"verbose":false,"auth_token":"' + token + b'"}\r\nPING\r\n')
        bystander.send(b"PING\r\n")
        bystander.expect(rb"PONG\r\n")
        if answer == AUTH_VIOLATION:
            assert w.expect_closed() == answer
        else:
            w.expect(re.escape(answer))


def test_a_second_bcrypt_connect_keeps_order(auth_server):
    """A later CONNECT on an open connection is checked the same way; ops after it wait."""
    srv = auth_server()
    with Wire(srv.host, srv.port, timeout=5) as w:
        w.connect(b'{"verbose":false,"user":"by","pass":"plain"}')
        w.send(b'CONNECT {"verbose":true,"user":"u","pass":"good"}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n')
        w.expect(rb"\+OK\r\n\+OK\r\n\+OK\r\nMSG a 1 1\r\nx\r\nPONG\r\n")


@pytest.mark.parametrize("password", [b"plain\xff", b"pl\xe2\x82ain", b"plain\\ud800", b"\\udc00"])
@pytest.mark.parametrize("user", [b"by", b"u"])
def test_a_password_that_is_not_valid_unicode_is_an_authorization_violation(auth_server, user, password):
    """Not a malformed CONNECT: nats-server reads such strings with U+FFFD in place."""
    srv = auth_server()
    with Wire(srv.host, srv.port, timeout=5) as w:
        w.read_info()
        w.send(b'CONNECT {"verbose":false,"user":"' + user + b'","pass":"' + password + b'"}\r\nPING\r\n')
        assert w.expect_closed() == AUTH_VIOLATION


def test_bcrypt_flood_does_not_block_others(auth_server):
    """Bad passwords from many connections at once: each costs a bcrypt check, none may hold
    up the bystander. Checks that cannot be done within the auth timeout end in a timeout."""
    srv = auth_server()
    with MemoryWatch(srv.proc.pid) as memory, pinger(srv) as p:
        # 16 bcrypt checks at once: a generous bound for a loaded machine (nats-server once
        # took over 10 s for them beside a busy test run)
        offenders = [Wire(srv.host, srv.port, timeout=30) for _ in range(16)]
        for w in offenders:
            w.read_info()
            w.send(b'CONNECT {"verbose":false,"user":"u","pass":"bad"}\r\nPING\r\n')
        for w in offenders:
            got = w.expect_closed()
            # Both servers send their first keepalive PING while authentication is pending.
            assert re.fullmatch(rb"(PING\r\n)?-ERR '(Authorization Violation|Authentication Timeout)'\r\n",
                                got), got
            w.close()
        p.assert_unharmed()
        memory.assert_bounded()


def test_clients_that_hang_up_during_the_check(auth_server):
    """Bad (and good) bcrypt logins whose clients close at once: nothing is left behind, and the
    server still authenticates afterwards (nats-server checks every abandoned password still:
    the auth timeout leaves room for that)."""
    srv = auth_server("timeout: 10")
    with MemoryWatch(srv.proc.pid) as memory, pinger(srv) as p:
        for i in range(12):
            with socket.create_connection((srv.host, srv.port)) as s:
                s.recv(4096)
                password = b"good" if i % 4 == 0 else b"bad"
                s.sendall(b'CONNECT {"verbose":false,"user":"u","pass":"' + password + b'"}\r\nPING\r\n')
        with Wire(srv.host, srv.port, timeout=15) as w:
            w.read_info()
            w.send(b'CONNECT {"verbose":false,"user":"u","pass":"good"}\r\nPING\r\n')
            w.expect(rb"(PING\r\n)*PONG\r\n")
        p.assert_unharmed()
        memory.assert_bounded()


@pytest.mark.parametrize("new_password", [None, b"other"])
def test_reload_checks_bcrypt_users_again_without_blocking(auth_server, tmp_path, new_password):
    """A reload authenticates every connection again: with the bcrypt hash unchanged all stay,
    with a new one all get an Authorization Violation. The bystander is never held up (zats
    checks off the loop; nats-server holds up new connections meanwhile, not open ones)."""
    srv = auth_server()
    users = [Wire(srv.host, srv.port, timeout=10).connect(b'{"verbose":false,"user":"u","pass":"good"}')
             for _ in range(12)]
    with pinger(srv) as p:
        write_config(tmp_path, auth_conf(password=new_password or b"good") + "max_payload: 4096\n")
        os.kill(srv.proc.pid, signal.SIGHUP)
        # The reload is done once a new connection sees the new max_payload.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with Wire(srv.host, srv.port, timeout=15) as w:
                if b'"max_payload":4096' in w.read_info():
                    break
            time.sleep(0.05)
        for w in users:
            if new_password is None:
                w.send(b"PING\r\n")
                w.expect(rb"(PING\r\n)*PONG\r\n")
            else:
                assert re.fullmatch(rb"(PING\r\n)*" + re.escape(AUTH_VIOLATION), w.expect_closed())
            w.close()
        p.assert_unharmed()


RELOADS = {
    # name: (configuration before, after, CONNECT sent before the reload or None, answer)
    "password changed": ("authorization { users: [ {user: a, password: one} ] }",
                         "authorization { users: [ {user: a, password: two} ] }",
                         b'{"verbose":false,"user":"a","pass":"one"}', AUTH_VIOLATION),
    "user removed": ("authorization { users: [ {user: a, password: one} ] }",
                     "authorization { users: [ {user: b, password: one} ] }",
                     b'{"verbose":false,"user":"a","pass":"one"}', b""),
    "user moved to another account": ("accounts { A { users: [ {user: a, password: one} ] } }",
                                      "accounts { B { users: [ {user: a, password: one} ] } }",
                                      b'{"verbose":false,"user":"a","pass":"one"}', b""),
    "token changed": ("authorization { token: one }", "authorization { token: two }",
                      b'{"verbose":false,"auth_token":"one"}', AUTH_VIOLATION),
    "auth enabled": ("max_payload: 2048", "authorization { token: t }",
                     b'{"verbose":false}', AUTH_VIOLATION),
    "auth enabled, no CONNECT yet": ("max_payload: 2048", "authorization { token: t }", None,
                                     AUTH_VIOLATION),
}


@pytest.mark.parametrize("case", sorted(RELOADS))
def test_what_a_reload_answers_a_connection_it_no_longer_lets_in(kind, spawn, tmp_path, case):
    before, after, connect, answer = RELOADS[case]
    srv = spawn(kind, "-c", write_config(tmp_path, before + "\n"))
    with Wire(srv.host, srv.port, timeout=5) as w:
        if connect is None:
            w.read_info()
        else:
            w.connect(connect)
        write_config(tmp_path, after + "\n")
        os.kill(srv.proc.pid, signal.SIGHUP)
        assert re.fullmatch(rb"(PING\r\n)*" + re.escape(answer), w.expect_closed())


def test_plain_bad_login_flood(auth_server):
    srv = auth_server()
    with MemoryWatch(srv.proc.pid) as memory, pinger(srv) as p:
        for _ in range(200):
            with Wire(srv.host, srv.port) as w:
                w.read_info()
                w.send(b'CONNECT {"verbose":false,"user":"by","pass":"wrong"}\r\nPING\r\n')
                assert w.expect_closed() == AUTH_VIOLATION
        p.assert_unharmed()
        memory.assert_bounded()


@pytest.mark.parametrize("sent", [b"", b"CONN", b'CONNECT {"user":"u",'])
def test_auth_timeout_slow_loris(auth_server, sent):
    """Connections that never finish a CONNECT are cut at the auth timeout, all of them."""
    srv = auth_server("timeout: 0.5")
    with MemoryWatch(srv.proc.pid) as memory, pinger(srv) as p:
        loris = [Wire(srv.host, srv.port, timeout=5) for _ in range(100)]
        for w in loris:
            w.read_info()
            if sent:
                w.send(sent)
        for w in loris:
            assert w.expect_closed() == AUTH_TIMEOUT
            w.close()
        p.assert_unharmed()
        memory.assert_bounded()


# -- TLS mismatches --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def tls_server(kind, spawn, tmp_path, ca):
    """Factory: a server of this kind with TLS on the client port (extra lines in its block)."""

    def start(extra: str = "", conf: str = ""):
        cert = ca.issue_cert("localhost", "127.0.0.1")
        cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
        cert.private_key_pem.write_to_path(tmp_path / "key.pem")
        ca.cert_pem.write_to_path(tmp_path / "ca.pem")
        conf += (f'tls {{ cert_file: "{tmp_path}/cert.pem", key_file: "{tmp_path}/key.pem", '
                 f"timeout: 0.5\n  {extra}\n}}\n")
        return spawn(kind, "-c", write_config(tmp_path, conf))

    return start


def _client_hello() -> bytes:
    """The first bytes a TLS client sends (a ClientHello record), taken from a real handshake."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


TLS_ATTACKS = {
    # name: bytes sent after the plain-text INFO (None: the start of a real ClientHello)
    "plain CONNECT where TLS is required": b'CONNECT {"verbose":false}\r\nPING\r\n',
    "garbage where the ClientHello is due": bytes(range(256)),
    "half a ClientHello, then nothing": None,
    "nothing at all (handshake timeout)": b"",
}


@pytest.mark.parametrize("attack", sorted(TLS_ATTACKS))
def test_tls_mismatch_costs_only_the_offender(tls_server, attack):
    srv = tls_server()
    data = TLS_ATTACKS[attack]
    if data is None:
        data = _client_hello()[:20]
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    with MemoryWatch(srv.proc.pid) as memory:
        bystander = TlsBystander(srv, tls)
        offenders = [Wire(srv.host, srv.port, timeout=5) for _ in range(20)]
        for offender in offenders:
            offender.read_info()
            if data:
                offender.send(data)
        bystander.round_trip()
        for offender in offenders:
            # Both hang up without a word (at once, or at the TLS handshake timeout).
            assert offender.expect_closed() == b""
            offender.close()
        bystander.round_trip()
        bystander.close()
        memory.assert_bounded()


@pytest.mark.parametrize("sent", ["nothing", "half a ClientHello"])
def test_clients_hanging_up_before_the_tls_handshake_ends_leave_nothing_behind(tls_server, sent):
    """Clients that read INFO (and maybe start the handshake) and hang up are gone from the
    server's count at once, and a TLS bystander is unharmed. zats once kept them, counted and
    pinged for ever (asyncio's start_tls gives no transport when the client leaves cleanly)."""
    monitor = free_port()
    srv = tls_server(conf=f"http: 127.0.0.1:{monitor}\n")
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    bystander = TlsBystander(srv, tls)
    for _ in range(20):
        with Wire(srv.host, srv.port, timeout=5) as offender:
            offender.read_info()
            if sent != "nothing":
                offender.send(_client_hello()[:20])
    bystander.round_trip()

    def connections() -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/varz", timeout=5) as resp:
            return json.loads(resp.read())["connections"]

    deadline = time.monotonic() + 5
    while connections() != 1:
        assert time.monotonic() < deadline, f"{connections()} connections, the bystander's alone expected"
        time.sleep(0.05)
    bystander.round_trip()
    bystander.close()


@pytest.mark.parametrize("sent", ["nothing", "half a ClientHello"])
async def test_broker_stopping_during_a_tls_handshake_raises_nothing(ca, tmp_path, sent):
    """An in-process broker stopped while a client is in its TLS handshake: asyncio's
    start_tls then returns no transport (no error), which zats took for a finished handshake.
    It kept the connection, raised AttributeError on each PING it tried to send, and waited
    the write deadline (10 s) for it to drain at stop."""
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    tls = TLSConfig(cert_file=str(tmp_path / "cert.pem"), key_file=str(tmp_path / "key.pem"))
    loop = asyncio.get_running_loop()
    raised: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: raised.append(context))
    try:
        async with Broker(port=0, host="127.0.0.1", tls=tls, ping_interval=0.2) as broker:
            reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
            await reader.readline()  # the plain-text INFO
            if sent != "nothing":
                writer.write(_client_hello()[:20])
            writer.close()
        assert not broker.connections
        await asyncio.sleep(0.3)  # a PING timer left behind would fire here
    finally:
        loop.set_exception_handler(None)
    assert raised == []


@pytest.mark.parametrize("offer", ["no certificate", "another CA's certificate", "TLS 1.2 only"])
def test_tls_client_the_server_will_not_accept(tls_server, ca, tmp_path, offer):
    """Where client certificates are verified, clients that offer none, or one from another
    CA, fail the handshake or are closed right after it, without a NATS word (a good one over
    TLS 1.2 is served by both); a client with a good certificate is unharmed meanwhile."""
    srv = tls_server(f'verify: true, ca_file: "{tmp_path}/ca.pem"')
    good = ca.issue_cert("client.example")
    good.cert_chain_pems[0].write_to_path(tmp_path / "client.pem")
    good.private_key_pem.write_to_path(tmp_path / "client.key")
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    ctx.load_cert_chain(tmp_path / "client.pem", tmp_path / "client.key")
    bystander = TlsBystander(srv, ctx)
    bad = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    if offer == "another CA's certificate":
        other = trustme.CA().issue_cert("client.example")
        other.cert_chain_pems[0].write_to_path(tmp_path / "other.pem")
        other.private_key_pem.write_to_path(tmp_path / "other.key")
        bad.load_cert_chain(tmp_path / "other.pem", tmp_path / "other.key")
    elif offer == "TLS 1.2 only":
        bad.load_cert_chain(tmp_path / "client.pem", tmp_path / "client.key")
        bad.maximum_version = ssl.TLSVersion.TLSv1_2
    for _ in range(10):
        raw = socket.create_connection((srv.host, srv.port), timeout=5)
        raw.recv(4096)  # the plain-text INFO
        try:
            with bad.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
                got = s.recv(4096)
        except (ssl.SSLError, ConnectionError):
            got = None  # refused in the handshake, or reset right after it
        finally:
            raw.close()
        if offer == "TLS 1.2 only":  # a good certificate over TLS 1.2 is fine for both
            assert got == b"PONG\r\n"
        else:
            assert got in (None, b"")
        bystander.round_trip()
    bystander.close()


@pytest.mark.parametrize("password", [b"good", b"bad"])
def test_bcrypt_connect_over_tls_with_more_than_a_read_behind_it(tls_server, password):
    """Over TLS, with far more after the CONNECT than is held while the password is checked
    (reading pauses, then resumes): everything is answered in order, or only the violation."""
    srv = tls_server(conf=auth_conf())
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    raw = socket.create_connection((srv.host, srv.port), timeout=10)
    raw.recv(4096)  # the plain-text INFO
    with tls.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b'CONNECT {"verbose":false,"user":"u","pass":"' + password + b'"}\r\nSUB a 1\r\n'
                  + b"".join(b"PUB a 4\r\n%04d\r\n" % i for i in range(2000)) + b"PING\r\n")
        got = bytearray()
        while not got.endswith((b"PONG\r\n", AUTH_VIOLATION)):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    if password == b"bad":
        assert got == AUTH_VIOLATION
    else:
        assert got == b"".join(b"MSG a 1 4\r\n%04d\r\n" % i for i in range(2000)) + b"PONG\r\n"


def test_tls_client_against_a_plain_server(server):
    """A TLS client that starts with its ClientHello on a plain port gets what nats-server
    sends for an unknown operation, and the server goes on."""
    with Pinger(server.host, server.port) as p:
        for _ in range(10):
            with Wire(server.host, server.port) as w:
                w.read_info()
                w.send(_client_hello())
                assert w.expect_closed() == b"-ERR 'Unknown Protocol Operation'\r\n"
        p.assert_unharmed()


class TlsBystander:
    """A TLS client that pings through the probe (the bystander of the TLS probes)."""

    def __init__(self, srv, ctx: ssl.SSLContext):
        raw = socket.create_connection((srv.host, srv.port), timeout=5)
        raw.recv(4096)  # the plain-text INFO
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.sock.sendall(b'CONNECT {"verbose":false}\r\n')

    def round_trip(self) -> None:
        self.sock.sendall(b"PING\r\n")
        got = b""
        while not got.endswith(b"PONG\r\n"):
            chunk = self.sock.recv(4096)
            assert chunk, got
            got += chunk
        assert re.fullmatch(rb"(PING\r\n)*PONG\r\n", got), got

    def close(self) -> None:
        self.sock.close()
