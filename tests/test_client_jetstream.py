"""zats.client's JetStream API (`nc.jetstream()`) against zats and nats-server, both started
with -js and a store directory of their own: stream and consumer management, publish with its
checks, publish_async, pull fetch and consume(), push and ordered consumers, acks and their
metadata, and the API's errors as typed exceptions."""

from __future__ import annotations

import asyncio
import itertools

import pytest

import zats.client as zc
from support.servers import KINDS, start_server
from zats.client.jetstream import (
    AccountInfo,
    ConsumerConfig,
    DeliverPolicy,
    JsMsg,
    PubAck,
    StreamConfig,
    StreamInfo,
)
from zats.client.jetstream import errors as jse
from zats.client.jetstream.msg import parse_metadata


@pytest.fixture(scope="module", params=KINDS)
def js_server(request, tmp_path_factory):
    srv = start_server(request.param, "-js", "-sd", str(tmp_path_factory.mktemp(f"cjs-{request.param}")))
    yield srv
    srv.stop()


@pytest.fixture
async def nc(js_server):
    async with zc.connect(js_server.url) as conn:
        yield conn


@pytest.fixture
def js(nc):
    return nc.jetstream(timeout=3)


_names = itertools.count(1)


def unique(prefix: str = "S") -> str:
    return f"{prefix}{next(_names)}"


async def stream_of(js, count: int = 0, **kw) -> str:
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], **kw)
    for i in range(count):
        await js.publish(f"{name}.{i % 3}", b"m%d" % i)
    return name


# -- management ------------------------------------------------------------------------------


async def test_account_info(js):
    info = await js.account_info()
    assert isinstance(info, AccountInfo)
    assert info.limits.max_streams == -1 and info.api.level is not None and info.api.level >= 1


async def test_stream_add_info_update_purge_delete(js):
    name = unique()
    info = await js.add_stream(StreamConfig(name=name, subjects=[f"{name}.*"], max_age=3600.0,
                                            storage="memory", duplicate_window=60.0))
    assert isinstance(info, StreamInfo)
    assert info.config.max_age == 3600.0 and info.config.duplicate_window == 60.0
    assert info.config.storage == "memory" and info.state.messages == 0
    # the same configuration again answers the stream; another one is refused
    again = await js.add_stream(name=name, subjects=[f"{name}.*"], max_age=3600.0, storage="memory",
                                duplicate_window=60.0)
    assert again.config.name == name
    with pytest.raises(jse.StreamNameAlreadyInUseError) as exc:
        await js.add_stream(name=name, subjects=[f"{name}.other"], storage="memory")
    assert exc.value.err_code == 10058 and exc.value.code == 400
    updated = await js.update_stream(name=name, subjects=[f"{name}.*"], max_msgs=5, max_age=3600.0,
                                     storage="memory", duplicate_window=60.0)
    assert updated.config.max_msgs == 5
    for i in range(3):
        await js.publish(f"{name}.a", b"%d" % i)
    await js.publish(f"{name}.b", b"x")
    info = await js.stream_info(name, subjects_filter=">")
    assert info.state.messages == 4 and info.state.subjects == {f"{name}.a": 3, f"{name}.b": 1}
    assert await js.purge_stream(name, subject=f"{name}.a", keep=1) == 2
    assert await js.purge_stream(name) == 2
    assert (await js.stream_info(name)).state.messages == 0
    assert await js.delete_stream(name) is True
    with pytest.raises(jse.StreamNotFoundError) as exc:
        await js.stream_info(name)
    assert exc.value.err_code == 10059 and exc.value.code == 404
    assert isinstance(exc.value, jse.NotFoundError) and isinstance(exc.value, jse.APIError)


async def test_stream_list_and_names(js):
    a, b = await stream_of(js), await stream_of(js)
    names = await js.stream_names()
    assert a in names and b in names
    assert await js.stream_names(subject=f"{a}.x") == [a]
    infos = {i.config.name: i for i in await js.streams_info()}
    assert a in infos and b in infos
    assert await js.find_stream_name_by_subject(f"{b}.q") == b
    with pytest.raises(jse.NotFoundError):
        await js.find_stream_name_by_subject("nothing.stores.this")


async def test_invalid_names_refused_before_sending(js):
    for bad in ("a.b", "a*", "a>", "a b", ""):
        with pytest.raises(ValueError):
            await js.stream_info(bad)
    with pytest.raises(ValueError):
        await js.consumer_info("S", "x.y")


async def test_consumer_add_info_list_delete(js):
    name = await stream_of(js, 5)
    info = await js.add_consumer(name, durable_name="D", ack_policy="explicit", ack_wait=10.0,
                                 filter_subject=f"{name}.1")
    assert info.name == "D" and info.stream_name == name
    assert info.config.ack_wait == 10.0 and info.num_pending == 2
    eph = await js.add_consumer(name, ConsumerConfig(ack_policy="none", inactive_threshold=30.0))
    assert eph.name and eph.config.durable_name is None and eph.config.inactive_threshold == 30.0
    assert {c.name for c in await js.consumers_info(name)} == {"D", eph.name}
    assert set(await js.consumer_names(name)) == {"D", eph.name}
    assert (await js.consumer_info(name, "D")).config.filter_subject == f"{name}.1"
    assert await js.delete_consumer(name, "D") is True
    with pytest.raises(jse.ConsumerNotFoundError) as exc:
        await js.consumer_info(name, "D")
    assert exc.value.err_code == 10014
    with pytest.raises(jse.StreamNotFoundError):
        await js.add_consumer(unique("NOSTREAM"), durable_name="X")


async def test_get_msg_direct_get_and_delete_msg(js):
    name = await stream_of(js, allow_direct=True)
    await js.publish(f"{name}.a", b"one", headers={"K": "v"})
    await js.publish(f"{name}.b", b"two")
    await js.publish(f"{name}.a", b"three")
    for direct in (False, True):
        m = await js.get_msg(name, 1, direct=direct)
        assert (m.subject, m.seq, m.data) == (f"{name}.a", 1, b"one")
        assert m.headers is not None and m.headers["K"] == "v"
        last = await js.get_msg(name, subject=f"{name}.a", direct=direct)
        assert (last.seq, last.data, last.headers) == (3, b"three", None)
        nxt = await js.get_msg(name, 2, subject=f"{name}.a", next=True, direct=direct)
        assert nxt.seq == 3
        with pytest.raises(jse.MsgNotFoundError):
            await js.get_msg(name, 99, direct=direct)
    assert await js.delete_msg(name, 2) is True
    with pytest.raises(jse.MsgNotFoundError) as exc:
        await js.get_msg(name, 2)
    assert exc.value.err_code == 10037


async def test_not_enabled(kind_server_without_js):
    async with zc.connect(kind_server_without_js.url) as conn:
        js = conn.jetstream(timeout=2)
        with pytest.raises(jse.JetStreamNotEnabledError) as exc:
            await js.account_info()
        assert isinstance(exc.value, zc.NoRespondersError)
        with pytest.raises(jse.NoStreamResponseError):
            await js.publish("no.stream", b"x")


@pytest.fixture(params=KINDS)
def kind_server_without_js(request):
    srv = start_server(request.param)
    yield srv
    srv.stop()


# -- publish ---------------------------------------------------------------------------------


async def test_publish_acks_and_checks(js):
    name = await stream_of(js)
    ack = await js.publish(f"{name}.a", b"1", msg_id="id-1")
    assert ack == PubAck(stream=name, seq=1)
    dup = await js.publish(f"{name}.a", b"1", msg_id="id-1")
    assert dup.seq == 1 and dup.duplicate is True
    assert (await js.publish(f"{name}.a", b"2", expected_stream=name, expected_last_seq=1)).seq == 2
    with pytest.raises(jse.WrongLastSequenceError) as exc:
        await js.publish(f"{name}.a", b"3", expected_last_seq=1)
    assert exc.value.err_code == 10071
    assert (await js.publish(f"{name}.b", b"3", expected_last_subject_seq=0)).seq == 3
    with pytest.raises(jse.WrongLastSequenceError):
        await js.publish(f"{name}.b", b"4", expected_last_subject_seq=1)
    assert (await js.publish(f"{name}.a", b"4", msg_id="id-4")).seq == 4
    with pytest.raises(jse.WrongLastMsgIDError) as exc2:
        await js.publish(f"{name}.a", b"5", expected_last_msg_id="nope")
    assert exc2.value.err_code == 10070
    assert (await js.publish(f"{name}.a", b"5", expected_last_msg_id="id-4")).seq == 5
    with pytest.raises(jse.StreamMismatchError):
        await js.publish(f"{name}.a", b"5", expected_stream="OTHER")
    with pytest.raises(jse.NoStreamResponseError):
        await js.publish(f"{name}x.nostream", b"x")
    m = await js.get_msg(name, 1)
    assert m.headers is not None and m.headers["Nats-Msg-Id"] == "id-1"


async def test_publish_async_window_and_completed(nc):
    js = nc.jetstream(publish_async_max_pending=50)
    name = await stream_of(js)
    futs = [await js.publish_async(f"{name}.{i % 4}", b"%d" % i) for i in range(500)]
    assert js.publish_async_pending() <= 50
    await js.publish_async_completed(timeout=10)
    assert js.publish_async_pending() == 0
    assert [f.result().seq for f in futs] == list(range(1, 501))
    # a typed error comes through the future of the publish that caused it
    bad = await js.publish_async(f"{name}.0", b"x", expected_last_seq=1)
    dup = await js.publish_async(f"{name}.0", b"x", msg_id="m1")
    dup2 = await js.publish_async(f"{name}.0", b"x", msg_id="m1", headers={"A": "b"})
    nostream = await js.publish_async(f"{name}x.none", b"x")
    await js.publish_async_completed(timeout=10)
    with pytest.raises(jse.WrongLastSequenceError):
        bad.result()
    assert dup2.result().duplicate and dup2.result().seq == dup.result().seq
    with pytest.raises(jse.NoStreamResponseError):
        nostream.result()
    assert (await js.stream_info(name)).state.messages == 501


# -- pull consumers --------------------------------------------------------------------------


async def test_fetch_batches_acks_and_metadata(js):
    name = await stream_of(js, 10)
    psub = await js.pull_subscribe(f"{name}.>", durable="P")
    msgs = await psub.fetch(4, timeout=2)
    assert [m.data for m in msgs] == [b"m0", b"m1", b"m2", b"m3"]
    assert all(isinstance(m, JsMsg) for m in msgs)
    meta = msgs[1].metadata
    assert (meta.stream, meta.consumer, meta.sequence.stream, meta.sequence.consumer) == (name, "P", 2, 2)
    assert meta.num_delivered == 1 and meta.num_pending == 8 and meta.timestamp > 0
    for m in msgs:
        m.ack()
    with pytest.raises(jse.MsgAlreadyAckdError):
        msgs[0].ack()
    # fewer than asked: what there is, when the request expires
    rest = await psub.fetch(20, timeout=1)
    assert [m.data for m in rest] == [b"m%d" % i for i in range(4, 10)]
    for m in rest:
        await m.ack_sync()
    info = await psub.consumer_info()
    assert info.num_ack_pending == 0 and info.ack_floor is not None and info.ack_floor.stream_seq == 10
    with pytest.raises(zc.TimeoutError):
        await psub.fetch(1, timeout=0.5)


async def test_nak_term_in_progress_redelivery(js):
    name = await stream_of(js, 3)
    psub = await js.pull_subscribe(f"{name}.>", durable="N", config=ConsumerConfig(ack_wait=30.0))
    a, b, c = await psub.fetch(3, timeout=2)
    a.nak()
    b.in_progress()
    b.term()
    await c.ack()  # awaitable, as in nats-py
    again = await psub.fetch(1, timeout=2)
    assert again[0].data == b"m0" and again[0].metadata.num_delivered == 2
    again[0].ack()
    with pytest.raises(zc.TimeoutError):  # m1 was terminated
        await psub.fetch(1, timeout=0.5)


async def test_nak_with_delay(js):
    name = await stream_of(js, 1)
    psub = await js.pull_subscribe(f"{name}.>", durable="ND", config=ConsumerConfig(ack_wait=30.0))
    (msg,) = await psub.fetch(1, timeout=2)
    msg.nak(delay=0.2)
    (later,) = await psub.fetch(1, timeout=3)
    assert later.data == b"m0" and later.metadata.num_delivered == 2


async def test_fetch_max_bytes(js):
    name = await stream_of(js)
    for _ in range(5):
        await js.publish(f"{name}.x", b"y" * 100)
    psub = await js.pull_subscribe(f"{name}.>", durable="B")
    msgs = await psub.fetch(5, timeout=2, max_bytes=300)
    assert 1 <= len(msgs) < 5


async def test_consume_keeps_the_window_full(js):
    name = await stream_of(js, 250)
    psub = await js.pull_subscribe(f"{name}.>", durable="C")
    got = []
    async for msg in psub.consume(batch=20, expires=2):
        got.append(msg.data)
        msg.ack()
        if len(got) == 250:
            break
    assert got == [b"m%d" % i for i in range(250)]
    # messages published while consuming arrive too (the pulls are renewed after expiry)
    it = psub.consume(batch=5, expires=1)
    task = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(1.5)
    await js.publish(f"{name}.late", b"late")
    msg = await asyncio.wait_for(task, 5)
    assert msg.data == b"late"
    it.stop()
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()


async def test_consume_ends_when_consumer_deleted(js):
    name = await stream_of(js)
    psub = await js.pull_subscribe(f"{name}.>", durable="DEL")
    it = psub.consume(batch=10, expires=5)
    task = asyncio.ensure_future(it.__anext__())
    await asyncio.sleep(0.3)
    await js.delete_consumer(name, "DEL")
    with pytest.raises(jse.ConsumerDeletedError):
        await asyncio.wait_for(task, 5)


async def test_ephemeral_pull_and_bind(js):
    name = await stream_of(js, 2)
    eph = await js.pull_subscribe(f"{name}.>")
    assert len(await eph.fetch(2, timeout=2)) == 2
    await js.add_consumer(name, durable_name="BOUND", ack_policy="explicit")
    bound = await js.pull_subscribe_bind("BOUND", name)
    assert [m.data for m in await bound.fetch(2, timeout=2)] == [b"m0", b"m1"]


# -- push and ordered consumers -------------------------------------------------------------


async def test_push_callback_autoack_and_iteration(js):
    name = await stream_of(js, 5)
    seen: list[bytes] = []
    done = asyncio.Event()

    async def handler(msg):
        seen.append(msg.data)
        if len(seen) == 5:
            done.set()

    sub = await js.subscribe(f"{name}.>", cb=handler, durable="PUSH")
    await asyncio.wait_for(done.wait(), 5)
    assert seen == [b"m%d" % i for i in range(5)]
    # The auto-acks are plain publishes, and nats-server applies acks on a goroutine of its own:
    # an info request can overtake them (seen in a full run). Ask until they show, 5 s at most.
    for _ in range(100):
        if (await sub.consumer_info()).num_ack_pending == 0:
            break
        await asyncio.sleep(0.05)
    assert (await sub.consumer_info()).num_ack_pending == 0
    await sub.unsubscribe()
    assert (await js.consumer_info(name, "PUSH")).name == "PUSH"  # a durable stays

    it_sub = await js.subscribe(f"{name}.>", deliver_policy=DeliverPolicy.LAST, manual_ack=True)
    msg = await it_sub.next_msg(timeout=2)
    assert msg.data == b"m4" and msg.metadata.sequence.stream == 5
    msg.ack()
    consumer = it_sub.consumer
    await it_sub.unsubscribe()
    with pytest.raises(jse.ConsumerNotFoundError):  # an ephemeral one is deleted
        await js.consumer_info(name, consumer)


async def test_push_flow_control_and_heartbeats(js):
    name = await stream_of(js)
    for _ in range(300):
        await js.publish_async(f"{name}.x", b"z" * 1000)
    await js.publish_async_completed(timeout=10)
    sub = await js.subscribe(f"{name}.>", flow_control=True, idle_heartbeat=0.5)
    n = 0
    async for msg in sub:
        msg.ack()
        n += 1
        if n == 300:
            break
    await asyncio.sleep(1.2)  # heartbeats come and are not delivered
    assert sub.pending_msgs == 0
    await sub.unsubscribe()


async def test_push_queue_group(js):
    name = await stream_of(js, 6)
    a = await js.subscribe(f"{name}.>", queue="workers")
    b = await js.subscribe(f"{name}.>", queue="workers")
    got = []
    for _ in range(6):
        for sub in (a, b):
            try:
                msg = await sub.next_msg(timeout=0.3)
            except zc.TimeoutError:
                continue
            msg.ack()
            got.append(msg.data)
            if len(got) == 6:
                break
        if len(got) == 6:
            break
    assert sorted(got) == sorted(b"m%d" % i for i in range(6))


async def test_ordered_consumer_resets_after_gap(js):
    name = await stream_of(js, 5)
    # a short heartbeat: the missed-heartbeat check runs at twice its interval
    sub = await js.subscribe(f"{name}.>", ordered_consumer=True, idle_heartbeat=0.5)
    assert [(await sub.next_msg(2)).data for _ in range(5)] == [b"m%d" % i for i in range(5)]
    first = sub.consumer
    # the consumer is deleted under it: heartbeats stop, it makes another from where it was
    await js.delete_consumer(name, first)
    await js.publish(f"{name}.x", b"after")
    msg = await sub.next_msg(timeout=30)
    assert msg.data == b"after" and msg.metadata.consumer != first
    assert msg.metadata.sequence.stream == 6
    await sub.unsubscribe()


# -- metadata --------------------------------------------------------------------------------


def test_metadata_both_ack_subject_forms():
    v1 = parse_metadata("$JS.ACK.ORDERS.worker.3.120.7.1700000000000000000.12")
    assert (v1.stream, v1.consumer, v1.num_delivered, v1.sequence.stream, v1.sequence.consumer,
            v1.timestamp, v1.num_pending, v1.domain) == ("ORDERS", "worker", 3, 120, 7, 1700000000000000000, 12, None)
    v2 = parse_metadata("$JS.ACK.hub.ACCHASH.ORDERS.worker.3.120.7.1700000000000000000.12.rnd")
    assert (v2.domain, v2.account_hash, v2.stream, v2.sequence.stream, v2.num_pending) == ("hub", "ACCHASH", "ORDERS", 120, 12)
    v2_nodomain = parse_metadata("$JS.ACK._.ACCHASH.ORDERS.worker.3.120.7.1700000000000000000.12")
    assert v2_nodomain.domain is None and v2_nodomain.time.year == 2023
    for bad in ("$JS.ACK.a.b.c", "foo.bar", "$JS.ACK.S.C.x.1.1.1.1", "$JS.ACK.a.b.S.C.1.2.x.4.5"):
        with pytest.raises(jse.NotJSMessageError):
            parse_metadata(bad)


async def test_plain_message_has_no_metadata(nc):
    sub = await nc.subscribe("plain.x")
    nc.publish("plain.x", b"1", reply="some.reply")
    msg = await sub.next_msg(1)
    assert not isinstance(msg, JsMsg)
    with pytest.raises(jse.NotJSMessageError):
        parse_metadata(msg.reply)
