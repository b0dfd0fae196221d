"""Hostile probes: protocol abuse on the client port. Each runs against zats and nats-server
configured alike and checks what the offender gets, that a bystander keeps its messages and its
responsiveness, and that the server's memory stays bounded."""

from __future__ import annotations

import re
import socket

import pytest

from support.hostile import FanOutCrowd, MemoryWatch, Pinger
from support.wire import Wire

ATTACKS = {
    # name: (bytes sent after INFO, what the offender gets: a regex its whole answer matches)
    "unknown op": (b"FOO bar\r\n", rb"-ERR 'Unknown Protocol Operation'\r\n"),
    "control line without end": (b"PUB " + b"a" * 9000, rb"-ERR 'maximum control line exceeded'\r\n"),
    "declared payload over max": (b"PUB foo 999999999\r\n", rb"(-ERR 'Maximum Payload Violation'\r\n)?"),
    "negative size": (b"PUB foo -1\r\n", rb"-ERR 'Unknown Protocol Operation'\r\n|"),
    "binary noise": (bytes(range(256)) * 4, rb"-ERR 'Unknown Protocol Operation'\r\n"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_protocol_abuse_costs_only_the_offender(server, attack):
    data, answer = ATTACKS[attack]
    with MemoryWatch(server.proc.pid) as memory, Pinger(server.host, server.port) as pinger:
        for _ in range(20):
            with Wire(server.host, server.port) as offender:
                offender.read_info()
                try:
                    offender.send(data)
                except OSError:
                    pass  # closed while we were still writing
                got = offender.expect_closed(timeout=5)
                assert re.fullmatch(answer, got), got
        pinger.assert_unharmed()
        memory.assert_bounded()


def test_half_open_connections_do_not_hold_up_others(server):
    """Connections that send half a control line and then nothing."""
    with Pinger(server.host, server.port) as pinger:
        socks = []
        try:
            for _ in range(50):
                s = socket.create_connection((server.host, server.port))
                s.sendall(b"CONNECT {\"verbose\":false}\r\nPUB foo 10\r\nhal")
                socks.append(s)
            pinger.bystander.check()
        finally:
            for s in socks:
                s.close()
        pinger.assert_unharmed()


def test_fan_out_bomb_does_not_stall_others(server):
    """A client that subscribes thousands of times to one subject and publishes to it in bursts
    makes the server do millions of deliveries from one read. nats-server does them on the
    publisher's own goroutine; a single-threaded server must do them in slices, so that other
    connections are served in between. Every message still arrives."""
    subscribers, subs_each, messages = 3, 20_000, 150
    with Pinger(server.host, server.port) as pinger:
        with FanOutCrowd(server.host, server.port, subscribers, subs_each) as crowd:
            with Wire(server.host, server.port) as publisher:
                publisher.connect()
                # Each message another subject, as real traffic: no run of identical frames.
                publisher.send(b"".join(b"PUB fan.%d 5\r\nhello\r\n" % n for n in range(messages)) +
                               b"PING\r\n")
                publisher.expect(rb"(?:PING\r\n)*PONG\r\n", timeout=60)
            expected = subs_each * messages
            assert crowd.wait(expected) == [expected] * subscribers
        pinger.assert_unharmed()
