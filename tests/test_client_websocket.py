"""zats.client over ws:// and wss:// against a server's `websocket {}` listener, zats and
nats-server configured alike: publish/subscribe, headers, requests, payloads larger than any
read, traffic crossing between WebSocket and TCP clients (and nats-py over WebSocket), wss://
with the client's TLS context, reconnecting after a restart, servers discovered from a cluster
keeping the ws scheme, and the URL rules (default ports, no mixing of ws and nats URLs)."""

from __future__ import annotations

import ssl

import pytest
from test_client_support import TIMEOUT, Recorder

import zats.client as zc
from support.servers import KINDS, free_port
from support.websocket import start_ws_server

trustme = pytest.importorskip("trustme")

pytestmark = pytest.mark.timeout(60)

FAST = dict(reconnect_time_wait=0.05, reconnect_jitter=0.01, max_reconnect_attempts=-1,
            connect_timeout=2.0, ping_interval=600)


@pytest.fixture(params=KINDS)
def ws_kind(request) -> str:
    return request.param


@pytest.fixture
def ws_spawn(tmp_path):
    """Factory: ws_spawn(kind, **start_ws_server kwargs) -> WsServer, stopped at teardown."""
    started = []

    def _spawn(kind, **kw):
        srv = start_ws_server(kind, tmp_path, **kw)
        started.append(srv)
        return srv

    yield _spawn
    for srv in started:
        srv.proc.stop()


@pytest.fixture
async def clients():
    made: list[zc.Client] = []

    async def _connect(servers, **kw) -> zc.Client:
        nc = await zc.connect(servers, **kw)
        made.append(nc)
        return nc

    yield _connect
    for nc in made:
        await nc.close()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def certs(ca, tmp_path):
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return dict(cert=str(cert_file), key=str(key_file), ctx=ctx)


async def _exercise(nc: zc.Client, prefix: str) -> None:
    """Subscribe, publish with and without headers, request, and a payload far larger than a
    read or a frame of the server's, all on `nc`."""
    sub = await nc.subscribe(f"{prefix}.>")
    nc.publish(f"{prefix}.plain", b"hello")
    nc.publish(f"{prefix}.hdr", b"with headers", headers={"X-Trace": "abc", "X-Multi": "1"})
    big = bytes(range(256)) * 4000  # 1,024,000 bytes: under the 1 MiB default max_payload
    nc.publish(f"{prefix}.big", big)
    got = [await sub.next_msg(TIMEOUT) for _ in range(3)]
    assert [m.subject for m in got] == [f"{prefix}.plain", f"{prefix}.hdr", f"{prefix}.big"]
    assert got[0].data == b"hello" and not got[0].headers
    assert got[1].data == b"with headers" and got[1].headers["X-Trace"] == "abc"
    assert got[2].data == big

    async def echo(msg):
        msg.respond(b"re:" + msg.data, headers={"Served-By": "ws"})

    await nc.subscribe(f"svc.{prefix}", cb=echo)
    for n in range(20):
        reply = await nc.request(f"svc.{prefix}", b"q%d" % n, timeout=TIMEOUT)
        assert reply.data == b"re:q%d" % n and reply.headers["Served-By"] == "ws"
    await sub.unsubscribe()


async def test_pub_sub_request_headers_over_ws(ws_kind, ws_spawn, clients):
    srv = ws_spawn(ws_kind)
    nc = await clients(srv.ws_url, allow_reconnect=False)
    assert nc.connected_url.scheme == "ws"
    assert nc.server_info.headers
    await _exercise(nc, "ws")


async def test_ws_and_tcp_clients_see_each_other(ws_kind, ws_spawn, clients):
    srv = ws_spawn(ws_kind)
    over_ws = await clients(srv.ws_url, allow_reconnect=False)
    over_tcp = await clients(srv.url, allow_reconnect=False)
    ws_sub = await over_ws.subscribe("cross.to_ws")
    tcp_sub = await over_tcp.subscribe("cross.to_tcp")
    await over_ws.flush()
    await over_tcp.flush()
    for n in range(100):
        over_tcp.publish("cross.to_ws", b"t%d" % n)
        over_ws.publish("cross.to_tcp", b"w%d" % n)
    assert [(await ws_sub.next_msg(TIMEOUT)).data for _ in range(100)] == [b"t%d" % n for n in range(100)]
    assert [(await tcp_sub.next_msg(TIMEOUT)).data for _ in range(100)] == [b"w%d" % n for n in range(100)]


async def test_bursts_both_ways_with_flow_control(ws_kind, ws_spawn, clients):
    """Tens of megabytes published over ws faster than the socket drains (the transport pauses
    the writer) and a burst of varied sizes received over ws (reads throttled per loop
    iteration): every message arrives, in order, intact."""
    srv = ws_spawn(ws_kind)
    over_ws = await clients(srv.ws_url, allow_reconnect=False)
    over_tcp = await clients(srv.url, allow_reconnect=False, pending_bytes_limit=-1,
                             pending_msgs_limit=-1)
    sizes = [0, 1, 100, 4_000, 70_000, 300_000]
    to_tcp = await over_tcp.subscribe("burst.up", pending_bytes_limit=-1, pending_msgs_limit=-1)
    to_ws = await over_ws.subscribe("burst.down", pending_bytes_limit=-1, pending_msgs_limit=-1)
    await over_tcp.flush()
    await over_ws.flush()
    count = 300
    for n in range(count):
        payload = bytes([n % 251]) * sizes[n % len(sizes)]
        try:
            over_ws.publish("burst.up", payload)
        except zc.OutboundBufferFullError:
            await over_ws.wait_writable()
            over_ws.publish("burst.up", payload)
        over_tcp.publish("burst.down", payload)
    for sub in (to_tcp, to_ws):
        for n in range(count):
            msg = await sub.next_msg(TIMEOUT)
            assert msg.data == bytes([n % 251]) * sizes[n % len(sizes)], n


async def test_nats_py_over_ws_talks_to_zats_client_over_ws(ws_kind, ws_spawn, clients):
    nats = pytest.importorskip("nats")
    pytest.importorskip("aiohttp")  # nats-py's WebSocket transport
    srv = ws_spawn(ws_kind)
    ours = await clients(srv.ws_url, allow_reconnect=False)

    async def echo(msg):
        msg.respond(msg.data.upper())

    await ours.subscribe("natspy.svc", cb=echo)
    await ours.flush()
    theirs = await nats.connect(srv.ws_url, allow_reconnect=False)
    try:
        reply = await theirs.request("natspy.svc", b"ping", timeout=TIMEOUT)
        assert reply.data == b"PING"
    finally:
        await theirs.close()


async def test_wss_with_the_clients_tls_context(ws_kind, ws_spawn, clients, certs):
    srv = ws_spawn(ws_kind, cert=certs["cert"], key=certs["key"])
    nc = await clients(srv.ws_url, tls=certs["ctx"], allow_reconnect=False)
    assert nc.connected_url.scheme == "wss"
    assert nc._conn.tls
    await _exercise(nc, "wss")


async def test_wss_untrusted_certificate_fails(ws_kind, ws_spawn, certs):
    srv = ws_spawn(ws_kind, cert=certs["cert"], key=certs["key"])
    with pytest.raises(zc.NoServersError) as info:
        await zc.connect(srv.ws_url, allow_reconnect=False, connect_timeout=2)
    assert isinstance(info.value.__cause__, zc.errors.SecureConnFailedError)


async def test_reconnect_over_ws_restores_subscriptions(ws_kind, ws_spawn, clients):
    srv = ws_spawn(ws_kind)
    rec = Recorder()
    nc = await clients(srv.ws_url, **FAST, **rec.callbacks())
    sub = await nc.subscribe("rc.ws")
    nc.publish("rc.ws", b"before")
    assert (await sub.next_msg(TIMEOUT)).data == b"before"
    srv.proc.restart()
    await rec.wait("reconnected", timeout=30)
    assert nc.connected_url.scheme == "ws"
    await nc.flush()  # the SUB restored on the new connection is in place
    nc.publish("rc.ws", b"after")
    assert (await sub.next_msg(TIMEOUT)).data == b"after"
    reply_sub = await nc.subscribe("rc.svc", cb=lambda m: m.respond(b"ok"))
    assert (await nc.request("rc.svc", b"", timeout=TIMEOUT)).data == b"ok"
    await reply_sub.unsubscribe()


def _cluster(name: str, port: int, route_to: int | None) -> str:
    routes = f", routes: [nats://127.0.0.1:{route_to}]" if route_to else ""
    return f"cluster {{ name: wsc, host: 127.0.0.1, port: {port} {routes} }}\nserver_name: {name}"


async def test_discovered_servers_keep_the_ws_scheme(ws_kind, ws_spawn, clients):
    """The server gives a WebSocket client its cluster's websocket URLs as connect_urls; the
    client dials them with ws://, as nats.go does, and fails over to them."""
    ca, cb = free_port(), free_port()
    a = ws_spawn(ws_kind, extra=_cluster("a", ca, None))
    rec = Recorder()
    nc = await clients(a.ws_url, **FAST, **rec.callbacks())
    b = ws_spawn(ws_kind, extra=_cluster("b", cb, ca))
    await rec.wait("discovered", timeout=30)
    assert [(u.scheme, u.port) for u in nc.discovered_servers] == [("ws", b.ws_port)], \
        f"client ports: a={a.proc.port} b={b.proc.port}, ws ports: a={a.ws_port} b={b.ws_port}"
    sub = await nc.subscribe("rc.cluster")
    await nc.flush()
    a.proc.kill()
    await rec.wait("reconnected", timeout=30)
    assert (nc.connected_url.scheme, nc.connected_url.port) == ("ws", b.ws_port)
    await nc.flush()
    pub = await clients(b.url, allow_reconnect=False)
    pub.publish("rc.cluster", b"through-b")
    await pub.flush()
    assert (await sub.next_msg(TIMEOUT)).data == b"through-b"


def test_ws_url_rules():
    assert zc.options.parse_url("ws://example.com").port == 80
    assert zc.options.parse_url("wss://example.com").port == 443
    assert zc.options.parse_url("ws://example.com:8080/nats").path == "/nats"
    with pytest.raises(zc.ZatsError, match="mixing"):
        zc.Client(servers=["ws://a:1", "nats://b:2"])
