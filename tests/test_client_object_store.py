"""zats.client's object store (`js.create_object_store` / `js.object_store`, ADR-20) against zats
and nats-server started with -js: put/get of multi-chunk objects from bytes, files and async
iterators, streaming reads, info, list, delete, links, watch, update_meta, seal, status;
interop with nats-py both ways; a large object streamed with bounded memory; and hostile meta
entries (garbage, a wrong digest, wrong sizes) giving typed errors."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import random
import tracemalloc

import msgspec
import nats
import pytest
import test_client_jetstream_kv as kv_tests
from nats.js import api as natsapi

import zats.client as zc
from zats.client.jetstream import kv as kvmod
from zats.client.jetstream import object_store as osmod
from zats.client.jetstream.errors import JetStreamError
from zats.client.jetstream.object_store import ObjectMeta, ObjectMetaOptions

# the fixtures of the key/value tests: a -js server of each kind, a JetStream context on it
js_server = kv_tests.js_server
js = kv_tests.js
_names = itertools.count(1)


def bucket() -> str:
    return f"O{next(_names)}"


def blob(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def digest(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


def meta_subject(name: str, obj: str) -> str:
    return f"$O.{name}.M.{base64.urlsafe_b64encode(obj.encode()).decode()}"


async def test_put_get_info_list_delete(js):
    name = bucket()
    obs = await js.create_object_store(name, description="files")
    stream = f"OBJ_{name}"
    si = await js.stream_info(stream)
    assert si.config.subjects == [f"$O.{name}.C.>", f"$O.{name}.M.>"]
    assert si.config.allow_rollup_hdrs and si.config.allow_direct and si.config.discard == "new"
    assert si.config.description == "files"

    big = blob(1_000_000, 1)
    info = await obs.put("dir/big.bin", big, chunk_size=100_000, description="big one",
                         headers={"X-Kind": ["test"]})
    assert (info.name, info.bucket, info.size, info.chunks) == ("dir/big.bin", name, 1_000_000, 10)
    assert info.digest == digest(big) and info.options.max_chunk_size == 100_000
    got = await obs.get("dir/big.bin")
    assert got.data == big
    assert (got.info.nuid, got.info.description, got.info.headers) == (info.nuid, "big one", {"X-Kind": ["test"]})
    assert got.info.mtime.endswith("Z") and not got.info.mtime.startswith("0001")
    # the layout: 10 chunks on $O.<bucket>.C.<nuid>, then the info, rolled up, on the meta subject
    first = await js.get_msg(stream, 1)
    assert (first.subject, len(first.data)) == (f"$O.{name}.C.{info.nuid}", 100_000)
    meta = await js.get_msg(stream, subject=meta_subject(name, "dir/big.bin"))
    assert meta.seq == 11 and meta.headers["Nats-Rollup"] == "sub"
    stored = json.loads(meta.data)
    assert stored["digest"] == digest(big) and stored["size"] == 1_000_000 and stored["chunks"] == 10

    empty = await obs.put("empty", b"")
    assert (empty.size, empty.chunks, empty.digest) == (0, 0, digest(b""))
    assert (await obs.get("empty")).data == b""
    text = await obs.put("text", "héllo", meta=ObjectMeta(name="ignored", description="a str"))
    assert text.name == "text" and (await obs.get("text")).data == "héllo".encode()
    assert sorted(i.name for i in await obs.list()) == ["dir/big.bin", "empty", "text"]

    # putting the name again replaces the object and purges the old chunks
    again = await obs.put("dir/big.bin", b"small now")
    assert again.nuid != info.nuid
    assert (await obs.get("dir/big.bin")).data == b"small now"
    assert (await js.stream_info(stream, subjects_filter=f"$O.{name}.C.{info.nuid}")).state.subjects in (None, {})

    await obs.delete("dir/big.bin")
    with pytest.raises(osmod.ObjectNotFoundError):
        await obs.get("dir/big.bin")
    with pytest.raises(osmod.ObjectNotFoundError):
        await obs.get_info("dir/big.bin")
    deleted = await obs.get_info("dir/big.bin", show_deleted=True)
    assert deleted.deleted and (deleted.size, deleted.chunks, deleted.digest) == (0, 0, None)
    await obs.delete("dir/big.bin")  # deleting a deleted object again is fine
    with pytest.raises(osmod.ObjectNotFoundError):
        await obs.delete("never")
    assert sorted(i.name for i in await obs.list()) == ["empty", "text"]
    assert sorted(i.name for i in await obs.list(ignore_deletes=False)) == ["dir/big.bin", "empty", "text"]
    with pytest.raises(osmod.InvalidObjectNameError):
        await obs.put("", b"x")


async def test_streaming_sources_and_sinks(js, tmp_path):
    obs = await js.create_object_store(bucket(), storage="memory")
    data = blob(700_000, 2)
    path = tmp_path / "src.bin"
    path.write_bytes(data)
    with open(path, "rb") as f:
        info = await obs.put("from-file", f, chunk_size=64 * 1024)
    assert info.chunks == 11 and info.digest == digest(data)

    async def parts():
        for start in range(0, len(data), 10_000):  # pieces smaller than a chunk: re-chunked
            yield data[start:start + 10_000]
    info = await obs.put("from-iter", parts(), chunk_size=64 * 1024)
    assert info.chunks == 11 and info.digest == digest(data)
    info = await obs.put("from-bytesio", io.BytesIO(data))
    assert info.chunks == 6
    info = await obs.put("from-list", [data[:5], data[5:]], chunk_size=300_000)
    assert (info.chunks, info.digest) == (3, digest(data))

    class ReadOnly:  # a source with read() only, as some stream wrappers are
        def __init__(self):
            self.left = data

        def read(self, n):
            part, self.left = self.left[:n], self.left[n:]
            return part
    info = await obs.put("from-read", ReadOnly(), chunk_size=300_000)
    assert (info.chunks, info.digest) == (3, digest(data))
    text = tmp_path / "text.txt"
    text.write_text("line\n" * 1000)
    with open(text) as f:  # a text-mode file: its bytes are stored
        info = await obs.put("from-text", f)
    assert (await obs.get("from-text")).data == b"line\n" * 1000
    with pytest.raises(TypeError):
        await obs.put("bad", 12345)

    out = tmp_path / "out.bin"
    with open(out, "wb") as f:
        result = await obs.get("from-iter", writeinto=f)
    assert result.data == b"" and out.read_bytes() == data
    reader = await obs.reader("from-file")
    assert reader.info.size == len(data)
    chunks = [chunk async for chunk in reader]
    assert [len(c) for c in chunks] == [65536] * 10 + [700_000 - 655_360]
    assert b"".join(chunks) == data
    sink = io.BytesIO()
    await obs.get("from-bytesio", writeinto=sink)
    assert sink.getvalue() == data


async def test_large_object_streams_with_bounded_memory(js, tmp_path):
    """64 MiB put from a file and read back into a file: what the client allocates at its peak
    (tracemalloc, deterministic) stays far below the object's size."""
    obs = await js.create_object_store(bucket())
    size = 64 * 1024 * 1024
    src = tmp_path / "big.bin"
    sha = hashlib.sha256()
    with open(src, "wb") as f:
        for i in range(64):
            piece = random.Random(i).randbytes(1024 * 1024)
            sha.update(piece)
            f.write(piece)
    want = "SHA-256=" + base64.urlsafe_b64encode(sha.digest()).decode()
    tracemalloc.start()
    try:
        with open(src, "rb") as f:
            info = await obs.put("big", f)
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        dst = tmp_path / "copy.bin"
        with open(dst, "wb") as f:
            await obs.get("big", writeinto=f)
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (info.size, info.chunks, info.digest) == (size, 512, want)
    assert dst.stat().st_size == size
    copy = hashlib.sha256()
    with open(dst, "rb") as f:
        while piece := f.read(1 << 20):
            copy.update(piece)
    assert copy.digest() == sha.digest()
    assert put_peak < 32 * 1024 * 1024, put_peak
    assert get_peak < 32 * 1024 * 1024, get_peak


async def test_links(js):
    name, other_name = bucket(), bucket()
    obs = await js.create_object_store(name)
    other = await js.create_object_store(other_name)
    target = await other.put("photo", blob(300_000, 3))
    link = await obs.add_link("alias", target)
    assert link.is_link() and link.options.link == osmod.ObjectLink(bucket=other_name, name="photo")
    got = await obs.get("alias")  # followed into the other bucket
    assert got.data == blob(300_000, 3) and got.info.name == "photo"
    assert (await obs.get_info("alias")).is_link()
    local = await obs.put("local", b"here")
    await obs.add_link("alias2", local)
    assert (await obs.get("alias2")).data == b"here"

    blink = await obs.add_bucket_link("all-of-other", other)
    assert blink.options.link == osmod.ObjectLink(bucket=other_name)
    with pytest.raises(osmod.LinkIsABucketError):
        await obs.get("all-of-other")
    with pytest.raises(osmod.InvalidLinkError):
        await obs.add_link("to-link", link)
    with pytest.raises(osmod.ObjectAlreadyExistsError):
        await obs.add_link("local", target)
    await obs.add_link("alias2", target)  # a link may be replaced
    assert (await obs.get("alias2")).info.name == "photo"
    await other.delete("photo")
    with pytest.raises(osmod.InvalidLinkError):
        await obs.add_link("dead", await other.get_info("photo", show_deleted=True))
    with pytest.raises(osmod.ObjectNotFoundError):
        await obs.get("alias")  # its target is gone
    with pytest.raises(osmod.InvalidLinkError):
        await obs.put("x", b"", meta=ObjectMeta(options=ObjectMetaOptions(link=osmod.ObjectLink(bucket=name))))


async def test_watch(js):
    obs = await js.create_object_store(bucket())
    w = await obs.watch()
    assert await w.updates(2) is None  # nothing yet: the end of the initial infos at once
    await obs.put("a", b"1")
    got = await w.updates(5)
    assert got is not None and (got.name, got.size) == ("a", 1)
    await obs.delete("a")
    got = await w.updates(5)
    assert got is not None and (got.name, got.deleted) == ("a", True)
    await w.stop()

    await obs.put("b", b"22")
    await obs.put("c", b"333")
    w = await obs.watch(ignore_deletes=True)
    initial = []
    async for info in w:
        if info is None:
            break
        initial.append(info.name)
    assert sorted(initial) == ["b", "c"]
    await obs.put("d", b"4")
    got = await w.updates(5)
    assert got is not None and got.name == "d"
    await w.stop()

    updates = await obs.watch(updates_only=True)
    await obs.put("e", b"5")
    got = await updates.updates(5)
    assert got is not None and got.name == "e"  # no None marker first
    await updates.stop()


async def test_update_meta_seal_status(js):
    name = bucket()
    obs = await js.create_object_store(name, description="d", ttl=3600.0, metadata={"team": "x"})
    await obs.put("a", b"aaa", description="first")
    await obs.put("b", b"bbb")
    await obs.update_meta("a", ObjectMeta(name="a", description="second", headers={"H": ["v"]}))
    info = await obs.get_info("a")
    assert (info.description, info.headers, info.size) == ("second", {"H": ["v"]}, 3)
    await obs.update_meta("a", ObjectMeta(name="renamed", description="moved"))
    with pytest.raises(osmod.ObjectNotFoundError):
        await obs.get_info("a")
    moved = await obs.get("renamed")
    assert (moved.data, moved.info.description) == (b"aaa", "moved")
    with pytest.raises(osmod.ObjectAlreadyExistsError):
        await obs.update_meta("renamed", ObjectMeta(name="b"))
    with pytest.raises(osmod.ObjectDeletedError):
        await obs.update_meta("a", ObjectMeta(name="a"))

    status = await obs.status()
    assert (status.bucket, status.description, status.ttl, status.sealed) == (name, "d", 3600.0, False)
    assert status.size > 0 and status.storage_type == "file" and status.replicas == 1
    assert status.metadata["team"] == "x" and status.backing_store == "JetStream"
    sealed = await obs.seal()
    assert sealed.sealed and (await obs.status()).sealed
    with pytest.raises(JetStreamError):
        await obs.put("c", b"ccc")
    assert (await obs.get("b")).data == b"bbb"  # still readable


async def test_buckets(js):
    name = bucket()
    with pytest.raises(osmod.BucketNotFoundError) as exc:
        await js.object_store(name)
    assert isinstance(exc.value, kvmod.BucketNotFoundError)  # one `except` catches both kinds
    await js.create_object_store(config=osmod.ObjectStoreConfig(bucket=name, max_bytes=10_000_000))
    assert (await (await js.object_store(name)).status()).stream_info.config.max_bytes == 10_000_000
    assert await js.delete_object_store(name) is True
    with pytest.raises(osmod.BucketNotFoundError):
        await js.delete_object_store(name)
    for bad in ("", "a.b", "a b", "a*"):
        with pytest.raises(ValueError):
            await js.create_object_store(bad)


async def test_interop_with_natspy(js_server, js):
    """An object zats.client put, read by nats-py, and one nats-py put, read by zats.client;
    each sees the other's links, deletes and infos."""
    name = bucket()
    obs = await js.create_object_store(name)
    mine = blob(600_000, 4)
    await obs.put("from-zats", mine, headers={"K": ["v"]})
    pnc = await nats.connect(js_server.url)
    try:
        pjs = pnc.jetstream()
        pobs = await pjs.object_store(name)
        got = await pobs.get("from-zats")
        assert got.data == mine and got.info.digest == digest(mine) and got.info.headers == {"K": ["v"]}
        theirs = blob(450_000, 5)
        await pobs.put("from-natspy", theirs, meta=natsapi.ObjectMeta(
            description="py", options=natsapi.ObjectMetaOptions(max_chunk_size=50_000)))
        await pobs.put("empty-py", b"")
        result = await obs.get("from-natspy")
        assert result.data == theirs and result.info.chunks == 9 and result.info.description == "py"
        assert (await obs.get("empty-py")).data == b""
        await obs.add_link("link-to-py", result.info)
        assert (await pobs.get("link-to-py")).data == theirs  # nats-py follows our link
        await obs.put("from-zats", b"replaced")
        assert (await pobs.get("from-zats")).data == b"replaced"
        await obs.delete("from-natspy")
        assert (await pobs.get_info("from-natspy", show_deleted=True)).deleted
        await pobs.delete("empty-py")
        with pytest.raises(osmod.ObjectNotFoundError):
            await obs.get("empty-py")
        assert sorted(i.name for i in await obs.list()) == ["from-zats", "link-to-py"]
        pinfo = await pobs.status()
        assert pinfo.bucket == name
    finally:
        await pnc.close()


async def test_hostile_meta_entries(js):
    """Meta messages another client wrote wrong: each read gets a typed error, the rest of the
    bucket (and the connection) works on."""
    name = bucket()
    obs = await js.create_object_store(name)
    good = await obs.put("good", blob(200_000, 6), chunk_size=50_000)
    rollup = {"Nats-Rollup": "sub"}

    await js.publish(meta_subject(name, "garbage"), b"{not json", headers=rollup)
    await js.publish(meta_subject(name, "a-list"), b"[1, 2]", headers=rollup)
    await js.publish(meta_subject(name, "bad-type"), b'{"name": "bad-type", "size": "big"}', headers=rollup)
    for obj in ("garbage", "a-list", "bad-type"):
        with pytest.raises(osmod.BadObjectMetaError):
            await obs.get(obj)

    stored = msgspec.json.decode(msgspec.json.encode(good))
    for obj, changes, error in (
        ("wrong-digest", {"digest": digest(b"something else")}, osmod.DigestMismatchError),
        ("bad-digest", {"digest": "MD5=abc"}, osmod.BadObjectMetaError),
        ("too-many-chunks", {"chunks": 9}, osmod.ObjectSizeMismatchError),
        ("too-few-chunks", {"chunks": 2}, osmod.ObjectSizeMismatchError),
        ("wrong-size", {"size": 5}, osmod.ObjectSizeMismatchError),
        ("no-nuid", {"nuid": ""}, osmod.BadObjectMetaError),
    ):
        await js.publish(meta_subject(name, obj), msgspec.json.encode({**stored, "name": obj, **changes}),
                         headers=rollup)
        with pytest.raises(error):
            await obs.get(obj)
        assert isinstance(error("x"), osmod.ObjectStoreError)

    # the bucket works on: the good object reads, list skips the garbage, a put replaces it
    assert (await obs.get("good")).data == blob(200_000, 6)
    names = sorted(i.name for i in await obs.list())
    assert "garbage" not in names and "good" in names
    await obs.put("garbage", b"fixed")
    assert (await obs.get("garbage")).data == b"fixed"


async def test_bucket_of_another_kind_of_stream(js):
    """A bucket whose stream has no allow_direct (made by an old client) reads its chunks one
    STREAM.MSG.GET at a time."""
    name = bucket()
    await js.create_object_store(name)
    await js.update_stream((await js.stream_info(f"OBJ_{name}")).config.evolve(allow_direct=False))
    plain = await js.object_store(name)
    data = blob(300_000, 7)
    await plain.put("x", data, chunk_size=100_000)
    assert (await plain.get("x")).data == data
    assert (await plain.get_info("x")).chunks == 3


async def test_connection_survives_client_use(js_server):
    """A reader left half way and a put that fails leave the connection usable."""
    async with zc.connect(js_server.url) as nc:
        js = nc.jetstream(timeout=3)
        obs = await js.create_object_store(bucket())
        await obs.put("x", blob(2_000_000, 8))
        reader = await obs.reader("x")
        async for _chunk in reader:
            break
        reader.close()

        async def failing():
            yield b"a" * 200_000
            raise RuntimeError("source broke")
        before = (await obs.status()).stream_info.state.messages
        with pytest.raises(RuntimeError):
            await obs.put("y", failing())
        assert (await obs.status()).stream_info.state.messages == before  # its chunks were purged
        with pytest.raises(osmod.ObjectNotFoundError):
            await obs.get_info("y")
        assert (await obs.get("x")).data == blob(2_000_000, 8)
