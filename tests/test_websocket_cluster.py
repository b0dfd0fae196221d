"""The websocket URLs of a cluster, zats and nats-server configured alike from configuration
files: each server's `ws_connect_urls` (its websocket `advertise`, else the listener's address on
each interface) in its route INFO, the cluster's websocket URLs as the `connect_urls` of a
WebSocket client's INFO (TCP clients keep the client ports'), the asynchronous INFO a WebSocket
client gets when a server with a websocket listener joins, leaves or enters lame duck mode (and
does not get when one without joins), `ws_connect_urls` and `websocket.advertise` in /varz, and a
bad `advertise` refused at startup."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from test_client_support import eventually
from websockets.asyncio.client import connect as ws_connect

from support.servers import KINDS, free_port, require_nats_server, start_server, wait_for_port
from support.websocket import ws_block

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 10.0
MIXES = [("zats", "zats"), ("zats", "nats-server"), ("nats-server", "zats")]
CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPING\r\n'


class Node:
    """A server with a cluster listener, a monitoring port and maybe a websocket listener."""

    def __init__(self, srv, cluster_port: int, ws_port: int | None):
        self.srv = srv
        self.cluster_port = cluster_port
        self.ws_port = ws_port

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    def varz(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.srv.http_port}/varz",
                                    timeout=5) as r:
            return json.load(r)

    def routes(self) -> int:
        return self.varz()["routes"]


@pytest.fixture
def node(tmp_path):
    """Factory: node(kind, name, route_to=None, ws=True, **websocket fields) -> Node."""
    started = []

    def _start(kind: str, name: str, route_to: Node | None = None, ws: bool = True,
               **fields) -> Node:
        cport = free_port()
        routes = f", routes: [nats://127.0.0.1:{route_to.cluster_port}]" if route_to else ""
        text = (f"server_name: {name}\nlame_duck_duration: \"30s\"\nlame_duck_grace_period: \"10s\"\n"
                f"cluster {{ name: wsc, host: 127.0.0.1, port: {cport} {routes} }}\n")
        ws_port = None
        if ws:
            ws_port = free_port()
            text += ws_block(ws_port, **{"host": "127.0.0.1", **fields})
        path = tmp_path / f"{name}-{kind}.conf"
        path.write_text(text)
        srv = start_server(kind, "-c", str(path), http_port=free_port())
        started.append(srv)
        if ws_port:
            wait_for_port(srv.host, ws_port, srv.proc)
        return Node(srv, cport, ws_port)

    yield _start
    for srv in started:
        srv.stop()


async def _first_line_info(port: int) -> dict:
    """The INFO a server sends first on a TCP port (client or route)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        line = await asyncio.wait_for(reader.readline(), TIMEOUT)
        assert line.startswith(b"INFO ")
        return json.loads(line[5:])
    finally:
        writer.close()


async def _ws_info(node: Node) -> dict:
    async with ws_connect(node.ws_url) as ws:
        return _info(await asyncio.wait_for(ws.recv(), TIMEOUT))


def _info(frame: bytes) -> dict:
    assert frame.startswith(b"INFO "), frame
    return json.loads(frame[5:])


class Lines:
    """The protocol lines a server sends a client, over a WebSocket (a frame may hold several)
    or a TCP stream."""

    def __init__(self, ws=None, reader: asyncio.StreamReader | None = None):
        self.ws, self.reader = ws, reader
        self.buf = b""

    async def line(self) -> bytes:
        if self.reader is not None:
            return (await asyncio.wait_for(self.reader.readline(), TIMEOUT)).rstrip(b"\r\n")
        while b"\r\n" not in self.buf:
            self.buf += await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    async def until_pong(self) -> list[dict]:
        """The asynchronous INFOs that come before the next PONG."""
        infos = []
        while (line := await self.line()) != b"PONG":
            if _async_info(line):
                infos.append(_info(line))
        return infos

    async def next_info(self) -> dict:
        while not _async_info(line := await self.line()):
            pass
        return _info(line)


def _async_info(line: bytes) -> bool:
    """An INFO telling of a change (not nats-server 2.15's INFO answering CONNECT, which has
    `connect_info`)."""
    return line.startswith(b"INFO ") and not json.loads(line[5:]).get("connect_info")


async def _ready(lines: Lines, send) -> None:
    """Past the first INFO, CONNECT with protocol 1 (asynchronous INFO wanted) and PING, until
    the PONG."""
    await lines.line()
    await send(CONNECT)
    assert await lines.until_pong() == []


@pytest.mark.parametrize("first, second", MIXES)
async def test_ws_connect_urls_in_route_info_client_info_and_varz(node, first, second):
    """A server's route INFO carries its websocket URLs (the advertise address, or the
    listener's); WebSocket clients of either server are told both servers' websocket URLs, TCP
    clients both client ports; /varz shows them and the advertise address."""
    a = node(first, "a")
    b = node(second, "b", route_to=a, advertise='"ws.example.com:1234"')
    a_ws, b_ws = f"127.0.0.1:{a.ws_port}", "ws.example.com:1234"
    assert (await _first_line_info(a.cluster_port))["ws_connect_urls"] == [a_ws]
    assert (await _first_line_info(b.cluster_port))["ws_connect_urls"] == [b_ws]
    await eventually(lambda: a.routes() == 1 and b.routes() == 1, TIMEOUT)
    ws_urls = {a_ws, b_ws}
    tcp_urls = {f"127.0.0.1:{a.srv.port}", f"127.0.0.1:{b.srv.port}"}
    for n in (a, b):
        await eventually(lambda n=n: set(n.varz().get("ws_connect_urls", ())) == ws_urls, TIMEOUT)
        assert set(n.varz()["connect_urls"]) == tcp_urls
        assert set((await _ws_info(n))["connect_urls"]) == ws_urls
        assert set((await _first_line_info(n.srv.port))["connect_urls"]) == tcp_urls
    assert b.varz()["websocket"]["advertise"] == b_ws
    assert "advertise" not in a.varz()["websocket"]


@pytest.mark.parametrize("first, second", MIXES)
async def test_ws_client_told_when_ws_servers_join_and_leave(node, first, second):
    """A WebSocket client gets an asynchronous INFO when a server with a websocket listener
    joins (an advertise address without a port takes the listener's), and when it enters lame
    duck mode; not when a server without one joins, which only TCP clients hear of. The server
    in lame duck mode tells its own WebSocket clients the others' websocket URLs."""
    a = node(first, "a")
    async with ws_connect(a.ws_url) as ws_a:
        on_a = Lines(ws_a)
        await _ready(on_a, ws_a.send)
        reader, writer = await asyncio.open_connection("127.0.0.1", a.srv.port)
        try:
            tcp = Lines(reader=reader)

            async def send(data: bytes) -> None:
                writer.write(data)
                await writer.drain()

            await _ready(tcp, send)
            c = node(second, "c", route_to=a, ws=False)
            assert set((await tcp.next_info())["connect_urls"]) == {
                f"127.0.0.1:{a.srv.port}", f"127.0.0.1:{c.srv.port}"}
        finally:
            writer.close()
        # The server queued its INFOs to every client at once: none came to the WebSocket one.
        await ws_a.send(b"PING\r\n")
        assert await on_a.until_pong() == []
        b = node(second, "b", route_to=a, advertise='"ws.example.com"')
        a_ws, b_ws = f"127.0.0.1:{a.ws_port}", f"ws.example.com:{b.ws_port}"
        assert set((await on_a.next_info())["connect_urls"]) == {a_ws, b_ws}
        await eventually(lambda: a_ws in b.varz().get("ws_connect_urls", ()), TIMEOUT)
        async with ws_connect(b.ws_url) as ws_b:
            on_b = Lines(ws_b)
            await _ready(on_b, ws_b.send)
            os.kill(b.srv.proc.pid, signal.SIGUSR2)
            ldm = await on_b.next_info()
            assert ldm["ldm"] is True and ldm["connect_urls"] == [a_ws]
        assert (await on_a.next_info())["connect_urls"] == [a_ws]


async def test_ws_listener_on_every_interface_advertises_each_address(node):
    """Bound to 0.0.0.0 without advertise, both servers list the same addresses."""
    urls = []
    for kind in KINDS:
        n = node(kind, f"any-{kind}", host="0.0.0.0")
        got = (await _first_line_info(n.cluster_port))["ws_connect_urls"]
        assert got and all(u.endswith(f":{n.ws_port}") for u in got)
        urls.append([u.rpartition(":")[0] for u in got])
    assert urls[0] == urls[1]


@pytest.mark.parametrize("advertise", ["a:b:c", "[::1", "host:x"])
def test_bad_ws_advertise_stops_the_server_as_nats_server(tmp_path, advertise):
    conf = tmp_path / "bad.conf"
    conf.write_text(f'port: -1\nwebsocket {{ port: -1, no_tls: true, advertise: "{advertise}" }}\n')
    results = [subprocess.run(cmd + ["-c", str(conf)], capture_output=True, text=True, timeout=20)
               for cmd in ([sys.executable, "-m", "zats.broker"], [require_nats_server()])]
    assert [r.returncode for r in results] == [1, 1]
    zats_line = results[0].stderr.strip().splitlines()[-1]
    nats_line = results[1].stderr.strip().splitlines()[-1]
    assert zats_line.removeprefix("zats-server: ").startswith("Unable to get websocket connect URLs: ")
    assert nats_line.endswith("[FTL] " + zats_line.removeprefix("zats-server: "))
