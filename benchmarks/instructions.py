"""The broker's cost per message in CPU instructions: a deterministic yardstick for the hot path,
unaffected by the machine's other load (the 2-core development machine is shared).

One zats broker runs in this process; the clients of a `Varied*` scenario (zats_bench/varied.py)
talk to it over in-process pipes (Broker.connect_in_process), so every instruction counted is the
broker's or the pipe's. Run twice under callgrind with two message counts: the difference of the
two totals over the difference of the counts is the cost of one message, start-up cancelled out.

The JetStream rows run the broker with a file store in a temporary directory:
- `JsPubAsync`: publishes to a file stream over 64 subjects, 128 B each, 256 awaiting their
  PubAck at a time (each PubAck is counted);
- `JsPubSync`: the same, one at a time (each publish waits for its PubAck): the per-read costs
  that a window of 256 shares are paid by every publish, as in a sync publish's latency;
- `JsFetch100`: a durable pull consumer (explicit ack) reads a stream filled beforehand (the same
  fill in both runs, so it cancels out) with fetch requests of 100, acking every message.
Their client splits every frame with zats-bench's reader to find the ack subjects, so these
counts include a small fixed cost of the client's per message besides the broker's.

    python benchmarks/instructions.py [SCENARIO ...]        (default: every Varied* scenario)
    python benchmarks/instructions.py JsPubAsync JsPubSync JsFetch100

runs itself under `valgrind --tool=callgrind` and prints instructions per published message and
per delivered one. `--count N` alone runs the traffic once, without valgrind (a smoke test)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile

from zats.bench import varied
from zats.bench.jetstream import Frames
from zats.bench.scenarios import parse_name
from zats.broker.log import Logger
from zats.broker.options import JetStreamConfig
from zats.broker.server import Broker

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\n'
COUNTS = (4096, 12288)  # messages published in the two runs (whole writes)


class _Quiet(Logger):
    def _write(self, level: str, fmt: str, args: tuple) -> None:
        pass


class _Client(asyncio.Protocol):
    """A client end that counts MSG frames and PONGs (payloads never contain `MSG `)."""

    def __init__(self) -> None:
        self.msgs = self.pongs = 0
        self.tail = b""
        self.waiter: asyncio.Future | None = None

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        self.msgs += data.count(b"MSG ") - self.tail.count(b"MSG ")
        self.pongs += data.count(b"PONG\r\n") - self.tail.count(b"PONG\r\n")
        self.tail = data[-5:]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def pong(self, transport, want: int) -> None:
        transport.write(b"PING\r\n")
        while self.pongs < want:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter


async def _run(name: str, count: int) -> tuple[int, int]:
    """(published, delivered) after sending `count` messages of scenario `name`."""
    sc = parse_name(name)
    t = varied.traffic(sc.kind, "bench.run", sc.pubs, sc.subs)
    broker = Broker(host="127.0.0.1", port=0, log=_Quiet())
    await broker.start()
    subs = []
    for slot in range(sc.subs):
        client = _Client()
        transport = broker.connect_in_process(client)
        q = b" " + t.queue if t.queue else b""
        transport.write(CONNECT + b"".join(b"SUB %s%s %d\r\n" % (f, q, i + 1)
                                           for i, f in enumerate(t.filters[slot])))
        await client.pong(transport, 1)
        subs.append((client, transport))
    pubs = []
    for i in range(sc.pubs):
        client = _Client()
        transport = broker.connect_in_process(client)
        transport.write(CONNECT)
        pubs.append((client, transport, t.chunks(i)))
    published = expected = 0
    k = 0
    while published < count:
        for _client, transport, chunks in pubs:
            data, frames, hits = chunks[k % len(chunks)]
            transport.write(data)
            published += frames
            expected += hits
        k += 1
        while any(tr.get_write_buffer_size() for _, tr, _ in pubs):
            await asyncio.sleep(0)
    for client, transport, _ in pubs:
        await client.pong(transport, 1)
    delivered = 0
    for client, transport in subs:
        await client.pong(transport, 2)
        delivered += client.msgs
    if delivered != expected:
        raise SystemExit(f"{name}: {delivered} delivered, {expected} expected")
    await broker.stop(quiet=True)
    return published, delivered


class _JsClient(asyncio.Protocol):
    """A client end that splits frames with zats-bench's own reader (`Frames`) and keeps each
    MSG/HMSG's reply subject (a PubAck comes without one, a delivery with its ack subject)."""

    def __init__(self) -> None:
        self.reader = Frames()
        self.replies: list[bytes | None] = []
        self.want = 0
        self.waiter: asyncio.Future | None = None

    def data_received(self, data: bytes) -> None:
        self.replies += [reply for _subject, _sid, reply, _hdr, _data in self.reader.feed(data)]
        if self.waiter is not None and not self.waiter.done() and \
                (len(self.replies) >= self.want or self.reader.pongs):
            self.waiter.set_result(None)

    async def frames(self, n: int) -> list:
        """The next `n` frames' reply subjects."""
        self.want = n
        while len(self.replies) < n:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        got, self.replies = self.replies[:n], self.replies[n:]
        return got

    async def pong(self, transport) -> None:
        self.reader.pongs = 0
        transport.write(b"PING\r\n")
        while not self.reader.pongs:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter


def _api(inbox: bytes, subject: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), inbox, len(data), data)


JS_WINDOW = 256  # PubAcks awaited at a time
FETCH_BATCH = 100
_PAYLOAD = b"x" * 128


async def _publish(client: _JsClient, transport, count: int, window: int = JS_WINDOW) -> int:
    """`count` acked publishes, `window` in flight; returns the PubAcks read."""
    acks = 0
    while acks < count:
        n = min(window, count - acks)
        transport.write(b"".join(b"PUB bench.%d _INBOX.p.%d 128\r\n%s\r\n" % ((acks + i) % 64, acks + i,
                                                                             _PAYLOAD)
                                 for i in range(n)))
        replies = await client.frames(n)
        if any(r is not None for r in replies):
            raise SystemExit("a PubAck with a reply subject")
        acks += n
    return acks


async def _run_js(name: str, count: int) -> tuple[int, int]:
    """(published or fetched, PubAcks or deliveries) of JetStream scenario `name`."""
    fill = max(COUNTS) + FETCH_BATCH  # the last fetch of the longer run is whole too
    with tempfile.TemporaryDirectory() as store:
        broker = Broker(host="127.0.0.1", port=0, log=_Quiet(), jetstream=JetStreamConfig(),
                        store_dir=store)
        await broker.start()
        client = _JsClient()
        transport = broker.connect_in_process(client)
        transport.write(CONNECT + b"SUB _INBOX.> 1\r\n" + _api(
            b"_INBOX.api", "$JS.API.STREAM.CREATE.S",
            {"name": "S", "subjects": ["bench.>"], "storage": "file"}))
        await client.frames(1)
        if name in ("JsPubAsync", "JsPubSync"):
            done = await _publish(client, transport, count, JS_WINDOW if name == "JsPubAsync" else 1)
            await broker.stop(quiet=True)
            return done, done
        if name != "JsFetch100":
            raise SystemExit(f"unknown scenario {name!r}")
        await _publish(client, transport, fill)
        transport.write(_api(b"_INBOX.api", "$JS.API.CONSUMER.CREATE.S.C",
                             {"stream_name": "S", "config": {"durable_name": "C",
                                                             "ack_policy": "explicit",
                                                             "deliver_policy": "all"}}))
        await client.frames(1)
        request = json.dumps({"batch": FETCH_BATCH, "expires": 30 * 10**9}).encode()
        pull = b"PUB $JS.API.CONSUMER.MSG.NEXT.S.C _INBOX.f %d\r\n%s\r\n" % (len(request), request)
        got = 0
        acks = b""
        while got < count:
            transport.write(acks + pull)
            replies = await client.frames(FETCH_BATCH)
            if not all(r and r.startswith(b"$JS.ACK.S.C.") for r in replies):
                raise SystemExit(f"a delivery without an ack subject: {replies[:3]}")
            acks = b"".join([b"PUB %s 0\r\n\r\n" % r for r in replies])
            got += len(replies)
        transport.write(acks)
        await client.pong(transport)
        await broker.stop(quiet=True)
        return got, got


def _instructions(name: str, count: int) -> tuple[int, int, int]:
    """(instructions, published, delivered) of one run under callgrind."""
    with tempfile.NamedTemporaryFile(suffix=".out") as out:
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
             sys.executable, __file__, "--count", str(count), name],
            capture_output=True, text=True, check=True)
    total = int(re.search(r"Collected : (\d+)", proc.stderr).group(1))
    published, delivered = map(int, proc.stdout.split()[-2:])
    return total, published, delivered


def main(argv: list[str]) -> None:
    if argv[:1] == ["--count"]:
        run = _run_js if argv[2].startswith("Js") else _run
        pub, got = asyncio.run(run(argv[2], int(argv[1])))
        print(pub, got)
        return
    names = argv or ["VariedPubSub", "VariedFanOut5", "VariedMany4x4", "VariedQueue5"]
    for name in names:
        (i1, p1, d1), (i2, p2, d2) = (_instructions(name, c) for c in COUNTS)
        if name.startswith("Js"):  # one message: a PubAck, or a delivery and its ack
            print(f"{name}: {(i2 - i1) / (p2 - p1):,.0f} instructions per message", flush=True)
            continue
        print(f"{name}: {(i2 - i1) / (p2 - p1):,.0f} instructions per published message, "
              f"{(i2 - i1) / (d2 - d1):,.0f} per delivered one", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
