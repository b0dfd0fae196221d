"""zats is typed for its users (PEP 561, `py.typed`): `mypy --strict` on code that uses the client
(connect with its typed options, publish, subscribe, request, `async for`, headers) and the
Broker reports nothing, infers zats's own types (checked with `assert_type`), and catches a
misspelt or mistyped `connect()` option. zats.client and zats.testing themselves pass
`mypy --strict`.

mypy sees zats as installed: a site directory laid out as a wheel installs it (links to the
sources), because mypy cannot follow the import hook of an editable install."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import pytest

from zats.broker.options import ServerOptions, ServerOverrides
from zats.client.options import ConnectOptions, Options

pytest.importorskip("mypy")
pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parent.parent

USES_CLIENT = '''
from __future__ import annotations

import asyncio
from typing import assert_type

import msgspec

import zats
import zats.client
from zats.client import Client, Headers, Msg, Subscription, micro
from zats.client.jetstream import Entry, JetStreamContext, JsMsg, KeyValue, PubAck, StreamConfig, StreamInfo
from zats.client.jetstream.errors import StreamNotFoundError


class Order(msgspec.Struct):
    id: int


async def on_request(msg: Msg) -> None:
    msg.respond(b"hi " + msg.data, headers={"served-by": "me"})


def inline(msg: Msg) -> None:
    print(bytes(msg.data))


async def main() -> None:
    nc = await zats.client.connect("nats://127.0.0.1:4222", name="demo", max_reconnect_attempts=3,
                                   connect_timeout=1.5, no_echo=True, error_cb=None)
    assert_type(nc, Client)
    sub = await nc.subscribe("greet.*")
    assert_type(sub, Subscription)
    nc.publish("greet.joe", b"hello", headers={"k": "v", "multi": ["a", "b"]})
    await nc.publish("greet.ann", b"nats-py style")
    await nc.flush()
    msg = await sub.next_msg(timeout=1)
    assert_type(msg, Msg)
    headers = msg.headers
    assert_type(headers, Headers | None)
    if headers is not None:
        print(headers.get("k"), headers.status)
    await nc.subscribe("svc.hello", "workers", cb=on_request)
    await nc.subscribe("svc.inline", cb=inline)
    reply = await nc.request("svc.hello", b"joe", timeout=1, headers=Headers([("a", "1")]))
    assert_type(reply, Msg)
    print(reply.data, reply.subject, reply.reply)
    async for m in sub:
        assert_type(m, Msg)
        break
    orders = await nc.subscribe("orders", type=Order, max_msgs=10)
    nc.publish("orders", Order(id=1))
    await orders.unsubscribe()
    async with zats.client.connect(["nats://127.0.0.1:4222"], token="t") as nc2:
        assert_type(nc2, Client)
        await nc2.drain()
    print(nc.stats["in_msgs"], nc.is_connected, nc.connected_url, zats.__version__)
    js = nc.jetstream(timeout=2)
    assert_type(js, JetStreamContext)
    info = await js.add_stream(StreamConfig(name="ORDERS", subjects=["orders.>"], max_age=3600.0))
    assert_type(info, StreamInfo)
    assert_type(info.state.messages, int)
    ack = await js.publish("orders.1", b"x", msg_id="1", expected_last_seq=0)
    assert_type(ack, PubAck)
    fut = await js.publish_async("orders.2", b"y")
    assert_type(fut, asyncio.Future[PubAck])
    await js.publish_async_completed(timeout=5)
    psub = await js.pull_subscribe("orders.>", durable="worker")
    for jm in await psub.fetch(10, timeout=1):
        assert_type(jm, JsMsg)
        assert_type(jm.metadata.sequence.stream, int)
        jm.ack()
    async for jm in psub.consume(batch=50):
        jm.nak(delay=1.5)
        await jm.ack_sync()
        break
    push = await js.subscribe("orders.>", ordered_consumer=True)
    pm = await push.next_msg(1)
    assert_type(pm, Msg)
    try:
        await js.stream_info("NOPE")
    except StreamNotFoundError as exc:
        assert_type(exc.err_code, int | None)
    kv = await js.create_key_value(bucket="b", history=3)
    assert_type(kv, KeyValue)
    assert_type(await kv.put("k", b"v"), int)
    entry = await kv.get("k")
    assert_type(entry, Entry)
    watcher = await kv.watch("k.*")
    async for change in watcher:
        assert_type(change, Entry | None)
        break
    await services(nc)
    await nc.close()


async def add(req: micro.Request) -> None:
    req.respond(b"%d" % sum(int(x) for x in bytes(req.data).split()))


async def services(nc: Client) -> None:
    svc = await micro.add_service(nc, name="calc", version="1.0.0", metadata={"k": "v"})
    assert_type(svc, micro.Service)
    group = svc.add_group("math", queue_group="workers")
    assert_type(group, micro.Group)
    endpoint = await group.add_endpoint("add", add, metadata={"unit": "n"})
    assert_type(endpoint, micro.Endpoint)
    await svc.add_endpoint("fail", lambda req: req.respond_error(400, "bad"), subject="calc.fail")
    pings = await micro.ping(nc, "calc", timeout=1)
    assert_type(pings, list[micro.PingResponse])
    info = svc.info()
    assert_type(info.endpoints[0].queue_group, str)
    stats = (await micro.stats(nc, "calc", svc.id))[0]
    assert_type(stats.endpoints[0].num_requests, int)
    svc.reset()
    await svc.stop()


asyncio.run(main())
'''

USES_BROKER = '''
from __future__ import annotations

import asyncio
from typing import assert_type

from zats.broker import Broker, ServerOptions


async def main() -> None:
    async with Broker(port=0, host="127.0.0.1", max_payload=1024) as broker:
        assert_type(broker, Broker)
        assert_type(broker.client_url, str)
        assert_type(broker.port, int)
    b = await Broker(ServerOptions(port=0)).start()
    await b.lame_duck()
    await b.stop()


asyncio.run(main())
'''

MISTAKES = '''
import zats.client
from zats.broker import Broker
from zats.client import micro


async def main() -> None:
    await zats.client.connect("nats://127.0.0.1:4222", max_reconect_attempts=3)
    await zats.client.connect("nats://127.0.0.1:4222", connect_timeout="2s")
    Broker(prot=4222)
    await micro.add_service(await zats.client.connect(), name="s", versoin="1.0.0")
'''


def _site(tmp: Path) -> Path:
    """A site directory holding zats as a wheel would install it (links to the sources)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        package_dirs = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    top = tmp / "site" / "zats"
    top.mkdir(parents=True)
    for path in (ROOT / package_dirs["zats"]).iterdir():
        (top / path.name).symlink_to(path)
    for package, directory in package_dirs.items():
        if package.count(".") == 1:
            (top / package.split(".")[1]).symlink_to(ROOT / directory)
    return top.parent


def test_mypy_strict_on_code_using_zats(tmp_path):
    site = _site(tmp_path)
    for name, text in [("uses_client.py", USES_CLIENT), ("uses_broker.py", USES_BROKER),
                       ("mistakes.py", MISTAKES)]:
        (tmp_path / name).write_text(text)
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--show-error-codes",
         "--no-color-output", "--no-error-summary", "uses_client.py", "uses_broker.py",
         "mistakes.py", str(site / "zats" / "client"), str(site / "zats" / "testing")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=170)
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert not [e for e in errors if not e.startswith("mistakes.py:")], out
    assert len(errors) == 4, out
    assert re.search(r'mistakes.py:8: error: Unexpected keyword argument "max_reconect_attempts"', out), out
    assert re.search(r'mistakes.py:9: error: Argument "connect_timeout" .* "str"; expected "float"', out), out
    assert re.search(r'mistakes.py:10: error: Unexpected keyword argument "prot"', out), out
    assert re.search(r'mistakes.py:11: error: Unexpected keyword argument "versoin"', out), out


def test_connect_options_match_the_options_dataclass():
    hints = typing.get_type_hints(ConnectOptions)
    fields = typing.get_type_hints(Options)
    assert set(hints) - {"no_echo"} == {f.name for f in dataclasses.fields(Options)} - {"servers"}
    assert {k: hints[k] for k in hints if k != "no_echo"} == {k: fields[k] for k in hints if k != "no_echo"}


def test_broker_overrides_match_the_server_options():
    hints = typing.get_type_hints(ServerOverrides)
    fields = typing.get_type_hints(ServerOptions)
    assert set(hints) == set(ServerOptions.__struct_fields__) - {"flags"}
    assert hints == {k: fields[k] for k in hints}
