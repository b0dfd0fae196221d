"""The route and leafnode protocol parser (protocol/peer_parser.py), fed through a real
ReceiveBuffer: every stream whole and split at every byte offset gives the same events; malformed
lines give the outcome nats-server has for them (close, with or without an -ERR). The frames in
the table are the forms nats-server 2.15.1 sends and takes (docs/routes-and-leafnodes.md describes
them); each is also read as a leaf connection's frame (the same line without its account field)."""

from __future__ import annotations

import re

import pytest
from test_parser import Recorder

from support.reads import feed_reads
from zats.protocol import errors
from zats.protocol.buffer import ReceiveBuffer
from zats.protocol.errors import ProtocolError
from zats.protocol.peer_parser import LEAF, ROUTE, PeerOpsParser
from zats.protocol.route_structs import (
    RouteConnect,
    RouteInfo,
    decode_route_connect,
    decode_route_info,
    encode_route_connect,
    encode_route_info,
)


class PeerRecorder(Recorder):
    """Records a message with headers as ("hmsg", ...) and one without as ("rmsg", ...), without
    its header_len."""

    closed = False

    def on_rmsg(self, account, subject, reply, queues, header_len, message):
        if header_len:
            self.events.append(("hmsg", account, subject, reply, queues, header_len, bytes(message)))
        else:
            self.events.append(("rmsg", account, subject, reply, queues, bytes(message)))


_ACCOUNT_OPS = re.compile(rb"^(RMSG|HMSG|RS\+|RS-|rs\+) \S+ ")
_LEAF_OP = {b"RMSG": b"LMSG", b"HMSG": b"HMSG", b"RS+": b"LS+", b"RS-": b"LS-", b"rs+": b"ls+"}


def to_leaf(data: bytes) -> bytes:
    """Route frames as a leaf sends them: LMSG/LS+/LS- for RMSG/RS+/RS-, no account field
    (control lines only: the lines are found by walking the frames)."""
    out, pos = [], 0
    while pos < len(data):
        eol = data.find(b"\n", pos)
        if eol < 0:
            eol = len(data) - 1
        line = data[pos:eol + 1]
        m = _ACCOUNT_OPS.match(line)
        if m:
            line = _LEAF_OP[m.group(1)] + b" " + line[m.end():]
        out.append(line)
        pos = eol + 1
        parts = line.split()
        if parts and parts[0].upper() in (b"LMSG", b"HMSG", b"RMSG", b"PUB", b"HPUB") and \
                parts[-1].isdigit():
            size = int(parts[-1])
            out.append(data[pos:pos + size + 2])
            pos += size + 2
    return b"".join(out)


def leaf_events(events: list[tuple]) -> list[tuple]:
    """The events a leaf's frames give: those of the route frames with no account."""
    return [(e[0], None) + e[2:] if e[0] in ("rsub", "runsub", "rmsg", "hmsg") else e
            for e in events]


def feed(chunks: list[bytes], expect_connect: bool = False, kind=ROUTE) -> list[tuple]:
    rec = PeerRecorder()
    parser = PeerOpsParser(rec, kind, expect_connect=expect_connect)
    feed_reads(parser, ReceiveBuffer(min_size=16, max_size=64), chunks)
    return rec.events


def all_splits(data: bytes, **kw) -> list[tuple]:
    whole = feed([data], **kw)
    for k in range(1, len(data)):
        assert feed([data[:k], data[k:]], **kw) == whole, f"split at {k}"
    return whole


CASES = [
    (b"PING\r\nPONG\r\n", [("ping",), ("pong",)]),
    (b"RS+ $G foo\r\n", [("rsub", b"$G", b"foo", None, 0)]),
    (b"RS+ $G q1 grpA 2\r\n", [("rsub", b"$G", b"q1", b"grpA", 2)]),
    (b"RS- $G foo\r\nRS- $G q1 grpA\r\n",
     [("runsub", b"$G", b"foo", None), ("runsub", b"$G", b"q1", b"grpA")]),
    (b"rs+ ACC a.*\r\n", [("rsub", b"ACC", b"a.*", None, 0)]),
    (b"RMSG $G foo 2\r\nhi\r\n", [("rmsg", b"$G", b"foo", None, None, b"hi")]),
    (b"RMSG $G foo reply.1 2\r\nhi\r\n", [("rmsg", b"$G", b"foo", b"reply.1", None, b"hi")]),
    (b"RMSG $G q1 | grpA grpB 1\r\nx\r\n", [("rmsg", b"$G", b"q1", None, [b"grpA", b"grpB"], b"x")]),
    (b"RMSG $G q1 + rep grpA 4\r\nabcd\r\n", [("rmsg", b"$G", b"q1", b"rep", [b"grpA"], b"abcd")]),
    (b"RMSG $G q1 + rep 0\r\n\r\n", [("rmsg", b"$G", b"q1", b"rep", [], b"")]),
    # With four arguments the third is the reply, whatever it looks like (as nats-server reads it).
    (b"RMSG $G foo + 2\r\nab\r\n", [("rmsg", b"$G", b"foo", b"+", None, b"ab")]),
    (b"HMSG $G foo 12 15\r\nNATS/1.0\r\n\r\nabc\r\n",
     [("hmsg", b"$G", b"foo", None, None, 12, b"NATS/1.0\r\n\r\nabc")]),
    (b"HMSG $G foo r 12 12\r\nNATS/1.0\r\n\r\n\r\n",
     [("hmsg", b"$G", b"foo", b"r", None, 12, b"NATS/1.0\r\n\r\n")]),
    (b"HMSG $G q | g1 g2 12 13\r\nNATS/1.0\r\n\r\nx\r\n",
     [("hmsg", b"$G", b"q", None, [b"g1", b"g2"], 12, b"NATS/1.0\r\n\r\nx")]),
    (b"HMSG $G q + r g1 12 13\r\nNATS/1.0\r\n\r\nx\r\n",
     [("hmsg", b"$G", b"q", b"r", [b"g1"], 12, b"NATS/1.0\r\n\r\nx")]),
    (b'INFO {"server_id":"N1"} \r\n', [("info", b'{"server_id":"N1"}')]),
    (b'CONNECT {"name":"N1"}\r\n', [("connect", b'{"name":"N1"}')]),
    (b"-ERR 'Unknown Protocol Operation'\r\n", [("err", "Unknown Protocol Operation")]),
]


# Gateway interest is ignored on a route only (an unknown op on a leaf).
ROUTE_ONLY_CASES = [(b"+OK\r\nA+ $G foo\r\nA- $G foo\r\nPING\r\n", [("ping",)])]


@pytest.mark.parametrize("data, events", CASES + ROUTE_ONLY_CASES)
def test_frames(data, events):
    assert all_splits(data) == events


@pytest.mark.parametrize("data, events", CASES)
def test_leaf_frames(data, events):
    assert all_splits(to_leaf(data), kind=LEAF) == leaf_events(events)


def test_payload_may_contain_control_lines():
    data = b"RMSG $G foo 10\r\nRS+ $G x\r\n\r\nPING\r\n"
    assert all_splits(data) == [("rmsg", b"$G", b"foo", None, None, b"RS+ $G x\r\n"), ("ping",)]
    data = b"LMSG foo 7\r\nLS+ x\r\n\r\nPING\r\n"
    assert all_splits(data, kind=LEAF) == [("rmsg", None, b"foo", None, None, b"LS+ x\r\n"),
                                           ("ping",)]


@pytest.mark.parametrize("kind", [ROUTE, LEAF], ids=["route", "leaf"])
def test_need_is_the_whole_frame(kind):
    rec = PeerRecorder()
    parser = PeerOpsParser(rec, kind)
    line = b"RMSG $G foo 1000\r\n" if kind is ROUTE else b"LMSG foo 1000\r\n"
    buf = bytearray(line + b"ab")
    assert parser.parse(buf, memoryview(buf), len(buf)) == 0
    assert parser.need == len(line) + 1002


@pytest.mark.parametrize("kind", [ROUTE, LEAF], ids=["route", "leaf"])
def test_first_op_must_be_connect_on_an_accepted_route(kind):
    assert feed([b'CONNECT {}\r\nPING\r\n'], expect_connect=True, kind=kind) == \
        [("connect", b"{}"), ("ping",)]
    for data in (b"PING\r\n", b"RS+ $G foo\r\n", b"INFO {}\r\n", b"P", b"LS+ foo\r\n", b"XYZ\r\n"):
        with pytest.raises(ProtocolError) as exc:
            feed([data], expect_connect=True, kind=kind)
        assert exc.value.text == errors.AUTH_VIOLATION


@pytest.mark.parametrize("data", [
    b"RS+ foo\r\n",  # no account
    b"RS+ $G foo grp\r\n",  # queue without a weight
    b"RS+ $G a b c d\r\n",
    b"RS- $G\r\n",
    b"RS- $G a b c\r\n",
    b"RMSG $G foo\r\n",
    b"RMSG $G foo x 2 3\r\nab\r\n",  # bad reply indicator
    b"RMSG $G foo ++ q 2\r\nab\r\n",  # a marker of more than one character
    b"RMSG $G foo abc\r\n",  # size not a number
    b"HMSG $G foo 5 2\r\nab\r\n",  # header larger than the message
    b"RMSG $G foo 2\r\nabc\r\n",  # payload longer than said
])
def test_malformed_lines_close_without_an_error_text(data):
    with pytest.raises(ProtocolError) as exc:
        feed([data])
    assert exc.value.text in (None, errors.UNKNOWN_PROTOCOL)


def test_unknown_op():
    with pytest.raises(ProtocolError) as exc:
        feed([b"MSG foo 1 1\r\nx\r\n"])
    assert exc.value.text == errors.UNKNOWN_PROTOCOL


def test_client_ops_on_a_route_are_read_as_nats_server_reads_them():
    # In one read, PUB/HPUB are read past their payload and dropped, SUB is dropped, UNSUB is
    # an RS-.
    data = (b"PUB foo 1\r\nx\r\nHPUB foo r 12 12\r\nNATS/1.0\r\n\r\n\r\nSUB foo 1\r\n"
            b"UNSUB $G foo\r\nPING\r\n")
    rec = PeerRecorder()
    feed_reads(PeerOpsParser(rec, ROUTE), ReceiveBuffer(min_size=4096), [data])
    assert rec.events == [("runsub", b"$G", b"foo", None), ("ping",)]
    # A read that ends inside one makes nats-server read its arguments again as a routed
    # message's (test_differential_fuzz_peers.py::test_route_pub_cut_by_a_read_as_nats_server).
    assert feed([b"PUB $G foo 5\r\nhel", b"lo\r\nPING\r\n"]) == \
        [("rmsg", b"$G", b"foo", None, None, b"hello"), ("ping",)]
    assert feed([b"HPUB $G foo 12 14\r\nNATS/1.0\r\n", b"\r\nhi\r\n"]) == \
        [("hmsg", b"$G", b"foo", None, None, 12, b"NATS/1.0\r\n\r\nhi")]
    with pytest.raises(ProtocolError) as cut:
        feed([b"PUB foo 1\r\n", b"x\r\nPING\r\n"])
    assert cut.value.text == errors.UNKNOWN_PROTOCOL


@pytest.mark.parametrize("weight, parsed", [(b"x", -1), (b"-5", -1), (b"1234567890", -1),
                                            (b"999999999", 999999999), (b"0", 0)])
def test_queue_weight_is_read_as_nats_server_parses_it(weight, parsed):
    assert all_splits(b"RS+ $G foo grp " + weight + b"\r\n") == \
        [("rsub", b"$G", b"foo", b"grp", parsed)]


def test_huge_declared_size_asks_for_room_as_bytes_arrive():
    from zats.protocol.peer_parser import GROW_AS_ARRIVES, room_for

    rbuf = ReceiveBuffer()
    parser = PeerOpsParser(PeerRecorder(), ROUTE)
    line = b"RMSG $G foo 400000000\r\n"
    rbuf.get_buffer()[:len(line)] = line
    rbuf.received(len(line))
    consumed = parser.parse(rbuf.buf, rbuf.view, rbuf.filled)
    assert consumed == 0 and parser.need == 400000000 + len(line) + 2
    rbuf.consume(consumed, room_for(parser.need, rbuf.filled - consumed))
    assert len(rbuf.buf) <= GROW_AS_ARRIVES
    assert room_for(100, 10) == 100 and room_for(10 * GROW_AS_ARRIVES, 4 * GROW_AS_ARRIVES) == \
        8 * GROW_AS_ARRIVES


def test_info_and_connect_structs():
    # The INFO nats-server sends on accept (captured), with fields zats does not know.
    info = decode_route_info(
        b'{"server_id":"NBNQ","server_name":"B","version":"2.15.1","proto":3,"go":"go1.27.2",'
        b'"host":"127.0.0.1","port":16223,"headers":true,"max_payload":1048576,"nonce":"CAkn",'
        b'"cluster":"C1","connect_urls":["127.0.0.1:14223"],"compression":"accept","lnoc":true,'
        b'"lnocu":true,"ln":true,"route_pool_size":3,"api_lvl":5}')
    assert (info.server_id, info.port, info.cluster, info.route_pool_size) == ("NBNQ", 16223, "C1", 3)
    assert info.connect_urls == ["127.0.0.1:14223"]
    ours = encode_route_info(RouteInfo(server_id="N", server_name="Z", port=6222, headers=True,
                                       cluster="C1"))
    assert ours.startswith(b"INFO {") and ours.endswith(b"} \r\n")
    for absent in (b"route_pool_size", b"compression", b"lnoc", b"route_account", b"nonce"):
        assert absent not in ours
    connect = encode_route_connect(RouteConnect(headers=True, name="N", cluster="C1", user="u",
                                                password="p"))
    assert connect.startswith(b'CONNECT {"echo":true,"verbose":false,"pedantic":false,')
    assert b'"pass":"p"' in connect and b"lang" not in connect
    back = decode_route_connect(connect[len(b"CONNECT "):-2])
    assert (back.name, back.cluster, back.user, back.password) == ("N", "C1", "u", "p")


class _RunRecorder(PeerRecorder):
    """Takes runs of identical plain RMSG frames and records them as the messages they are."""

    def on_rmsg_run(self, account, subject, view, first, stride, count, size):
        assert count >= 2
        for a in range(first, first + count * stride, stride):
            assert bytes(view[a + size : a + size + 2]) == b"\r\n"
            self.events.append(("rmsg", account, subject, None, None, bytes(view[a : a + size])))


@pytest.mark.parametrize("kind", [ROUTE, LEAF], ids=["route", "leaf"])
def test_runs_of_identical_rmsg_frames_match_single_frames(kind):
    data = (b"RMSG $G r.x 3\r\nabc\r\n" * 6 + b"RMSG $G r.x 4\r\nabcd\r\n"
            + b"RMSG $G r.x rep 3\r\nabc\r\n" * 3 + b"RMSG $G r.x 3\r\nxyz\r\n" * 4 + b"PING\r\n")
    if kind is LEAF:
        data = to_leaf(data)
    plain = feed([data], kind=kind)
    assert len([e for e in plain if e[0] == "rmsg"]) == 14
    for k in range(1, len(data)):
        rec = _RunRecorder()
        parser = PeerOpsParser(rec, kind)
        feed_reads(parser, ReceiveBuffer(min_size=16, max_size=64), (data[:k], data[k:]))
        assert rec.events == plain, f"split at {k}"


@pytest.mark.parametrize("weight, parsed", [(b"x", -1), (b"1234567890", -1), (b"7", 7)])
def test_leaf_queue_weight(weight, parsed):
    assert all_splits(b"LS+ foo grp " + weight + b"\r\n", kind=LEAF) == \
        [("rsub", None, b"foo", b"grp", parsed)]


@pytest.mark.parametrize("data", [
    b"LS+ foo grp\r\n",  # queue without a weight
    b"LS+ a b c d\r\n",
    b"LS- a b c\r\n",
    b"LMSG foo\r\n",
    b"LMSG foo x 2 3\r\nab\r\n",  # bad reply indicator
    b"LMSG foo abc\r\n",  # size not a number
    b"HMSG foo 5 2\r\nab\r\n",  # header larger than the message
    b"LMSG foo 2\r\nabc\r\n",  # payload longer than said
    b"A+ $G foo\r\n",  # gateway interest: unknown on a leaf
])
def test_malformed_leaf_lines(data):
    with pytest.raises(ProtocolError) as exc:
        feed([data], kind=LEAF)
    assert exc.value.text in (None, errors.UNKNOWN_PROTOCOL)


def test_client_ops_on_a_leaf_are_read_as_nats_server_reads_them():
    # PUB and RMSG are LMSG, HPUB is HMSG, SUB/RS+ are LS+, UNSUB/RS- are LS-.
    data = (b"PUB foo 1\r\nx\r\nRMSG bar r 1\r\ny\r\nHPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n"
            b"SUB foo\r\nRS+ bar q 2\r\nUNSUB foo\r\nRS- bar q\r\nPING\r\n")
    assert all_splits(data, kind=LEAF) == [
        ("rmsg", None, b"foo", None, None, b"x"), ("rmsg", None, b"bar", b"r", None, b"y"),
        ("hmsg", None, b"foo", None, None, 12, b"NATS/1.0\r\n\r\n"),
        ("rsub", None, b"foo", None, 0), ("rsub", None, b"bar", b"q", 2),
        ("runsub", None, b"foo", None), ("runsub", None, b"bar", b"q"), ("ping",)]


def test_max_payload_is_checked_from_a_leaf_control_line_only():
    parser = PeerOpsParser(PeerRecorder(), LEAF, max_payload=10)
    buf = bytearray(b"LMSG foo 11\r\n")  # refused before any payload arrives
    with pytest.raises(ProtocolError) as exc:
        parser.parse(buf, memoryview(buf), len(buf))
    assert exc.value.text == errors.MAX_PAYLOAD
    # A route takes any declared size (up to 9 digits).
    parser = PeerOpsParser(PeerRecorder(), ROUTE, max_payload=10)
    assert parser.parse(buf := bytearray(b"RMSG $G foo 11\r\n"), memoryview(buf), len(buf)) == 0


def test_a_leaf_stops_at_the_frame_after_its_handler_closed_it():
    class Closing(PeerRecorder):
        def on_rsub(self, *args):
            super().__getattr__("on_rsub")(*args)
            self.closed = True

    data = b"LS+ foo\r\nLS+ bar\r\n"
    for kind, events in ((LEAF, 1), (ROUTE, 2)):
        rec = Closing()
        parser = PeerOpsParser(rec, kind)
        line = data if kind is LEAF else data.replace(b"LS+ ", b"RS+ $G ")
        buf = bytearray(line)
        consumed = parser.parse(buf, memoryview(buf), len(buf))
        assert len(rec.events) == events
        assert consumed == (len(b"LS+ foo\r\n") if kind is LEAF else len(buf))


@pytest.mark.parametrize("kind", [ROUTE, LEAF], ids=["route", "leaf"])
def test_control_line_limit_is_sixteen_times_the_client_one(kind):
    parser = PeerOpsParser(PeerRecorder(), kind, max_control_line=100)
    assert parser.max_control_line == 1600
    buf = bytearray(b"PING" + b" " * 1600)
    with pytest.raises(ProtocolError) as exc:
        parser.parse(buf, memoryview(buf), len(buf))
    assert exc.value.text == errors.MAX_CONTROL_LINE
