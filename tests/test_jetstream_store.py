"""The JetStream stores' behaviour: every test runs against the memory store and the file store
(the same expectations, taken from nats-server's memstore/filestore semantics), plus the
consumer state rules and encoding."""

from __future__ import annotations

import time

import msgspec
import pytest

from zats.broker.jetstream.consumer_state import (
    MemConsumerStore,
    decode_consumer_state,
    encode_consumer_state,
)
from zats.broker.jetstream.index import marker_headers
from zats.broker.jetstream.memstore import MemStore
from zats.broker.jetstream.store import (
    AckPolicy,
    ConsumerState,
    ConsumerStoreConfig,
    CorruptState,
    DiscardPolicy,
    MaxBytesExceeded,
    MaxMsgsExceeded,
    MaxMsgsPerSubjectExceeded,
    MsgNotFound,
    MsgTooLarge,
    NoAckPolicy,
    OldUpdate,
    Pending,
    SequenceMismatch,
    SequencePair,
    SimpleState,
    StorageType,
    StoreClosed,
    StoreConfig,
    StoreEOF,
    StoreError,
    TooManyResults,
    msg_size_file,
    msg_size_memory,
)

KINDS = ["memory", "file"]


@pytest.fixture(params=KINDS)
def make(request, tmp_path):
    """make(**config) -> a fresh store of the parametrized kind; reopen(store) -> the same
    stream reopened from disk (the memory store just returns itself)."""
    kind = request.param
    opened = []

    def factory(**kw):
        cfg = StoreConfig(storage=StorageType.FILE if kind == "file" else StorageType.MEMORY, **kw)
        if kind == "memory":
            store = MemStore(cfg)
        else:
            from zats.broker.jetstream.filestore import FileStore, FileStoreOptions

            store = FileStore(tmp_path / f"s{len(opened)}", cfg, FileStoreOptions(block_size=4096))
        opened.append(store)
        return store

    factory.kind = kind
    yield factory
    for s in opened:
        try:
            s.stop()
        except Exception:
            pass


def reopen(store):
    if store.type == StorageType.MEMORY:
        return store
    from zats.broker.jetstream.filestore import FileStore

    store.stop()
    return FileStore(store.directory, store.config, store.options)


def size(store, subject, headers, data):
    f = msg_size_memory if store.type == StorageType.MEMORY else msg_size_file
    return f(subject, headers, data)


def fill(store, subjects, data=b"x"):
    return [store.store_msg(s, None, data)[0] for s in subjects]


def test_store_and_load(make):
    s = make()
    seq, ts = s.store_msg(b"a.b", b"NATS/1.0\r\nX: 1\r\n\r\n", b"hello")
    assert seq == 1 and abs(ts - time.time_ns()) < 5e9
    assert s.store_msg(b"a.c", None, memoryview(b"world"))[0] == 2
    m = s.load_msg(1)
    assert (m.subject, m.seq, bytes(m.headers), bytes(m.data), m.ts) == (
        b"a.b",
        1,
        b"NATS/1.0\r\nX: 1\r\n\r\n",
        b"hello",
        ts,
    )
    m = s.load_msg(2)
    assert m.headers is None and bytes(m.data) == b"world"
    with pytest.raises(StoreEOF):
        s.load_msg(3)
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq, st.num_subjects) == (2, 1, 2, 2)
    assert st.bytes == size(s, b"a.b", b"NATS/1.0\r\nX: 1\r\n\r\n", b"hello") + size(s, b"a.c", None, b"world")


def test_sizes_match_nats_server():
    assert msg_size_memory(b"foo", None, b"hello") == 3 + 5 + 16
    assert msg_size_file(b"foo", None, b"hello") == 22 + 3 + 5 + 8
    assert msg_size_file(b"foo", b"hdr", b"hello") == 22 + 3 + 4 + 3 + 5 + 8


def test_raw_and_skip(make):
    s = make()
    s.store_raw_msg(b"a", None, b"1", 1, 111)
    with pytest.raises(SequenceMismatch):
        s.store_raw_msg(b"a", None, b"1", 5, 222)
    assert s.skip_msg() == 2
    with pytest.raises(SequenceMismatch):
        s.skip_msg(9)
    s.skip_msgs(3, 3)
    s.store_raw_msg(b"a", None, b"2", 0, 333)
    st = s.state(deleted=True)
    assert (st.msgs, st.first_seq, st.last_seq, st.num_deleted, st.deleted) == (2, 1, 6, 4, [2, 3, 4, 5])
    assert s.load_msg(6).ts == 333
    with pytest.raises(MsgNotFound):
        s.load_msg(3)
    s2 = make()
    s2.skip_msgs(1, 10)
    st = s2.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (0, 11, 10)
    assert s2.store_msg(b"x", None, b"")[0] == 11
    s2 = reopen(s2)
    st = s2.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (1, 11, 11)


def test_remove_and_interior_deletes(make):
    s = make()
    fill(s, [b"a", b"b", b"a", b"c", b"a"])
    assert s.remove_msg(3) and not s.remove_msg(3)
    assert s.erase_msg(1)
    st = s.state(deleted=True)
    assert (st.msgs, st.first_seq, st.last_seq, st.num_deleted, st.deleted) == (3, 2, 5, 1, [3])
    assert s.subjects_totals() == {b"a": 1, b"b": 1, b"c": 1}
    assert s.load_last_msg(b"a").seq == 5
    s = reopen(s)
    st = s.state(deleted=True)
    assert (st.msgs, st.first_seq, st.last_seq, st.deleted) == (3, 2, 5, [3])
    with pytest.raises(MsgNotFound):
        s.load_msg(1)


def test_load_next_prev_last(make):
    s = make()
    fill(s, [b"foo.a", b"bar.a", b"foo.b", b"foo.a", b"bar.b"])
    assert s.load_next_msg(b"", 1).seq == 1
    assert s.load_next_msg(b">", 2).seq == 2
    assert s.load_next_msg(b"foo.a", 2).seq == 4
    assert s.load_next_msg(b"foo.*", 2).seq == 3
    assert s.load_next_msg(b"*.b", 4).seq == 5
    assert s.load_next_msg_multi([b"bar.b", b"foo.b"], 1).seq == 3
    with pytest.raises(StoreEOF):
        s.load_next_msg(b"foo.a", 5)
    with pytest.raises(StoreEOF):
        s.load_next_msg(b"nope", 1)
    with pytest.raises(StoreEOF):
        s.load_next_msg(b">", 6)
    assert s.load_prev_msg(b"foo.*", 5).seq == 4
    assert s.load_prev_msg(b"bar.*", 4).seq == 2
    with pytest.raises(StoreEOF):
        s.load_prev_msg(b"bar.b", 4)
    assert s.load_last_msg(b"foo.a").seq == 4
    assert s.load_last_msg(b"bar.>").seq == 5
    assert s.load_last_msg(b"").seq == 5
    with pytest.raises(MsgNotFound):
        s.load_last_msg(b"zzz")
    s.remove_msg(4)
    assert s.load_last_msg(b"foo.a").seq == 1
    assert s.subject_for_seq(2) == b"bar.a"


def test_load_next_over_many_subjects_and_gaps(make):
    s = make()
    fill(s, [b"k.%d" % i for i in range(300)])
    s.store_msg(b"z", None, b"z")
    for seq in range(1, 300):
        s.remove_msg(seq)
    assert s.load_next_msg(b"z", 1).seq == 301
    assert s.load_next_msg(b"k.*", 1).seq == 300
    assert s.load_next_msg(b"", 1).seq == 300


def test_max_msgs_discard_old(make):
    s = make(max_msgs=3)
    fill(s, [b"a"] * 5)
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (3, 3, 5)


def test_max_msgs_discard_new(make):
    s = make(max_msgs=2, discard=DiscardPolicy.NEW)
    fill(s, [b"a", b"b"])
    with pytest.raises(MaxMsgsExceeded):
        s.store_msg(b"c", None, b"x")
    assert s.state().last_seq == 2
    # store_raw_msg without the check is let through
    s.store_raw_msg(b"c", None, b"x", 3, time.time_ns(), discard_new_check=False)
    assert s.state().msgs == 3


def test_max_bytes(make):
    s = make()
    one = size(s, b"a", None, b"0123456789")
    s = make(max_bytes=one * 3)
    fill(s, [b"a"] * 5, b"0123456789")
    assert (s.state().msgs, s.state().bytes, s.state().first_seq) == (3, one * 3, 3)
    s = make(max_bytes=one * 3, discard=DiscardPolicy.NEW)
    fill(s, [b"a"] * 3, b"0123456789")
    with pytest.raises(MaxBytesExceeded):
        s.store_msg(b"a", None, b"0123456789")


def test_max_msgs_per_subject(make):
    s = make(max_msgs_per_subject=2)
    fill(s, [b"a", b"b", b"a", b"a", b"b", b"a"])
    assert s.subjects_state() == {b"a": SimpleState(2, 4, 6), b"b": SimpleState(2, 2, 5)}
    assert s.state().msgs == 4
    s = make(max_msgs_per_subject=1, discard=DiscardPolicy.NEW, discard_new_per_subject=True)
    fill(s, [b"a", b"b"])
    with pytest.raises(MaxMsgsPerSubjectExceeded):
        s.store_msg(b"a", None, b"x")
    # a rollup message passes the per-subject refusal
    s.store_msg(b"a", b"NATS/1.0\r\nNats-Rollup: sub\r\n\r\n", b"x")
    assert s.subjects_totals() == {b"a": 1, b"b": 1}
    # discard new with max_msgs: at the subject limit the message replaces the old one
    s = make(max_msgs=2, max_msgs_per_subject=1, discard=DiscardPolicy.NEW)
    fill(s, [b"a", b"b"])
    s.store_msg(b"a", None, b"y")
    assert s.subjects_totals() == {b"a": 1, b"b": 1}
    with pytest.raises(MaxMsgsExceeded):
        s.store_msg(b"c", None, b"z")


def test_max_msg_size(make):
    s = make(max_msg_size=4)
    s.store_msg(b"a", None, b"1234")
    with pytest.raises(MsgTooLarge):
        s.store_msg(b"a", None, b"12345")


def test_update_config_enforces(make):
    s = make()
    fill(s, [b"a", b"b", b"a", b"a", b"b"])
    cfg = s.config
    cfg.max_msgs_per_subject = 1
    s.update_config(cfg)
    assert s.subjects_state() == {b"a": SimpleState(1, 4, 4), b"b": SimpleState(1, 5, 5)}
    cfg.max_msgs = 1
    s.update_config(cfg)
    assert (s.state().msgs, s.state().first_seq) == (1, 5)


def test_purge(make):
    s = make()
    fill(s, [b"a", b"b", b"c"])
    assert s.purge() == 3
    st = s.state()
    assert (st.msgs, st.bytes, st.first_seq, st.last_seq, st.first_ts) == (0, 0, 4, 3, 0)
    assert s.store_msg(b"a", None, b"x")[0] == 4
    s = reopen(s)
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (1, 4, 4)
    assert s.store_msg(b"a", None, b"x")[0] == 5


def test_purge_ex(make):
    s = make()
    fill(s, [b"a.1", b"b", b"a.2", b"a.1", b"b", b"a.1"])
    assert s.purge_ex(b"a.1", 0, 1) == 2
    assert s.subjects_totals() == {b"a.1": 1, b"a.2": 1, b"b": 2}
    assert s.purge_ex(b"b", 5, 0) == 1
    assert s.purge_ex(b"a.*", 1) == 0
    assert s.purge_ex(b"a.*") == 2
    assert s.subjects_totals() == {b"b": 1}
    s = reopen(s)
    assert s.subjects_totals() == {b"b": 1}
    assert [s.load_next_msg(b"", 1).seq] == [5]


def test_purge_ex_seq_is_compact(make):
    s = make()
    fill(s, [b"a"] * 6)
    assert s.purge_ex(b"", 4) == 3
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (3, 4, 6)
    assert s.purge_ex(b">", 0, 1) == 2
    assert s.state().first_seq == 6


def test_compact(make):
    s = make()
    fill(s, [b"a", b"b"] * 5)
    assert s.compact(4) == 3
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (7, 4, 10)
    assert s.compact(2) == 0
    assert s.compact(20) == 7
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (0, 20, 19)
    assert s.store_msg(b"a", None, b"x")[0] == 20
    s = reopen(s)
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (1, 20, 20)


def test_truncate(make):
    s = make()
    fill(s, [b"a", b"b"] * 5)
    s.remove_msg(3)
    s.truncate(6)
    st = s.state(deleted=True)
    assert (st.msgs, st.first_seq, st.last_seq, st.deleted) == (5, 1, 6, [3])
    assert s.load_last_msg(b"a").seq == 5
    assert s.store_msg(b"c", None, b"x")[0] == 7
    s = reopen(s)
    st = s.state(deleted=True)
    assert (st.msgs, st.first_seq, st.last_seq, st.deleted) == (6, 1, 7, [3])
    s.truncate(0)
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (0, 0, 0)
    assert s.store_msg(b"c", None, b"x")[0] == 1


def test_filtered_state_and_num_pending(make):
    s = make()
    fill(s, [b"foo.a", b"foo.b", b"bar", b"foo.a", b"foo.b", b"bar", b"foo.a"])
    assert s.filtered_state(1, b"foo.a") == SimpleState(3, 1, 7)
    assert s.filtered_state(2, b"foo.a") == SimpleState(2, 4, 7)
    assert s.filtered_state(3, b"foo.*") == SimpleState(3, 4, 7)
    assert s.filtered_state(1, b"") == SimpleState(7, 1, 7)
    assert s.filtered_state(8, b"") == SimpleState()
    assert s.num_pending(1, b">") == (7, 7)
    assert s.num_pending(5, b"foo.*") == (2, 7)
    assert s.num_pending(6, b"bar") == (1, 7)
    assert s.num_pending(1, b"foo.*", last_per_subject=True) == (2, 7)
    assert s.num_pending(6, b"foo.*", last_per_subject=True) == (1, 7)
    assert s.num_pending(1, b"", last_per_subject=True) == (3, 7)
    assert s.num_pending_multi(2, [b"bar", b"foo.b"]) == (4, 7)
    assert s.num_pending_multi(1, []) == (7, 7)
    s.remove_msg(4)
    assert s.filtered_state(2, b"foo.a") == SimpleState(1, 7, 7)
    assert s.filtered_state(1, b"foo.a") == SimpleState(2, 1, 7)


def test_subjects_state_and_last_seqs(make):
    s = make()
    fill(s, [b"kv.a", b"kv.b", b"kv.a", b"x"])
    assert s.subjects_state(b"kv.>") == {b"kv.a": SimpleState(2, 1, 3), b"kv.b": SimpleState(1, 2, 2)}
    assert s.subjects_totals(b"x") == {b"x": 1}
    assert s.all_last_seqs() == [2, 3, 4]
    assert s.multi_last_seqs([b"kv.*"]) == [2, 3]
    assert s.multi_last_seqs([b"kv.*"], max_seq=2) == [1, 2]
    with pytest.raises(TooManyResults):
        s.multi_last_seqs([b">"], max_allowed=2)


def test_get_seq_from_time(make):
    s = make()
    for i in range(5):
        s.store_raw_msg(b"a", None, b"x", 0, 1000 * (i + 1))
    assert s.get_seq_from_time(0) == 1
    assert s.get_seq_from_time(2500) == 3
    assert s.get_seq_from_time(3000) == 3
    assert s.get_seq_from_time(10_000) == 6


def test_max_age_expires(make):
    s = make(max_age=100_000_000)  # 0.1 s
    fill(s, [b"a", b"b"])
    time.sleep(0.06)
    s.store_msg(b"c", None, b"x")
    time.sleep(0.06)
    s.expire()
    st = s.state()
    assert (st.msgs, st.first_seq) == (1, 3)
    time.sleep(0.06)
    assert s.state().msgs == 0  # on access


def test_negative_ttl_survives_max_age(make):
    s = make(max_age=50_000_000, allow_msg_ttl=True)
    s.store_msg(b"keep", None, b"x", ttl=-1)
    s.store_msg(b"go", None, b"x")
    time.sleep(0.08)
    s.expire()
    assert s.subjects_totals() == {b"keep": 1}


def test_per_message_ttl(make):
    s = make(allow_msg_ttl=True)
    s.store_msg(b"a", None, b"x", ttl=1)
    s.store_msg(b"b", None, b"x")
    assert s.state().msgs == 2
    time.sleep(1.05)
    s.expire()
    assert s.subjects_totals() == {b"b": 1}


def test_file_ttl_survives_reopen(tmp_path):
    from zats.broker.jetstream.filestore import FileStore

    cfg = StoreConfig(storage=StorageType.FILE, allow_msg_ttl=True)
    s = FileStore(tmp_path, cfg)
    s.store_msg(b"a", None, b"x", ttl=1)
    s.store_msg(b"b", None, b"x")
    s = reopen(s)
    assert s.state().msgs == 2
    time.sleep(1.05)
    s.expire()
    assert s.subjects_totals() == {b"b": 1}
    s.stop()


def test_subject_delete_marker(make):
    s = make(max_age=50_000_000, subject_delete_marker_ttl=5_000_000_000)
    markers = []
    s.register_process_msg(lambda subject, hdr: markers.append((subject, hdr)))
    fill(s, [b"a", b"a", b"b"])
    s.store_msg(b"m", marker_headers(1_000_000_000), b"")  # a marker expiring gets none
    time.sleep(0.08)
    s.expire()
    assert markers == [(b"a", marker_headers(5_000_000_000)), (b"b", marker_headers(5_000_000_000))]
    assert marker_headers(300_000_000_000) == (
        b"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: 5m0s\r\nNats-Rollup: sub\r\n\r\n"
    )


def test_storage_updates(make):
    s = make(max_msgs=2)
    seen = []
    s.register_storage_updates(lambda m, b, seq, subj: seen.append((m, seq, subj)))
    fill(s, [b"a", b"b", b"c"])
    s.remove_msg(3)
    s.purge()
    assert seen == [(1, 1, b"a"), (1, 2, b"b"), (1, 3, b"c"), (-1, 1, b"a"), (-1, 3, b"c"), (-1, 0, b"")]


def test_closed(make):
    s = make()
    fill(s, [b"a"])
    s.stop()
    with pytest.raises(StoreClosed):
        s.store_msg(b"a", None, b"x")
    with pytest.raises(StoreClosed):
        s.load_msg(1)


def test_many_messages_across_blocks(make):
    s = make()
    subjects = [b"s.%d" % (i % 7) for i in range(600)]
    for i, subj in enumerate(subjects):
        s.store_msg(subj, b"NATS/1.0\r\nI: %d\r\n\r\n" % i if i % 3 == 0 else None, b"%d" % i * 5)
    for seq in range(1, 601, 4):
        s.remove_msg(seq)
    s.flush()
    s = reopen(s)
    st = s.state()
    assert (st.msgs, st.first_seq, st.last_seq) == (450, 2, 600)
    for seq in (2, 100, 599, 600):
        m = s.load_msg(seq)
        assert m.subject == subjects[seq - 1] and bytes(m.data) == b"%d" % (seq - 1) * 5
    assert s.num_pending(300, b"s.3") == (sum(1 for q in range(300, 601) if q % 4 != 1 and (q - 1) % 7 == 3), 600)


# --- consumer state ---


@pytest.fixture(params=KINDS)
def consumer(request, tmp_path):
    def factory(policy=AckPolicy.EXPLICIT, max_deliver=-1):
        if request.param == "memory":
            stream = MemStore(StoreConfig())
        else:
            from zats.broker.jetstream.filestore import FileStore

            stream = FileStore(tmp_path / "c", StoreConfig(storage=StorageType.FILE))
        return stream, stream.consumer_store("dur", 1, ConsumerStoreConfig(policy, max_deliver), b"{}")

    return factory


def test_consumer_explicit_acks(consumer):
    stream, c = consumer()
    assert stream.state().consumer_count == 1
    assert not c.has_state()
    for i in range(1, 5):
        c.update_delivered(i, i + 10, 1, 100 + i)
    st = c.state()
    assert st.delivered == SequencePair(4, 14) and len(st.pending) == 4
    c.update_acks(2, 12)
    assert c.state().ack_floor == SequencePair(0, 0)
    c.update_acks(1, 11)
    assert c.state().ack_floor == SequencePair(2, 12)
    with pytest.raises(MsgNotFound):
        c.update_acks(3, 99)
    c.update_delivered(5, 13, 2, 200)  # redelivery of 13
    st = c.state()
    assert st.redelivered == {13: 1} and st.pending[13] == Pending(3, 200)
    c.update_acks(3, 13)
    c.update_acks(4, 14)
    st = c.state()
    assert st.ack_floor == SequencePair(5, 14) and st.pending == {} and st.redelivered == {}


def test_consumer_acks_in_order_stop_the_floor_below_the_oldest_pending(consumer):
    _, c = consumer()
    for i in range(1, 2001):  # enough for the pending dict to hold many deleted keys
        c.update_delivered(i, i, 1, 0)
    for i in range(1, 1001):
        c.update_acks(i, i)
    assert c.state().ack_floor == SequencePair(1000, 1000)
    c.update_acks(1002, 1002)  # 1001 stays pending: the floor waits for it
    for i in range(1003, 1501):
        c.update_acks(i, i)
    assert c.state().ack_floor == SequencePair(1000, 1000)
    c.update_acks(1001, 1001)  # the floor jumps to just below the oldest still pending
    assert c.state().ack_floor == SequencePair(1500, 1500)
    c.update_delivered(2001, 1600, 2, 0)  # a redelivery keeps its first delivery sequence
    for i in range(1501, 1600):
        c.update_acks(i, i)
    assert c.state().ack_floor == SequencePair(1599, 1599)


def test_consumer_ack_all_and_none(consumer):
    _, c = consumer(AckPolicy.ALL)
    for i in range(1, 6):
        c.update_delivered(i, i, 1, 0)
    c.update_acks(3, 3)
    st = c.state()
    assert st.ack_floor == SequencePair(3, 3) and sorted(st.pending) == [4, 5]
    _, c = consumer(AckPolicy.NONE)
    c.update_delivered(1, 7, 1, 0)
    assert c.state().ack_floor == SequencePair(1, 7)
    with pytest.raises(NoAckPolicy):
        c.update_acks(1, 7)
    with pytest.raises(NoAckPolicy):
        c.update_delivered(2, 8, 2, 0)


def test_consumer_max_deliver_drops_pending(consumer):
    _, c = consumer(max_deliver=2)
    c.update_delivered(1, 1, 1, 0)
    c.update_delivered(2, 1, 2, 0)
    assert 1 in c.state().pending
    c.update_delivered(3, 1, 3, 0)
    assert c.state().pending == {} and c.state().redelivered == {1: 2}


def test_consumer_update_and_starting(consumer):
    _, c = consumer()
    c.set_starting(10)
    assert c.has_state() and c.state().delivered == SequencePair(0, 10)
    c.update_starting(5)
    assert c.state().delivered.stream == 10
    good = ConsumerState(SequencePair(5, 20), SequencePair(3, 18), {19: Pending(4, 1)}, {19: 2})
    c.update(good)
    assert c.state() == good
    with pytest.raises(OldUpdate):
        c.update(ConsumerState(SequencePair(1, 1), SequencePair(0, 0)))
    with pytest.raises(StoreError, match="bad pending entry"):
        c.update(ConsumerState(SequencePair(6, 20), SequencePair(3, 18), {30: Pending(4, 1)}))
    c.force_update(ConsumerState(SequencePair(1, 1), SequencePair(0, 0)))
    assert c.state().delivered == SequencePair(1, 1)
    c.reset(3)
    assert c.state() == ConsumerState(SequencePair(0, 3), SequencePair(0, 3))
    assert c.metadata() == b"{}"


def test_consumer_state_encoding():
    st = ConsumerState(SequencePair(9, 30), SequencePair(2, 20), {25: Pending(5, 123), 28: Pending(8, 456)}, {25: 3})
    assert decode_consumer_state(encode_consumer_state(st)) == st
    with pytest.raises(CorruptState):
        decode_consumer_state(b"\x00garbage")
    with pytest.raises(CorruptState):
        decode_consumer_state(encode_consumer_state(st)[:-3])
    def saved(dseq: int) -> bytes:  # the encoding's tuple, with one pending entry
        return msgspec.msgpack.encode((1, 2, 20, 9, 30, [(25, dseq, 123)], []))  # version 1

    assert decode_consumer_state(saved((1 << 63) - 1)).pending[25].sequence == (1 << 63) - 1
    with pytest.raises(CorruptState):  # compiled, a C long long holds it: uncompiled alike
        decode_consumer_state(saved(1 << 63))


def test_consumer_removed_from_count():
    s = MemStore(StoreConfig())
    c = s.consumer_store("a", 0, ConsumerStoreConfig())
    assert isinstance(c, MemConsumerStore) and s.state().consumer_count == 1
    s.remove_consumer(c)
    assert s.state().consumer_count == 0
