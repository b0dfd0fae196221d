"""Load without loss: many connections, fan-out, fan-in and queue groups, every message counted.

Peers are raw asyncio streams speaking the client protocol (a nats-py client per connection would
dominate the cost). Completion is established with PING/PONG barriers, never with sleeps: once a
publisher's PONG arrived, the server has routed everything it published; a subscriber's PONG after
that comes behind every message routed to it. Then counts must be exact: no loss, no duplicates,
per-publisher order kept, payloads intact, and no -ERR anywhere.
"""

from __future__ import annotations

import asyncio
import resource

import pytest

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 30.0
OPTS = b'{"verbose":false,"pedantic":false}'


def ensure_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below the {needed} this test needs")


class Peer:
    """A raw client connection; records every MSG per sid and answers server PINGs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.msgs: dict[bytes, list[tuple[bytes, bytes]]] = {}
        self.errors: list[bytes] = []
        self.pongs: list[asyncio.Future] = []
        self.closed = False
        self.task: asyncio.Task | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> Peer:
        reader, writer = await asyncio.open_connection(host, port)
        info = await asyncio.wait_for(reader.readuntil(b"\r\n"), TIMEOUT)
        assert info.startswith(b"INFO {"), info[:100]
        peer = cls(reader, writer)
        writer.write(b"CONNECT " + OPTS + b"\r\n")
        peer.task = asyncio.create_task(peer._read_loop())
        await peer.ping()
        return peer

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def ping(self) -> None:
        """Round trip: returns once the server answered a PING sent after everything so far."""
        fut = asyncio.get_running_loop().create_future()
        self.pongs.append(fut)
        self.writer.write(b"PING\r\n")
        await self.writer.drain()
        await asyncio.wait_for(fut, TIMEOUT)

    def received(self, sid: bytes) -> list[tuple[bytes, bytes]]:
        return self.msgs.get(sid, [])

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, ConnectionError, OSError):
                pass

    async def _read_loop(self) -> None:
        buf = bytearray()
        try:
            while True:
                chunk = await self.reader.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                del buf[: self._parse(buf)]
        except ConnectionError:
            pass
        finally:
            self.closed = True
            for fut in self.pongs:
                if not fut.done():
                    fut.set_exception(ConnectionError(f"server hung up; errors: {self.errors}"))

    def _parse(self, buf: bytearray) -> int:
        pos, n = 0, len(buf)
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return pos
            if buf.startswith(b"MSG ", pos):
                args = bytes(buf[pos + 4:eol]).split(b" ")
                start = eol + 2
                end = start + int(args[-1])
                if end + 2 > n:
                    return pos
                assert buf[end:end + 2] == b"\r\n", f"bad MSG framing after {bytes(buf[pos:eol])!r}"
                self.msgs.setdefault(args[1], []).append((args[0], bytes(buf[start:end])))
                pos = end + 2
                continue
            line = bytes(buf[pos:eol])
            pos = eol + 2
            if line == b"PONG":
                self.pongs.pop(0).set_result(None)
            elif line == b"PING":
                self.writer.write(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                self.errors.append(line)
            else:
                assert line.startswith(b"INFO ") or line == b"+OK", f"unexpected {line[:100]!r}"


async def open_many(server, count: int, parallel: int = 50) -> list[Peer]:
    sem = asyncio.Semaphore(parallel)

    async def one() -> Peer:
        async with sem:
            return await Peer.open(server.host, server.port)

    return list(await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), TIMEOUT))


@pytest.fixture
async def peers(server):
    """Factory opening `count` peers to `server`; all are checked for -ERR and closed at the end."""
    opened: list[Peer] = []

    async def _open(count: int) -> list[Peer]:
        ensure_fd_limit(count + 256)
        new = await open_many(server, count)
        opened.extend(new)
        return new

    yield _open
    errors = [e for p in opened for e in p.errors]
    await asyncio.gather(*(p.close() for p in opened))
    assert errors == [], f"-ERR received under load: {errors[:5]}"


async def barrier(*groups: list[Peer]) -> None:
    """PING/PONG on every peer of each group, group after group."""
    for group in groups:
        await asyncio.wait_for(asyncio.gather(*(p.ping() for p in group)), TIMEOUT)


def payload(src: int, seq: int) -> bytes:
    return b"%d:%d:" % (src, seq) + b"x" * (seq % 17)


def pub(subject: bytes, data: bytes) -> bytes:
    return b"PUB %s %d\r\n%s\r\n" % (subject, len(data), data)


async def test_many_connections_each_subscribe_and_publish(peers):
    """500 connections in a ring: each publishes to the next one's subject and receives exactly
    its predecessor's messages, in order. Each also publishes to a shared subject that every
    tenth connection subscribes to."""
    n, per_conn = 500, 20
    conns = await peers(n)
    for i, p in enumerate(conns):
        p.send(b"SUB load.ring.%d 1\r\n" % i)
        if i % 10 == 0:
            p.send(b"SUB load.ring.all 2\r\n")
    await barrier(conns)

    for i, p in enumerate(conns):
        out = bytearray()
        target = b"load.ring.%d" % ((i + 1) % n)
        for k in range(per_conn):
            out += pub(target, payload(i, k))
        out += pub(b"load.ring.all", payload(i, per_conn))
        p.send(bytes(out))
    await barrier(conns, conns)

    all_expected = sorted(payload(i, per_conn) for i in range(n))
    for i, p in enumerate(conns):
        src = (i - 1) % n
        assert p.received(b"1") == [(b"load.ring.%d" % i, payload(src, k)) for k in range(per_conn)]
        if i % 10 == 0:
            got = p.received(b"2")
            assert {s for s, _ in got} == {b"load.ring.all"}
            assert sorted(d for _, d in got) == all_expected
        else:
            assert p.received(b"2") == []


async def test_fan_out(peers):
    """One publisher, 50 subscribers, 2000 messages: every subscriber gets all, in order."""
    n_subs, n_msgs = 50, 2000
    subs = await peers(n_subs)
    (publisher,) = await peers(1)
    for p in subs:
        p.send(b"SUB load.fan 7\r\n")
    await barrier(subs)

    for start in range(0, n_msgs, 500):
        publisher.send(b"".join(pub(b"load.fan", payload(0, k))
                                for k in range(start, min(start + 500, n_msgs))))
        await publisher.writer.drain()
    await barrier([publisher], subs)

    expected = [(b"load.fan", payload(0, k)) for k in range(n_msgs)]
    for p in subs:
        assert p.received(b"7") == expected


async def test_fan_in(peers):
    """100 publishers, one subscriber: per-publisher order kept, nothing lost or doubled."""
    n_pubs, per_pub = 100, 100
    (sink,) = await peers(1)
    sink.send(b"SUB load.fanin.* 1\r\n")
    await barrier([sink])
    pubs = await peers(n_pubs)
    for i, p in enumerate(pubs):
        p.send(b"".join(pub(b"load.fanin.%d" % i, payload(i, k)) for k in range(per_pub)))
    await barrier(pubs, [sink])

    got = sink.received(b"1")
    assert len(got) == n_pubs * per_pub
    by_source: dict[int, list[bytes]] = {}
    for subject, data in got:
        src = int(data.split(b":")[0])
        assert subject == b"load.fanin.%d" % src
        by_source.setdefault(src, []).append(data)
    assert by_source == {i: [payload(i, k) for k in range(per_pub)] for i in range(n_pubs)}


async def test_queue_groups_under_load(peers):
    """5000 messages to 20 members of one group, 5 of another and 5 plain subscribers: each
    group gets every message exactly once, spread evenly over its members; each plain sub gets
    all."""
    n_msgs = 5000
    workers = await peers(20)
    auditors = await peers(5)
    plain = await peers(5)
    for p in workers:
        p.send(b"SUB load.q workers 1\r\n")
    for p in auditors:
        p.send(b"SUB load.q auditors 1\r\n")
    for p in plain:
        p.send(b"SUB load.q 1\r\n")
    everyone = workers + auditors + plain
    await barrier(everyone)

    publishers = await peers(2)
    for j, p in enumerate(publishers):
        p.send(b"".join(pub(b"load.q", payload(j, k)) for k in range(n_msgs // 2)))
    await barrier(publishers, everyone)

    expected = sorted(payload(j, k) for j in range(2) for k in range(n_msgs // 2))
    for group in (workers, auditors):
        shares = [[d for _, d in p.received(b"1")] for p in group]
        assert sorted(d for share in shares for d in share) == expected
        # Uniform picks: a member's share is within seven standard deviations of an even one.
        even = n_msgs / len(group)
        slack = 7 * (n_msgs * (1 / len(group)) * (1 - 1 / len(group))) ** 0.5
        assert all(abs(len(share) - even) < slack for share in shares), [len(s) for s in shares]
        for share in shares:
            for j in range(2):
                mine = [d for d in share if d.startswith(b"%d:" % j)]
                assert mine == sorted(mine, key=lambda d: int(d.split(b":")[1])), "order kept"
    for p in plain:
        got = [d for _, d in p.received(b"1")]
        assert sorted(got) == expected
        for j in range(2):
            assert [d for d in got if d.startswith(b"%d:" % j)] == [
                payload(j, k) for k in range(n_msgs // 2)]


async def wait_for_count(peer: Peer, sid: bytes, count: int) -> None:
    """For publishers that hung up (no PONG to wait for): waits until `count` messages arrived."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while len(peer.received(sid)) < count:
        assert asyncio.get_running_loop().time() < deadline, (
            f"only {len(peer.received(sid))} of {count} messages arrived")
        await asyncio.sleep(0.01)


async def test_connection_churn(peers, server):
    """Connections that publish and hang up, while a subscriber counts: none is lost. Half of
    them wait for a PONG before closing, half close straight after writing."""
    (sink,) = await peers(1)
    sink.send(b"SUB load.churn 1\r\n")
    await barrier([sink])
    n, per_conn = 200, 10
    sem = asyncio.Semaphore(50)

    async def hit_and_run(i: int) -> None:
        async with sem:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            await asyncio.wait_for(reader.readuntil(b"\r\n"), TIMEOUT)
            writer.write(b"CONNECT " + OPTS + b"\r\n" + b"".join(
                pub(b"load.churn", payload(i, k)) for k in range(per_conn)) + b"PING\r\n")
            await writer.drain()
            if i % 2:
                await asyncio.wait_for(reader.readuntil(b"PONG\r\n"), TIMEOUT)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    await asyncio.wait_for(asyncio.gather(*(hit_and_run(i) for i in range(n))), TIMEOUT)
    await wait_for_count(sink, b"1", n * per_conn)
    await barrier([sink])
    got = sorted(d for _, d in sink.received(b"1"))
    assert got == sorted(payload(i, k) for i in range(n) for k in range(per_conn))
