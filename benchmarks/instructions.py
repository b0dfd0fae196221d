"""The broker's cost per message in CPU instructions: a deterministic yardstick for the hot path,
unaffected by the machine's other load (the 2-core development machine is shared).

One zats broker runs in this process; the clients of a `Varied*` scenario (zats_bench/varied.py)
talk to it over in-process pipes (Broker.connect_in_process), so every instruction counted is the
broker's or the pipe's. Run twice under callgrind with two message counts: the difference of the
two totals over the difference of the counts is the cost of one message, start-up cancelled out.

    python benchmarks/instructions.py [SCENARIO ...]        (default: every Varied* scenario)

runs itself under `valgrind --tool=callgrind` and prints instructions per published message and
per delivered one. `--count N` alone runs the traffic once, without valgrind (a smoke test)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile

from zats.bench import varied
from zats.bench.scenarios import parse_name
from zats.broker.log import Logger
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
        pub, got = asyncio.run(_run(argv[2], int(argv[1])))
        print(pub, got)
        return
    names = argv or ["VariedPubSub", "VariedFanOut5", "VariedMany4x4", "VariedQueue5"]
    for name in names:
        (i1, p1, d1), (i2, p2, d2) = (_instructions(name, c) for c in COUNTS)
        print(f"{name}: {(i2 - i1) / (p2 - p1):,.0f} instructions per published message, "
              f"{(i2 - i1) / (d2 - d1):,.0f} per delivered one", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
