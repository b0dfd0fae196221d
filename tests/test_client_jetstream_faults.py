"""zats.client's JetStream when things go wrong, against zats and nats-server alike:

* a hostile peer answers the `$JS.API` subjects (and a stream's subject) with garbage JSON,
  JSON of the wrong shape, error objects of the wrong shape, or bogus status messages: every
  call raises a typed `JetStreamError` (`InvalidResponseError`, an `APIError`), never a
  KeyError/AttributeError from the client's internals, and the connection keeps working;
* the server restarts (a file store, the same port) while `consume()` and an ordered consumer
  are running: both carry on after the reconnect, nothing lost."""

from __future__ import annotations

import asyncio

import pytest

import zats.client as zc
from support.servers import KINDS, start_server
from zats.client.jetstream import ConsumerConfig
from zats.client.jetstream import errors as jse

GARBAGE = [
    b"",
    b"not json",
    b"\xff\xfe\x00binary",
    b"[1, 2, 3]",
    b'"a string"',
    b"null",
    b'{"error": "a string"}',
    b'{"error": {"code": "x", "err_code": [1], "description": 5}}',
    b'{"config": 5, "state": []}',
    b'{"stream": 5, "seq": "one"}',
    b'{"streams": 7, "total": "x"}',
    b'{"message": {"subject": 1}}',
    b'{"message": {"subject": "a", "seq": 1, "data": "!!!not base64"}}',
    b"{" * 10_000,
]


@pytest.fixture(params=KINDS)
def server(request):
    srv = start_server(request.param)
    yield srv
    srv.stop()


async def _hostile_api(url: str, answer: bytes) -> zc.Client:
    """A peer that answers every JetStream request and publish with `answer`."""
    peer = await zc.connect(url)

    def reply(msg):
        msg.respond(answer)

    await peer.subscribe("$JS.API.>", cb=reply)
    await peer.subscribe("hostile.>", cb=reply)
    await peer.flush()
    return peer


@pytest.mark.parametrize("answer", GARBAGE, ids=range(len(GARBAGE)))
async def test_garbage_answers_are_typed_errors(server, answer):
    peer = await _hostile_api(server.url, answer)
    try:
        async with zc.connect(server.url) as nc:
            js = nc.jetstream(timeout=2)
            calls = [
                js.account_info(), js.stream_info("S"), js.add_stream(name="S", subjects=["x"]),
                js.update_stream(name="S"), js.delete_stream("S"), js.purge_stream("S"),
                js.stream_names(), js.streams_info(), js.consumer_info("S", "C"),
                js.add_consumer("S", durable_name="C"), js.consumers_info("S"), js.consumer_names("S"),
                js.get_msg("S", 1), js.get_msg("S", 1, direct=True), js.delete_msg("S", 1),
                js.publish("hostile.x", b"data"), js.pull_subscribe("hostile.x", stream="S", durable="C"),
            ]
            for call in calls:
                try:
                    await call
                except jse.JetStreamError:
                    pass
            fut = await js.publish_async("hostile.y", b"data")
            await js.publish_async_completed(timeout=5)
            if fut.exception() is not None:
                assert isinstance(fut.exception(), jse.JetStreamError)
            assert await nc.rtt() >= 0  # the connection is still fine
    finally:
        await peer.close()


async def test_shapes_that_are_errors(server):
    """The answers that are not garbage but errors, each as its type."""
    cases = [
        (b'{"error": {"code": 404, "err_code": 10059, "description": "stream not found"}}', jse.StreamNotFoundError),
        (b'{"error": {"code": 404, "description": "gone"}}', jse.NotFoundError),
        (b'{"error": {"code": 503, "err_code": 99999}}', jse.ServiceUnavailableError),
        (b'{"error": {"code": 418}}', jse.APIError),
        (b"not json", jse.InvalidResponseError),
        (b'{"type": "io.nats.jetstream.api.v1.stream_info_response"}', jse.InvalidResponseError),
    ]
    async with zc.connect(server.url) as nc:
        js = nc.jetstream(timeout=2)
        for answer, kind in cases:
            peer = await _hostile_api(server.url, answer)
            try:
                with pytest.raises(kind) as exc:
                    await js.stream_info("S")
                assert type(exc.value) is kind
                with pytest.raises(jse.JetStreamError):
                    await js.publish("hostile.p", b"x")
            finally:
                await peer.close()


async def test_bogus_pull_answers(server):
    """A peer answering pull requests with status messages of every kind, ill-formed pending
    headers and messages whose reply is not an ack subject: fetch and consume raise typed
    errors or time out, and the messages they hand out are the peer's."""
    peer = await zc.connect(server.url)
    sent = 0

    def answer(msg):
        nonlocal sent
        sent += 1
        reply = msg.reply
        peer.publish(reply, b"", headers=zc.Headers(status=100, description="Idle Heartbeat"))
        peer.publish(reply, b"", headers=zc.Headers([("Nats-Pending-Messages", "lots")], status=408,
                                                     description="Request Timeout"))
        peer.publish(reply, b"payload", reply="not.an.ack.subject")
        peer.publish(reply, b"", headers=zc.Headers(status=409, description="Exceeded MaxRequestBatch of 1"))

    await peer.subscribe("$JS.API.CONSUMER.MSG.NEXT.>", cb=answer)
    await peer.flush()
    try:
        async with zc.connect(server.url) as nc:
            js = nc.jetstream(timeout=2)
            psub = await js.pull_subscribe_bind("C", "S")
            msgs = await psub.fetch(5, timeout=1)
            assert [m.data for m in msgs] == [b"payload"]
            with pytest.raises(jse.NotJSMessageError):
                _ = msgs[0].metadata
            it = psub.consume(batch=3, expires=1)
            seen = []
            with pytest.raises(jse.FetchError):
                async for msg in it:
                    seen.append(msg.data)
            assert sent >= 2
    finally:
        await peer.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_consume_and_ordered_survive_a_server_restart(kind, tmp_path):
    srv = start_server(kind, "-js", "-sd", str(tmp_path / "store"))
    try:
        async with zc.connect(srv.url, reconnect_time_wait=0.1, max_reconnect_attempts=-1) as nc:
            js = nc.jetstream(timeout=3)
            await js.add_stream(name="R", subjects=["r.>"], storage="file")
            for i in range(10):
                await js.publish("r.x", b"%d" % i)
            psub = await js.pull_subscribe("r.>", durable="RC", config=ConsumerConfig(ack_wait=5.0))
            ordered = await js.subscribe("r.>", ordered_consumer=True, idle_heartbeat=0.5)
            it = psub.consume(batch=4, expires=2, heartbeat=0.5)
            got, seen = [], []
            async for msg in it:
                await msg.ack_sync()
                got.append(msg.data)
                if len(got) == 10:
                    break
            for _ in range(10):
                seen.append((await ordered.next_msg(5)).data)
            it = psub.consume(batch=4, expires=2, heartbeat=0.5)
            waiting = asyncio.ensure_future(it.__anext__())
            srv.restart()
            for _ in range(200):  # the reconnect
                if nc.is_connected:
                    break
                await asyncio.sleep(0.05)
            for i in range(10, 15):
                for _ in range(100):  # the stream is back once the server has read its store
                    try:
                        await js.publish("r.x", b"%d" % i)
                        break
                    except (jse.JetStreamError, zc.TimeoutError):
                        await asyncio.sleep(0.1)
            msg = await asyncio.wait_for(waiting, 30)
            msg.ack()
            got.append(msg.data)
            async for msg in it:
                msg.ack()
                got.append(msg.data)
                if len(got) == 15:
                    break
            assert got == [b"%d" % i for i in range(15)]
            for _ in range(5):
                seen.append((await ordered.next_msg(30)).data)
            assert seen == [b"%d" % i for i in range(15)]
            it.stop()
            await ordered.unsubscribe()
    finally:
        srv.stop()
