"""Bursts of identical PUB frames in one send, which zats parses and delivers as runs: every
message still counts alone (UNSUB max, echo, order, counters). Checked against zats and the real
nats-server over raw sockets."""

from __future__ import annotations

import json
import urllib.request

from support.servers import free_port
from support.wire import Wire

OPTS = b'{"verbose":false,"pedantic":false}'


def frames(subject: bytes, payloads) -> bytes:
    return b"".join(b"PUB %s %d\r\n%s\r\n" % (subject, len(p), p) for p in payloads)


def test_unsub_max_stops_inside_a_burst(server):
    with Wire(server.host, server.port) as sub, Wire(server.host, server.port) as pub:
        sub.connect(OPTS)
        sub.send(b"SUB burst.max 7\r\nUNSUB 7 3\r\nSUB burst.max 8\r\nPING\r\n")
        sub.expect(rb"PONG\r\n")
        pub.connect(OPTS)
        pub.send(frames(b"burst.max", [b"%03d" % i for i in range(10)]) + b"PING\r\n")
        pub.expect(rb"PONG\r\n")
        sub.send(b"PING\r\n")
        got = sub.expect(rb"(?:MSG burst\.max [78] 3\r\n\d{3}\r\n)*PONG\r\n").group(0)
        seven = [m for m in got.split(b"MSG ")[1:] if m.startswith(b"burst.max 7 ")]
        eight = [m for m in got.split(b"MSG ")[1:] if m.startswith(b"burst.max 8 ")]
        assert [m.split(b"\r\n")[1] for m in seven] == [b"000", b"001", b"002"]
        assert [m.split(b"\r\n")[1] for m in eight] == [b"%03d" % i for i in range(10)]


def test_echo_off_in_a_burst(server):
    with Wire(server.host, server.port) as me, Wire(server.host, server.port) as other:
        me.connect(b'{"verbose":false,"pedantic":false,"echo":false}')
        me.send(b"SUB burst.echo 1\r\nPING\r\n")
        me.expect(rb"PONG\r\n")
        other.connect(OPTS)
        other.send(b"SUB burst.echo 2\r\nPING\r\n")
        other.expect(rb"PONG\r\n")
        me.send(frames(b"burst.echo", [b"x"] * 20) + b"PING\r\n")
        me.expect(rb"PONG\r\n")  # nothing of its own comes back
        other.send(b"PING\r\n")
        other.expect(rb"(?:MSG burst\.echo 2 1\r\nx\r\n){20}PONG\r\n")


def test_order_is_kept_across_runs_and_single_frames(server):
    payloads = [b"a%02d" % i for i in range(7)] + [b"long-one"] + [b"b%02d" % i for i in range(7)]
    with Wire(server.host, server.port) as sub, Wire(server.host, server.port) as pub:
        sub.connect(OPTS)
        sub.send(b"SUB burst.order 1\r\nPING\r\n")
        sub.expect(rb"PONG\r\n")
        pub.connect(OPTS)
        pub.send(frames(b"burst.order", payloads) + b"PING\r\n")
        pub.expect(rb"PONG\r\n")
        expected = b"".join(b"MSG burst.order 1 %d\r\n%s\r\n" % (len(p), p) for p in payloads)
        sub.expect(expected.replace(b".", rb"\.").replace(b"-", rb"\-"))


def test_counters_count_every_message_of_a_burst(kind, spawn):
    srv = spawn(kind, http_port=free_port())
    with Wire(srv.host, srv.port) as sub, Wire(srv.host, srv.port) as pub:
        sub.connect(OPTS)
        sub.send(b"SUB burst.count 1\r\nPING\r\n")
        sub.expect(rb"PONG\r\n")
        pub.connect(OPTS)
        pub.send(frames(b"burst.count", [b"12345"] * 100) + frames(b"nobody", [b"1"] * 10)
                 + b"PING\r\n")
        pub.expect(rb"PONG\r\n")
        sub.expect(rb"(?:MSG burst\.count 1 5\r\n12345\r\n){100}")
        varz = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/varz").read())
    assert (varz["in_msgs"], varz["in_bytes"]) == (110, 510)
    assert (varz["out_msgs"], varz["out_bytes"]) == (100, 500)


def test_wildcard_subscriber_gets_each_subject_right(server):
    """Same size, alternating subjects, runs of each: no MSG line may carry the wrong subject."""
    subjects = [b"wc.x", b"wc.y"] * 5 + [b"wc.x"] * 4 + [b"wc.y"] * 4 + [b"wc.x", b"wc.y"]
    with Wire(server.host, server.port) as sub, Wire(server.host, server.port) as a, \
            Wire(server.host, server.port) as b:
        sub.connect(OPTS)
        sub.send(b"SUB wc.* 9\r\nPING\r\n")
        sub.expect(rb"PONG\r\n")
        a.connect(OPTS)
        b.connect(OPTS)
        for subject in subjects:
            a.send(b"PUB %s 1\r\na\r\n" % subject)
        a.send(b"PING\r\n")
        a.expect(rb"PONG\r\n")
        b.send(b"".join(b"PUB %s 1\r\nb\r\n" % s for s in reversed(subjects)) + b"PING\r\n")
        b.expect(rb"PONG\r\n")
        expected = b"".join(b"MSG %s 9 1\r\na\r\n" % s for s in subjects)
        expected += b"".join(b"MSG %s 9 1\r\nb\r\n" % s for s in reversed(subjects))
        sub.expect(expected.replace(b".", rb"\."))
