"""Hostile probes: protocol abuse on the client port. Each runs against zats and nats-server
configured alike and checks what the offender gets, that a bystander keeps its messages and its
responsiveness, and that the server's memory stays bounded."""

from __future__ import annotations

import re
import socket

import pytest

from support.hostile import MemoryWatch, Pinger
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
