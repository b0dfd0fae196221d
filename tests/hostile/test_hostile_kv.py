"""Hostile probes on KV buckets, against zats and nats-server configured alike (`-js -sd DIR`, a
small max_pending): thousands of keys at once, a watcher whose connection never reads, bogus
KV-Operation headers, values over max_value_size (garbage Nats-TTL: tests/test_kv.py, differential). Each checks what the
offender gets (nats-server's answer) and that a bystander
keeps its messages, its responsiveness and its own bucket."""

from __future__ import annotations

import asyncio
import socket

import nats
import pytest
from nats.js.errors import BadRequestError

from support.hostile import MemoryWatch, Pinger
from support.servers import write_config
from support.wire import read_until_closed


@pytest.fixture
def js_srv(kind, spawn, tmp_path):
    conf = 'max_pending: 1MB\nwrite_deadline: "1s"\n'
    return spawn(kind, "-js", "-sd", str(tmp_path / "store"), "-c", write_config(tmp_path, conf))


async def bystander_bucket(url: str):
    """A bystander's own connection and bucket, with one key written."""
    nc = await nats.connect(url)
    kv = await nc.jetstream(timeout=5).create_key_value(bucket="innocent")
    await kv.put("mine", b"safe")
    return nc, kv


async def wait_for_messages(js, stream: str, count: int) -> None:
    for _ in range(600):
        if (await js.stream_info(stream)).state.messages >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{stream} never reached {count} messages")


async def test_thousands_of_keys(js_srv):
    """5,000 keys published without waiting for acks: every one is stored, keys() and a
    watcher list them all, and the bystander's bucket answers throughout."""
    keys = 5000
    with Pinger(js_srv.host, js_srv.port) as p:
        bnc, bkv = await bystander_bucket(js_srv.url)
        nc = await nats.connect(js_srv.url)
        js = nc.jetstream(timeout=10)
        kv = await js.create_key_value(bucket="crowd")
        for i in range(keys):
            await nc.publish(f"$KV.crowd.key.{i}", b"v%d" % i)
        await nc.flush()
        await wait_for_messages(js, "KV_crowd", keys)
        assert len(await kv.keys()) == keys
        w = await kv.watchall()
        seen = set()
        while len(seen) < keys:
            # nats-py puts its "nothing pending" marker (None) when the consumer info it asks
            # for after subscribing shows nothing pending; on a loaded machine the server may
            # have pushed every entry by then, and the marker comes first. The entries follow.
            entry = await w.updates(timeout=10)
            if entry is not None:
                seen.add(entry.key)
        await w.stop()
        assert seen == {f"key.{i}" for i in range(keys)}
        assert (await kv.get("key.4999")).value == b"v4999"
        assert (await bkv.get("mine")).value == b"safe"
        await nc.close()
        await bnc.close()
        p.assert_unharmed()


async def test_watcher_that_never_reads(js_srv):
    """A push consumer (a KV watch as nats.js/nats-py create it, without flow control) delivers
    8 MiB of values to a connection that never reads: the server cuts that connection as a slow
    consumer; the bucket, the bystander and its bucket keep working."""
    nc = await nats.connect(js_srv.url)
    js = nc.jetstream(timeout=10)
    kv = await js.create_key_value(bucket="big", history=1)
    value = b"x" * 20_000
    for i in range(400):
        await kv.put(f"k{i}", value)
    with MemoryWatch(js_srv.proc.pid) as memory, Pinger(js_srv.host, js_srv.port) as p:
        bnc, bkv = await bystander_bucket(js_srv.url)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(10)
        slow.connect((js_srv.host, js_srv.port))
        slow.sendall(b'CONNECT {"verbose":false}\r\nSUB slow.watch 1\r\nPING\r\n')
        answer = b""
        while b"PONG\r\n" not in answer:
            answer += slow.recv(4096)
        await js.add_consumer("KV_big", deliver_subject="slow.watch", deliver_policy="last_per_subject",
                              ack_policy="none", filter_subject="$KV.big.>")
        rest, closed = await asyncio.get_running_loop().run_in_executor(None, read_until_closed, slow, 20)
        slow.close()
        assert closed, "the server kept a connection that never reads"
        assert len(rest) < 8_000_000
        assert (await kv.get("k399")).value == value
        assert (await bkv.get("mine")).value == b"safe"
        await bnc.close()
        p.assert_unharmed()
        memory.assert_bounded(128 * 1024)
    await nc.close()


async def test_bogus_kv_operation_and_oversized_values(js_srv):
    """KV-Operation is the client's business: the server stores any value of it, and a reader
    sees the entry as a value (nats-py) or as that operation (a watcher). A value over
    max_value_size gets 10054; the bucket and the bystander go on."""
    with Pinger(js_srv.host, js_srv.port) as p:
        bnc, bkv = await bystander_bucket(js_srv.url)
        nc = await nats.connect(js_srv.url)
        js = nc.jetstream(timeout=5)
        kv = await js.create_key_value(bucket="odd", max_value_size=1024)
        for i, op in enumerate(["BOGUS", "", "del", "PURGE\x01", "x" * 2000]):
            hdrs = {"KV-Operation": op}
            if len(op) > 1000:
                with pytest.raises(BadRequestError) as exc:
                    await js.publish(f"$KV.odd.k{i}", b"v", headers=hdrs)
                assert exc.value.err_code == 10054  # the header counts toward max_msg_size
                continue
            ack = await js.publish(f"$KV.odd.k{i}", b"v", headers=hdrs)
            assert ack.stream == "KV_odd"
        assert (await kv.get("k0")).value == b"v"
        w = await kv.watch("k0")
        assert (await w.updates(timeout=5)).operation == "BOGUS"
        await w.stop()
        with pytest.raises(BadRequestError) as exc:
            await kv.put("big", b"x" * 1025)
        assert (exc.value.err_code, exc.value.description) == (10054, "message size exceeds maximum allowed")
        assert await kv.put("fits", b"x" * 900)
        assert (await bkv.get("mine")).value == b"safe"
        await nc.close()
        await bnc.close()
        p.assert_unharmed()
