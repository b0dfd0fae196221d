"""The WebSocket listener (`websocket { }`), configured alike for zats and the real nats-server
from one configuration file: nats-py's WebSocket transport (aiohttp) doing pub/sub/request with
headers and large payloads over ws:// and wss://, the INFO a WebSocket client gets, compression,
origin checks, cookies and the websocket authorization block, X-Forwarded-For in /connz, /varz.
Hostile upgrades and frames are in tests/hostile/test_hostile_websocket.py."""

from __future__ import annotations

import asyncio
import json
import ssl

import nats
import pytest
import trustme

from support.http import exchange, status_and_body, without_date
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
    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=3, **kw)
    try:
        sub = await nc.subscribe("ws.>")

        async def echo(msg):
            await msg.respond(b"re:" + msg.data)

        await nc.subscribe("svc", cb=echo)
        await nc.publish("ws.small", b"hello", headers={"Trace": "1"})
        msg = await sub.next_msg(timeout=3)
        assert (msg.subject, msg.data, msg.headers) == ("ws.small", b"hello", {"Trace": "1"})
        big = bytes(range(256)) * 3000  # 768 KB
        await nc.publish("ws.big", big)
        assert (await sub.next_msg(timeout=5)).data == big
        for i in range(200):  # many ops in a frame, ops across frames
            await nc.publish(f"ws.n.{i}", b"%d" % i * (i % 7))
        got = [await sub.next_msg(timeout=3) for _ in range(200)]
        assert [m.data for m in got] == [b"%d" % i * (i % 7) for i in range(200)]
        reply = await nc.request("svc", b"ping", timeout=3)
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
        await tcp.flush()
        await ws.publish("meet", b"from ws")
        assert (await sub.next_msg(timeout=3)).data == b"from ws"
        sub2 = await ws.subscribe("back")
        await ws.flush()
        await tcp.publish("back", b"from tcp")
        assert (await sub2.next_msg(timeout=3)).data == b"from tcp"
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
