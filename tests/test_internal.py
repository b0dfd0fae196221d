"""Internal subscriptions (broker/internal.py) in an in-process broker: a callback receives what
clients publish on its subject through every delivery path (plain, headers, queue groups, runs
of one PUB line, UNSUB max), and its publishes reach clients, a requester getting its reply."""

from __future__ import annotations

import asyncio

import nats
import pytest

from support.natspy import barrier
from zats.broker import Broker
from zats.broker.internal import InternalClient


class Recorder:
    def __init__(self):
        self.got: list[tuple] = []
        self.arrived = asyncio.Event()

    def __call__(self, subject, reply, headers, payload) -> None:
        self.got.append((subject, reply, headers, bytes(payload)))
        self.arrived.set()

    async def wait(self, n: int) -> None:
        for _ in range(200):
            if len(self.got) >= n:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.got)} of {n} messages arrived: {self.got}")


@pytest.fixture
async def broker():
    async with Broker(port=0, host="127.0.0.1") as b:
        yield b


def internal(broker) -> InternalClient:
    return InternalClient(broker, broker.global_account, broker._new_cid(), name="test")


async def test_callback_gets_subject_reply_headers_and_payload(broker):
    rec = Recorder()
    client = internal(broker)
    client.subscribe(b"svc.*", rec)
    nc = await nats.connect(broker.client_url)
    await nc.publish("svc.a", b"one")
    await nc.publish("svc.b", b"two", reply="back")
    await nc.publish("svc.c", b"three", headers={"K": "v"})
    await nc.publish("svc.d", b"")
    await nc.flush()
    await rec.wait(4)
    assert rec.got[:2] == [(b"svc.a", None, None, b"one"), (b"svc.b", b"back", None, b"two")]
    subject, reply, headers, payload = rec.got[2]
    assert (subject, reply, payload) == (b"svc.c", None, b"three")
    assert headers.startswith(b"NATS/1.0\r\n") and b"K: v\r\n" in headers
    assert rec.got[3] == (b"svc.d", None, None, b"")
    await nc.close()


async def test_runs_of_one_pub_line_and_queue_groups_reach_the_callback(broker):
    rec = Recorder()
    client = internal(broker)
    client.subscribe(b"run", rec)
    client.subscribe(b"q", rec, queue=b"workers")
    reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
    await reader.readline()
    # One read with a run of identical PUB lines (the parser's run path) and sizes that vary.
    writer.write(b'CONNECT {"verbose":false,"pedantic":false}\r\n' + b"PUB run 2\r\nhi\r\n" * 50 +
                 b"PUB run 1\r\na\r\nPUB run 3\r\nabc\r\n" + b"PUB q 1\r\nx\r\n" * 5 + b"PING\r\n")
    await writer.drain()
    assert (await reader.readline()) == b"PONG\r\n"
    await rec.wait(57)
    assert [m[3] for m in rec.got if m[0] == b"run"] == [b"hi"] * 50 + [b"a", b"abc"]
    assert [m[3] for m in rec.got if m[0] == b"q"] == [b"x"] * 5
    writer.close()


async def test_unsubscribe_and_max(broker):
    rec = Recorder()
    client = internal(broker)
    sub = client.subscribe(b"limited", rec)
    sub.max = 2
    gone = client.subscribe(b"gone", rec)
    client.remove_sub(gone)
    nc = await nats.connect(broker.client_url)
    for i in range(5):
        await nc.publish("limited", b"%d" % i)
        await nc.publish("gone", b"x")
    await nc.flush()
    await rec.wait(2)
    await asyncio.sleep(0.05)
    assert [m[3] for m in rec.got] == [b"0", b"1"]
    sublist = broker.global_account.sublist
    assert not sublist.match(b"limited").plain and not sublist.match(b"gone").plain
    await nc.close()


async def test_replies_reach_the_requester(broker):
    client = internal(broker)

    def echo(subject, reply, headers, payload):
        client.publish(reply, None, b"echo:" + bytes(payload))

    client.subscribe(b"echo", echo)
    nc = await nats.connect(broker.client_url)
    msg = await nc.request("echo", b"hello", timeout=2)
    assert msg.data == b"echo:hello"
    # A publish from outside a delivery (a task) is flushed to its receivers at once.
    sub = await nc.subscribe("news")
    await barrier(nc)
    assert client.publish(b"news", None, b"extra", headers=b"NATS/1.0\r\nA: b\r\n\r\n") == 1
    got = await sub.next_msg(timeout=2)
    assert (got.data, got.headers) == (b"extra", {"A": "b"})
    await nc.close()


async def test_a_failing_callback_is_logged_and_the_broker_carries_on(broker):
    client = internal(broker)

    def broken(subject, reply, headers, payload):
        raise ValueError("broken handler")

    client.subscribe(b"broken", broken)
    nc = await nats.connect(broker.client_url)
    sub = await nc.subscribe("ok")
    await nc.publish("broken", b"x")
    await nc.publish("ok", b"still")
    assert (await sub.next_msg(timeout=2)).data == b"still"
    await nc.close()


async def test_a_handler_publishing_through_another_internal_client(broker):
    """A publish made while the broker is flushing joins that flush (no nested flush)."""
    forwarder, relay = internal(broker), internal(broker)
    rec = Recorder()
    relay.subscribe(b"relayed", rec)
    forwarder.subscribe(b"in", lambda s, r, h, p: relay.publish(b"out", None, b"via:" + bytes(p)))
    forwarder.subscribe(b"in", lambda s, r, h, p: forwarder.publish(b"relayed", None, bytes(p)))
    nc = await nats.connect(broker.client_url)
    sub = await nc.subscribe("out")
    await nc.flush()
    for i in range(3):
        await nc.publish("in", b"%d" % i)
    assert [(await sub.next_msg(timeout=2)).data for _ in range(3)] == [b"via:0", b"via:1", b"via:2"]
    await rec.wait(3)
    assert [m[3] for m in rec.got] == [b"0", b"1", b"2"]
    await nc.close()


async def test_a_payload_in_any_buffer_reaches_clients_whole(broker):
    """An internal publish's payload may be bytes, a bytearray or a view of part of one (the
    compiled frame writer reads bytes and contiguous views in place and copies anything else
    first). A client receives the same bytes in each case."""
    client = internal(broker)
    nc = await nats.connect(broker.client_url)
    sub = await nc.subscribe("buf.>")
    await barrier(nc)
    data = bytearray(b"0123456789abcdef")
    payloads = [bytes(data), data, memoryview(data)[2:9], memoryview(b"")]
    for i, payload in enumerate(payloads):
        assert client.publish(b"buf.%d" % i, None, payload) == 1
    for i, payload in enumerate(payloads):
        got = await sub.next_msg(timeout=2)
        assert (got.subject, got.data) == (f"buf.{i}", bytes(payload))
    await nc.close()
