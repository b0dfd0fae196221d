"""Micro benchmarks of the wire format and the broker's per-message path, without sockets
(pytest-benchmark; under the default --benchmark-disable each runs once as a plain test, with
its result checked): parsing client ops per op and payload size, parsing server ops, frame
encoding, header parsing, and a broker connection routing a read of PUB frames to subscribers."""

from __future__ import annotations

import asyncio

import pytest

from zats.broker import Broker, ServerOptions
from zats.broker.connection import ClientConnection
from zats.protocol import frames
from zats.protocol.headers import Headers, decode_headers, encode_headers
from zats.protocol.parser import ClientOpsParser, ServerOpsParser
from zats.protocol.peer_parser import LEAF, ROUTE, PeerOpsParser

READ = 64 * 1024  # one read's worth of frames, as a busy connection receives them


class Counter:
    """A parser handler that counts calls and bytes."""

    def __init__(self):
        self.calls = 0
        self.bytes = 0

    def _count(self, *args):
        self.calls += 1

    def on_pub(self, subject, reply, payload):
        self.calls += 1
        self.bytes += len(payload)

    def on_msg(self, subject, sid, reply, payload):
        self.calls += 1
        self.bytes += len(payload)

    def on_hpub(self, subject, reply, hdr, message):
        self.calls += 1
        self.bytes += len(message)

    on_hmsg = on_hpub
    on_connect = on_sub = on_unsub = on_ping = on_pong = on_info = on_ok = on_err = _count


def one_read(frame: bytes) -> tuple[bytearray, int]:
    count = max(1, READ // len(frame))
    return bytearray(frame * count), count


def parse_all(parser_cls, data: bytearray, headers: bool = False) -> Counter:
    handler = Counter()
    parser = parser_cls(handler)
    if headers:
        parser.headers = True
    view = memoryview(data)
    assert parser.parse(data, view, len(data)) == len(data)
    return handler


@pytest.mark.parametrize("size", [0, 128, 1024, 16384])
def test_parse_pub(benchmark, size):
    data, count = one_read(frames.pub("bench.subject", b"x" * size))
    result = benchmark(parse_all, ClientOpsParser, data)
    assert result.calls == count and result.bytes == count * size
    benchmark.extra_info["msgs_per_read"] = count


def test_parse_pub_with_reply(benchmark):
    data, count = one_read(frames.pub("bench.subject", b"x" * 128, reply="_INBOX.abc.1"))
    assert benchmark(parse_all, ClientOpsParser, data).calls == count


def test_parse_hpub(benchmark):
    block = encode_headers({"Trace-Id": "abc", "X": ["1", "2"]})
    data, count = one_read(frames.hpub("bench.subject", block, b"x" * 128))
    assert benchmark(parse_all, ClientOpsParser, data, True).calls == count


def test_parse_sub_unsub_ping(benchmark):
    data = bytearray(b"SUB foo.* q 1\r\nUNSUB 1 5\r\nPING\r\n" * 1000)
    assert benchmark(parse_all, ClientOpsParser, data).calls == 3000


@pytest.mark.parametrize("size", [128, 16384])
def test_parse_msg(benchmark, size):
    data, count = one_read(frames.msg(b"bench.subject", b"1", b"x" * size))
    assert benchmark(parse_all, ServerOpsParser, data).bytes == count * size


def test_encode_pub(benchmark):
    payload = b"x" * 128
    frame = benchmark(frames.pub, "bench.subject", payload, "_INBOX.r")
    assert frame == b"PUB bench.subject _INBOX.r 128\r\n" + payload + b"\r\n"


def test_encode_headers(benchmark):
    headers = Headers([("Trace-Id", "abc"), ("X", "1"), ("X", "2")], status=503, description="No Responders")
    block = benchmark(encode_headers, headers)
    assert block.startswith(b"NATS/1.0 503 No Responders\r\n") and block.endswith(b"\r\n\r\n")


def test_decode_headers(benchmark):
    block = b"NATS/1.0 503 No Responders\r\nTrace-Id: abc\r\nX: 1\r\nX: 2\r\n\r\n"
    headers = benchmark(decode_headers, block)
    assert headers.status == 503 and headers.get_all("X") == ["1", "2"]


class _Transport:
    """Counts what the broker writes; never applies backpressure."""

    def __init__(self):
        self.written = 0

    def get_extra_info(self, key):
        return ("127.0.0.1", 1)

    def set_write_buffer_limits(self, high=None):
        pass

    def write(self, data):
        self.written += len(data)

    def get_write_buffer_size(self):
        return 0

    def close(self):
        pass


@pytest.mark.parametrize("subscribers,size", [(1, 128), (10, 128), (1, 16384)])
def test_route_one_read(benchmark, subscribers, size):
    """A publisher's read of PUB frames, parsed and delivered into subscribers' buffers and
    flushed: the broker's whole per-message path except the socket."""

    async def setup():
        broker = Broker(ServerOptions(port=0))
        broker.loop = asyncio.get_running_loop()
        conns = []
        for cid in range(subscribers + 1):
            conn = ClientConnection(broker, cid + 1)
            conn.connection_made(_Transport())
            conn.on_connect(b'{"verbose":false,"pedantic":false}')
            conns.append(conn)
        for conn in conns[1:]:
            conn.on_sub(b"bench.subject", None, b"1")
        return conns

    loop = asyncio.new_event_loop()
    try:
        publisher, *subs = loop.run_until_complete(setup())
        data, count = one_read(frames.pub("bench.subject", b"x" * size))

        def route() -> None:
            space = publisher.get_buffer(-1)
            while len(space) < len(data):  # let the receive buffer grow to one read's size
                publisher.buffer_updated(0)
                publisher.rbuf.buf = bytearray(len(data))
                publisher.rbuf.view = memoryview(publisher.rbuf.buf)
                space = publisher.get_buffer(-1)
            space[: len(data)] = data
            publisher.buffer_updated(len(data))

        before = subs[0].out_msgs
        benchmark(route)
        assert subs[0].out_msgs - before >= count
        assert all(s.transport.written > 0 for s in subs)
        for conn in (publisher, *subs):
            conn._cancel_timers()
    finally:
        loop.close()


class PeerCounter(Counter):
    """A route/leaf parser handler: counts messages (runs as their messages) and bytes."""

    def on_rmsg(self, account, subject, reply, queues, header_len, message):
        self.calls += 1
        self.bytes += len(message)

    def on_rmsg_run(self, account, subject, view, first, stride, count, size):
        self.calls += count
        self.bytes += count * size

    on_rsub = on_runsub = Counter._count
    closed = False


class LeafCounter(PeerCounter):
    """Takes leaf messages one by one, as LeafConnection does."""

    on_rmsg_run = None


def _peer_frames(kind: str, varied: bool, size: int) -> tuple[bytearray, int]:
    """One read of RMSG (route) or LMSG (leaf) frames: one repeated line, or subjects varying."""
    head = b"RMSG $G " if kind == "route" else b"LMSG "
    payload = b"x" * size
    frames_ = [head + b"bench.subject.%d %d\r\n%s\r\n" % (i % 10 if varied else 0, size, payload)
               for i in range(10)]
    block = b"".join(frames_)
    count = max(1, READ // len(block))
    return bytearray(block * count), count * 10


def _peer_parser(kind: str, handler) -> PeerOpsParser:
    return PeerOpsParser(handler, ROUTE if kind == "route" else LEAF)


@pytest.mark.parametrize("kind", ["route", "leaf"])
@pytest.mark.parametrize("varied", [False, True], ids=["same_line", "varied_subjects"])
@pytest.mark.parametrize("size", [128, 16384])
def test_parse_peer_msgs(benchmark, kind, varied, size):
    """A route's or leaf's read of messages: one repeated line (the run path on a route) or
    subjects that vary frame to frame."""
    data, count = _peer_frames(kind, varied, size)

    def parse() -> PeerCounter:
        handler = PeerCounter() if kind == "route" else LeafCounter()
        assert _peer_parser(kind, handler).parse(data, memoryview(data), len(data)) == len(data)
        return handler

    result = benchmark(parse)
    assert result.calls == count and result.bytes == count * size
