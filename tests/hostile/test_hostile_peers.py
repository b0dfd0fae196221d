"""Hostile probes: route and leafnode peer abuse. A peer that completed the handshake (the
cluster port needs no credentials by default, nor does a leafnode port without authorization)
declares huge sizes, floods interest with queue weights, sends garbage, handshakes slowly,
disconnects in the middle of a message, or gossips websocket URLs that are not a list of strings. Each probe runs against zats and nats-server configured
alike and checks what the offender gets, that a client bystander keeps its messages and its
responsiveness, and that the server's memory stays bounded."""

from __future__ import annotations

import asyncio
import json
import re
import socket

import pytest
from websockets.asyncio.client import connect as ws_connect

from support.hostile import Bystander, FanOutCrowd, MemoryWatch, Pinger
from support.peers import (
    Peer,
    fresh_id,
    leaf_handshake,
    leaf_hub,
    route_connect,
    route_handshake,
    route_info,
    route_node,
)
from support.servers import free_port, wait_for_port, write_config
from support.websocket import ws_block
from support.wire import Wire

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["route", "leaf"])
def port_kind(request):
    return request.param


@pytest.fixture
def target(kind, spawn, tmp_path, port_kind):
    """A server with a route or a leafnode port (`.peer_port`)."""
    if port_kind == "route":
        srv = route_node(spawn, kind)
        srv.peer_port = srv.cluster_port
    else:
        srv = leaf_hub(spawn, kind, tmp_path)
        srv.peer_port = srv.leaf_port
    srv.port_kind = port_kind
    return srv


def peer(srv) -> Peer:
    """A peer past the handshake, with a server id of its own."""
    p = Peer(srv.host, srv.peer_port)
    if srv.port_kind == "route":
        route_handshake(p, peer_id=fresh_id())
    else:
        leaf_handshake(p, peer_id=fresh_id("NLEAFFRESH"))
    return p


_NOISE = re.compile(rb"(?:(?:RS\+|LS\+|RS-|LS-|INFO|PING|A\+|A-)(?: [^\r\n]*)?\r\n)*")


def answer(p: Peer, timeout: float = 5.0) -> bytes:
    """What the server said before closing the peer, without interest, INFO and PING lines
    (the bystanders' interest and gossip, which are no answer)."""
    got = p.expect_closed(timeout=timeout)
    return b"".join(line + b"\r\n" for line in got.split(b"\r\n")
                    if line and not _NOISE.fullmatch(line + b"\r\n"))


def still_open(p: Peer, wait: float = 0.3) -> None:
    """The peer is not closed and got nothing but noise for `wait` seconds."""
    import time

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        p.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = p.sock.recv(65536)
        except TimeoutError:
            break
        assert chunk, "closed"
        p.buf += chunk
    assert _NOISE.fullmatch(p.buf), p.buf[:300]


def send(p: Peer, data: bytes) -> None:
    try:
        p.send(data)
    except OSError:
        pass  # closed while we were still writing


def test_huge_declared_sizes_cost_nothing_until_the_bytes_arrive(target):
    # A route has no payload limit in nats-server: the message waits for its bytes, which
    # never come. A leaf's limit is max_payload, refused from the control line.
    line = b"RMSG $G foo 400000000\r\n" if target.port_kind == "route" else b"LMSG foo 400000000\r\n"
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        offenders = [peer(target) for _ in range(3)]
        try:
            for p in offenders:
                send(p, line + b"x" * 65536)
            for p in offenders:
                if target.port_kind == "route":
                    still_open(p)
                else:
                    assert answer(p) == b"-ERR 'Maximum Payload Violation'\r\n"
            with Bystander(target.host, target.port) as other:
                other.check()
        finally:
            for p in offenders:
                p.close()
        pinger.assert_unharmed()
        memory.assert_bounded(32 * 1024)


def test_queue_weight_flood_is_cheap(target):
    # 2,000 queue groups of weight 1,000 each (45 KB): a number per group, not a thousand
    # entries; a publish that reaches them all is one message to the peer naming every group.
    op = b"RS+ $G " if target.port_kind == "route" else b"LS+ "
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        with peer(target) as p:
            p.send(b"".join(op + b"q.x g%d 1000\r\n" % i for i in range(2000)))
            p.barrier()
            with Wire(target.host, target.port) as client:
                client.connect()
                client.send(b"PUB q.x 2\r\nhi\r\nPING\r\n")
                client.expect(rb"PONG\r\n")
            line, payload = p.op()
            while line.startswith((b"RS+", b"LS+")):
                line, payload = p.op()
            m = re.fullmatch(rb"[RL]MSG (?:\$G )?q.x \| ((?:g\d+ ?)+) 2", line)
            assert m and len(m.group(1).split()) == 2000 and payload == b"hi", line[:200]
            p.barrier()
        pinger.assert_unharmed()
        memory.assert_bounded(32 * 1024)


GARBAGE = {
    "binary noise": bytes(range(256)) * 4,
    "unknown op": b"FOO bar\r\n",
    "message op without arguments": b"RMSG\r\n",
}


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
def test_garbage_after_the_handshake_closes_only_the_offender(target, garbage):
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        for _ in range(10):
            with peer(target) as p:
                send(p, GARBAGE[garbage])
                assert answer(p) == b"-ERR 'Unknown Protocol Operation'\r\n"
        pinger.assert_unharmed()
        memory.assert_bounded()


def test_slow_handshakes_do_not_hold_up_clients(target):
    """Peers that send half a CONNECT and then nothing."""
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        socks = []
        try:
            for _ in range(50):
                s = socket.create_connection((target.host, target.peer_port))
                s.sendall(b'CONNECT {"name":"slow')
                socks.append(s)
            with Bystander(target.host, target.port) as other:
                other.check()  # while the half handshakes are pending
        finally:
            for s in socks:
                s.close()
        pinger.assert_unharmed()
        memory.assert_bounded()


def test_disconnect_in_the_middle_of_a_message(target):
    """A peer that declares a message and leaves halfway: nothing is delivered, nothing breaks."""
    line = b"RMSG $G foo 100\r\n" if target.port_kind == "route" else b"LMSG foo 100\r\n"
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger, \
            Wire(target.host, target.port) as watcher:
        watcher.connect()
        watcher.send(b"SUB foo 1\r\nPING\r\n")
        watcher.expect(rb"PONG\r\n")
        for _ in range(20):
            with peer(target) as p:
                p.send(line + b"x" * 50)
        watcher.send(b"PING\r\n")
        watcher.expect(rb"PONG\r\n")
        watcher.expect_nothing()
        pinger.assert_unharmed()
        memory.assert_bounded()
    if target.kind == "zats":
        text = target.stderr_text()
        assert "internal error" not in text and "Traceback" not in text, text[-2000:]


def test_fan_out_bomb_from_a_peer_does_not_stall_others(target):
    """A route or leaf peer whose messages reach tens of thousands of local subscriptions each:
    millions of deliveries from one read. As for a client's (see test_hostile_protocol), the
    server must deliver them in slices, serving other connections in between, and lose none."""
    subscribers, subs_each, messages = 3, 20_000, 150
    op = b"RMSG $G " if target.port_kind == "route" else b"LMSG "
    with Pinger(target.host, target.port) as pinger:
        with FanOutCrowd(target.host, target.port, subscribers, subs_each) as crowd:
            with peer(target) as p:
                # Each message another subject, as real traffic: no run of identical frames.
                p.send(b"".join(op + b"fan.%d 5\r\nhello\r\n" % n for n in range(messages)) +
                       b"PING\r\n")
                p.expect(rb"(?:[^\r\n]*\r\n)*?PONG\r\n", timeout=60)
            expected = subs_each * messages
            assert crowd.wait(expected) == [expected] * subscribers
        pinger.assert_unharmed()


def test_huge_queue_weight_is_a_number(target):
    # zats only: nats-server 2.15.1 expands a remote member's weight into that many entries of
    # the match result, so a message on q.x after this costs it minutes and gigabytes.
    if target.kind != "zats":
        pytest.skip("nats-server expands the weight into 999,999,999 match entries")
    op = b"RS+ $G " if target.port_kind == "route" else b"LS+ "
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        with peer(target) as p:
            p.send(op + b"q.x g 999999999\r\n")
            p.barrier()
            with Wire(target.host, target.port) as client:
                client.connect()
                client.send(b"PUB q.x 2\r\nhi\r\nPING\r\n")
                client.expect(rb"PONG\r\n")
            line, payload = p.op()
            while line.startswith((b"RS+", b"LS+")):
                line, payload = p.op()
            assert re.fullmatch(rb"[RL]MSG (?:\$G )?q.x \| g 2", line) and payload == b"hi", line
        pinger.assert_unharmed()
        memory.assert_bounded(32 * 1024)


_BAD_WS_URLS = [
    # (ws_connect_urls in the route's INFO, what the route gets, the URLs the WebSocket client
    # is told of: None when no asynchronous INFO at all)
    ("notalist", b"", None),
    ([1, 2], b"", None),
    ([{"a": 1}], b"", None),
    (["x" * 100_000], b"-ERR 'maximum control line exceeded'\r\n", None),
    (["ws://10.0.0.1:1", "\r\nPUB x 1"], None, ["ws://10.0.0.1:1", "\r\nPUB x 1"]),
]


@pytest.mark.parametrize("urls,route_gets,ws_told", _BAD_WS_URLS,
                         ids=["string", "numbers", "objects", "huge", "crlf"])
async def test_route_info_with_bad_ws_connect_urls(kind, spawn, tmp_path, urls, route_gets,
                                                   ws_told):
    """A route's INFO whose ws_connect_urls are of the wrong type or too long costs the route
    its connection (silently, or past the control-line limit with -ERR), as in nats-server; a
    WebSocket client of the server keeps its session and is told of nothing, or of the URLs
    exactly as given (JSON keeps a CRLF inside a string from splitting the INFO line)."""
    cport, wport = free_port(), free_port()
    conf = f"cluster {{ name: C1, host: 127.0.0.1, port: {cport} }}\n" + \
        ws_block(wport, host="127.0.0.1")
    srv = spawn(kind, "-c", write_config(tmp_path, conf))
    wait_for_port(srv.host, wport, srv.proc)
    async with ws_connect(f"ws://127.0.0.1:{wport}") as ws:
        await ws.recv()  # INFO
        await ws.send(b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPING\r\n')
        rest = (await _ws_lines_until_pong(ws, b""))[-1]
        p = Peer(srv.host, cport)
        p.read_info()
        peer_id = fresh_id()
        send(p, route_connect("C1", peer_id=peer_id) +
             route_info("C1", peer_id, ws_connect_urls=urls))
        if route_gets is None:
            p.barrier()  # the route is up and answers
        else:
            assert answer(p) == route_gets
        # The client's PING after the route's INFO was handled: its PONG comes after any INFO.
        await ws.send(b"PING\r\n")
        told = []
        for line in (await _ws_lines_until_pong(ws, rest))[:-1]:
            if line.startswith(b"INFO "):
                body = json.loads(line[5:])
                if not body.get("connect_info"):  # nats-server 2.15's INFO answering CONNECT
                    told.append(body["connect_urls"])
        if ws_told is None:
            assert told == []
        else:  # the server's own URL and the route's, in no fixed order (nats-server's map)
            assert len(told) == 1 and sorted(told[0]) == sorted([f"127.0.0.1:{wport}", *ws_told]), told


async def _ws_lines_until_pong(ws, buf: bytes) -> list[bytes]:
    """The lines a WebSocket client gets up to its next PONG, then what followed it in the
    same frame."""
    lines = []
    while True:
        while b"\r\n" not in buf:
            buf += await asyncio.wait_for(ws.recv(), 10)
        line, _, buf = buf.partition(b"\r\n")
        if line == b"PONG":
            return lines + [buf]
        lines.append(line)
