"""zats.client's key/value API (`js.create_key_value` / `js.key_value`) against zats and
nats-server started with -js: put/get/create/update/delete/purge, keys, history, watch, bucket
and per-key TTLs, typed values, and the errors of each."""

from __future__ import annotations

import asyncio
import itertools

import msgspec
import pytest

import zats.client as zc
from support.servers import KINDS, start_server
from zats.client.jetstream import Entry, KeyValue
from zats.client.jetstream import kv as kvmod

_names = itertools.count(1)


@pytest.fixture(scope="module", params=KINDS)
def js_server(request, tmp_path_factory):
    srv = start_server(request.param, "-js", "-sd", str(tmp_path_factory.mktemp(f"ckv-{request.param}")))
    yield srv
    srv.stop()


@pytest.fixture
async def js(js_server):
    async with zc.connect(js_server.url) as nc:
        yield nc.jetstream(timeout=3)


def bucket() -> str:
    return f"B{next(_names)}"


async def test_put_get_update_create_delete_purge(js):
    name = bucket()
    kv = await js.create_key_value(bucket=name, history=5)
    assert isinstance(kv, KeyValue)
    info = await js.stream_info(f"KV_{name}")
    assert info.config.subjects == [f"$KV.{name}.>"] and info.config.max_msgs_per_subject == 5
    assert info.config.allow_rollup_hdrs and info.config.deny_delete and info.config.discard == "new"

    assert await kv.put("color", b"red") == 1
    assert await kv.put("color", b"blue") == 2
    entry = await kv.get("color")
    assert (entry.key, entry.value, entry.revision, entry.operation) == ("color", b"blue", 2, "PUT")
    assert (await kv.get("color", revision=1)).value == b"red"
    assert await kv.update("color", b"green", last=2) == 3
    with pytest.raises(kvmod.KeyWrongLastSequenceError):
        await kv.update("color", b"pink", last=2)
    assert await kv.create("size", b"L") == 4
    with pytest.raises(kvmod.KeyWrongLastSequenceError):
        await kv.create("size", b"M")
    with pytest.raises(kvmod.KeyNotFoundError):
        await kv.get("nothing")
    await kv.delete("size")
    with pytest.raises(kvmod.KeyDeletedError) as exc:
        await kv.get("size")
    assert exc.value.entry.operation == "DEL"
    assert await kv.create("size", b"S") == 6  # a deleted key may be created again
    await kv.purge("color")
    with pytest.raises(kvmod.KeyDeletedError):
        await kv.get("color")
    history = await kv.history("color")
    assert [e.operation for e in history] == ["PURGE"]  # the rollup removed the older ones
    with pytest.raises(kvmod.KeyWrongLastSequenceError):
        await kv.delete("size", last=1)
    for bad in ("", ".a", "a.", "a b", "a*", "ä"):
        with pytest.raises(kvmod.InvalidKeyError):
            await kv.put(bad, b"x")


async def test_keys_history_and_binding(js):
    name = bucket()
    kv = await js.create_key_value(bucket=name, history=3)
    assert await kv.keys() == []
    for i in range(5):
        await kv.put("a", b"%d" % i)
    await kv.put("b.c", b"x")
    await kv.put("d", b"y")
    await kv.delete("d")
    assert sorted(await kv.keys()) == ["a", "b.c"]
    assert [e.value for e in await kv.history("a")] == [b"2", b"3", b"4"]
    with pytest.raises(kvmod.KeyNotFoundError):
        await kv.history("zzz")
    bound = await js.key_value(name)
    assert (await bound.get("b.c")).value == b"x"
    assert (await bound.status()).state.messages == 6
    with pytest.raises(kvmod.BucketNotFoundError):
        await js.key_value(bucket())
    assert await js.delete_key_value(name) is True
    with pytest.raises(kvmod.BucketNotFoundError):
        await js.delete_key_value(name)


async def test_watch(js):
    kv = await js.create_key_value(bucket=bucket(), history=5)
    empty = await kv.watch()
    assert await empty.updates(2) is None  # nothing yet: the end of the initial values at once
    await kv.put("k1", b"a")
    got = await empty.updates(5)
    assert got is not None and (got.key, got.value) == ("k1", b"a")
    await empty.stop()

    await kv.put("k.1", b"b")
    await kv.put("k.2", b"c")
    await kv.put("other", b"d")
    w = await kv.watch("k.*")
    initial = []
    async for entry in w:
        if entry is None:
            break
        initial.append((entry.key, entry.value))
    assert initial == [("k.1", b"b"), ("k.2", b"c")]
    await kv.delete("k.2")
    await kv.put("other", b"e")
    await kv.put("k.3", b"f")
    change = await w.updates(5)
    assert change is not None and (change.key, change.operation) == ("k.2", "DEL")
    change = await w.updates(5)
    assert change is not None and (change.key, change.value) == ("k.3", b"f")
    await w.stop()

    await kv.put("k1", b"b")
    hist = await kv.watch("k1", include_history=True, ignore_deletes=True)
    values = []
    while (entry := await hist.updates(5)) is not None:
        values.append(entry.value)
    assert values == [b"a", b"b"]
    await hist.stop()


class Settings(msgspec.Struct):
    theme: str
    size: int


async def test_typed_values(js):
    name = bucket()
    kv = await js.create_key_value(bucket=name, type=Settings)
    await kv.put("joe", Settings("dark", 12))
    entry = await kv.get("joe")
    assert entry.value == Settings("dark", 12)
    assert isinstance(entry, Entry)
    again = await js.key_value(name, type=Settings)
    assert (await again.get("joe")).value.size == 12
    raw = await js.key_value(name)
    assert msgspec.json.decode((await raw.get("joe")).value) == {"theme": "dark", "size": 12}
    with pytest.raises(TypeError):
        await raw.put("x", "a str")


async def test_bucket_ttl(js):
    kv = await js.create_key_value(bucket=bucket(), ttl=1.0)
    await kv.put("short", b"lived")
    assert (await kv.get("short")).value == b"lived"
    for _ in range(100):
        await asyncio.sleep(0.1)
        try:
            await kv.get("short")
        except kvmod.KeyNotFoundError:
            break
    else:
        pytest.fail("the value outlived the bucket's ttl")
    assert (await kv.status()).config.max_age == 1.0


async def test_per_key_ttl(js):
    kv = await js.create_key_value(bucket=bucket(), limit_marker_ttl=1.0)
    await kv.create("session", b"token", ttl=1)
    await kv.put("stays", b"x")
    for _ in range(100):
        await asyncio.sleep(0.1)
        try:
            await kv.get("session")
        except kvmod.KeyNotFoundError:
            break
    else:
        pytest.fail("the key outlived its ttl")
    assert (await kv.get("stays")).value == b"x"
