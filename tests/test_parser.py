"""The protocol parsers, fed through a real ReceiveBuffer: every stream whole and split at every
byte offset gives the same events; a table of bad input gives nats-server's outcome for each."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.reads import feed_reads, outcome
from zats.protocol import errors
from zats.protocol import parser as parser_module
from zats.protocol.buffer import ReceiveBuffer
from zats.protocol.errors import ProtocolError
from zats.protocol.parser import ClientOpsParser, ServerOpsParser


class Recorder:
    """A parser handler that records every call with memoryviews turned into bytes."""

    def __init__(self):
        self.events: list[tuple] = []

    def __getattr__(self, name: str):
        if not name.startswith("on_") or name in ("on_pub_run", "on_pub_sizes", "on_client_err"):
            raise AttributeError(name)

        def record(*args):
            self.events.append((name[3:],) + tuple(bytes(a) if isinstance(a, memoryview) else a
                                                   for a in args))
        return record


class RunRecorder(Recorder):
    """A handler that takes runs of PUB frames (on_pub_run: identical lines; on_pub_sizes: one
    subject, sizes varying) and records them as the single messages they stand for, checking
    the CRLF after each payload."""

    def on_pub_run(self, subject, reply, view, first, stride, count, size):
        assert count >= 2
        for a in range(first, first + count * stride, stride):
            assert bytes(view[a + size : a + size + 2]) == b"\r\n"
            self.events.append(("pub", subject, reply, bytes(view[a : a + size])))

    def on_pub_sizes(self, subject, view, bounds):
        assert len(bounds) >= 4 and len(bounds) % 2 == 0
        for a, b in zip(bounds[::2], bounds[1::2], strict=True):
            assert bytes(view[b : b + 2]) == b"\r\n"
            self.events.append(("pub", subject, None, bytes(view[a:b])))


def feed(parser_cls, chunks: list[bytes], headers: bool = True, runs: bool = False, **kw) -> list[tuple]:
    """Feeds chunks as successive reads through a small ReceiveBuffer; returns the events."""
    rec = RunRecorder() if runs else Recorder()
    parser = parser_cls(rec, **kw)
    if isinstance(parser, ClientOpsParser):
        parser.headers = headers
    feed_reads(parser, ReceiveBuffer(min_size=16, max_size=64), chunks)
    return rec.events


def all_splits(parser_cls, data: bytes, **kw) -> list[tuple]:
    """Events for `data` whole, asserting every two-way split gives the same, and (client ops)
    that a handler taking runs of PUB frames sees the same messages."""
    whole = feed(parser_cls, [data], **kw)
    for k in range(1, len(data)):
        assert feed(parser_cls, [data[:k], data[k:]], **kw) == whole, f"split at {k}"
        if parser_cls is ClientOpsParser:
            assert feed(parser_cls, [data[:k], data[k:]], runs=True, **kw) == whole, f"runs, split at {k}"
    return whole


CLIENT_CASES = [
    (b"PING\r\n", [("ping",)]),
    (b"PONG\r\n", [("pong",)]),
    (b"ping\npong\n", [("ping",), ("pong",)]),
    (b"PINGX junk\r\n", [("ping",)]),  # nats-server ignores anything up to the newline
    (b'CONNECT {"verbose":false}\r\n', [("connect", b'{"verbose":false}')]),
    (b'connect\t {"a":1} \r\n', [("connect", b'{"a":1}')]),
    (b"PUB foo 5\r\nhello\r\n", [("pub", b"foo", None, b"hello")]),
    (b"pub foo  reply\t 0\r\n\r\n", [("pub", b"foo", b"reply", b"")]),
    (b"PUB foo 2\r\n\r\n\r\n", [("pub", b"foo", None, b"\r\n")]),
    (b"PUB a 1\nx\r\nPUB b 1\r\ny\r\n", [("pub", b"a", None, b"x"), ("pub", b"b", None, b"y")]),
    (b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", [("hpub", b"foo", None, 12, b"NATS/1.0\r\n\r\nhi")]),
    (b"HPUB foo r 12 12\r\nNATS/1.0\r\n\r\n\r\n", [("hpub", b"foo", b"r", 12, b"NATS/1.0\r\n\r\n")]),
    (b"SUB foo 1\r\n", [("sub", b"foo", None, b"1")]),
    (b"SUB foo.* q 22\r\n", [("sub", b"foo.*", b"q", b"22")]),
    (b"UNSUB 1\r\n", [("unsub", b"1", None)]),
    (b"UNSUB 1 10\r\n", [("unsub", b"1", 10)]),
    (b"INFO {}\r\n+OK\r\nPING\r\n", [("ping",)]),  # ignored from clients
    (b"UNSUB 1 x\r\n", [("unsub", b"1", None)]),  # a max that is no number: no max
    # Repeated control lines take the parser's fast path; a different line ends it.
    (b"PUB a 1\r\nx\r\nPUB a 1\r\ny\r\nPUB a 1\r\nz\r\nPUB a 10\r\n0123456789\r\n"
     b"PUB a 1\r\nw\r\nPUB a 1\nv\r\nPUB a 1\nu\r\nPUB a 1\nt\r\n",
     [("pub", b"a", None, b"x"), ("pub", b"a", None, b"y"), ("pub", b"a", None, b"z"),
      ("pub", b"a", None, b"0123456789"), ("pub", b"a", None, b"w"), ("pub", b"a", None, b"v"),
      ("pub", b"a", None, b"u"), ("pub", b"a", None, b"t")]),
    (b"PUB a r 2\r\nxx\r\nPUB a r 2\r\nyy\r\nPUB a r 2\r\nzz\r\nPUB a r 2\r\n\r\n\r\n",
     [("pub", b"a", b"r", b"xx"), ("pub", b"a", b"r", b"yy"), ("pub", b"a", b"r", b"zz"),
      ("pub", b"a", b"r", b"\r\n")]),
]


@pytest.mark.parametrize("data,expected", CLIENT_CASES)
def test_client_ops(data, expected):
    assert all_splits(ClientOpsParser, data) == expected


def test_client_ops_all_cases_in_one_stream_split_everywhere():
    data = b"".join(d for d, _ in CLIENT_CASES)
    expected = [e for _, ev in CLIENT_CASES for e in ev]
    assert all_splits(ClientOpsParser, data) == expected


def test_large_payload_grows_buffer_beyond_max_and_shrinks_back():
    payload = bytes(range(256)) * 400  # 100 KiB
    data = b"PUB big %d\r\n%s\r\nPING\r\n" % (len(payload), payload)
    chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    assert feed(ClientOpsParser, chunks) == [("pub", b"big", None, payload), ("ping",)]


BAD_CLIENT_LINES = [
    # (input, -ERR text or None for a silent close)
    (b"FOO\r\n", errors.UNKNOWN_PROTOCOL),
    (b"PUBX foo 1\r\nx\r\n", errors.UNKNOWN_PROTOCOL),
    (b"GET / HTTP/1.1\r\n", errors.UNKNOWN_PROTOCOL),
    (b"X", errors.UNKNOWN_PROTOCOL),  # an impossible op fails before its line ends
    (b"PUB foo 3\r\nabcX", errors.UNKNOWN_PROTOCOL),
    (b"PUB f 1\r\na\r\nPUB f 1\r\nb\r\nPUB f 1\r\ncX", errors.UNKNOWN_PROTOCOL),  # on the fast path
    (b"PUB foo 3\r\nabc\rX", errors.UNKNOWN_PROTOCOL),
    (b"PUB foo 3\r\nabcd\r\n", errors.UNKNOWN_PROTOCOL),
    (b"MSG foo 1 1\r\nx\r\n", errors.UNKNOWN_PROTOCOL),  # a server op from a client
    (b"PUB foo 1048577\r\n", errors.MAX_PAYLOAD),
    (b"HPUB foo 10 1048577\r\n", errors.MAX_PAYLOAD),
    (b"PUB " + b"a" * 5000 + b" 1\r\n", errors.MAX_CONTROL_LINE),
    (b"PUB " + b"a" * 5000, errors.MAX_CONTROL_LINE),  # still incomplete
    (b"PUB foo\r\n", None),
    (b"PUB foo bar baz 1\r\n", None),
    (b"PUB foo x\r\n", None),
    (b"PUB foo -1\r\n", None),
    (b"HPUB foo 10 5\r\n", None),  # headers larger than the message
    (b"PUB\r\n", errors.UNKNOWN_PROTOCOL),
    (b"SUB\n", errors.UNKNOWN_PROTOCOL),
    (b"PUB \r\n", None),
    (b"PUB foo 9999999999\r\n", None),  # over 9 digits: not a size
    (b"HPUB foo 12 14\r\n", None),  # headers not negotiated
    (b"-ERR 'x'\r\n", None),
]


@pytest.mark.parametrize("data,text", BAD_CLIENT_LINES)
def test_bad_client_input(data, text):
    with pytest.raises(ProtocolError) as info:
        feed(ClientOpsParser, [data], headers=not data.startswith(b"HPUB foo 12"))
    assert info.value.text == text


def test_events_before_bad_input_are_delivered():
    rec = Recorder()
    parser = ClientOpsParser(rec)
    buf = bytearray(b"PUB a 1\r\nx\r\nBAD\r\n")
    with pytest.raises(ProtocolError):
        parser.parse(buf, memoryview(buf), len(buf))
    assert rec.events == [("pub", b"a", None, b"x")]


def test_control_line_limit_counts_arguments_only():
    limit = 64
    ok = b"SUB " + b"a" * (limit - 2) + b" 1\r\n"  # arguments exactly at the limit
    assert feed(ClientOpsParser, [ok], max_control_line=limit)[0][0] == "sub"
    with pytest.raises(ProtocolError) as info:
        feed(ClientOpsParser, [b"SUB " + b"a" * (limit - 1) + b" 1\r\n"], max_control_line=limit)
    assert info.value.text == errors.MAX_CONTROL_LINE


SERVER_CASES = [
    (b'INFO {"server_id":"x"} \r\n', [("info", b'{"server_id":"x"}')]),
    (b"MSG foo 1 5\r\nhello\r\n", [("msg", b"foo", b"1", None, b"hello")]),
    (b"MSG foo 1 _INBOX.x 0\r\n\r\n", [("msg", b"foo", b"1", b"_INBOX.x", b"")]),
    (b"HMSG foo 9 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", [("hmsg", b"foo", b"9", None, 12, b"NATS/1.0\r\n\r\nhi")]),
    (b"HMSG r 2 r2 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
     [("hmsg", b"r", b"2", b"r2", 16, b"NATS/1.0 503\r\n\r\n")]),
    (b"+OK\r\n", [("ok",)]),
    (b"-ERR 'Stale Connection'\r\n", [("err", "Stale Connection")]),
    (b"PING\r\nPONG\r\n", [("ping",), ("pong",)]),
]


@pytest.mark.parametrize("data,expected", SERVER_CASES)
def test_server_ops(data, expected):
    assert all_splits(ServerOpsParser, data) == expected


def test_server_ops_in_one_stream_split_everywhere():
    data = b"".join(d for d, _ in SERVER_CASES)
    assert all_splits(ServerOpsParser, data) == [e for _, ev in SERVER_CASES for e in ev]


@pytest.mark.parametrize("data", [b"PUB foo 1\r\nx\r\n", b"MSG foo 1 1\r\nxy\r\n", b"BOGUS\r\n"])
def test_bad_server_input(data):
    with pytest.raises(ProtocolError):
        feed(ServerOpsParser, [data])


def test_receive_buffer_adapts_to_load():
    rb = ReceiveBuffer(min_size=512, max_size=4096)
    for _ in range(5):  # reads that fill the buffer make it grow, up to max_size
        space = rb.get_buffer()
        rb.received(len(space))
        rb.consume(rb.filled)
    assert len(rb.buf) == 4096
    for _ in range(3):  # short reads shrink it back once it is empty
        rb.get_buffer()
        rb.received(10)
        rb.consume(rb.filled)
    assert len(rb.buf) == 512


def test_receive_buffer_keeps_only_the_tail():
    rb = ReceiveBuffer(min_size=64)
    space = rb.get_buffer()
    space[:10] = b"0123456789"
    rb.received(10)
    rb.consume(7, need=200)
    assert rb.filled == 3 and bytes(rb.buf[:3]) == b"789" and len(rb.buf) >= 200


@pytest.mark.parametrize("data", [b" PING\r\n", b"\tPUB a 1\r\nx\r\n", b"\r\n", b" "])
def test_blank_at_line_start_is_unknown_protocol(data):
    with pytest.raises(ProtocolError) as info:
        feed(ClientOpsParser, [data])
    assert info.value.text == errors.UNKNOWN_PROTOCOL


def test_receive_buffer_grows_past_max_only_while_large_frames_flow():
    from zats.protocol.buffer import LARGE_FRAME, LARGE_MAX_SIZE

    rb = ReceiveBuffer(min_size=512, max_size=4096)
    for _ in range(10):  # small frames: full reads stop at max_size
        rb.received(len(rb.get_buffer()))
        rb.consume(rb.filled)
    assert len(rb.buf) == 4096
    rb.received(len(rb.get_buffer()))
    rb.consume(100, need=LARGE_FRAME)  # a large frame is arriving
    for _ in range(10):
        rb.received(len(rb.get_buffer()))
        rb.consume(rb.filled - 10, need=LARGE_FRAME)
    assert len(rb.buf) == LARGE_MAX_SIZE
    rb.consume(rb.filled)
    for _ in range(3):  # idle again: back to small, and the large cap is forgotten
        rb.get_buffer()
        rb.received(10)
        rb.consume(rb.filled)
    assert len(rb.buf) == 512


def test_runs_of_identical_pub_frames_reach_on_pub_run():
    frame = b"PUB run.x 3\r\nabc\r\n"
    data = frame * 50 + b"PUB run.x 4\r\nabcd\r\n" + frame * 3
    rec = RunRecorder()
    calls = []
    original = rec.on_pub_run

    def counting(*args):
        calls.append(args[5])
        original(*args)

    rec.on_pub_run = counting
    parser = ClientOpsParser(rec)
    buf = bytearray(data)
    assert parser.parse(buf, memoryview(buf), len(buf)) == len(buf)
    assert len(rec.events) == 54
    assert calls == [48]  # two frames parse the ordinary way before the run is recognised


def test_bad_trailer_inside_a_run_fails_after_the_good_frames():
    frame = b"PUB r 1\r\nx\r\n"
    data = frame * 5 + b"PUB r 1\r\nxX\n"
    rec = RunRecorder()
    parser = ClientOpsParser(rec)
    buf = bytearray(data)
    with pytest.raises(ProtocolError) as info:
        parser.parse(buf, memoryview(buf), len(buf))
    assert info.value.text == errors.UNKNOWN_PROTOCOL
    assert len(rec.events) == 5


def test_long_runs_give_the_same_frames_once_their_line_has_a_pattern():
    """A line that keeps coming in long runs is then walked by a compiled pattern: the runs it
    finds are the same, with payloads that hold the line itself, CRLF, or a frame's worth of
    bytes, and a run broken by a bad trailer or another line ends where the loop ends it."""
    line = b"PUB long.run 24\r\n"
    payloads = [b"PUB long.run 24\r\nabcdefg", b"\r\n" * 12, b"x" * 22 + b"\r\n", bytes(range(24))]
    run = b"".join(line + payloads[i % 4] + b"\r\n" for i in range(300))
    other = b"PUB long.run 3\r\nabc\r\n"
    for _ in range(6):  # enough frames walked for the line to get its pattern
        data = run + other + run[: 40 * len(line + payloads[0] + b"\r\n")] + other
        rec = RunRecorder()
        runs = rec.runs = []
        rec.on_pub_run = lambda *args, rec=rec: RunRecorder.on_pub_run(rec, *args) or rec.runs.append(args[5])
        parser = ClientOpsParser(rec)
        buf = bytearray(data)
        assert parser.parse(buf, memoryview(buf), len(buf)) == len(buf)
        assert runs == [298, 38]  # each run whole, after two frames the ordinary way
        expected = [("pub", b"long.run", None, payloads[i % 4]) for i in range(300)]
        expected += [("pub", b"long.run", None, b"abc")]
        expected += [("pub", b"long.run", None, payloads[i % 4]) for i in range(40)]
        assert rec.events == expected + [("pub", b"long.run", None, b"abc")]
    assert line in parser_module._RUN_PATTERNS
    bad = run[: 100 * len(line + payloads[0] + b"\r\n")] + line + payloads[0] + b"\rX" + run
    rec = RunRecorder()
    buf = bytearray(bad)
    with pytest.raises(ProtocolError) as info:
        ClientOpsParser(rec).parse(buf, memoryview(buf), len(buf))
    assert info.value.text == errors.UNKNOWN_PROTOCOL
    assert len(rec.events) == 100


def test_one_subject_with_varying_sizes_reaches_on_pub_sizes():
    sizes = [3, 4, 5, 6, 7, 8, 9, 10]
    data = b"".join(b"PUB s.v %d\r\n%s\r\n" % (n, b"x" * n) for n in sizes)
    rec = RunRecorder()
    calls = []
    original = rec.on_pub_sizes

    def counting(subject, view, bounds):
        calls.append(len(bounds) // 2)
        original(subject, view, bounds)

    rec.on_pub_sizes = counting
    parser = ClientOpsParser(rec)
    buf = bytearray(data)
    assert parser.parse(buf, memoryview(buf), len(buf)) == len(buf)
    assert [len(e[3]) for e in rec.events] == sizes
    assert calls == [6]  # two frames name the subject the ordinary way first


SIZED = b"".join(b"PUB s %d\r\n%s\r\n" % (n, b"y" * n) for n in (1, 2, 3, 3, 3, 4, 5))


@pytest.mark.parametrize("data", [
    SIZED,
    SIZED + b"PUB s 6\nabcdef\r\nPUB s 7\r\n1234567\r\nPUB t 1\r\nz\r\nPUB s 2\r\nzz\r\n",
    SIZED + b"PUB s r 2\r\nab\r\nPUB s 3\r\nabc\r\nPUB  s 4\r\nabcd\r\npub s 5\r\nabcde\r\n",
    SIZED + b"PUB s 1\r\nx\r\nPUB s 2\t\r\nxy\r\nPUB s 3\r\nxyz\r\nPUB s 44\r\nxy\r\n",
    SIZED + b"PUB s 2\r\nxyz\r\n",             # bad trailer inside the gathering
    SIZED + b"PUB s 9999999999\r\n",           # size over nine digits
    SIZED + b"PUB s 1x\r\nx\r\n",              # not a size
    SIZED + b"PUB s 2000000\r\n",              # over max_payload
    SIZED + b"PUB s 6\r\nabcdefX\nPING\r\n",    # CR missing after the payload
    SIZED + b"PUB s 123456789\n",              # nine digits, no CR
    SIZED + b"PUB s 1234567890\n",             # ten digits, no CR
    SIZED + b"PUB s 10\r\n" + b"x" * 10 + b"\r\n",  # arguments over a max_control_line of 3
])
@pytest.mark.parametrize("max_payload, mcl", [(1 << 20, 4096), (4, 4096), (1 << 20, 3)])
def test_sized_gathering_gives_the_same_messages_and_errors(data, max_payload, mcl):
    """Split at every offset, with and without the run handlers: the same messages before the
    same error (or none)."""
    def outcome_of(chunks, runs):
        rec = RunRecorder() if runs else Recorder()
        parser = ClientOpsParser(rec, max_payload=max_payload, max_control_line=mcl)
        return outcome(parser, ReceiveBuffer(min_size=16, max_size=64), chunks, rec.events)

    expected = outcome_of([data], runs=False)
    for k in range(len(data)):
        for runs in (False, True):
            assert outcome_of([data[:k], data[k:]], runs) == expected, (k, runs)


def _pedantic_events(chunks: list[bytes]) -> list[tuple]:
    rec = RunRecorder()
    parser = ClientOpsParser(rec)
    parser.headers = parser.pedantic = True
    feed_reads(parser, ReceiveBuffer(min_size=4096, max_size=4096), chunks)  # a chunk, a read
    return rec.events


def test_pedantic_publish_line_comes_before_the_payload_twice_when_a_read_ends_inside_it():
    """As nats-server: the line is reported when it is read, and once more if the read ends
    before the payload is complete (nats-server processes the line again then), never more."""
    frames = [b"PUB a..b 5\r\nhello\r\n", b"PUB a 5\r\nhello\r\n", b"PUB a 5\r\nhello\r\n",
              b"HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"]
    data = b"".join(frames)
    whole = []
    for subject, event in [(b"a..b", ("pub", b"a..b", None, b"hello"))] + \
            [(b"a", ("pub", b"a", None, b"hello"))] * 2 + \
            [(b"h", ("hpub", b"h", None, 12, b"NATS/1.0\r\n\r\nhi"))]:
        whole += [("publish_line", subject), event]
    assert _pedantic_events([data]) == whole
    # Split right after the first frame's line: its payload is unfinished at the end of a read.
    first_line = len(b"PUB a..b 5\r\n")
    assert _pedantic_events([data[:first_line], data[first_line:]]) == \
        [whole[0], whole[0]] + whole[1:]
    # Split inside a line: reported once.
    assert _pedantic_events([data[:5], data[5:]]) == whole
    # Byte by byte: every frame reported twice, each time before its message.
    doubled = []
    for i in range(0, len(whole), 2):
        doubled += [whole[i], whole[i], whole[i + 1]]
    assert _pedantic_events([bytes([b]) for b in data]) == doubled


def test_client_err_goes_to_on_client_err_and_parsing_goes_on():
    class Handler(Recorder):
        def on_client_err(self):
            self.events.append(("client_err",))

    rec = Handler()
    data = bytearray(b"-ERR 'x'\r\nSUB a 1\r\nPUB a 1\r\nA\r\n")
    assert ClientOpsParser(rec).parse(data, memoryview(data), len(data)) == len(data)
    assert rec.events == [("client_err",), ("sub", b"a", None, b"1"), ("pub", b"a", None, b"A")]


class StoppingRecorder(RunRecorder):
    """A run handler whose publish calls ask the parser to stop after every one of them."""

    def __init__(self):
        super().__init__()
        self.stops = 0

    def _stop(self) -> bool:
        self.stops += 1
        return True

    def on_pub(self, subject, reply, payload):
        self.events.append(("pub", subject, reply, bytes(payload)))
        return self._stop()

    def on_hpub(self, subject, reply, header_len, message):
        self.events.append(("hpub", subject, reply, header_len, bytes(message)))
        return self._stop()

    def on_pub_run(self, *args):
        super().on_pub_run(*args)
        return self._stop()

    def on_pub_sizes(self, *args):
        super().on_pub_sizes(*args)
        return self._stop()


MIXED_PUBLISHES = (
    b"PUB a 1\r\nx\r\n" * 3                                               # a run
    + b"".join(b"PUB s %d\r\n%s\r\n" % (n, b"y" * n) for n in (1, 2, 3, 4))  # sizes vary
    + b"PUB r reply 2\r\nhi\r\nSUB a 1\r\n"                               # ordinary
    + b"HPUB h 12 14\r\nNATS/1.0\r\n\r\nok\r\nPING\r\n"
)


def test_a_publish_handler_stops_the_parse_after_its_frame():
    """A true result from on_pub, on_hpub, on_pub_run or on_pub_sizes ends the parse after that
    frame or run; parsing from the returned offset gives the rest, the same events in the same
    order as one parse that never stops."""
    plain = RunRecorder()
    parser = ClientOpsParser(plain)
    parser.headers = True
    buf = bytearray(MIXED_PUBLISHES)
    assert parser.parse(buf, memoryview(buf), len(buf)) == len(buf)

    stopping = StoppingRecorder()
    parser = ClientOpsParser(stopping)
    parser.headers = True
    rb = ReceiveBuffer()
    rb.get_buffer()[:len(buf)] = buf
    rb.received(len(buf))
    calls = 0
    while rb.filled:
        calls += 1
        consumed = parser.parse(rb.buf, rb.view, rb.filled)
        assert consumed and parser.need == 0
        rb.consume(consumed, parser.need)
    assert stopping.events == plain.events
    assert calls == stopping.stops + 1  # the last call ends at the buffer's end (SUB, PING)


# PUB lines near the plain form `PUB <subject> [<reply> ]<size>`: what the compiled build reads
# in C (parser._scan_pub) must read exactly as the general path does, errors included.
_PUB_TOKENS = st.sampled_from([b"a", b"foo.bar", b"*", b">", b"\xc3\xa9t\xc3\xa9", b"a\x01b",
                               b"_INBOX.x", b"a\x0bb", b"a\x7fb", b""])
_SIZE_TOKENS = st.sampled_from([b"0", b"1", b"3", b"12", b"007", b"123456789", b"1234567890",
                                b"1x", b"-1", b"+1", b"\xd9\xa1", b""])
_SEPARATORS = st.sampled_from([b" ", b" ", b" ", b"  ", b"\t", b" \t", b"\x0c"])


@st.composite
def _pub_frames(draw) -> bytes:
    if draw(st.booleans()):  # the plain form, but for the tokens
        tokens = draw(st.lists(_PUB_TOKENS, min_size=1, max_size=2))
        parts = [b"PUB"]
        for token in tokens + [draw(_SIZE_TOKENS)]:
            parts += [b" ", token]
    else:
        op = draw(st.sampled_from([b"PUB", b"PUB", b"pub", b"PUb"]))
        tokens = draw(st.lists(_PUB_TOKENS, min_size=0, max_size=3))
        parts = [op]
        for token in tokens + [draw(_SIZE_TOKENS)]:
            parts += [draw(_SEPARATORS), token]
        if draw(st.booleans()):
            parts.append(draw(_SEPARATORS))  # a trailing blank
    line = b"".join(parts) + draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))
    return line + b"x" * draw(st.integers(0, 14)) + b"\r\n"


@settings(max_examples=400, deadline=None)
@given(frames=st.lists(_pub_frames(), min_size=1, max_size=4),
       mcl=st.sampled_from([4096, 12]), cut=st.integers(0, 200))
def test_the_compiled_pub_line_reader_reads_as_the_general_path(frames, mcl, cut):
    """The same events and error with parser.COMPILED as built and with it off (the general
    path for every line). Uncompiled both runs take the general path."""
    data = b"PUB warm 1\r\nx\r\n" + b"".join(frames)
    chunks = [data[:cut], data[cut:]]

    def outcome_of() -> tuple:
        rec = Recorder()
        parser = ClientOpsParser(rec, max_control_line=mcl)
        return outcome(parser, ReceiveBuffer(min_size=16, max_size=64), chunks, rec.events)

    built = outcome_of()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parser_module, "COMPILED", False)
        assert outcome_of() == built


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=12), keep=st.data())
def test_a_payload_a_handler_keeps_keeps_its_bytes(sizes, keep):
    """Compiled, the parser may point a payload its handler did not keep at the next one; a
    payload the handler keeps (whole, or as a slice or a memoryview of it) still reads its own
    bytes after the rest of the read is parsed, and one it released is never reused."""
    frames = [(b"s%d" % i, bytes([65 + i]) * size) for i, size in enumerate(sizes)]
    kept_as = [keep.draw(st.sampled_from(["copy", "view", "slice", "memoryview", "released"]))
               for _ in frames]
    data = bytearray(b"".join(b"PUB %s %d\r\n%s\r\n" % (s, len(p), p) for s, p in frames))
    kept = []

    class Handler(Recorder):
        def on_pub(self, subject, reply, payload):
            how = kept_as[len(kept)]
            if how == "copy":
                kept.append(bytes(payload))
            elif how == "view":
                kept.append(payload)
            elif how == "slice":
                kept.append(payload[:])
            elif how == "memoryview":
                kept.append(memoryview(payload))
            else:
                kept.append(bytes(payload))
                payload.release()

    parser = ClientOpsParser(Handler())
    assert parser.parse(data, memoryview(data), len(data)) == len(data)
    assert [bytes(p) for p in kept] == [p for _, p in frames]
