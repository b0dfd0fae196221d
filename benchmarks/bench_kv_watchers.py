"""Broker CPU per KV put while many watchers follow other keys: zats against nats-server, in the
same run. A put is a publish to the bucket's stream; each watcher is a push consumer filtered on
its key. nats-server signals only the consumers whose filter takes the message, so the cost of a
put should not grow with the watchers of other keys.

    python benchmarks/bench_kv_watchers.py [--watchers 200] [--puts 2000] [--rounds 3]

prints, per broker, the median broker CPU (user + system, from /proc) per put over the rounds,
and the ratio zats / nats-server. Each round starts both brokers afresh, with no pinning: compare
the ratio, not the absolute figures."""

from __future__ import annotations

import argparse
import asyncio
import statistics

import nats

from zats.bench.cpu import cpu_seconds
from zats.bench.servers import start_broker


async def _round(url: str, pid: int, watchers: int, puts: int) -> float:
    nc = await nats.connect(url)
    kv = await nc.jetstream().create_key_value(bucket="B", storage="memory")
    subs = [await kv.watch(f"k{i}") for i in range(watchers)]
    await kv.put("k0", b"warm-up")
    before = cpu_seconds(pid)
    for _ in range(puts):
        await kv.put(f"other{watchers}", b"v")  # a key no watcher follows
    spent = cpu_seconds(pid) - before
    for sub in subs:
        await sub.stop()
    await nc.close()
    return spent / puts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--watchers", type=int, default=200)
    ap.add_argument("--puts", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ns = ap.parse_args()
    per_put: dict[str, list[float]] = {"zats": [], "nats-server": []}
    for _ in range(ns.rounds):
        for kind in per_put:
            broker = start_broker(kind, jetstream=True)
            try:
                per_put[kind].append(asyncio.run(_round(broker.url, broker.pid, ns.watchers,
                                                        ns.puts)))
            finally:
                broker.stop()
    med = {kind: statistics.median(v) for kind, v in per_put.items()}
    for kind, value in med.items():
        print(f"{kind}: {value * 1e6:.1f} us broker CPU per put ({ns.watchers} watchers of other keys)")
    print(f"ratio zats / nats-server: {med['zats'] / med['nats-server']:.2f}x")


if __name__ == "__main__":
    main()
