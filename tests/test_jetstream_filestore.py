"""The file store on disk: recovery after reopen against the memory store as a model, torn and
corrupt tails, compaction, zero-copy reads, consumer state files, and a full disk."""

from __future__ import annotations

import gc
import mmap
import os
import random
import resource
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zats.broker.jetstream import records
from zats.broker.jetstream.filestore import FileStore, FileStoreOptions
from zats.broker.jetstream.memstore import MemStore
from zats.broker.jetstream.store import (
    AckPolicy,
    ConsumerStoreConfig,
    MsgNotFound,
    SequencePair,
    StorageType,
    StoreConfig,
    StoreEOF,
)


class Log:
    def __init__(self):
        self.lines = []

    def warn(self, fmt, *args):
        self.lines.append(("WRN", fmt % args))

    def error(self, fmt, *args):
        self.lines.append(("ERR", fmt % args))


def open_store(path, log=None, **kw):
    cfg = StoreConfig(storage=StorageType.FILE, **{k: v for k, v in kw.items() if k != "block_size"})
    return FileStore(path, cfg, FileStoreOptions(block_size=kw.get("block_size", 2048), logger=log or Log()))


def contents(store):
    st = store.state(deleted=True)
    out = []
    seq = st.first_seq
    while True:
        try:
            m = store.load_next_msg(b"", seq)
        except StoreEOF:
            break
        out.append((m.seq, m.subject, None if m.headers is None else bytes(m.headers), bytes(m.data), m.ts))
        seq = m.seq + 1
    return (st.msgs, st.first_seq, st.last_seq, st.deleted, st.num_subjects), out


@pytest.mark.parametrize("seed", range(6))
def test_random_operations_survive_reopen(tmp_path, seed):
    rnd = random.Random(seed)
    fs = open_store(tmp_path, max_msgs_per_subject=rnd.choice([-1, 3]))
    model = MemStore(StoreConfig(max_msgs_per_subject=fs.config.max_msgs_per_subject))
    for step in range(700):
        op = rnd.random()
        if op < 0.6:
            subj = b"s.%d" % rnd.randrange(8)
            hdr = b"NATS/1.0\r\nK: %d\r\n\r\n" % step if rnd.random() < 0.3 else None
            data = os.urandom(rnd.randrange(0, 120))
            seq, ts = fs.store_msg(subj, hdr, data)
            model.store_raw_msg(subj, hdr, data, seq, ts)
        elif op < 0.8:
            st = model.state()
            if st.msgs:
                seq = rnd.randint(st.first_seq, st.last_seq)
                assert fs.remove_msg(seq) == model.remove_msg(seq)
        elif op < 0.84:
            seq = rnd.randint(0, model.state().last_seq + 2)
            assert fs.compact(seq) == model.compact(seq)
        elif op < 0.87:
            subj = rnd.choice([b"s.1", b"s.*", b""])
            keep = rnd.choice([0, 1, 2])
            assert fs.purge_ex(subj, 0, keep) == model.purge_ex(subj, 0, keep)
        elif op < 0.89:
            st = model.state()
            if st.msgs:
                seq = rnd.randint(st.first_seq, st.last_seq)
                fs.truncate(seq)
                model.truncate(seq)
        elif op < 0.91:
            n = rnd.randint(1, 3)
            fs.skip_msgs(0, n)
            model.skip_msgs(0, n)
        elif op < 0.92:
            assert fs.purge() == model.purge()
        elif op < 0.96:
            fs.flush()
        else:
            fs.stop()
            fs = open_store(tmp_path, max_msgs_per_subject=fs.config.max_msgs_per_subject)
        if step % 50 == 0:
            assert contents(fs) == contents(model), step
            assert fs.subjects_state() == model.subjects_state()
    fs.stop()
    fs = open_store(tmp_path, max_msgs_per_subject=fs.config.max_msgs_per_subject)
    assert contents(fs) == contents(model)
    assert fs.subjects_state() == model.subjects_state()
    assert fs.state().bytes == sum(22 + len(m[1]) + len(m[3]) + 8 + (4 + len(m[2]) if m[2] else 0) for m in contents(model)[1])


def test_dead_blocks_are_deleted_and_compacted(tmp_path):
    fs = open_store(tmp_path, block_size=1024)
    for i in range(200):
        fs.store_msg(b"a", None, b"%050d" % i)
    fs.flush()
    msgs = tmp_path / "msgs"
    blocks = len(list(msgs.glob("*.blk")))
    assert blocks > 10
    for seq in range(1, 101):
        fs.remove_msg(seq)
    fs.flush()
    after = len(list(msgs.glob("*.blk")))
    assert after < blocks * 0.6
    # interior removals: two of every three messages of the rest
    size_before = sum(p.stat().st_size for p in msgs.glob("*.blk"))
    for seq in range(101, 190):
        if seq % 3:
            fs.remove_msg(seq)
    fs.flush()
    size_after = sum(p.stat().st_size for p in msgs.glob("*.blk"))
    assert size_after < size_before
    expect = contents(fs)
    fs.stop()
    assert contents(open_store(tmp_path, block_size=1024)) == expect


def test_the_index_is_out_of_the_garbage_collectors_sight(tmp_path):
    """An index entry holds bytes and integers only, so the cyclic collector stops tracking it:
    a full collection of a broker holding a large stream then traverses none of its entries
    (an entry holding its block object stayed tracked, and collections cost 17% of the CPU of
    an acknowledged publish stream). Entries written, recovered and compacted alike."""
    fs = open_store(tmp_path, block_size=1024)
    for i in range(200):
        fs.store_msg(b"s.%d" % (i % 7), b"NATS/1.0\r\n\r\n" if i % 2 else None, b"%050d" % i)
    fs.flush()
    for seq in range(1, 120, 2):
        fs.remove_msg(seq)
    fs.flush()
    gc.collect()
    assert [e for e in fs._msgs.values() if gc.is_tracked(e)] == []
    fs.stop()
    fs = open_store(tmp_path, block_size=1024)
    gc.collect()
    assert len(fs._msgs) == 140
    assert [e for e in fs._msgs.values() if gc.is_tracked(e)] == []
    fs.stop()


def test_torn_tail_is_cut_and_logged(tmp_path):
    fs = open_store(tmp_path, block_size=1 << 20)
    for i in range(10):
        fs.store_msg(b"t", None, b"payload-%d" % i)
    fs.stop()
    (blk,) = (tmp_path / "msgs").glob("*.blk")
    size = blk.stat().st_size
    os.truncate(blk, size - 7)  # the last record loses its end
    log = Log()
    fs = open_store(tmp_path, log, block_size=1 << 20)
    st = fs.state()
    assert (st.msgs, st.last_seq) == (9, 9)
    assert bytes(fs.load_msg(9).data) == b"payload-8"
    assert len(log.lines) == 1 and "torn or corrupt" in log.lines[0][1] and blk.name in log.lines[0][1]
    # the store goes on where it was cut
    assert fs.store_msg(b"t", None, b"again")[0] == 10
    fs.stop()
    log = Log()
    fs = open_store(tmp_path, log, block_size=1 << 20)
    assert fs.state().msgs == 10 and log.lines == []
    assert bytes(fs.load_msg(10).data) == b"again"


def test_corrupt_record_is_cut(tmp_path):
    fs = open_store(tmp_path, block_size=1 << 20)
    offsets = []
    for i in range(5):
        fs.store_msg(b"c", None, b"x" * 20)
        offsets.append(fs._msgs[i + 1][5])
    fs.stop()
    (blk,) = (tmp_path / "msgs").glob("*.blk")
    raw = bytearray(blk.read_bytes())
    raw[offsets[3] + 45] ^= 0xFF  # a flipped bit in message 4's payload
    blk.write_bytes(bytes(raw))
    log = Log()
    fs = open_store(tmp_path, log, block_size=1 << 20)
    assert fs.state().msgs == 3 and fs.state().last_seq == 3
    assert f"offset {offsets[3]}" in log.lines[0][1]
    # garbage appended after good records is cut as well
    fs.stop()
    with open(blk, "ab") as f:
        f.write(b"\x00\x01garbage")
    log = Log()
    fs = open_store(tmp_path, log, block_size=1 << 20)
    assert fs.state().msgs == 3 and len(log.lines) == 1


def test_reads_are_views_over_a_map_or_small_copies(tmp_path):
    fs = open_store(tmp_path)
    big = bytes(range(256)) * 20  # 5,120 bytes: over _COPY_MAX, read as a view
    fs.store_msg(b"z", b"NATS/1.0\r\n\r\n", b"zero-copy")
    fs.store_msg(b"z", b"NATS/1.0\r\nA: b\r\n\r\n", big)
    fs.store_msg(b"z", None, big[:4096])  # exactly _COPY_MAX: copied
    pending = fs.load_msg(1)  # still in the write buffer
    assert bytes(pending.data) == b"zero-copy"
    fs.flush()
    small, large, edge = fs.load_msg(1), fs.load_msg(2), fs.load_msg(3)
    assert type(small.data) is bytes and type(small.headers) is bytes
    assert small.data == b"zero-copy" and small.headers == b"NATS/1.0\r\n\r\n"
    assert type(edge.data) is bytes and edge.data == big[:4096] and edge.headers is None
    assert isinstance(large.data, memoryview) and isinstance(large.data.obj, mmap.mmap)
    assert bytes(large.data) == big and bytes(large.headers) == b"NATS/1.0\r\nA: b\r\n\r\n"
    fs.purge()
    assert bytes(large.data) == big and small.data == b"zero-copy"  # both outlive the purge
    fs.stop()


def test_erase_overwrites_the_payload(tmp_path):
    fs = open_store(tmp_path, block_size=1 << 20)
    fs.store_msg(b"e", None, b"SECRET-PAYLOAD")
    fs.store_msg(b"e", None, b"other")
    fs.flush()
    assert fs.erase_msg(1)
    fs.stop()
    (blk,) = (tmp_path / "msgs").glob("*.blk")
    assert b"SECRET-PAYLOAD" not in blk.read_bytes()
    log = Log()
    fs = open_store(tmp_path, log, block_size=1 << 20)
    assert log.lines == []
    with pytest.raises(MsgNotFound):
        fs.load_msg(1)
    assert bytes(fs.load_msg(2).data) == b"other"


def test_consumer_state_persists_and_never_ahead(tmp_path):
    fs = open_store(tmp_path)
    for _ in range(5):
        fs.store_msg(b"a", None, b"x")
    c = fs.consumer_store("dur", 7, ConsumerStoreConfig(AckPolicy.EXPLICIT), b'{"durable_name":"dur"}')
    for i in range(1, 5):
        c.update_delivered(i, i, 1, 1000 + i)
    c.update_acks(1, 1)
    fs.flush()
    fs.stop()
    fs = open_store(tmp_path)
    assert fs.consumer_names() == ["dur"]
    c = fs.consumer_store("dur", 7, ConsumerStoreConfig(AckPolicy.EXPLICIT))
    st = c.state()
    assert st.delivered == SequencePair(4, 4) and st.ack_floor == SequencePair(1, 1)
    assert sorted(st.pending) == [2, 3, 4] and c.metadata() == b'{"durable_name":"dur"}'
    fs.stop()
    # the stream lost its tail (as after a machine crash without sync): the state follows it
    fs = open_store(tmp_path)
    fs.truncate(2)
    fs.stop()
    fs = open_store(tmp_path)
    c = fs.consumer_store("dur", 7, ConsumerStoreConfig(AckPolicy.EXPLICIT))
    st = c.state()
    assert st.delivered.stream == 2 and sorted(st.pending) == [2]
    c.delete()
    assert fs.consumer_names() == [] and fs.state().consumer_count == 0


def test_metadata_and_delete(tmp_path):
    fs = FileStore(tmp_path / "s", StoreConfig(storage=StorageType.FILE), metadata=b'{"name":"s"}')
    assert fs.metadata() == b'{"name":"s"}'
    fs.write_metadata(b"{}")
    fs.store_msg(b"a", None, b"x")
    fs.stop()
    fs = FileStore(tmp_path / "s", StoreConfig(storage=StorageType.FILE))
    assert fs.metadata() == b"{}" and fs.state().msgs == 1
    fs.delete()
    assert not (tmp_path / "s").exists()


def test_flush_per_loop_iteration(tmp_path):
    import asyncio

    async def main():
        loop = asyncio.get_running_loop()
        fs = FileStore(
            tmp_path,
            StoreConfig(storage=StorageType.FILE),
            FileStoreOptions(call_soon=loop.call_soon, call_later=loop.call_later),
        )
        for _ in range(100):
            fs.store_msg(b"a", None, b"x")
        (blk,) = (tmp_path / "msgs").glob("*.blk")
        assert blk.stat().st_size == 0  # batched
        await asyncio.sleep(0)
        assert blk.stat().st_size == 100 * (35 + 1 + 1 + 4)
        fs.stop()

    asyncio.run(main())


_FULL_CHILD = textwrap.dedent(
    """
    import resource, sys
    from zats.broker.jetstream.filestore import FileStore, FileStoreOptions
    from zats.broker.jetstream.store import StorageFull, StoreConfig, StorageType
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
    fs = FileStore(sys.argv[1], StoreConfig(storage=StorageType.FILE), FileStoreOptions(block_size=1 << 20))
    acked = []
    errors = []
    for batch in range(40):
        seqs = []
        for _ in range(10):
            try:
                seqs.append(fs.store_msg(b"full", None, b"x" * 100)[0])
            except StorageFull as exc:
                errors.append(type(exc).__name__)
        try:
            fs.flush()
            acked += seqs
        except StorageFull as exc:
            errors.append(type(exc).__name__)
            acked += [s for s in seqs if s < exc.first_lost]
    st = fs.state()
    print(len(acked), acked[-1], st.msgs, st.last_seq, len(errors), errors[0], StorageFull.err_code, flush=True)
    fs.stop()
    """
)


def test_full_disk_gives_storage_full(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", _FULL_CHILD, str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    nacked, last_acked, msgs, last, nerrors, name, code = map(str.strip, out.stdout.split())
    assert name == "StorageFull" and code == "10023" and int(nerrors) > 0
    # what was acknowledged (stored, then flushed) is exactly what the store holds
    assert int(nacked) == int(last_acked) == int(msgs) == int(last) > 0
    fs = open_store(tmp_path, block_size=1 << 20)
    assert fs.state().msgs == int(nacked)
    assert all(bytes(m[3]) == b"x" * 100 for m in contents(fs)[1])
    _ = resource  # the child sets RLIMIT_FSIZE (EFBIG); see test_full_tmpfs for ENOSPC


@settings(max_examples=300, deadline=None)
@given(subject=st.binary(min_size=1, max_size=80), headers=st.none() | st.binary(max_size=120),
       data=st.binary(max_size=400), seq=st.integers(1, 2**64 - 1),
       ts=st.integers(-2**63, 2**63 - 1), expires=st.integers(-1, 2**63 - 1))
def test_the_compiled_record_writer_writes_the_packed_pieces(subject, headers, data, seq, ts,
                                                             expires):
    """A MSG record has the same bytes and length with records.COMPILED as built (compiled: one
    record written in C) and with it off (the header packed and the pieces checksummed), and
    scan reads it back. Uncompiled both runs pack the pieces."""
    built, rlen = records.message_pieces(subject, headers, data, seq, ts, expires)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records, "COMPILED", False)
        packed, plen = records.message_pieces(subject, headers, data, seq, ts, expires)
    record = b"".join(built)
    assert (record, rlen) == (b"".join(packed), plen)
    assert len(record) == rlen
    hlen = len(headers) if headers else 0
    assert list(records.scan(record, rlen)) == [
        (0, rlen, records.MSG, seq, ts, expires, len(subject), hlen)]
