"""JetStream store benchmarks: append (store_msg + a flush per batch of 100, as the API layer
flushes once per loop iteration) and load by sequence, for the memory and the file store, with
128-byte payloads. The file store's reads are memoryviews over an mmap of the block.

Runs as plain tests under the default `--benchmark-disable`; time them with
`pytest benchmarks/test_jetstream_store_bench.py --benchmark-enable`. extra_info["ns_per_msg"]
holds the per-message cost."""

from __future__ import annotations

import pytest

from zats.broker.jetstream.filestore import FileStore, FileStoreOptions
from zats.broker.jetstream.memstore import MemStore
from zats.broker.jetstream.store import StorageType, StoreConfig

BATCH = 100
PAYLOAD = b"x" * 128
HEADERS = b"NATS/1.0\r\nNats-Msg-Id: 1\r\n\r\n"
LOADED = 10_000


def open_store(kind, path, sync_always=False):
    if kind == "memory":
        return MemStore(StoreConfig())
    return FileStore(path, StoreConfig(storage=StorageType.FILE), FileStoreOptions(sync_always=sync_always))


def per_msg(benchmark, n):
    if benchmark.enabled:
        benchmark.extra_info["ns_per_msg"] = round(benchmark.stats.stats.min * 1e9 / n, 1)


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_append(benchmark, kind, tmp_path):
    store = open_store(kind, tmp_path)

    def batch():
        for _ in range(BATCH):
            store.store_msg(b"orders.new", HEADERS, PAYLOAD)
        store.flush()

    benchmark.pedantic(batch, iterations=10, rounds=50, warmup_rounds=2)
    per_msg(benchmark, BATCH)
    assert store.state().msgs >= BATCH
    store.stop()


def test_append_sync_always(benchmark, tmp_path):
    store = open_store("file", tmp_path, sync_always=True)

    def batch():
        for _ in range(BATCH):
            store.store_msg(b"orders.new", HEADERS, PAYLOAD)
        store.flush()

    benchmark.pedantic(batch, iterations=1, rounds=20, warmup_rounds=1)
    per_msg(benchmark, BATCH)
    store.stop()


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_load(benchmark, kind, tmp_path):
    store = open_store(kind, tmp_path)
    for _ in range(LOADED):
        store.store_msg(b"orders.new", HEADERS, PAYLOAD)
    store.flush()
    load = store.load_msg

    def read_all():
        n = 0
        for seq in range(1, LOADED + 1):
            n += len(load(seq).data)
        return n

    assert benchmark.pedantic(read_all, iterations=1, rounds=10, warmup_rounds=1) == LOADED * len(PAYLOAD)
    per_msg(benchmark, LOADED)
    store.stop()


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_load_next_filtered(benchmark, kind, tmp_path):
    """A consumer's walk: load_next_msg with a wildcard filter over interleaved subjects."""
    store = open_store(kind, tmp_path)
    for i in range(LOADED):
        store.store_msg(b"orders.%d" % (i % 10), None, PAYLOAD)
    store.flush()

    def walk():
        seq, n = 1, 0
        while seq <= LOADED:
            m = store.load_next_msg(b"orders.*", seq)
            seq = m.seq + 1
            n += 1
        return n

    assert benchmark.pedantic(walk, iterations=1, rounds=10, warmup_rounds=1) == LOADED
    per_msg(benchmark, LOADED)
    store.stop()
