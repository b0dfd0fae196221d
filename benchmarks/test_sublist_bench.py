"""Sublist benchmarks over 10k subscriptions: trie walks for literal, `*` and `>` matches, the
cache hit and miss paths, and subscription churn.

Runs as plain tests under the default `--benchmark-disable`; time them with
`pytest benchmarks/test_sublist_bench.py --benchmark-enable`. Batched benchmarks record the
per-match cost in extra_info["ns_per_match"]."""

from __future__ import annotations

import pytest

from zats.broker.sublist import CACHE_MAX, Sublist

LITERALS = 8000  # a.b<i>.c
STARS = 1000  # a.*.d<i>
TAILS = 1000  # x<i>.>
BATCH = 4 * CACHE_MAX  # distinct subjects per miss batch: each is evicted before it recurs


class Sub:
    __slots__ = ("subject", "queue")

    def __init__(self, subject: bytes, queue: bytes | None = None) -> None:
        self.subject = subject
        self.queue = queue


def build(cache: bool) -> Sublist:
    sl = Sublist(cache=cache)
    for i in range(LITERALS):
        sl.insert(Sub(b"a.b%d.c" % i, b"q" if i % 10 == 0 else None))
    for i in range(STARS):
        sl.insert(Sub(b"a.*.d%d" % i))
    for i in range(TAILS):
        sl.insert(Sub(b"x%d.>" % i))
    assert sl.count == 10_000
    return sl


@pytest.fixture(scope="module")
def cached() -> Sublist:
    return build(cache=True)


@pytest.fixture(scope="module")
def uncached() -> Sublist:
    return build(cache=False)


def bench_call(benchmark, function, *args):
    """Time one call of a sub-microsecond function: fixed iterations per round keep the timer's
    own overhead out of the figure (auto-calibration sometimes picks 1 iteration)."""
    return benchmark.pedantic(function, args=args, iterations=2000, rounds=100, warmup_rounds=2)


def per_match(benchmark, n: int) -> None:
    if benchmark.enabled:
        benchmark.extra_info["ns_per_match"] = round(benchmark.stats.stats.min * 1e9 / n, 1)


def test_match_literal_uncached(benchmark, uncached):
    result = bench_call(benchmark, uncached.match, b"a.b1234.c")
    assert len(result.plain) == 1 and result.queues == ()


def test_match_star_uncached(benchmark, uncached):
    result = bench_call(benchmark, uncached.match, b"a.zzz.d42")
    assert len(result.plain) == 1


def test_match_gt_uncached(benchmark, uncached):
    result = bench_call(benchmark, uncached.match, b"x42.y.z.w")
    assert len(result.plain) == 1


def test_match_no_interest_uncached(benchmark, uncached):
    result = bench_call(benchmark, uncached.match, b"nobody.listens.here")
    assert result.plain == () and result.queues == ()


def test_match_cache_hit(benchmark, cached):
    subject = b"a.b1234.c"
    cached.match(subject)
    result = bench_call(benchmark, cached.match, subject)
    assert len(result.plain) == 1
    assert cached.stats()["cache_hit_rate"] > 0


def test_match_cache_hit_queue(benchmark, cached):
    subject = b"a.b1230.c"
    cached.match(subject)
    result = bench_call(benchmark, cached.match, subject)
    assert result.plain == () and len(result.queues) == 1


def test_match_cache_miss(benchmark, cached):
    """Distinct literal subjects: every match walks the trie, stores and evicts."""
    subjects = [b"a.b%d.c" % (i % LITERALS) if i < LITERALS else b"x%d.y" % i for i in range(BATCH)]
    match = cached.match

    def run():
        for subject in subjects:
            match(subject)

    benchmark(run)
    per_match(benchmark, BATCH)
    assert cached.stats()["num_cache"] <= CACHE_MAX


def test_match_cache_hit_batch(benchmark, cached):
    """Same loop shape as test_match_cache_miss, over subjects that stay cached."""
    subjects = [b"a.b%d.c" % i for i in range(CACHE_MAX // 4)] * 16
    match = cached.match
    for subject in subjects:
        match(subject)

    def run():
        for subject in subjects:
            match(subject)

    benchmark(run)
    per_match(benchmark, len(subjects))


def test_insert_remove_literal(benchmark, cached):
    sub = Sub(b"a.b99999.c")

    def churn():
        cached.insert(sub)
        cached.remove(sub)

    bench_call(benchmark, churn)
    assert cached.count == 10_000


def test_insert_remove_wildcard(benchmark, cached):
    sub = Sub(b"a.*.new.>")

    def churn():
        cached.insert(sub)
        cached.remove(sub)

    bench_call(benchmark, churn)
    assert cached.count == 10_000


def test_build_10k(benchmark):
    sl = benchmark(build, True)
    assert len(sl) == 10_000
