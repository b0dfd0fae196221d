"""KV buckets (ADR-8) through nats-py's `js.create_key_value()` / `js.key_value()`, differential:
each scenario runs against zats and against nats-server (both `-js -sd DIR`) and the two
transcripts — values, revisions, operations, headers, errors, stream configs — must be equal.
Covers put/get/create/update/delete/purge, history, keys, watch, purge_deletes, status,
direct gets (single, last_by_subj, batch and multi_last), per-key TTL with limit markers,
max_value_size, discard new and deny_delete."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from nats.js import api
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)

from support.jsdiff import headers_of, same_on_both, volatile_free
from support.servers import KINDS, start_server

_names = itertools.count(1)


def unique(prefix: str = "b") -> str:
    return f"{prefix}{next(_names)}"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    started = {}
    try:
        for kind in KINDS:
            started[kind] = start_server(kind, "-js", "-sd", str(tmp_path_factory.mktemp(f"kv-{kind}")))
        yield started
    finally:
        for srv in started.values():
            srv.stop()


def entry_tuple(e) -> tuple:
    return (e.key, e.value, e.revision, e.operation, e.delta)


async def error_of(coro) -> tuple:
    """What a failing call raised: its type name and, for API errors, code/err_code/description."""
    try:
        await coro
    except APIError as err:
        return (type(err).__name__, getattr(err, "code", None), getattr(err, "err_code", None),
                getattr(err, "description", str(err)))
    except Exception as err:  # noqa: BLE001 - the transcript records whichever error the client raised
        return (type(err).__name__, str(err))
    return ("no error",)


async def test_put_get_create_update_delete_purge(servers):
    async def scenario(js, unique):
        name = unique()
        kv = await js.create_key_value(bucket=name, history=5)
        t = [await kv.put("k", b"v1"), entry_tuple(await kv.get("k"))]
        t.append(await error_of(kv.create("k", b"again")))
        t.append(await kv.update("k", b"v2", last=1))
        t.append(await error_of(kv.update("k", b"v3", last=1)))
        t.append(await kv.create("fresh", b"f"))
        t.append(entry_tuple(await kv.get("k", revision=1)))
        t.append(await kv.delete("k"))
        t.append(await error_of(kv.get("k")))
        # create over a deleted key succeeds (nats-py retries with the delete marker's revision).
        t.append(await kv.create("k", b"reborn"))
        t.append(await error_of(kv.delete("k", last=999)))
        t.append(await kv.purge("fresh"))
        t.append(await error_of(kv.get("fresh")))
        t.append([entry_tuple(e) for e in await kv.history("k")])
        t.append([entry_tuple(e) for e in await kv.history("fresh")])
        t.append(sorted(await kv.keys()))
        status = await kv.status()
        t.append((status.bucket, status.values, status.history, status.ttl))
        t.append(volatile_free(status.stream_info.config.as_dict()))
        again = await js.key_value(name)
        t.append(entry_tuple(await again.get("k")))
        t.append(await error_of(js.key_value(unique("missing"))))
        assert await js.delete_key_value(name)
        t.append(await error_of(js.key_value(name)))
        return t

    t = await same_on_both(servers, scenario)
    assert t[0] == 1 and t[2][2:] == (None, "wrong last sequence: 1")
    assert t[4][0] == "KeyWrongLastSequenceError"
    cfg = t[17]
    assert (cfg["max_msgs_per_subject"], cfg["discard"], cfg["deny_delete"], cfg["allow_rollup_hdrs"]) == \
        (5, "new", True, True)


async def test_keys_and_history_limits(servers):
    async def scenario(js, unique):
        kv = await js.create_key_value(bucket=unique(), history=2)
        t = [await error_of(kv.keys())]
        for i in range(5):
            await kv.put(f"a.{i % 3}", b"%d" % i)
        await kv.put("b", b"bee")
        t.append(sorted(await kv.keys()))
        t.append(sorted(await kv.keys(filters=["a."])))
        t.append([entry_tuple(e) for e in await kv.history("a.0")])
        info = await js.stream_info(f"KV_{kv._name}")
        t.append((info.state.messages, info.state.first_seq, info.state.last_seq, info.state.subjects))
        return t

    t = await same_on_both(servers, scenario)
    assert t[0][0] == NoKeysError.__name__
    assert t[1] == ["a.0", "a.1", "a.2", "b"]
    assert t[3] == [("a.0", b"0", 1, None, 1), ("a.0", b"3", 4, None, 0)]


WAIT = 5  # seconds for a watcher's next update: a loaded CI machine took over 2


async def test_watch_updates_and_markers(servers):
    async def scenario(js, unique):
        kv = await js.create_key_value(bucket=unique(), history=10)
        await kv.put("x", b"1")
        await kv.put("x", b"2")
        await kv.put("y", b"3")
        await kv.delete("y")
        t = []
        for kwargs in ({}, {"include_history": True}, {"ignore_deletes": True}, {"meta_only": True}):
            w = await kv.watchall(**kwargs)
            seen = []
            while (e := await w.updates(timeout=WAIT)) is not None:
                seen.append(entry_tuple(e))
            t.append(seen)
            await w.stop()
        # Live updates after the initial None.
        w = await kv.watch("x")
        assert await w.updates(timeout=WAIT) is not None  # x=2
        assert await w.updates(timeout=WAIT) is None
        await kv.put("x", b"live")
        await kv.purge("x")
        t.append([entry_tuple(await w.updates(timeout=WAIT)) for _ in range(2)])
        await w.stop()
        # An empty bucket's watcher starts with None.
        empty = await js.create_key_value(bucket=unique())
        w = await empty.watchall()
        t.append(await w.updates(timeout=WAIT))
        await w.stop()
        return t

    t = await same_on_both(servers, scenario)
    assert t[0] == [("x", b"2", 2, None, 1), ("y", b"", 4, "DEL", 0)]
    assert t[3] == [("x", b"", 2, None, 1), ("y", b"", 4, "DEL", 0)]
    assert t[4] == [("x", b"live", 5, None, 0), ("x", b"", 6, "PURGE", 0)]


async def test_watch_consumer_config(servers):
    """What nats-py asks for when it watches (ordered push, last_per_subject, headers_only) and
    what the server reports back for that consumer."""
    async def scenario(js, unique):
        kv = await js.create_key_value(bucket=unique())
        await kv.put("a", b"1")
        w = await kv.watch("a", meta_only=True)
        info = await w._sub.consumer_info()
        await w.stop()
        cfg = info.config
        return (cfg.deliver_policy, cfg.ack_policy, cfg.headers_only, cfg.filter_subject,
                cfg.flow_control, cfg.max_deliver, cfg.mem_storage, cfg.num_replicas, info.num_pending)

    t = await same_on_both(servers, scenario)
    assert t[0] == api.DeliverPolicy.LAST_PER_SUBJECT and t[2] is True


async def test_purge_deletes(servers):
    async def scenario(js, unique):
        kv = await js.create_key_value(bucket=unique(), history=5)
        await kv.put("keep", b"k")
        await kv.put("gone", b"g")
        await kv.delete("gone")
        await kv.put("p", b"p")
        await kv.purge("p")
        t = [await kv.purge_deletes(olderthan=-1)]
        info = await js.stream_info(f"KV_{kv._name}")
        t.append((info.state.messages, info.state.subjects))
        t.append(sorted(await kv.keys()))
        t.append(await error_of(kv.history("gone")))
        return t

    t = await same_on_both(servers, scenario)
    assert t[1][0] == 1 and t[2] == ["keep"]


async def test_direct_gets_raw(servers):
    """allow_direct buckets: DIRECT.GET by subject in the API subject, last_by_subj, seq, a
    missing key (404 status), and the batch / multi_last forms nats.js uses, header by header."""
    async def scenario(js, unique):
        name = unique()
        kv = await js.create_key_value(bucket=name, history=3, direct=True)
        await kv.put("a", b"1")
        await kv.put("b.c", b"2")
        await kv.put("a", b"3")
        await kv.delete("b.c")
        nc, stream = js.nc, f"KV_{name}"
        t = []

        async def direct(subject, body=b""):
            msg = await nc.request(subject, body, timeout=2)
            return (msg.subject == "", headers_of(msg), msg.data)

        t.append(await direct(f"$JS.API.DIRECT.GET.{stream}.$KV.{name}.a"))
        t.append(await direct(f"$JS.API.DIRECT.GET.{stream}", json.dumps({"last_by_subj": f"$KV.{name}.b.c"}).encode()))
        t.append(await direct(f"$JS.API.DIRECT.GET.{stream}", json.dumps({"seq": 2}).encode()))
        t.append(await direct(f"$JS.API.DIRECT.GET.{stream}.$KV.{name}.none"))
        t.append(await direct(f"$JS.API.DIRECT.GET.{stream}", json.dumps({"seq": 99}).encode()))
        t.append(await direct(f"$JS.API.DIRECT.GET.{stream}", b"{bad"))
        # Batches answer on an inbox: each message, then a 204 EOB status.
        for body in ({"seq": 1, "batch": 3}, {"multi_last": [f"$KV.{name}.>"]},
                     {"multi_last": [f"$KV.{name}.a"], "batch": 5}, {"seq": 1, "batch": 2, "next_by_subj": f"$KV.{name}.a"},
                     {"multi_last": [f"$KV.{name}.zz"]}):
            inbox = nc.new_inbox()
            sub = await nc.subscribe(inbox)
            await nc.publish(f"$JS.API.DIRECT.GET.{stream}", json.dumps(body).encode(), reply=inbox)
            got = []
            while True:
                msg = await sub.next_msg(timeout=2)
                got.append((headers_of(msg), msg.data))
                if not msg.data and msg.headers and msg.headers.get("Status") in ("204", "404", "408", "400"):
                    break
            await sub.unsubscribe()
            t.append(got)
        t.append(entry_tuple(await kv.get("a")))
        t.append(await error_of(kv.get("b.c")))
        return t

    t = await same_on_both(servers, scenario)
    hdrs = t[0][1]
    assert (hdrs["Nats-Stream"], hdrs["Nats-Sequence"], hdrs["Nats-Subject"]) == (hdrs["Nats-Stream"], "3", hdrs["Nats-Subject"])
    assert t[1][1]["KV-Operation"] == "DEL"
    assert t[3][1].get("Status") == "404"


async def test_msg_get_and_deny_delete(servers):
    """Without allow_direct: STREAM.MSG.GET's answers; deny_delete refuses a message delete;
    the stream config a bucket gets."""
    async def scenario(js, unique):
        name = unique()
        kv = await js.create_key_value(bucket=name, direct=False)
        await kv.put("a", b"1")
        stream = f"KV_{name}"
        t = [entry_tuple(await kv.get("a")), await error_of(kv.get("nope"))]
        raw = await js.nc.request(f"$JS.API.STREAM.MSG.DELETE.{stream}", json.dumps({"seq": 1}).encode(), timeout=2)
        t.append(json.loads(raw.data))
        msg = await js.get_msg(stream, subject=f"$KV.{name}.a")
        t.append((msg.subject, msg.seq, msg.data, msg.headers))
        return t

    t = await same_on_both(servers, scenario)
    assert t[2]["error"]["err_code"] == 10057  # message delete not permitted


async def test_value_size_bytes_and_discard_new(servers):
    async def scenario(js, unique):
        kv = await js.create_key_value(bucket=unique(), max_value_size=8, max_bytes=300)
        t = [await kv.put("a", b"12345678"), await error_of(kv.put("a", b"123456789"))]
        for i in range(20):
            t.append(await error_of(kv.put(f"k{i}", b"x" * 8)) if i > 2 else await kv.put(f"k{i}", b"x" * 8))
        status = await kv.status()
        t.append(volatile_free(status.stream_info.config.as_dict()))
        t.append(status.values)
        return t

    t = await same_on_both(servers, scenario)
    assert t[1][2:] == (10054, "message size exceeds maximum allowed")


async def test_ttl_per_key_and_limit_markers(servers):
    """nats-server 2.11+: a bucket with limit_marker_ttl (subject_delete_marker_ttl) takes a
    Nats-TTL per key (create(msg_ttl=)); when the key expires the server puts a marker with
    Nats-Marker-Reason: MaxAge, which watchers see as a PURGE."""
    async def scenario(js, unique):
        kv = await js.create_key_value(bucket=unique(), history=3, limit_marker_ttl=2)
        t = [(await kv.status()).stream_info.config.allow_msg_ttl,
             (await kv.status()).stream_info.config.subject_delete_marker_ttl]
        t.append(await kv.create("short", b"s", msg_ttl=1))
        await kv.put("long", b"l")
        w = await kv.watchall()
        first = [entry_tuple(await w.updates(timeout=2)) for _ in range(2)]
        t.append(first)
        assert await w.updates(timeout=2) is None
        marker = await w.updates(timeout=10)  # the expiry marker, within a second or two
        t.append(entry_tuple(marker))
        raw = await js.get_msg(f"KV_{kv._name}", seq=marker.revision)
        t.append((raw.subject, raw.data, raw.headers))
        t.append(await error_of(kv.get("short")))
        t.append(entry_tuple(await kv.get("long")))
        await w.stop()
        # Garbage TTLs on a bucket that allows them.
        for bad in ("soon", "-5", "0s", "1x"):
            t.append(await error_of(js.publish(f"$KV.{kv._name}.bad", b"v", headers={"Nats-TTL": bad})))
        # A bucket without per-key TTL refuses Nats-TTL.
        plain = await js.add_stream(name=unique("PLAIN"), subjects=[unique("pl") + ".>"])
        t.append(await error_of(js.publish(plain.config.subjects[0].replace(">", "x"), b"v",
                                           headers={"Nats-TTL": "5s"})))
        return t

    t = await same_on_both(servers, scenario)
    assert t[0] is True and t[1] == 2.0
    assert t[4][3] == "PURGE"
    assert t[5][2]["Nats-Marker-Reason"] == "MaxAge"


async def test_bucket_config_errors(servers):
    async def scenario(js, unique):
        name = unique()
        await js.create_key_value(bucket=name, history=2)
        t = [await error_of(js.create_key_value(bucket=name, history=4))]
        t.append(await error_of(js.create_key_value(bucket="bad.name")))
        t.append(await error_of(js.create_key_value(bucket=unique(), history=65)))
        return t

    await same_on_both(servers, scenario)


@pytest.mark.parametrize("kind", KINDS)
async def test_bucket_not_found(servers, kind):
    import nats

    nc = await nats.connect(servers[kind].url)
    try:
        with pytest.raises(BucketNotFoundError):
            await nc.jetstream().key_value(unique("nothing"))
        kv = await nc.jetstream().create_key_value(bucket=unique())
        with pytest.raises(KeyNotFoundError):
            await kv.get("absent")
        with pytest.raises(KeyWrongLastSequenceError):
            await kv.update("absent", b"v", last=3)
        await asyncio.sleep(0)
    finally:
        await nc.close()
