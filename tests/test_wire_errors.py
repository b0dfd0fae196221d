"""Black-box wire conformance for protocol errors, in the style of nats-server's
test/proto_test.go. This file owns what a server answers to bad input: which errors close the
connection (with which exact `-ERR '...'` line, or silently) and which keep it open. Every
expectation was recorded from the real nats-server (2.15.1) and runs against both kinds of server
through the `server` fixture; each exchange is also replayed split into two TCP sends at many
offsets and byte by byte. Helpers come from test_wire_conformance.py."""

from __future__ import annotations

import pytest
from test_wire_conformance import (
    PEDANTIC,
    QH,
    Exchange,
    Q,
    check_exchange_bytewise,
    check_exchange_split,
    connected,
    run_exchange,
)

UNKNOWN_OP = b"-ERR 'Unknown Protocol Operation'\r\n"
MAX_CONTROL = b"-ERR 'maximum control line exceeded'\r\n"
MAX_PAYLOAD = b"-ERR 'Maximum Payload Violation'\r\n"
BAD_PROTOCOL = b"-ERR 'invalid client protocol'\r\n"
NORESP_NEEDS_HEADERS = b"-ERR 'no responders requires headers support'\r\n"
INVALID_SUBJECT = b"-ERR 'Invalid Subject'\r\n"
LONG = b"r" * 4100


def closes(id: str, send: bytes, reply: bytes = b"") -> Exchange:
    """An exchange after which the server closes; reply b"" means it closes without -ERR."""
    return Exchange(id, send, reply, closes=True)


CLOSING = [
    # parse errors: -ERR 'Unknown Protocol Operation' and close
    closes("unknown_op", Q + b"FOO bar\r\n", UNKNOWN_OP),
    closes("unknown_op_before_connect", b"FOO\r\n", UNKNOWN_OP),
    closes("truncated_op_name", Q + b"PIN\r\n", UNKNOWN_OP),
    closes("msg_from_client", Q + b"MSG foo 1 2\r\nhi\r\n", UNKNOWN_OP),
    closes("hmsg_from_client", Q + b"HMSG foo 1 2 2\r\nhi\r\n", UNKNOWN_OP),
    closes("empty_line", Q + b"\r\n", UNKNOWN_OP),
    closes("empty_line_bare_lf", Q + b"\n", UNKNOWN_OP),
    closes("leading_space_before_op", Q + b" PING\r\n", UNKNOWN_OP),
    closes("pub_without_arguments", Q + b"PUB\r\n", UNKNOWN_OP),
    closes("sub_without_arguments", Q + b"SUB\r\n", UNKNOWN_OP),
    closes("unsub_without_arguments", Q + b"UNSUB\r\n", UNKNOWN_OP),
    # the payload must be followed by exactly CRLF
    closes("payload_longer_than_declared", Q + b"SUB foo 1\r\nPUB foo 2\r\nhiX\r\n", UNKNOWN_OP),
    closes("payload_shorter_than_declared", Q + b"SUB foo 1\r\nPUB foo 5\r\nhi\r\nPING\r\n", UNKNOWN_OP),
    closes("payload_followed_by_bare_lf", Q + b"SUB foo 1\r\nPUB foo 2\r\nhi\nPING\r\n", UNKNOWN_OP),
    closes("payload_followed_by_cr_cr", Q + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\r\n", UNKNOWN_OP),
    closes("payload_followed_by_cr_other", Q + b"PUB foo 2\r\nhi\rX", UNKNOWN_OP),
    closes(
        "hpub_payload_not_followed_by_crlf",
        QH + b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhiX\r\n",
        UNKNOWN_OP,
    ),
    closes(
        "good_message_then_extra_crlf",
        Q + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n\r\n",
        b"MSG foo 1 2\r\nhi\r\n" + UNKNOWN_OP,
    ),
    # control line limit (4096 bytes of arguments), complete or still incomplete
    closes("pub_control_line_over_4096", Q + b"PUB foo " + LONG + b" 2\r\nhi\r\n", MAX_CONTROL),
    closes("pub_control_line_of_4097", Q + b"PUB foo " + b"r" * 4091 + b" 2\r\nhi\r\n", MAX_CONTROL),
    closes("pub_incomplete_control_line_over_4096", Q + b"PUB foo " + LONG, MAX_CONTROL),
    closes("sub_control_line_over_4096", Q + b"SUB foo" + LONG + b" 1\r\n", MAX_CONTROL),
    closes("sub_incomplete_control_line_over_4096", Q + b"SUB " + LONG, MAX_CONTROL),
    closes("connect_over_4096", b'CONNECT {"name":"' + LONG + b'"}\r\n', MAX_CONTROL),
    closes("connect_incomplete_over_4096", b"CONNECT {" + b" " * 4100, MAX_CONTROL),
    # max_payload (1048576), refused on the control line
    closes("pub_over_max_payload", Q + b"PUB foo 1048577\r\n", MAX_PAYLOAD),
    closes("pub_with_reply_over_max_payload", Q + b"PUB foo bar 2000000\r\n", MAX_PAYLOAD),
    closes("pub_nine_digit_size_over_max_payload", Q + b"PUB foo 999999999\r\n", MAX_PAYLOAD),
    closes("hpub_over_max_payload", QH + b"HPUB foo 10 1048577\r\n", MAX_PAYLOAD),
    # CONNECT refusals
    closes("connect_protocol_2", b'CONNECT {"verbose":false,"protocol":2}\r\nPING\r\n', BAD_PROTOCOL),
    closes("connect_protocol_negative", b'CONNECT {"verbose":false,"protocol":-1}\r\nPING\r\n', BAD_PROTOCOL),
    closes(
        "connect_no_responders_without_headers",
        b'CONNECT {"verbose":false,"no_responders":true}\r\nPING\r\n',
        NORESP_NEEDS_HEADERS,
    ),
    closes(
        "connect_no_responders_with_headers_false",
        b'CONNECT {"verbose":false,"headers":false,"no_responders":true}\r\nPING\r\n',
        NORESP_NEEDS_HEADERS,
    ),
    # malformed CONNECT: closed without -ERR
    closes("connect_truncated_json", b'CONNECT {"verbose":fals\r\nPING\r\n'),
    closes("connect_not_json", b"CONNECT not json\r\nPING\r\n"),
    closes("connect_json_array", b"CONNECT []\r\nPING\r\n"),
    closes("connect_wrong_field_type", b'CONNECT {"verbose":"yes"}\r\nPING\r\n'),
    closes("connect_protocol_not_integer", b'CONNECT {"verbose":false,"protocol":1.5}\r\nPING\r\n'),
    closes("connect_trailing_garbage", b'CONNECT {"verbose":false} {}\r\nPING\r\n'),
    closes("connect_without_argument", b"CONNECT\r\nPING\r\n"),
    # bad PUB/HPUB/SUB/UNSUB arguments: closed without -ERR
    closes("pub_missing_size", Q + b"PUB foo\r\nPING\r\n"),
    closes("pub_only_whitespace", Q + b"PUB \r\nPING\r\n"),
    closes("pub_too_many_arguments", Q + b"PUB foo bar baz 2\r\nhi\r\nPING\r\n"),
    closes("pub_non_numeric_size", Q + b"PUB foo abc\r\nPING\r\n"),
    closes("pub_size_with_suffix", Q + b"PUB foo 2x\r\nhi\r\nPING\r\n"),
    closes("pub_negative_size", Q + b"PUB foo -1\r\nPING\r\n"),
    closes("pub_size_overflowing_integer", Q + b"PUB foo 99999999999999999999\r\n"),
    closes("pub_size_of_ten_digits", Q + b"PUB foo 1000000000\r\n"),  # only 9 digits parse
    closes("pub_size_of_ten_digits_with_leading_zeros", Q + b"PUB foo 0000000001\r\nx\r\nPING\r\n"),
    closes("hpub_without_headers_negotiated", Q + b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n"),
    closes("hpub_without_connect", b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n"),
    closes("hpub_header_size_over_total", QH + b"HPUB foo 14 12\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n"),
    closes("hpub_single_size", QH + b"HPUB foo 14\r\nPING\r\n"),
    closes("hpub_non_numeric_header_size", QH + b"HPUB foo x 5\r\nPING\r\n"),
    closes("sub_missing_sid", Q + b"SUB foo\r\nPING\r\n"),
    closes("sub_only_whitespace", Q + b"SUB \r\nPING\r\n"),
    closes("sub_too_many_arguments", Q + b"SUB foo bar baz 1\r\nPING\r\n"),
    closes("unsub_too_many_arguments", Q + b"UNSUB 1 2 3\r\nPING\r\n"),
    # an -ERR from a client ends its connection silently
    closes("err_from_client", Q + b"-ERR 'x'\r\nPING\r\n"),
    closes("hpub_without_connect_after_verbose_sub_ok", b"SUB foo 1\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", b"+OK\r\n"),
]


def bad_sub(subject: bytes) -> Exchange:
    """A refused SUB leaves the sid free: the same sid on a good subject then works."""
    return Exchange(
        "invalid_sub_subject_" + (subject.decode().replace(".", "dot").replace(">", "gt") or "x"),
        Q + b"SUB " + subject + b" 1\r\nSUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n",
        INVALID_SUBJECT + b"MSG foo 1 1\r\na\r\nPONG\r\n",
    )


STAYING_OPEN = [
    bad_sub(s)
    for s in (b"foo..bar", b"foo.>.bar", b"foo.>.>", b">.foo", b".foo", b"foo.", b".", b"..")
] + [
    Exchange(
        "invalid_sub_subject_with_queue",
        Q + b"SUB foo..bar q 1\r\nSUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n",
        INVALID_SUBJECT + b"MSG foo 1 1\r\na\r\nPONG\r\n",
    ),
    Exchange(
        "invalid_sub_subject_in_verbose_mode_gets_no_ok",
        b'CONNECT {"verbose":true}\r\nSUB foo..bar 1\r\nSUB foo 2\r\nPING\r\n',
        b"+OK\r\n" + INVALID_SUBJECT + b"+OK\r\nPONG\r\n",
    ),
    Exchange(
        "invalid_sub_subject_in_pedantic_mode",
        PEDANTIC + b"SUB foo. 1\r\nPING\r\n",
        INVALID_SUBJECT + b"PONG\r\n",
    ),
    Exchange(
        "unsub_with_non_numeric_max_removes_at_once",
        Q + b"SUB foo 1\r\nUNSUB 1 x\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"PONG\r\n",
    ),
    Exchange(
        "unsub_with_unparsable_ten_digit_max_removes_at_once",
        Q + b"SUB foo 1\r\nUNSUB 1 999999999\r\nUNSUB 1 1000000000\r\nPUB foo 1\r\na\r\nPING\r\n",
        b"PONG\r\n",
    ),
]

ALL = CLOSING + STAYING_OPEN
IDS = [ex.id for ex in ALL]
assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_error_exchange(server, ex):
    run_exchange(server, ex)


@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_error_exchange_split_in_two(server, ex):
    check_exchange_split(server, ex)


@pytest.mark.parametrize("ex", ALL, ids=IDS)
def test_error_exchange_byte_by_byte(server, ex):
    check_exchange_bytewise(server, ex)


def test_incomplete_control_line_of_4096_waits_for_the_rest(server):
    """An unfinished control line at the limit is not an error yet; it is accepted when its end
    arrives (still within 4096 bytes of arguments)."""
    with connected(server) as p:
        p.send(b"SUB foo 1\r\nPUB foo " + b"r" * 4088)
        p.expect_quiet(0.1)
        p.send(b" 2\r\nhi\r\nPING\r\n")
        p.expect_bytes(b"MSG foo 1 " + b"r" * 4088 + b" 2\r\nhi\r\nPONG\r\n")


def test_error_that_keeps_connection_open_leaves_other_state_intact(server):
    with connected(server) as p, connected(server) as other:
        p.send(b"SUB foo 1\r\nSUB bar.. 2\r\nSUB foo.>.x 3\r\n")
        p.expect_bytes(INVALID_SUBJECT + INVALID_SUBJECT)
        other.send(b"PUB foo 1\r\na\r\n")
        other.flush()
        p.send(b"PING\r\n")
        p.expect_bytes(b"MSG foo 1 1\r\na\r\nPONG\r\n")


def test_close_after_error_does_not_disturb_other_connections(server):
    with connected(server) as sub, connected(server) as bad, connected(server) as pub:
        sub.send(b"SUB foo 1\r\n")
        sub.flush()
        bad.send(b"SUB foo 2\r\nFOO\r\n")
        bad.expect_bytes(UNKNOWN_OP)
        bad.expect_eof()
        pub.send(b"PUB foo 1\r\na\r\n")
        pub.flush()
        assert [m.sid for m in sub.flush()] == [b"1"]
