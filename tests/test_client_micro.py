"""zats.client.micro, the service API (ADR-32), against each server kind (zats and the real
nats-server), with nats-py's `nats.micro` as the reference on the other side of the wire:

* a zats.client service is discovered on `$SRV.PING|INFO|STATS` (all, by name, by id) and called
  by nats-py, whose own decoders read its answers;
* a nats-py service is discovered by `zats.client.micro`'s ping/info/stats;
* the PING/INFO/STATS documents of a zats service and of a nats-py service configured alike have
  the same field names with the same JSON types;
* errors: a handler that raises is answered with `Nats-Service-Error-Code: 500` and the
  exception's text as nats-py's service does, `respond_error`/`ServiceError` set the headers and
  the stats, and bad names, versions, subjects and queue groups raise `ServiceConfigError`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid

import nats
import nats.micro
import pytest
from nats.micro.service import ServiceInfo, ServiceStats
from test_client_support import TIMEOUT

import zats.client as zc
from support.natspy import barrier
from zats.client import micro

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def clients(server):
    """Factories for a zats.client and a nats-py connection to `server`, closed at teardown."""
    opened: list = []

    async def zats_client() -> zc.Client:
        nc = await zc.connect(server.url, connect_timeout=TIMEOUT, allow_reconnect=False)
        opened.append(nc)
        return nc

    async def natspy_client():
        nc = await nats.connect(server.url, connect_timeout=TIMEOUT, allow_reconnect=False)
        opened.append(nc)
        return nc

    yield zats_client, natspy_client
    for nc in opened:
        await nc.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def echo(req: micro.Request) -> None:
    req.respond(b"echo " + req.data)


def json_shape(value):
    """The JSON type of every field, recursively (names and order kept)."""
    if isinstance(value, dict):
        return [(k, json_shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [json_shape(v) for v in value]
    return type(value).__name__


# --------------------------------------------------------------------------------------------
# a zats.client service, found and called by nats-py


async def test_zats_service_discovered_and_called_by_natspy(clients):
    zats_client, natspy_client = clients
    nc, py = await zats_client(), await natspy_client()
    name = unique("calc")
    svc = await micro.add_service(nc, name=name, version="1.2.3-beta.1+build.5", description="adds numbers",
                                  metadata={"region": "eu"})
    math = svc.add_group("math", queue_group="mathq")
    await math.add_endpoint("add", echo, metadata={"unit": "n"})
    await math.add_group("deep").add_endpoint("mul", echo, subject="times", queue_group="own")
    await svc.add_endpoint("plain", echo)
    await nc.flush()

    for subject in ("$SRV.PING", f"$SRV.PING.{name}", f"$SRV.PING.{name}.{svc.id}"):
        replies = await natspy_gather(py, subject)
        ping = [r for r in replies if r["name"] == name]
        assert ping == [{"name": name, "id": svc.id, "version": "1.2.3-beta.1+build.5",
                         "metadata": {"region": "eu"}, "type": "io.nats.micro.v1.ping_response"}]

    info = json.loads((await py.request(f"$SRV.INFO.{name}.{svc.id}", b"", timeout=TIMEOUT)).data)
    assert info == {
        "name": name, "id": svc.id, "version": "1.2.3-beta.1+build.5", "metadata": {"region": "eu"},
        "type": "io.nats.micro.v1.info_response", "description": "adds numbers",
        "endpoints": [
            {"name": "add", "subject": "math.add", "queue_group": "mathq", "metadata": {"unit": "n"}},
            {"name": "mul", "subject": "math.deep.times", "queue_group": "own", "metadata": None},
            {"name": "plain", "subject": "plain", "queue_group": "q", "metadata": None},
        ]}
    assert ServiceInfo.from_dict(info).endpoints[0].subject == "math.add"  # nats-py reads it

    for subject, payload in (("math.add", b"1"), ("math.deep.times", b"2"), ("plain", b"3"), ("plain", b"4")):
        reply = await py.request(subject, payload, timeout=TIMEOUT)
        assert reply.data == b"echo " + payload and not reply.headers

    stats = json.loads((await py.request(f"$SRV.STATS.{name}", b"", timeout=TIMEOUT)).data)
    assert stats["type"] == "io.nats.micro.v1.stats_response"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stats["started"])
    counts = {e["subject"]: (e["num_requests"], e["num_errors"], e["last_error"]) for e in stats["endpoints"]}
    assert counts == {"math.add": (1, 0, ""), "math.deep.times": (1, 0, ""), "plain": (2, 0, "")}
    for e in stats["endpoints"]:
        assert e["processing_time"] > 0
        assert e["average_processing_time"] == e["processing_time"] // e["num_requests"]
        assert e["data"] is None
    parsed = ServiceStats.from_dict(stats)  # nats-py's decoder reads it
    assert [e.num_requests for e in parsed.endpoints] == [1, 1, 2]
    await svc.stop()


async def natspy_gather(py, subject: str) -> list[dict]:
    """Every answer to one request on `subject`, up to the first gap in answers (nats-py)."""
    inbox = py.new_inbox()
    sub = await py.subscribe(inbox)
    await py.publish(subject, b"", reply=inbox)
    found = [json.loads((await sub.next_msg(timeout=TIMEOUT)).data)]
    while True:
        try:
            found.append(json.loads((await sub.next_msg(timeout=0.3)).data))
        except nats.errors.TimeoutError:
            break
    await sub.unsubscribe()
    return found


# --------------------------------------------------------------------------------------------
# a nats-py service, found by zats.client; the documents of both, field by field


async def test_natspy_service_discovered_by_zats_client(clients):
    zats_client, natspy_client = clients
    nc, py = await zats_client(), await natspy_client()
    name = unique("pysvc")
    svc = await nats.micro.add_service(py, name=name, version="0.1.0", description="from nats-py",
                                       metadata={"lang": "python"})
    await svc.add_endpoint(name="hello", handler=natspy_echo, metadata={"k": "v"})
    await barrier(py)

    pings = await micro.ping(nc, name)
    assert [(p.name, p.id, p.version, p.metadata, p.type) for p in pings] == [
        (name, svc.id, "0.1.0", {"lang": "python"}, micro.PING_RESPONSE_TYPE)]
    [info] = await micro.info(nc, name, svc.id)
    assert info.description == "from nats-py"
    assert [(e.name, e.subject, e.queue_group, e.metadata) for e in info.endpoints] == [
        ("hello", "hello", "q", {"k": "v"})]
    assert (await nc.request("hello", b"x", timeout=TIMEOUT)).data == b"py x"
    [stats] = await micro.stats(nc, name)
    assert stats.id == svc.id and stats.endpoints[0].num_requests == 1
    assert await micro.ping(nc, unique("nobody"), timeout=0.5) == []
    await svc.stop()


async def natspy_echo(req) -> None:
    await req.respond(b"py " + req.data)


async def test_documents_match_natspy_field_by_field(clients):
    """Both services configured alike: every PING/INFO/STATS document has the same field names
    with the same JSON types (nats-py puts `type` first, zats follows nats.go's order)."""
    zats_client, natspy_client = clients
    nc, py = await zats_client(), await natspy_client()
    ours = await micro.add_service(nc, name=unique("same"), version="1.0.0", description="d",
                                   metadata={"a": "b"})
    await ours.add_endpoint("ep", echo, metadata={"m": "1"})
    their_name = unique("same")
    theirs = await nats.micro.add_service(py, name=their_name, version="1.0.0", description="d",
                                          metadata={"a": "b"})
    await theirs.add_endpoint(name="ep", handler=natspy_echo, metadata={"m": "1"})
    await barrier(py)
    await nc.request("ep", b"1", timeout=TIMEOUT)  # one request to one of them, by the queue group
    await nc.request("ep", b"2", timeout=TIMEOUT)
    for verb in ("PING", "INFO", "STATS"):
        a = json.loads((await nc.request(f"$SRV.{verb}.{ours.name}.{ours.id}", timeout=TIMEOUT)).data)
        b = json.loads((await nc.request(f"$SRV.{verb}.{their_name}.{theirs.id}", timeout=TIMEOUT)).data)
        assert sorted(a) == sorted(b), verb
        assert sorted(json_shape(a)) == sorted(json_shape(b)), (verb, a, b)
        assert a["type"] == b["type"] == f"io.nats.micro.v1.{verb.lower()}_response"
    await theirs.stop()


# --------------------------------------------------------------------------------------------
# errors


async def test_handler_errors_answered_as_natspy_does(clients):
    zats_client, natspy_client = clients
    nc, py = await zats_client(), await natspy_client()

    async def boom(req: micro.Request) -> None:
        raise ValueError("boom")

    async def py_boom(req) -> None:
        raise ValueError("boom")

    ours = await micro.add_service(nc, name=unique("err"), version="1.0.0")
    await ours.add_endpoint("boom", boom, subject="zats.boom")
    theirs = await nats.micro.add_service(py, name=unique("err"), version="1.0.0")
    await theirs.add_endpoint(name="boom", handler=py_boom, subject="py.boom")
    await barrier(py)
    a = await nc.request("zats.boom", b"", timeout=TIMEOUT)
    b = await nc.request("py.boom", b"", timeout=TIMEOUT)
    assert a.headers["Nats-Service-Error-Code"] == b.headers["Nats-Service-Error-Code"] == "500"
    assert a.headers["Nats-Service-Error"] == b.headers["Nats-Service-Error"] == "ValueError('boom')"
    assert micro.service_error(a.headers) == ("500", "ValueError('boom')")
    [stats] = await micro.stats(nc, ours.name, ours.id)
    assert (stats.endpoints[0].num_requests, stats.endpoints[0].num_errors) == (1, 1)
    assert stats.endpoints[0].last_error == "500:ValueError('boom')"
    await theirs.stop()


async def test_respond_error_and_service_error(clients):
    zats_client, natspy_client = clients
    nc, py = await zats_client(), await natspy_client()

    async def refuse(req: micro.Request) -> None:
        if req.data == b"raise":
            raise micro.ServiceError(404, "no such thing", b"{}")
        req.respond_error(400, "bad input", b"details", headers={"X-Trace": "t1"})

    svc = await micro.add_service(nc, name=unique("refuse"), version="1.0.0")
    await svc.add_endpoint("refuse", refuse)
    await nc.flush()
    reply = await py.request("refuse", b"x", timeout=TIMEOUT)
    assert reply.data == b"details"
    assert reply.headers == {"X-Trace": "t1", "Nats-Service-Error": "bad input", "Nats-Service-Error-Code": "400"}
    reply = await py.request("refuse", b"raise", timeout=TIMEOUT)
    assert reply.data == b"{}" and reply.headers["Nats-Service-Error-Code"] == "404"
    assert reply.headers["Nats-Service-Error"] == "no such thing"
    e = svc.stats().endpoints[0]
    assert (e.num_requests, e.num_errors, e.last_error) == (2, 2, "404:no such thing")
    await svc.stop()


@pytest.mark.parametrize("kwargs, what", [
    ({"name": ""}, "name"),
    ({"name": "has space"}, "name"),
    ({"name": "dot.ted"}, "name"),
    ({"name": "star*"}, "name"),
    ({"version": ""}, "version"),
    ({"version": "1.0"}, "version"),
    ({"version": "v1.0.0"}, "version"),
    ({"version": "01.0.0"}, "version"),
    ({"queue_group": "a b"}, "queue group"),
    ({"queue_group": ""}, "queue group"),
    ({"metadata": {"k": 1}}, "metadata"),
])
async def test_bad_service_config_raises_typed_error(clients, kwargs, what):
    zats_client, _ = clients
    nc = await zats_client()
    config = {"name": "good", "version": "1.0.0", **kwargs}
    with pytest.raises(micro.ServiceConfigError, match=what):
        await micro.add_service(nc, **config)
    assert isinstance(micro.ServiceConfigError("x"), (ValueError, zc.ZatsError))
    assert await micro.ping(nc, "good", timeout=0.3) == []  # nothing was subscribed


async def test_bad_endpoint_and_group_config(clients):
    zats_client, _ = clients
    nc = await zats_client()
    svc = await micro.add_service(nc, name=unique("strict"), version="1.0.0")
    bad = [
        dict(name="bad name"), dict(name=""), dict(name="a.b"),
        dict(name="ok", subject="has space"), dict(name="ok", subject="a.>.b"), dict(name="ok", subject="a..b"),
        dict(name="ok", subject=""), dict(name="ok", queue_group="q q"), dict(name="ok", metadata={"k": None}),
    ]
    for kw in bad:
        with pytest.raises(micro.ServiceConfigError):
            await svc.add_endpoint(handler=echo, **kw)
    for group in ("a.>", "a b", "a..b"):
        with pytest.raises(micro.ServiceConfigError):
            svc.add_group(group)
    assert svc.info().endpoints == []
    # wildcards are allowed in subjects (nats.go's rule): '*' anywhere, '>' last
    await svc.add_endpoint("any", echo, subject="wild.*.>")
    assert (await nc.request("wild.x.y.z", b"w", timeout=TIMEOUT)).data == b"echo w"
    await svc.stop()


# --------------------------------------------------------------------------------------------
# handlers, stats, reset, stop


async def test_plain_handler_stats_handler_reset_and_stop(clients):
    zats_client, natspy_client = clients
    nc, py = await zats_client(), await natspy_client()
    seen = []

    def inline(req: micro.Request) -> None:  # called inline, data is a view
        seen.append(type(req.data))
        req.respond(bytes(req.data).upper())

    svc = await micro.add_service(nc, name=unique("inline"), version="2.0.0",
                                  stats_handler=lambda ep: {"endpoint": ep.name, "custom": 7})
    ep = await svc.add_endpoint("up", inline)
    await nc.flush()
    assert (await py.request("up", b"abc", timeout=TIMEOUT)).data == b"ABC"
    assert seen == [memoryview]
    [stats] = await micro.stats(nc, svc.name)
    assert stats.endpoints[0].data == {"endpoint": "up", "custom": 7}
    assert stats.endpoints[0].num_requests == 1 and ep.num_requests == 1
    started = stats.started

    svc.reset()
    [stats] = await micro.stats(nc, svc.name)
    assert (stats.endpoints[0].num_requests, stats.endpoints[0].processing_time) == (0, 0)
    assert stats.started >= started

    await svc.stop()
    assert svc.stopped.is_set()
    with pytest.raises(nats.errors.NoRespondersError):
        await py.request("up", b"abc", timeout=TIMEOUT)
    assert await micro.ping(nc, svc.name, timeout=0.3) == []
    await svc.stop()  # again: nothing happens
    with pytest.raises(zc.ZatsError):
        await svc.add_endpoint("late", echo)


async def test_instances_share_the_queue_group_and_answer_discovery_each(clients):
    zats_client, natspy_client = clients
    nc1, nc2, py = await zats_client(), await zats_client(), await natspy_client()
    name = unique("scaled")
    one = await micro.add_service(nc1, name=name, version="1.0.0")
    two = await micro.add_service(nc2, name=name, version="1.0.0")
    subject = unique("work")
    for svc in (one, two):
        await svc.add_endpoint("work", echo, subject=subject)
    await nc1.flush()
    await nc2.flush()
    for i in range(20):
        assert (await py.request(subject, b"%d" % i, timeout=TIMEOUT)).data == b"echo %d" % i
    assert one.endpoints[0].num_requests + two.endpoints[0].num_requests == 20  # each request once
    pings = await micro.ping(nc1, name, timeout=TIMEOUT)
    assert sorted(p.id for p in pings) == sorted([one.id, two.id])
    [only] = await micro.info(nc1, name, two.id, timeout=TIMEOUT)
    assert only.id == two.id
    async with one, two:  # stopped on exit
        pass
    assert one.stopped.is_set() and two.stopped.is_set()


async def test_concurrent_requests_keep_order_and_counts(clients):
    zats_client, natspy_client = clients
    nc, py = await zats_client(), await natspy_client()
    order = []

    async def slow(req: micro.Request) -> None:
        order.append(int(req.data))
        await asyncio.sleep(0)
        req.respond(req.data)

    svc = await micro.add_service(nc, name=unique("order"), version="1.0.0")
    await svc.add_endpoint("slow", slow)
    await nc.flush()
    replies = await asyncio.gather(*(py.request("slow", b"%d" % i, timeout=TIMEOUT) for i in range(50)))
    assert sorted(int(r.data) for r in replies) == list(range(50))
    assert sorted(order) == list(range(50))
    assert svc.stats().endpoints[0].num_requests == 50
    await svc.stop()


# --------------------------------------------------------------------------------------------
# the documented example (client/README.md), run as written


async def test_readme_services_example(server, capsys):
    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "client", "README.md")
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Services (`zats.client.micro`)", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("nats://127.0.0.1:4222", server.url).replace("asyncio.run(main())", "")
    namespace: dict = {}
    exec(compile(code, "README services example", "exec"), namespace)
    await namespace["main"]()
    assert capsys.readouterr().out.splitlines() == [
        "b'5'", "('500', \"ZeroDivisionError('integer division or modulo by zero')\")",
        "calc 1.0.0 True", "[('math.add', 1, 0), ('math.div', 1, 1)]"]


async def test_api_prefix_and_a_failing_stats_handler(clients):
    zats_client, natspy_client = clients
    nc, py = await zats_client(), await natspy_client()

    def bad_stats(endpoint: micro.Endpoint) -> object:
        raise KeyError("gone")

    svc = await micro.add_service(nc, name=unique("prefixed"), version="1.0.0", api_prefix="$APP.SRV",
                                  stats_handler=bad_stats)
    await svc.add_endpoint("e", echo)
    await nc.flush()
    [found] = await micro.ping(nc, svc.name, prefix="$APP.SRV", timeout=TIMEOUT)
    assert found.id == svc.id
    assert await micro.ping(nc, svc.name, timeout=0.3) == []  # not under $SRV
    reply = await py.request(f"$APP.SRV.STATS.{svc.name}", b"", timeout=TIMEOUT)
    assert reply.headers["Nats-Service-Error-Code"] == "500"
    assert reply.headers["Nats-Service-Error"] == "Error handling STATS request: 'gone'"
    info = json.loads((await py.request(f"$APP.SRV.INFO.{svc.name}.{svc.id}", b"", timeout=TIMEOUT)).data)
    assert info["id"] == svc.id  # the other verbs are unaffected
    await svc.stop()
