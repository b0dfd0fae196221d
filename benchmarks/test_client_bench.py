"""Micro benchmarks of zats.client's hot paths, without a server (pytest-benchmark; they also
run as plain tests under --benchmark-disable): publish() into the outbound buffer, typed publish,
and parsing plus delivery of a read of MSG frames in each delivery mode."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from zats.client.client import CONNECTED, Client
from zats.client.options import Options

N = 2000
FRAME = b"MSG bench.sub 1 128\r\n" + b"x" * 128 + b"\r\n"


class Order(msgspec.Struct):
    id: int
    item: str
    qty: float


class _Sink:
    def write(self, data):
        pass

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


def _client(loop: asyncio.AbstractEventLoop) -> Client:
    nc = Client(Options())
    nc._loop = loop
    nc._status = CONNECTED
    nc._transport = _Sink()
    nc._can_write = True
    nc._out_check_at = nc.options.flush_threshold
    return nc


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_publish_128b(benchmark, loop):
    nc = _client(loop)
    payload = b"x" * 128

    def burst():
        publish = nc.publish
        for _ in range(N):
            publish("bench.pub", payload)
        nc._write_out()

    benchmark(burst)
    assert nc.stats["out_msgs"] >= N


def test_publish_typed(benchmark, loop):
    nc = _client(loop)
    order = Order(1, "book", 2.5)

    def burst():
        for _ in range(N):
            nc.publish("bench.orders", order)
        nc._write_out()

    benchmark(burst)
    assert nc.stats["out_msgs"] >= N


@pytest.mark.parametrize("mode", ["plain-callback", "queued"])
def test_parse_and_deliver(benchmark, loop, mode):
    nc = _client(loop)
    got = [0]

    def cb(msg):
        got[0] += 1

    sub = loop.run_until_complete(nc.subscribe("bench.sub", cb=cb if mode == "plain-callback" else None,
                                               pending_msgs_limit=-1, pending_bytes_limit=-1))
    conn = nc._new_connection()
    conn.transport = _Sink()
    conn.handshaking = False
    data = FRAME * N

    def one_read():
        pos = 0
        while pos < len(data):
            space = conn.get_buffer(-1)
            n = min(len(space), len(data) - pos)
            space[:n] = data[pos:pos + n]
            conn.buffer_updated(n)
            pos += n
        sub._pending.clear()
        sub._pending_bytes = 0
        conn._end_burst()

    benchmark(one_read)
    assert sub.delivered >= N
