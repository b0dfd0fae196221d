"""`ClientOpsParser`'s run paths change nothing: on random streams of client frames (PUB in
every form, repeated lines, one subject with varying sizes, other ops, bad frames) split into
random reads, a handler taking runs (on_pub_run, on_pub_sizes) sees the same messages in the
same order, and the parser stops with the same error, as a handler taking on_pub only."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_parser import Recorder, RunRecorder

from support.reads import outcome, split_at
from zats.protocol.buffer import ReceiveBuffer
from zats.protocol.parser import ClientOpsParser


def outcome_of(handler, data: bytes, cuts: list[int], max_payload: int,
               max_control_line: int) -> tuple[list, tuple | None]:
    parser = ClientOpsParser(handler, max_payload=max_payload, max_control_line=max_control_line)
    parser.headers = True
    return outcome(parser, ReceiveBuffer(64, 4096), split_at(data, cuts), handler.events)


@st.composite
def pub_frame(draw):
    subject = draw(st.sampled_from([b"s", b"s", b"s", b"t.u"]))
    size = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 13, 100]))
    payload = draw(st.sampled_from([b"x", b"\r\n", b"PUB s 1\r\n"])) * size
    payload = payload[:size].ljust(size, b"p")
    form = draw(st.sampled_from(["canon", "canon", "canon", "nocr", "tab", "lower", "reply", "trail"]))
    head = {
        "canon": b"PUB %s %d\r\n", "nocr": b"PUB %s %d\n", "tab": b"PUB\t%s %d\r\n",
        "lower": b"pub %s %d\r\n", "reply": b"PUB %s r.1 %d\r\n", "trail": b"PUB %s %d \r\n",
    }[form] % (subject, size)
    return head + payload + b"\r\n"


@st.composite
def sized_burst(draw):
    """Canonical PUB frames of one subject whose consecutive sizes differ: the gathered path."""
    sizes = draw(st.lists(st.integers(min_value=0, max_value=20), min_size=2, max_size=8))
    sizes = [n for i, n in enumerate(sizes) if i == 0 or n != sizes[i - 1]]
    return b"".join(b"PUB s %d\r\n%s\r\n" % (n, b"q" * n) for n in sizes)


other = st.sampled_from([b"PING\r\n", b"SUB s 1\r\n", b"UNSUB 1\r\n", b"HPUB s 12 12\r\nNATS/1.0\r\n\r\n\r\n"])
bad = st.sampled_from([b"PUB s 3\r\nabcX\r\n", b"PUB s 1234567890\r\n", b"PUB s 1x\r\nx\r\n",
                       b"PUB s 300\r\n" + b"x" * 300 + b"\r\n", b"PUB s\r\n", b"BOGUS\r\n",
                       b"PUB s 2\r\nab\n", b"PUB s 3\r\nabcX\nPING\r\n", b"PUB s 4\r\nabcd\rX"])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(pub_frame(), pub_frame(), sized_burst(), other), max_size=30),
       st.one_of(st.none(), bad), st.lists(st.integers(min_value=0, max_value=5000), max_size=6),
       st.sampled_from([4096, 4096, 3, 4]), st.sampled_from([200, 13]))
def test_run_handlers_see_the_same_messages_and_errors(stream, bad_frame, cuts, mcl, max_payload):
    data = b"".join(stream) + (bad_frame or b"")
    expected = outcome_of(Recorder(), data, cuts, max_payload, mcl)
    assert outcome_of(RunRecorder(), data, cuts, max_payload, mcl) == expected
