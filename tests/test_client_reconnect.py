"""zats.client reconnection against each server kind: the server is stopped and restarted under
a running subscriber and publisher (nothing flushed before the stop is lost; what is published
during the outage arrives after the reconnect, up to `reconnect_buffer_size`), subscriptions are
restored (with the rest of an auto-unsubscribe count), the server pool is walked with backoff,
servers are discovered from INFO `connect_urls`, lame duck mode moves the client elsewhere, and
giving up closes the connection."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from test_client_support import TIMEOUT, Recorder, eventually

import zats.client as zc
from support.servers import free_port

pytestmark = pytest.mark.timeout(90)

FAST = dict(reconnect_time_wait=0.05, reconnect_jitter=0.01, max_reconnect_attempts=-1,
            connect_timeout=2.0, ping_interval=600)


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


async def test_restart_under_subscriber_and_publisher_on_one_connection(kind, spawn, clients):
    """One connection subscribes and publishes: after the restart its subscriptions are
    restored before its buffered publishes go out, so every message arrives, in order."""
    srv = spawn(kind)
    rec = Recorder()
    nc = await clients(srv.url, **FAST, **rec.callbacks())
    got: list[int] = []
    await nc.subscribe("rc.one", cb=lambda m: got.append(int(bytes(m.data))))
    for i in range(1000):
        nc.publish("rc.one", b"%d" % i)
    await nc.flush()
    assert got == list(range(1000))

    srv.stop()
    await rec.wait("disconnected")
    assert nc.is_reconnecting
    for i in range(1000, 2000):
        nc.publish("rc.one", b"%d" % i)
    flushed = asyncio.ensure_future(nc.flush(timeout=30))
    srv.start()
    await rec.wait("reconnected", timeout=30)
    await asyncio.wait_for(flushed, 30)
    assert got == list(range(2000))
    assert rec.events[:2] == ["disconnected", "reconnected"]
    assert nc.stats["reconnects"] == 1
    assert nc.is_connected and nc.connected_url.port == srv.port


async def test_restart_under_separate_subscriber_and_publisher(kind, spawn, clients):
    """The acceptance scenario with two connections: a subscriber and a publisher that keeps
    publishing through the outage. Everything the publisher flushed before the stop arrived;
    what it published during the outage arrives after both reconnect (the subscriber retries
    fast, the publisher slowly, so the subscriber is back first)."""
    srv = spawn(kind)
    sub_rec, pub_rec = Recorder(), Recorder()
    sub_nc = await clients(srv.url, **{**FAST, **sub_rec.callbacks()})
    pub_nc = await clients(srv.url, **{**FAST, "reconnect_time_wait": 2.0, **pub_rec.callbacks()})
    got: list[int] = []
    await sub_nc.subscribe("rc.two", cb=lambda m: got.append(int(bytes(m.data))))
    await sub_nc.flush()

    stop_publishing = asyncio.Event()
    confirmed = 0  # every message below this was flushed (server acknowledged)
    published = 0

    async def publisher():
        nonlocal confirmed, published
        while not stop_publishing.is_set():
            for _ in range(50):
                pub_nc.publish("rc.two", b"%d" % published)
                published += 1
            if pub_nc.is_connected:
                mark = published
                try:
                    await pub_nc.flush(timeout=1)
                    confirmed = max(confirmed, mark)
                except (zc.ConnectionLostError, zc.FlushTimeoutError):
                    pass
            else:
                await asyncio.sleep(0.01)

    task = asyncio.ensure_future(publisher())
    await eventually(lambda: confirmed >= 2000)
    srv.stop()
    await pub_rec.wait("disconnected")
    await sub_rec.wait("disconnected")
    flushed_before_stop = confirmed
    outage_start = published
    await eventually(lambda: published >= outage_start + 500)
    srv.start()
    await sub_rec.wait("reconnected", timeout=30)
    assert pub_nc.is_reconnecting, "the publisher should come back after the subscriber"
    await pub_rec.wait("reconnected", timeout=30)
    await eventually(lambda: confirmed >= published - 50 and pub_nc.is_connected, timeout=30)
    stop_publishing.set()
    await task
    await pub_nc.flush()
    await sub_nc.flush()

    received = set(got)
    assert set(range(flushed_before_stop)) <= received, "a flushed message was lost"
    outage = set(range(outage_start, outage_start + 500))
    assert outage <= received, "a message published during the outage was lost"
    assert got == sorted(got), "order is kept"
    assert len(got) == len(received), "no duplicates"


async def test_outage_buffer_is_bounded(kind, spawn, clients):
    srv = spawn(kind)
    rec = Recorder()
    nc = await clients(srv.url, **{**FAST, "reconnect_buffer_size": 20_000}, **rec.callbacks())
    got: list[bytes] = []
    await nc.subscribe("rc.bound", cb=lambda m: got.append(bytes(m.data)))
    await nc.flush()
    srv.stop()
    await rec.wait("disconnected")
    accepted = 0
    with pytest.raises(zc.OutboundBufferFullError):
        for i in range(10_000):
            nc.publish("rc.bound", b"%05d" % i + b"x" * 100)
            accepted += 1
    assert 100 < accepted < 400
    waiter = asyncio.ensure_future(nc.apublish("rc.bound", b"after-room"))
    srv.start()
    await rec.wait("reconnected", timeout=30)
    await asyncio.wait_for(waiter, TIMEOUT)
    await nc.flush()
    assert len(got) == accepted + 1 and got[-1] == b"after-room"
    assert [int(g[:5]) for g in got[:-1]] == list(range(accepted))


async def test_auto_unsubscribe_count_survives_reconnect(kind, spawn, clients):
    srv = spawn(kind)
    rec = Recorder()
    nc = await clients(srv.url, **FAST, **rec.callbacks())
    sub = await nc.subscribe("rc.max", max_msgs=10)
    for i in range(4):
        nc.publish("rc.max", b"%d" % i)
    await nc.flush()
    srv.restart()
    await rec.wait("reconnected", timeout=30)
    for i in range(4, 20):
        nc.publish("rc.max", b"%d" % i)
    await nc.flush()
    assert [int(m.data) async for m in sub] == list(range(10))
    assert nc.stats["in_msgs"] == 10


async def test_requests_work_after_reconnect(kind, spawn, clients):
    srv = spawn(kind)
    rec_svc, rec = Recorder(), Recorder()
    svc = await clients(srv.url, **FAST, **rec_svc.callbacks())

    async def handler(msg):
        msg.respond(b"re:" + msg.data)

    await svc.subscribe("rc.svc", cb=handler)
    await svc.flush()
    nc = await clients(srv.url, **FAST, **rec.callbacks())
    assert (await nc.request("rc.svc", b"1", timeout=TIMEOUT)).data == b"re:1"
    srv.restart()
    await rec.wait("reconnected", timeout=30)
    await rec_svc.wait("reconnected", timeout=30)
    await svc.flush()
    assert (await nc.request("rc.svc", b"2", timeout=TIMEOUT)).data == b"re:2"


async def test_gives_up_after_max_reconnect_attempts(kind, spawn, clients):
    srv = spawn(kind)
    rec = Recorder()
    nc = await clients(srv.url, **{**FAST, "max_reconnect_attempts": 3}, **rec.callbacks())
    sub = await nc.subscribe("rc.giveup")
    srv.stop()
    await rec.wait("closed", timeout=30)
    assert nc.is_closed
    assert rec.events[0] == "disconnected" and rec.events[-1] == "closed"
    assert any(isinstance(e, zc.NoServersError) for e in rec.errors)
    with pytest.raises(zc.errors.ConnectionClosedError):
        await sub.next_msg(0.01)


async def test_no_reconnect_when_disallowed(kind, spawn, clients):
    srv = spawn(kind)
    rec = Recorder()
    nc = await clients(srv.url, allow_reconnect=False, **rec.callbacks())
    srv.stop()
    await rec.wait("closed")
    assert nc.is_closed
    assert rec.events == ["disconnected", "closed"]


async def test_server_pool_failover(kind, spawn, clients):
    a = spawn(kind)
    b = spawn(kind)
    rec = Recorder()
    nc = await clients([a.url, b.url], dont_randomize=True, **FAST, **rec.callbacks())
    assert nc.connected_url.port == a.port
    sub = await nc.subscribe("rc.pool")
    await nc.flush()
    a.kill()
    await rec.wait("reconnected", timeout=30)
    assert nc.connected_url.port == b.port
    other = await clients(b.url, allow_reconnect=False)
    other.publish("rc.pool", b"via-b")
    await other.flush()
    assert (await sub.next_msg(TIMEOUT)).data == b"via-b"


async def test_stale_connection_then_reconnect(kind, spawn, clients):
    """The server process is frozen: client PINGs go unanswered, the client drops the
    connection, its reconnect attempts time out (the kernel still accepts), and once the server
    runs again the client is back."""
    srv = spawn(kind)
    rec = Recorder()
    nc = await clients(srv.url, **{**FAST, "ping_interval": 0.1, "max_outstanding_pings": 2,
                                   "connect_timeout": 0.3}, **rec.callbacks())
    await nc.flush()
    os.kill(srv.proc.pid, signal.SIGSTOP)
    try:
        await rec.wait("disconnected")
        await asyncio.sleep(0.5)
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    await rec.wait("reconnected", timeout=30)
    assert any(isinstance(e, zc.StaleConnectionError) for e in rec.errors)
    await nc.flush()


def _cluster_flags(cluster_port: int, route_port: int | None) -> list[str]:
    flags = ["--cluster_name", "zc", "--cluster", f"nats://127.0.0.1:{cluster_port}"]
    if route_port is not None:
        flags += ["--routes", f"nats://127.0.0.1:{route_port}"]
    return flags


async def test_servers_discovered_from_connect_urls(kind, spawn, clients):
    ca, cb = free_port(), free_port()
    a = spawn(kind, *_cluster_flags(ca, None))
    rec = Recorder()
    nc = await clients(a.url, **FAST, **rec.callbacks())
    b = spawn(kind, *_cluster_flags(cb, ca))
    await rec.wait("discovered", timeout=30)
    assert [u.port for u in nc.discovered_servers] == [b.port]
    assert {u.port for u in nc.servers} == {a.port, b.port}
    sub = await nc.subscribe("rc.cluster")
    await nc.flush()
    a.kill()
    await rec.wait("reconnected", timeout=30)
    assert nc.connected_url.port == b.port
    pub = await clients(b.url, allow_reconnect=False)
    pub.publish("rc.cluster", b"through-b")
    await pub.flush()
    assert (await sub.next_msg(TIMEOUT)).data == b"through-b"


async def test_lame_duck_mode_moves_to_another_server(kind, spawn, clients):
    a = spawn(kind)
    b = spawn(kind)
    rec = Recorder()
    nc = await clients([a.url, b.url], dont_randomize=True, **FAST, **rec.callbacks())
    assert nc.connected_url.port == a.port
    sub = await nc.subscribe("rc.ldm")
    await nc.flush()
    os.kill(a.proc.pid, signal.SIGUSR2)
    await rec.wait("lame_duck", timeout=10)
    # nats-server waits a 10 s grace period before closing clients: moving within a couple of
    # seconds means the client acted on the INFO itself.
    await rec.wait("reconnected", timeout=3)
    assert nc.connected_url.port == b.port
    nc.publish("rc.ldm", b"on-b")
    assert (await sub.next_msg(TIMEOUT)).data == b"on-b"
