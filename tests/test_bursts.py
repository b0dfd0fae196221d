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


# -- one subject, sizes varying: gathered and delivered with one match ---------------------------

VARIED = [b"v" * n for n in (5, 1, 12, 0, 7, 3, 30, 2, 9, 4)]


def msgs(subject: bytes, sid: bytes, payloads) -> bytes:
    return b"".join(b"MSG %s %s %d\r\n%s\r\n" % (subject, sid, len(p), p) for p in payloads)


def _regex(raw: bytes) -> bytes:
    return raw.replace(b".", rb"\.").replace(b"*", rb"\*")


def test_varied_sizes_reach_every_subscriber_in_order(server):
    with Wire(server.host, server.port) as s1, Wire(server.host, server.port) as s2, \
            Wire(server.host, server.port) as pub:
        s1.connect(OPTS)
        s1.send(b"SUB vary.a 1\r\nPING\r\n")
        s1.expect(rb"PONG\r\n")
        s2.connect(OPTS)
        s2.send(b"SUB vary.* 2\r\nPING\r\n")
        s2.expect(rb"PONG\r\n")
        pub.connect(OPTS)
        pub.send(frames(b"vary.a", VARIED) + frames(b"vary.b", VARIED[:3]) + frames(b"vary.a", VARIED[3:])
                 + b"PING\r\n")
        pub.expect(rb"PONG\r\n")
        s1.send(b"PING\r\n")
        s1.expect(_regex(msgs(b"vary.a", b"1", VARIED + VARIED[3:]) + b"PONG\r\n"))
        s2.send(b"PING\r\n")
        s2.expect(_regex(msgs(b"vary.a", b"2", VARIED) + msgs(b"vary.b", b"2", VARIED[:3])
                         + msgs(b"vary.a", b"2", VARIED[3:]) + b"PONG\r\n"))


def test_two_subscriptions_of_one_connection_get_each_message_in_turn(server):
    """A connection with two matching subscriptions receives message 1 for both, then message
    2 for both, as nats-server delivers, also inside runs."""
    with Wire(server.host, server.port) as sub, Wire(server.host, server.port) as pub:
        sub.connect(OPTS)
        sub.send(b"SUB two.x 1\r\nSUB two.* 2\r\nPING\r\n")
        sub.expect(rb"PONG\r\n")
        pub.connect(OPTS)
        payloads = VARIED + [b"same"] * 5
        pub.send(frames(b"two.x", payloads) + b"PING\r\n")
        pub.expect(rb"PONG\r\n")
        sub.send(b"PING\r\n")
        expected = b"".join(msgs(b"two.x", b"1", [p]) + msgs(b"two.x", b"2", [p]) for p in payloads)
        sub.expect(_regex(expected + b"PONG\r\n"))


def test_unsub_max_echo_and_queue_inside_varied_sizes(server):
    with Wire(server.host, server.port) as me, Wire(server.host, server.port) as other:
        me.connect(b'{"verbose":false,"pedantic":false,"echo":false}')
        me.send(b"SUB mix.v 1\r\nPING\r\n")
        me.expect(rb"PONG\r\n")
        other.connect(OPTS)
        other.send(b"SUB mix.v 5\r\nUNSUB 5 4\r\nSUB mix.v q 6\r\nPING\r\n")
        other.expect(rb"PONG\r\n")
        me.send(frames(b"mix.v", VARIED) + b"PING\r\n")
        me.expect(rb"PONG\r\n")  # echo off: nothing of its own
        other.send(b"PING\r\n")
        got = other.expect(rb"(?:MSG mix\.v [56] \d+\r\nv*\r\n)*PONG\r\n").group(0)
        five = [m for m in got.split(b"MSG ")[1:] if m.startswith(b"mix.v 5 ")]
        six = [m for m in got.split(b"MSG ")[1:] if m.startswith(b"mix.v 6 ")]
        assert [m.split(b"\r\n")[1] for m in five] == VARIED[:4]
        assert [m.split(b"\r\n")[1] for m in six] == VARIED


def test_counters_count_every_message_of_varied_sizes(kind, spawn):
    srv = spawn(kind, http_port=free_port())
    with Wire(srv.host, srv.port) as sub, Wire(srv.host, srv.port) as pub:
        sub.connect(OPTS)
        sub.send(b"SUB count.v 1\r\nPING\r\n")
        sub.expect(rb"PONG\r\n")
        pub.connect(OPTS)
        pub.send(frames(b"count.v", VARIED * 3) + frames(b"nobody.v", VARIED) + b"PING\r\n")
        pub.expect(rb"PONG\r\n")
        sub.expect(_regex(msgs(b"count.v", b"1", VARIED * 3)))
        varz = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/varz").read())
    total = sum(map(len, VARIED))
    assert (varz["in_msgs"], varz["in_bytes"]) == (40, 4 * total)
    assert (varz["out_msgs"], varz["out_bytes"]) == (30, 3 * total)


def test_one_connection_with_overlapping_subscriptions_gets_nats_servers_order(server):
    """The order in which one message reaches a connection's overlapping subscriptions, as
    recorded from nats-server 2.15.1: `>` before `*` before the literal token at every level,
    the literal node before `*` at the last token."""
    # A subject no other test publishes to: nats-server appends a subscription to a result it
    # has cached already, so its order holds only for a subject first matched after the SUBs.
    subs = [b"ovl.b.c", b"ovl.*.c", b"ovl.>", b"ovl.b.*", b">", b"*.b.c", b"*.*.*", b"ovl.b.>",
            b"*.>", b"ovl.*.*"]
    with Wire(server.host, server.port) as w:
        w.connect(OPTS)
        w.send(b"".join(b"SUB %s %d\r\n" % (s, i + 1) for i, s in enumerate(subs))
               + b"PUB ovl.b.c 1\r\nx\r\nPUB ovl.b.c 2\r\nyy\r\nPUB ovl.b.c 3\r\nzzz\r\nPING\r\n")
        got = w.expect(rb"(?:MSG ovl\.b\.c \d+ \d\r\n[xyz]+\r\n){30}PONG\r\n").group(0)
    sids = [int(line.split()[2]) for line in got.split(b"\r\n") if line.startswith(b"MSG")]
    assert sids == [5, 9, 7, 6, 3, 2, 10, 8, 1, 4] * 3


def test_queue_group_gets_each_message_of_a_burst_once(server):
    """A run for a queue group: every message reaches exactly one member, never the echo-off
    publisher's own member, each member's share in order."""
    with Wire(server.host, server.port) as m1, Wire(server.host, server.port) as m2, \
            Wire(server.host, server.port) as me:
        for i, m in enumerate((m1, m2)):
            m.connect(OPTS)
            m.send(b"SUB burst.q workers %d\r\nPING\r\n" % (i + 1))
            m.expect(rb"PONG\r\n")
        me.connect(b'{"verbose":false,"pedantic":false,"echo":false}')
        me.send(b"SUB burst.q workers 9\r\nPING\r\n")
        me.expect(rb"PONG\r\n")
        payloads = [b"%04d" % i for i in range(200)]
        me.send(b"".join(b"PUB burst.q 4\r\n%s\r\n" % p for p in payloads) + b"PING\r\n")
        me.expect(rb"PONG\r\n")  # nothing for its own member
        shares = []
        for m in (m1, m2):
            m.send(b"PING\r\n")
            got = m.expect(rb"(?:MSG burst\.q \d 4\r\n\d{4}\r\n)*PONG\r\n").group(0)
            shares.append([line for line in got.split(b"\r\n") if line.isdigit()])
    assert all(share == sorted(share) for share in shares)
    assert sorted(shares[0] + shares[1]) == payloads
