"""The WebSocket listener (`websocket { }`), configured alike for zats and the real nats-server
from one configuration file: nats-py's WebSocket transport (aiohttp) doing pub/sub/request with
headers and large payloads over ws:// and wss://, the INFO a WebSocket client gets, compression,
origin checks, cookies and the websocket authorization block, X-Forwarded-For in /connz, /varz.
Hostile upgrades and frames are in tests/hostile/test_hostile_websocket.py."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.request

import nats
import pytest
import trustme
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from support.http import exchange, status_and_body, without_date
from support.natspy import barrier
from support.servers import free_port, require_nats_server, write_config
from support.websocket import spawn_ws, upgrade_request


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def pki(ca, tmp_path):
    cert = ca.issue_cert("localhost", "127.0.0.1")
    paths = {"cert_file": tmp_path / "cert.pem", "key_file": tmp_path / "key.pem",
             "ca": tmp_path / "ca.pem"}
    cert.cert_chain_pems[0].write_to_path(paths["cert_file"])
    cert.private_key_pem.write_to_path(paths["key_file"])
    ca.cert_pem.write_to_path(paths["ca"])
    return {k: str(v) for k, v in paths.items()}


async def exercise(url: str, **kw) -> None:
    """Pub/sub with headers, a payload larger than any one frame or read, a request."""
    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=5, **kw)
    try:
        sub = await nc.subscribe("ws.>")

        async def echo(msg):
            await msg.respond(b"re:" + msg.data)

        await nc.subscribe("svc", cb=echo)
        await nc.publish("ws.small", b"hello", headers={"Trace": "1"})
        msg = await sub.next_msg(timeout=5)
        assert (msg.subject, msg.data, msg.headers) == ("ws.small", b"hello", {"Trace": "1"})
        big = bytes(range(256)) * 3000  # 768 KB
        await nc.publish("ws.big", big)
        assert (await sub.next_msg(timeout=5)).data == big
        for i in range(200):  # many ops in a frame, ops across frames
            await nc.publish(f"ws.n.{i}", b"%d" % i * (i % 7))
        got = [await sub.next_msg(timeout=5) for _ in range(200)]
        assert [m.data for m in got] == [b"%d" % i * (i % 7) for i in range(200)]
        reply = await nc.request("svc", b"ping", timeout=5)
        assert reply.data == b"re:ping"
    finally:
        await nc.close()


async def test_natspy_over_ws(kind, spawn, tmp_path):
    srv, port = spawn_ws(spawn, kind, tmp_path)
    await exercise(f"ws://127.0.0.1:{port}")


async def test_natspy_over_wss(kind, spawn, tmp_path, pki):
    srv, port = spawn_ws(spawn, kind, tmp_path,
                         tls={"cert_file": pki["cert_file"], "key_file": pki["key_file"]})
    ctx = ssl.create_default_context(cafile=pki["ca"])
    await exercise(f"wss://localhost:{port}", tls=ctx)


async def test_ws_and_tcp_clients_meet(kind, spawn, tmp_path):
    """A WebSocket client and a plain one share subjects."""
    srv, port = spawn_ws(spawn, kind, tmp_path)
    ws = await nats.connect(f"ws://127.0.0.1:{port}", allow_reconnect=False)
    tcp = await nats.connect(srv.url, allow_reconnect=False)
    try:
        sub = await tcp.subscribe("meet")
        await barrier(tcp)
        await ws.publish("meet", b"from ws")
        assert (await sub.next_msg(timeout=5)).data == b"from ws"
        sub2 = await ws.subscribe("back")
        await barrier(ws)
        await tcp.publish("back", b"from tcp")
        assert (await sub2.next_msg(timeout=5)).data == b"from tcp"
    finally:
        await ws.close()
        await tcp.close()


async def test_info_to_ws_client(kind, spawn, tmp_path):
    """The INFO a WebSocket client gets names the websocket listener, as nats-server's."""
    srv, port = spawn_ws(spawn, kind, tmp_path)
    nc = await nats.connect(f"ws://127.0.0.1:{port}", allow_reconnect=False)
    try:
        info = nc._server_info
        assert info["port"] == port
        assert info["host"] == "0.0.0.0"
        assert not info.get("tls_required") and not info.get("auth_required")
        assert info["headers"] is True
    finally:
        await nc.close()


# -- compression ---------------------------------------------------------------------------------

async def raw_round_trip(url: str, payload: bytes, **kw) -> tuple[str | None, bytes]:
    """A raw RFC 6455 client (websockets) speaking NATS: the extensions the server accepted and
    the payload of the message it delivered back."""
    async with ws_connect(url, max_size=None, **kw) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert (await ws.recv()).startswith(b"INFO ")
        await ws.send(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB z 1\r\n'
                      + b"PUB z %d\r\n%s\r\nPING\r\n" % (len(payload), payload))
        got = b""
        while not got.endswith(b"PONG\r\n"):
            got += await ws.recv()
        head, _, rest = got.partition(b"\r\n")
        assert head == b"MSG z 1 %d" % len(payload)
        return extensions, rest[:len(payload)]


@pytest.mark.parametrize("compression", [True, False])
async def test_compression_when_offered(kind, spawn, tmp_path, compression):
    srv, port = spawn_ws(spawn, kind, tmp_path, compression=str(compression).lower())
    payload = b"compressible " * 5000
    extensions, data = await raw_round_trip(f"ws://127.0.0.1:{port}", payload, compression="deflate")
    assert data == payload
    expected = ("permessage-deflate; server_no_context_takeover; client_no_context_takeover"
                if compression else None)
    assert extensions == expected
    # A client that offers nothing gets no compression either way.
    extensions, data = await raw_round_trip(f"ws://127.0.0.1:{port}", payload, compression=None)
    assert (extensions, data) == (None, payload)


# -- origin checks ---------------------------------------------------------------------------------

ORIGIN_CASES = [
    ({"same_origin": "true"}, "http://127.0.0.1:{port}", 101),
    ({"same_origin": "true"}, "http://other.example:{port}", 403),
    ({"same_origin": "true"}, "https://127.0.0.1:{port}", 403),
    ({"same_origin": "true"}, None, 101),  # no Origin: accepted, as RFC 6455 says
    ({"allowed_origins": '["http://good.example", "https://also.example:8443"]'}, "http://good.example", 101),
    ({"allowed_origins": '["http://good.example", "https://also.example:8443"]'}, "https://also.example:8443", 101),
    ({"allowed_origins": '["http://good.example", "https://also.example:8443"]'}, "http://good.example:81", 403),
    ({"allowed_origins": '["http://good.example", "https://also.example:8443"]'}, "http://evil.example", 403),
]


@pytest.mark.parametrize(("fields", "origin", "status"), ORIGIN_CASES)
def test_origin_checks(spawn, tmp_path, fields, origin, status):
    answers = []
    for kind in ("zats", "nats-server"):
        (tmp_path / kind).mkdir()
        _, port = spawn_ws(spawn, kind, tmp_path / kind, **fields)
        headers = {"Origin": origin.format(port=port)} if origin else {}
        request = upgrade_request(host=f"127.0.0.1:{port}", headers=headers)
        answer, _ = exchange(port, request, timeout=1.0)
        line, body = status_and_body(answer)
        assert line.split(b" ")[1] == str(status).encode()
        if status == 101:
            answer = answer.split(b"\r\n\r\n")[0]  # then INFO, which differs
        answers.append(without_date(answer))
    assert answers[0] == answers[1]


# -- authentication --------------------------------------------------------------------------------

async def connect_fails(url: str, **kw) -> str:
    errors = []

    async def on_error(e):
        errors.append(e)

    with pytest.raises(Exception):  # noqa: B017 - nats-py's error depends on when it sees it
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=5, error_cb=on_error, **kw)
        await nc.close()
    return " ".join(str(e) for e in errors)


async def connects(url: str, **kw) -> None:
    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=5, **kw)
    try:
        await nc.flush(timeout=5)
    finally:
        await nc.close()


async def test_token_cookie(kind, spawn, tmp_path):
    srv, port = spawn_ws(spawn, kind, tmp_path, extra="authorization { token: s3cr3t }\n",
                         token_cookie="tok")
    url = f"ws://127.0.0.1:{port}"
    await connects(url, ws_connection_headers={"Cookie": ["tok=s3cr3t"]})
    assert "authorization violation" in (await connect_fails(url)).lower()
    assert "authorization violation" in (
        await connect_fails(url, ws_connection_headers={"Cookie": ["tok=wrong"]})).lower()


async def test_user_and_password_cookies(kind, spawn, tmp_path):
    extra = "authorization { users: [ {user: alice, password: pw1} ] }\n"
    srv, port = spawn_ws(spawn, kind, tmp_path, extra=extra, user_cookie="u", pass_cookie="p")
    url = f"ws://127.0.0.1:{port}"
    await connects(url, ws_connection_headers={"Cookie": ["u=alice; p=pw1"]})
    assert "authorization violation" in (
        await connect_fails(url, ws_connection_headers={"Cookie": ["u=alice; p=nope"]})).lower()


async def test_websocket_authorization_block_is_for_ws_clients_only(kind, spawn, tmp_path):
    srv, port = spawn_ws(spawn, kind, tmp_path,
                         authorization="{ user: wsuser, password: wspass }")
    url = f"ws://127.0.0.1:{port}"
    await connects(url, user="wsuser", password="wspass")
    assert "authorization violation" in (await connect_fails(url)).lower()
    await connects(srv.url)  # the client port has no authorization


async def test_websocket_no_auth_user(kind, spawn, tmp_path):
    extra = "authorization { users: [ {user: alice, password: pw1}, {user: bob, password: pw2} ] }\n"
    srv, port = spawn_ws(spawn, kind, tmp_path, extra=extra, no_auth_user="bob")
    await connects(f"ws://127.0.0.1:{port}")
    await connects(f"ws://127.0.0.1:{port}", user="alice", password="pw1")
    assert "authorization violation" in (await connect_fails(srv.url)).lower()


# -- monitoring ----------------------------------------------------------------------------------

def http_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return json.loads(resp.read())


async def test_x_forwarded_for_in_connz(kind, spawn, tmp_path):
    """nats-server 2.15 names an X-Forwarded-For address in its log lines only: /connz and the
    INFO keep the socket's address."""
    http_port = free_port()
    srv, port = spawn_ws(spawn, kind, tmp_path, http_port=http_port)
    nc = await nats.connect(f"ws://127.0.0.1:{port}", allow_reconnect=False, name="behind-proxy",
                            ws_connection_headers={"X-Forwarded-For": ["203.0.113.9"]})
    try:
        await nc.flush()
        assert nc._server_info["client_ip"] == "127.0.0.1"
        conns = http_json(http_port, "/connz")["connections"]
        assert [(c["ip"], c["type"]) for c in conns if c.get("name") == "behind-proxy"] == \
            [("127.0.0.1", "websocket")]
    finally:
        await nc.close()


def test_varz_websocket_section(spawn, tmp_path):
    sections = []
    for kind in ("zats", "nats-server"):
        (tmp_path / kind).mkdir()
        http_port = free_port()
        _, port = spawn_ws(spawn, kind, tmp_path / kind, http_port=http_port, compression="true",
                           same_origin="true", handshake_timeout='"3s"',
                           allowed_origins='["http://a.example"]', advertise='"ws.example:443"')
        section = http_json(http_port, "/varz")["websocket"]
        assert section.pop("port") == port
        sections.append(section)
    assert sections[0] == sections[1]


USERS = "authorization { users: [ {user: a, password: b} ] }\n"
REFUSED = {
    "no tls": ("", "websocket { port: -1 }"),
    "allowed origin scheme": ("", 'websocket { port: -1, no_tls: true, allowed_origins: ["ftp://x"] }'),
    "allowed origin host": ("", 'websocket { port: -1, no_tls: true, allowed_origins: ["http://"] }'),
    "no_auth_user without users": ("", "websocket { port: -1, no_tls: true, no_auth_user: nobody }"),
    "no_auth_user unknown": (USERS, "websocket { port: -1, no_tls: true, no_auth_user: nobody }"),
    "ws user beside users": (USERS, "websocket { port: -1, no_tls: true, authorization { user: u, password: p } }"),
    "ws token beside users": (USERS, "websocket { port: -1, no_tls: true, authorization { token: t } }"),
    "jwt cookie without operators": ("", "websocket { port: -1, no_tls: true, jwt_cookie: jw }"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_websocket_blocks_refused_at_startup_as_nats_server(tmp_path, name):
    extra, block = REFUSED[name]
    conf = write_config(tmp_path, "port: -1\n" + extra + block + "\n")
    results = [subprocess.run(cmd + ["-c", conf], capture_output=True, text=True, timeout=20)
               for cmd in ([sys.executable, "-m", "zats.broker"], [require_nats_server()])]
    assert [r.returncode for r in results] == [1, 1]
    zats_line = results[0].stderr.strip().splitlines()[-1]
    nats_line = results[1].stderr.strip().splitlines()[-1]
    assert zats_line.removeprefix("zats-server: ") == nats_line.removeprefix("nats-server: ")


async def test_frames_to_browsers_are_capped(kind, spawn, tmp_path):
    """A client whose User-Agent says Mozilla/ gets frames of at most 4096 bytes, as from
    nats-server; others get a large message in one frame."""
    srv, port = spawn_ws(spawn, kind, tmp_path)
    payload = b"b" * 50_000
    sizes = {}
    for agent in ("Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", "zats-test"):
        async with ws_connect(f"ws://127.0.0.1:{port}", max_size=None,
                              user_agent_header=agent) as ws:
            await ws.recv()  # INFO
            await ws.send(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB big 1\r\n'
                          + b"PUB big %d\r\n%s\r\nPING\r\n" % (len(payload), payload))
            frames = []
            while not b"".join(frames).endswith(b"PONG\r\n"):
                frames.append(await ws.recv())
            assert payload in b"".join(frames)
            sizes[agent.split("/")[0]] = max(len(f) for f in frames)
    assert sizes["Mozilla"] <= 4096
    assert sizes["zats-test"] > 50_000


async def test_shutdown_closes_ws_clients_with_going_away(kind, spawn, tmp_path):
    """On shutdown a WebSocket client gets nats-server's close frame: 1001 Server Shutdown."""
    srv, port = spawn_ws(spawn, kind, tmp_path)
    async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
        await ws.recv()
        await ws.send(b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert await ws.recv() == b"PONG\r\n"
        srv.stop()
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
        assert (ws.close_code, ws.close_reason) == (1001, "Server Shutdown")
