"""Hostile probes: resource exhaustion. Subscribers that never read, clients that pipeline PINGs
without reading the PONGs, connection churn, idle and half-open connections, large payloads that
are declared and never sent, SUB floods with long subjects, UNSUB floods of unknown sids. Each
runs against zats and nats-server configured alike and checks what the offender gets, that a
bystander keeps its messages and its responsiveness, and that the server's memory stays
bounded."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request

import pytest

from support.hostile import Bystander, MemoryWatch, Pinger
from support.servers import free_port, write_config
from support.wire import Wire


@pytest.fixture
def limited(kind, spawn, tmp_path):
    """A server of this kind with a small max_pending (1 MiB), a short write deadline and a
    monitoring port."""
    conf = 'max_pending: 1MB\nwrite_deadline: "1s"\n'
    return spawn(kind, "-c", write_config(tmp_path, conf), http_port=free_port())


def varz(srv) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/varz") as resp:
        return json.loads(resp.read())


def assert_subscriptions_back_to(srv, baseline: int) -> None:
    """Closes are processed asynchronously: the count must come back within a few seconds."""
    deadline = time.monotonic() + 5
    while (count := varz(srv)["subscriptions"]) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count <= baseline


def non_reader(srv) -> socket.socket:
    """A connected client with a tiny receive buffer that will not read (until told to)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect((srv.host, srv.port))
    return s


def read_until_closed(s: socket.socket, timeout: float = 10) -> bytes:
    """What arrives until the server closes, or until nothing arrives for `timeout` seconds."""
    got = bytearray()
    s.settimeout(timeout)
    try:
        while chunk := s.recv(1 << 20):
            got += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return bytes(got)


def test_subscriber_that_never_reads(limited):
    """Others publish to a subscriber that never reads: it is cut as a slow consumer once its
    pending output passes max_pending; the publisher and the bystander go on."""
    srv = limited
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as p:
        slow = non_reader(srv)
        slow.sendall(b'CONNECT {"verbose":false}\r\nSUB flood 1\r\nPING\r\n')
        answer = b""
        while b"PONG\r\n" not in answer:
            answer += slow.recv(4096)
        with Wire(srv.host, srv.port, timeout=20) as publisher:
            publisher.connect()
            payload = b"x" * 4096
            frames = (b"PUB flood 4096\r\n" + payload + b"\r\n") * 256  # 1 MiB a send
            for _ in range(16):
                publisher.send(frames)
            publisher.send(b"PING\r\n")
            publisher.expect(rb"(PING\r\n)*PONG\r\n")
        rest = read_until_closed(slow)
        slow.close()
        # What arrived is a run of whole or cut MSG frames, far less than was published.
        assert re.fullmatch(rb"(MSG flood 1 4096\r\nx{4096}\r\n)*(MSG[^\n]*\n?x*\r?\n?)?", rest)
        assert len(rest) < 8 * 1024 * 1024
        assert varz(srv)["slow_consumers"] >= 1
        p.assert_unharmed()
        memory.assert_bounded()


def test_pipelined_pings_without_reading_the_pongs(limited):
    """Half a million PINGs from a client that does not read: the server answers as it can. TCP flow
    control holds it up; whether the PONGs pending meanwhile pass max_pending (and the client is
    cut) depends on timing, for nats-server as for zats. Nothing else may suffer."""
    srv = limited
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as p:
        offender = non_reader(srv)
        offender.sendall(b'CONNECT {"verbose":false}\r\n')
        try:
            for _ in range(5):
                offender.sendall(b"PING\r\n" * 100_000)
        except OSError:
            pass  # cut while still sending
        rest = read_until_closed(offender, timeout=2)
        offender.close()
        assert re.fullmatch(rb"INFO [^\n]*\n(PONG\r\n|PING\r\n)*(PONG?\r?)?", rest), rest[-100:]
        p.assert_unharmed()
        memory.assert_bounded()


def test_connection_churn(limited):
    """Hundreds of short connections, each subscribing and leaving: nothing stays behind."""
    srv = limited
    baseline = varz(srv)["subscriptions"]
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as p:
        for i in range(300):
            with socket.create_connection((srv.host, srv.port)) as s:
                s.sendall(b'CONNECT {"verbose":false}\r\nSUB churn.%d 1\r\nSUB churn.> 2\r\n' % i)
                if i % 2:
                    s.recv(4096)  # half of them read INFO, the other half leave at once
        p.assert_unharmed()
        memory.assert_bounded()
    assert_subscriptions_back_to(srv, baseline)


def test_idle_connections_flood(server):
    """Many connections that never send a byte (nor read): bounded, and the others go on."""
    with MemoryWatch(server.proc.pid) as memory, Pinger(server.host, server.port) as p:
        socks = [socket.create_connection((server.host, server.port)) for _ in range(500)]
        try:
            with Bystander(server.host, server.port) as other:  # (the Pinger's is in use)
                other.check()
        finally:
            for s in socks:
                s.close()
        p.assert_unharmed()
        memory.assert_bounded()


def test_declared_large_payloads_never_sent(server):
    """Slow-loris on payloads: each connection declares a payload of almost max_payload and sends
    two bytes of it. Memory must follow what was sent, not what was declared."""
    with MemoryWatch(server.proc.pid) as memory, Pinger(server.host, server.port) as p:
        socks = []
        try:
            for _ in range(300):
                s = socket.create_connection((server.host, server.port))
                s.sendall(b'CONNECT {"verbose":false}\r\nPUB big 1000000\r\nxx')
                socks.append(s)
            with Bystander(server.host, server.port) as other:  # (the Pinger's is in use)
                other.check()
        finally:
            for s in socks:
                s.close()
        p.assert_unharmed()
        memory.assert_bounded()


def test_sub_flood_with_long_subjects(limited):
    """20,000 subscriptions with 200-byte subjects from one client; all go when it closes."""
    srv = limited
    baseline = varz(srv)["subscriptions"]
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as p:
        with Wire(srv.host, srv.port, timeout=20) as offender:
            offender.connect()
            prefix = b"s" * 200
            for part in range(10):
                offender.send(b"".join(b"SUB %s.%d %d\r\n" % (prefix, i, i)
                                       for i in range(part * 2000, (part + 1) * 2000)))
            offender.send(b"PING\r\n")
            offender.expect(rb"(PING\r\n)?PONG\r\n")
            assert varz(srv)["subscriptions"] >= baseline + 20_000
        p.assert_unharmed()
        memory.assert_bounded()
    assert_subscriptions_back_to(srv, baseline)


def test_unsub_flood_of_unknown_sids(server):
    """A million UNSUBs (with and without a max) for sids that were never used: ignored, and
    they cost no memory."""
    with MemoryWatch(server.proc.pid) as memory, Pinger(server.host, server.port) as p:
        with Wire(server.host, server.port, timeout=20) as offender:
            offender.connect()
            for part in range(10):
                offender.send(b"".join(b"UNSUB %d%s\r\n" % (i, b" 5" if i % 2 else b"")
                                       for i in range(part * 100_000, (part + 1) * 100_000)))
            offender.send(b"PING\r\n")
            offender.expect(rb"(PING\r\n)?PONG\r\n")
        p.assert_unharmed()
        memory.assert_bounded(16 * 1024)


def test_publisher_flood_to_nobody(server):
    """A publisher sending as fast as it can to a subject nobody wants: the bystander's own
    messages and round trips are not starved."""
    with MemoryWatch(server.proc.pid) as memory, Pinger(server.host, server.port) as p:
        with Wire(server.host, server.port, timeout=20) as offender:
            offender.connect()
            frames = b"PUB nobody 16\r\n0123456789abcdef\r\n" * 20_000
            stop = threading.Event()

            def flood():
                while not stop.is_set():
                    offender.send(frames)

            flooder = threading.Thread(target=flood, daemon=True)
            flooder.start()
            try:
                with Bystander(server.host, server.port) as other:  # (the Pinger's is in use)
                    for _ in range(5):
                        other.check()
            finally:
                stop.set()
                flooder.join(10)
            offender.send(b"PING\r\n")
            offender.expect(rb"(PING\r\n)?PONG\r\n")
        p.assert_unharmed()
        memory.assert_bounded()
