"""What the dashboard's busiest-subjects answer (/subjectz) costs the broker: one count over
100,000 subscriptions on 10 connections (20,000 subjects), the work done at most once a second
while a dashboard is open (pytest-benchmark; also runs as a plain test under
--benchmark-disable)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from zats.broker.monitor.subjects import BusiestSubjects

CONNS, SUBS, SUBJECTS = 10, 10_000, 2_000


def _broker():
    account = SimpleNamespace(name="$G")
    connections = {}
    for c in range(CONNS):
        subs = {i: SimpleNamespace(subject=b"s.%d.%d" % (c, i % SUBJECTS), delivered=i)
                for i in range(SUBS)}
        connections[c] = SimpleNamespace(closed=False, account=account, subs=subs)
    return SimpleNamespace(connections=connections, server_id="BENCH")


def test_subjectz_count_100k_subscriptions(benchmark):
    busiest = BusiestSubjects(_broker())
    counts = benchmark(lambda: asyncio.run(busiest._count()))
    assert len(counts) == CONNS * SUBJECTS
    assert sum(subs for _, subs in counts.values()) == CONNS * SUBS
