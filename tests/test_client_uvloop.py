"""The main zats.client scenarios again under uvloop (the other test modules run on asyncio's
default loop): uvloop reads many times per readiness event and queues writes to the end of the
loop iteration, both of which the client's read-burst cap and write batching deal with."""

from __future__ import annotations

import asyncio

import pytest

uvloop = pytest.importorskip("uvloop")

from test_client_support import TIMEOUT, Recorder, eventually, take_pending  # noqa: E402

import zats.client as zc  # noqa: E402

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def event_loop_policy():
    return uvloop.EventLoopPolicy()


async def test_running_on_uvloop():
    assert "uvloop" in type(asyncio.get_running_loop()).__module__


async def test_pub_sub_all_modes(server):
    nc = await zc.connect(server.url, allow_reconnect=False)
    pub = await zc.connect(server.url, allow_reconnect=False)
    try:
        n = 20_000
        inline: list[bytes] = []
        queued: list[bytes] = []
        done = asyncio.Event()

        async def acb(msg):
            queued.append(msg.data)
            if len(queued) == n:
                done.set()

        await nc.subscribe("uv.all", cb=lambda m: inline.append(bytes(m.data)))
        await nc.subscribe("uv.all", cb=acb)
        it = await nc.subscribe("uv.all")
        await nc.flush()
        expected = [b"%d" % i for i in range(n)]
        for p in expected:
            pub.publish("uv.all", p)
        await pub.flush()
        got = []
        async for m in it:
            got.append(m.data)
            if len(got) == n:
                break
        await asyncio.wait_for(done.wait(), TIMEOUT)
        await nc.flush()
        assert got == queued == inline == expected
    finally:
        await nc.close()
        await pub.close()


async def test_requests(server):
    svc = await zc.connect(server.url, allow_reconnect=False)
    nc = await zc.connect(server.url, allow_reconnect=False)
    try:
        await svc.subscribe("uv.rr", cb=lambda m: m.respond(bytes(m.data) * 2))
        await svc.flush()
        replies = await asyncio.gather(*(nc.request("uv.rr", b"%d" % i, timeout=TIMEOUT) for i in range(500)))
        assert [r.data for r in replies] == [b"%d" % i * 2 for i in range(500)]
        with pytest.raises(zc.NoRespondersError):
            await nc.request("uv.nobody", b"", timeout=TIMEOUT)
    finally:
        await nc.close()
        await svc.close()


async def test_restart(kind, spawn):
    srv = spawn(kind)
    rec = Recorder()
    nc = await zc.connect(srv.url, reconnect_time_wait=0.05, max_reconnect_attempts=-1, **rec.callbacks())
    try:
        sub = await nc.subscribe("uv.rc")
        nc.publish("uv.rc", b"1")
        await nc.flush()
        srv.stop()
        await rec.wait("disconnected")
        nc.publish("uv.rc", b"2")
        srv.start()
        await rec.wait("reconnected", timeout=30)
        await nc.flush()
        assert [m.data for m in await take_pending(sub)] == [b"1", b"2"]
    finally:
        await nc.close()


async def test_big_payloads(server):
    nc = await zc.connect(server.url, allow_reconnect=False)
    try:
        sub = await nc.subscribe("uv.big")
        sizes = [1024 * 1024, 300_000, 5, 700_000]
        for i, size in enumerate(sizes):
            nc.publish("uv.big", bytes([i]) * size)
        await nc.flush()
        await eventually(lambda: sub.pending_msgs == len(sizes))
        got = await take_pending(sub)
        assert [len(m.data) for m in got] == sizes
    finally:
        await nc.close()
