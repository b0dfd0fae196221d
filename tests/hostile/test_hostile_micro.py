"""Hostile probes of a zats.client.micro service, against zats and nats-server alike: requesters
and handlers that misbehave. What the offender gets, and what the bystanders keep:

* a handler that hangs on one request: discovery (answered inline, not behind the handler) and
  the other endpoints keep answering;
* requests without a reply subject, huge and binary payloads, headers that look like error
  headers: the service counts them and keeps answering;
* rogue answers on `$SRV.PING` (not JSON, wrong types, a status message): discovery skips them
  and still returns the real services;
* a handler that raises on every request: each requester gets the 500 error, the service stays."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest

import zats.client as zc
from zats.client import micro

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 5.0


@pytest.fixture
async def nc(server):
    client = await zc.connect(server.url, connect_timeout=TIMEOUT, allow_reconnect=False)
    yield client
    await client.close()


@pytest.fixture
async def py(server):
    client = await nats.connect(server.url, connect_timeout=TIMEOUT, allow_reconnect=False)
    yield client
    await client.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_hanging_handler_blocks_neither_discovery_nor_other_endpoints(nc, py):
    release = asyncio.Event()

    async def hang(req: micro.Request) -> None:
        await release.wait()
        req.respond(b"late")

    async def ok(req: micro.Request) -> None:
        req.respond(b"ok")

    svc = await micro.add_service(nc, name=unique("hang"), version="1.0.0")
    await svc.add_endpoint("hang", hang, subject=f"{svc.name}.hang")
    await svc.add_endpoint("ok", ok, subject=f"{svc.name}.ok")
    await nc.flush()
    stuck = asyncio.ensure_future(py.request(f"{svc.name}.hang", b"", timeout=TIMEOUT))
    assert (await py.request(f"{svc.name}.ok", b"", timeout=TIMEOUT)).data == b"ok"
    for verb in ("PING", "INFO", "STATS"):
        await py.request(f"$SRV.{verb}.{svc.name}", b"", timeout=TIMEOUT)
    release.set()
    assert (await stuck).data == b"late"
    await svc.stop()


async def test_odd_requests_are_counted_and_answered(nc, py):
    seen = []

    async def echo_size(req: micro.Request) -> None:
        seen.append(len(req.data))
        if req.reply:
            req.respond(b"%d" % len(req.data))

    svc = await micro.add_service(nc, name=unique("odd"), version="1.0.0")
    subject = f"{svc.name}.size"
    await svc.add_endpoint("size", echo_size, subject=subject)
    await nc.flush()
    await py.publish(subject, b"no reply subject")
    await py.publish(f"$SRV.PING.{svc.name}", b"no reply subject either")
    big = bytes(range(256)) * 3000
    assert (await py.request(subject, big, timeout=TIMEOUT)).data == b"%d" % len(big)
    fake = {micro.ERROR_HEADER: "forged", micro.ERROR_CODE_HEADER: "999"}
    reply = await py.request(subject, b"x", headers=fake, timeout=TIMEOUT)
    assert reply.data == b"1" and not reply.headers  # request headers are not echoed as errors
    [stats] = await micro.stats(nc, svc.name, svc.id)
    assert (stats.endpoints[0].num_requests, stats.endpoints[0].num_errors) == (3, 0)
    assert seen == [16, len(big), 1]
    await svc.stop()


async def test_rogue_discovery_answers_are_skipped(nc, py):
    name = unique("real")
    svc = await micro.add_service(nc, name=name, version="1.0.0")

    async def rogue(msg) -> None:
        await msg.respond(b"not json at all")
        await msg.respond(b'{"name": 1, "id": [], "version": null}')
        await msg.respond(b"")

    await py.subscribe(f"$SRV.PING.{name}", cb=rogue)
    await py.flush()
    found = await micro.ping(nc, name, timeout=TIMEOUT, gap=1.0)
    assert [(p.name, p.id) for p in found] == [(name, svc.id)]
    await svc.stop()


async def test_handler_raising_every_time_keeps_the_service(nc, py):
    async def broken(req: micro.Request) -> None:
        raise RuntimeError("always")

    svc = await micro.add_service(nc, name=unique("broken"), version="1.0.0")
    await svc.add_endpoint("broken", broken, subject=f"{svc.name}.broken")
    await nc.flush()
    replies = await asyncio.gather(*(py.request(f"{svc.name}.broken", b"", timeout=TIMEOUT) for _ in range(20)))
    assert {(r.headers["Nats-Service-Error-Code"], r.headers["Nats-Service-Error"]) for r in replies} == {
        ("500", "RuntimeError('always')")}
    [found] = await micro.ping(nc, svc.name, svc.id, timeout=TIMEOUT)
    assert found.id == svc.id
    assert svc.stats().endpoints[0].num_errors == 20
    await svc.stop()
