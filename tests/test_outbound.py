"""The outbound side (outbound.py):
- output held over reads while a stream of messages flows in (HeldOutput): the stream's
  receivers get every message in order, a bystander is answered meanwhile, and a lone message
  after the stream is written without waiting for more. Checked against zats and the real
  nats-server over raw sockets; that zats did hold (fewer writes to a receiver than reads of
  the stream) against an in-process broker;
- a written buffer's memory reused (delivery.recycle) only when its transport let go of it: a
  transport that keeps what it was given keeps it intact."""

from __future__ import annotations

import re

from support.inprocess import ThreadedBroker
from support.wire import Wire

OPTS = b'{"verbose":false,"pedantic":false}'
SUBJECTS = 8


def stream(count: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """`count` PUB frames over SUBJECTS subjects with sizes from 16 to about 400 bytes, and the
    (subject, payload) of each."""
    sent = []
    for i in range(count):
        subject = b"held.%d" % (i % SUBJECTS)
        payload = (b"%06d." % i) * (2 + (i * 37) % 56)
        sent.append((subject, payload))
    return b"".join(b"PUB %s %d\r\n%s\r\n" % (s, len(p), p) for s, p in sent), sent


def received(data: bytes) -> list[tuple[bytes, bytes]]:
    got = []
    for m in re.finditer(rb"MSG (\S+) \d+ (\d+)\r\n", data):
        start = m.end()
        got.append((m.group(1), data[start:start + int(m.group(2))]))
    return got


def test_a_stream_reaches_its_receivers_whole_and_in_order(server):
    frames, sent = stream(4000)
    with Wire(server.host, server.port, timeout=10) as everything, \
            Wire(server.host, server.port, timeout=10) as one_subject, \
            Wire(server.host, server.port) as bystander, \
            Wire(server.host, server.port, timeout=10) as pub:
        everything.connect(OPTS)
        everything.send(b"SUB held.* 1\r\nPING\r\n")
        everything.expect(rb"PONG\r\n")
        one_subject.connect(OPTS)
        one_subject.send(b"SUB held.3 1\r\nPING\r\n")
        one_subject.expect(rb"PONG\r\n")
        bystander.connect(OPTS)
        pub.connect(OPTS)
        pub.send(frames)
        bystander.send(b"PING\r\n")
        bystander.expect(rb"PONG\r\n")  # answered while the stream is read
        pub.send(b"PING\r\n")
        pub.expect(rb"PONG\r\n")
        # A lone message after the stream: written without more traffic to push it out.
        pub.send(b"PUB held.3 4\r\nlast\r\n")
        last = re.compile(rb".*?MSG held\.3 1 4\r\nlast\r\n", re.S)
        assert received(one_subject.expect(last).group(0)) == \
            [m for m in sent if m[0] == b"held.3"] + [(b"held.3", b"last")]
        assert received(everything.expect(last).group(0)) == sent + [(b"held.3", b"last")]


class _CountingTransport:
    """A connection's transport with its writes counted."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.writes = 0

    def write(self, data) -> None:
        self.writes += 1
        self.inner.write(data)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_a_receiver_of_part_of_a_stream_gets_fewer_writes_than_the_stream_has_reads():
    srv = ThreadedBroker().start()
    try:
        frames, sent = stream(8000)
        with Wire(srv.host, srv.port, timeout=10) as sub, \
                Wire(srv.host, srv.port, timeout=10) as pub:
            sub.connect(OPTS)
            sub.send(b"SUB held.5 1\r\nPING\r\n")
            sub.expect(rb"PONG\r\n")
            pub.connect(OPTS)
            pub.send(b"PING\r\n")
            pub.expect(rb"PONG\r\n")
            broker = srv.broker

            def count_writes():
                conn = next(c for c in broker.connections.values() if c.subs)
                conn.transport = _CountingTransport(conn.transport)
                return conn.transport, broker.held.reads

            counter, reads_before = srv.call(count_writes)
            pub.send(frames + b"PING\r\n")
            pub.expect(rb"PONG\r\n")
            sub.send(b"PING\r\n")
            got = received(sub.expect(re.compile(rb".*?PONG\r\n", re.S)).group(0))
            reads = srv.call(lambda: broker.held.reads) - reads_before
            assert got == [m for m in sent if m[0] == b"held.5"]
            # About 1.4 MB read, about 170 KB of it for this receiver: its output was held over
            # several reads at a time.
            assert reads > 10
            assert counter.writes < reads / 2, (counter.writes, reads)
    finally:
        srv.stop()


class _KeepingTransport(_CountingTransport):
    """A transport that keeps every object it is given (as an SSL transport keeps its backlog)
    and what each held when it was given."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.kept: list = []

    def write(self, data) -> None:
        self.kept.append((data, bytes(data)))
        super().write(data)


def test_a_buffer_its_transport_keeps_is_never_reused():
    srv = ThreadedBroker().start()
    try:
        with Wire(srv.host, srv.port) as sub, Wire(srv.host, srv.port) as pub:
            sub.connect(OPTS)
            sub.send(b"SUB keep.* 1\r\nPING\r\n")
            sub.expect(rb"PONG\r\n")
            pub.connect(OPTS)
            broker = srv.broker

            def keep_writes():
                conn = next(c for c in broker.connections.values() if c.subs)
                conn.transport = _KeepingTransport(conn.transport)
                return conn.transport

            keeper = srv.call(keep_writes)
            for i in range(30):  # a read each: a flush each
                pub.send(b"PUB keep.%d %d\r\n%s\r\nPING\r\n" % (i, 100 + i, b"k" * (100 + i)))
                pub.expect(rb"PONG\r\n")
            sub.send(b"PING\r\n")
            got = received(sub.expect(re.compile(rb".*?PONG\r\n", re.S)).group(0))
            assert got == [(b"keep.%d" % i, b"k" * (100 + i)) for i in range(30)]
            kept = srv.call(lambda: [(bytes(obj), when) for obj, when in keeper.kept])
            assert len(kept) >= 30
            assert all(now == when for now, when in kept)
    finally:
        srv.stop()
