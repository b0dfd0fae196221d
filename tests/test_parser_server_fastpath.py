"""`ServerOpsParser`'s fast paths change nothing: on random streams of server frames (valid and
invalid), split into random reads through a `ReceiveBuffer`, the parser with its repeated-line
cache, with a `dispatch` table (the client's) and with a `runs` table makes the same calls in the
same order, and stops with the same error, as the plain path (`repeat_cache=False`, the path the
table tests of test_parser.py pin down)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from support.reads import outcome, split_at
from zats.protocol.buffer import ReceiveBuffer
from zats.protocol.parser import ServerOpsParser


class Recorder:
    def __init__(self):
        self.calls: list[tuple] = []

    def on_msg(self, subject, sid, reply, payload):
        self.calls.append(("msg", subject, sid, reply, bytes(payload)))

    def on_hmsg(self, subject, sid, reply, hlen, message):
        self.calls.append(("hmsg", subject, sid, reply, hlen, bytes(message)))

    def on_info(self, arg):
        self.calls.append(("info", arg))

    def on_ok(self):
        self.calls.append(("ok",))

    def on_err(self, text):
        self.calls.append(("err", text))

    def on_ping(self):
        self.calls.append(("ping",))

    def on_pong(self):
        self.calls.append(("pong",))


class DispatchTable:
    """A `dispatch` table that sends every sid back to on_msg."""

    def __init__(self, rec: Recorder):
        self.rec = rec

    def get(self, sid):
        return lambda subject, reply, payload, _hview: self.rec.on_msg(subject, sid, reply, payload)


class RunTable:
    """A `runs` table that turns each run back into on_msg calls."""

    def __init__(self, rec: Recorder):
        self.rec = rec

    def get(self, sid):
        def run(subject, reply, view, first, stride, count, size):
            for i in range(count):
                at = first + i * stride
                self.rec.on_msg(subject, sid, reply, view[at:at + size])
        return run


def plain(handler):
    return ServerOpsParser(handler, repeat_cache=False)


def cached(handler):
    return ServerOpsParser(handler)


def with_dispatch(handler):
    return ServerOpsParser(handler, dispatch=DispatchTable(handler))


def with_runs(handler):
    return ServerOpsParser(handler, dispatch=DispatchTable(handler), runs=RunTable(handler))


def run(parser_cls, data: bytes, cuts: list[int]) -> tuple[list, tuple | None]:
    rec = Recorder()
    return outcome(parser_cls(rec), ReceiveBuffer(64, 1024), split_at(data, cuts), rec.calls)


subjects = st.sampled_from([b"a", b"foo.bar", b"_INBOX.x.1", b"s.with.many.tokens"])
sids = st.sampled_from([b"1", b"22", b"333"])
payloads = st.one_of(st.sampled_from([b"", b"x" * 10, b"\r\n", b"MSG a 1 2\r\n", b"x" * 300]),
                     st.binary(max_size=40))


@st.composite
def msg_frame(draw):
    subject, sid, payload = draw(subjects), draw(sids), draw(payloads)
    reply = draw(st.one_of(st.none(), st.sampled_from([b"r.1", b"_INBOX.y.2"])))
    sep = draw(st.sampled_from([b" ", b" ", b"\t", b"  "]))
    eol = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))
    op = draw(st.sampled_from([b"MSG", b"MSG", b"msg"]))
    parts = [op, subject, sid] + ([reply] if reply else []) + [b"%d" % len(payload)]
    return sep.join(parts) + eol + payload + b"\r\n"


@st.composite
def hmsg_frame(draw):
    subject, sid, payload = draw(subjects), draw(sids), draw(payloads)
    hdr = draw(st.sampled_from([b"NATS/1.0\r\n\r\n", b"NATS/1.0 503\r\n\r\n", b"NATS/1.0\r\nK: v\r\n\r\n"]))
    reply = draw(st.one_of(st.none(), st.just(b"r.2")))
    parts = [b"HMSG", subject, sid] + ([reply] if reply else []) + [b"%d" % len(hdr), b"%d" % (len(hdr) + len(payload))]
    return b" ".join(parts) + b"\r\n" + hdr + payload + b"\r\n"


control = st.sampled_from([b"PING\r\n", b"PONG\r\n", b"+OK\r\n", b"-ERR 'Stale Connection'\r\n",
                           b'INFO {"server_id":"x"} \r\n', b"ping\r\n"])
bad = st.sampled_from([b"MSG a 1 3\r\nabcXY", b"MSG a 1 x\r\n", b"MSG a\r\n", b"BOGUS\r\n",
                       b"\r\n", b"MSG a 1 2 3 4 5\r\nxx\r\n", b"HMSG a 1 5 2\r\n", b"MSG a 1 -1\r\n"])
frames = st.lists(st.one_of(msg_frame(), msg_frame(), msg_frame(), hmsg_frame(), control), max_size=30)


@settings(max_examples=400, deadline=None)
@given(frames, st.one_of(st.none(), bad), st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
       st.booleans())
def test_same_calls_and_errors_as_the_plain_path(stream, bad_frame, cuts, repeat):
    if repeat and stream:
        stream = stream + [stream[0]] * 5  # runs of identical control lines hit the cache
    data = b"".join(stream) + (bad_frame or b"")
    expected = run(plain, data, cuts)
    assert run(cached, data, cuts) == expected
    assert run(with_dispatch, data, cuts) == expected
    assert run(with_runs, data, cuts) == expected


def test_cached_line_across_reads_and_size_changes():
    frame = b"MSG s 1 5\r\nhello\r\n"
    data = frame * 50 + b"MSG s 1 6\r\nhello!\r\n" + frame * 3 + b"MSG s 1 5 \r\nworld\r\n"
    for cuts in ([], [1], [7, 500], list(range(0, len(data), 13))):
        calls, err = run(cached, data, cuts)
        assert err is None
        assert calls == run(plain, data, cuts)[0] == run(with_runs, data, cuts)[0]
        assert [c[4] for c in calls] == [b"hello"] * 50 + [b"hello!"] + [b"hello"] * 3 + [b"world"]


def test_counts_msgs_and_payload_bytes_and_drops_unknown_sids():
    frames = b"MSG s 1 5\r\nhello\r\n" * 3 + b"MSG s 9 2\r\nhi\r\nHMSG s 1 12 12\r\nNATS/1.0\r\n\r\n\r\n"
    rec = Recorder()
    delivered = []
    parser = ServerOpsParser(rec, dispatch={b"1": lambda *a: delivered.append(bytes(a[2]))})
    assert parser.parse(bytearray(frames), memoryview(frames), len(frames)) == len(frames)
    assert delivered == [b"hello"] * 3          # sid 9 has no entry: dropped
    assert (parser.msgs, parser.bytes) == (4, 17)
    assert rec.calls == [("hmsg", b"s", b"1", None, 12, b"NATS/1.0\r\n\r\n")]
