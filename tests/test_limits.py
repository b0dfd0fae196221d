"""Limits and keepalive over raw sockets, each against zats and the real nats-server configured
alike (zats in-process with ServerOptions, nats-server with the same settings in a config file):
stale connections, max_connections, max_payload, max_control_line, slow consumers."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest

from support.inprocess import ThreadedBroker
from support.servers import KINDS, free_port, start_server, write_config
from support.wire import Wire


def _conf_value(key: str, value) -> str:
    if key in ("ping_interval", "write_deadline"):
        return f'"{int(value * 1000)}ms"'
    return str(value)


@pytest.fixture(params=KINDS)
def configured(request, tmp_path):
    """Factory: configured(**options) -> a started server of this kind with those limits."""
    started = []

    def make(**options):
        if request.param == "zats":
            srv = ThreadedBroker(**options).start()
        else:
            http = options.pop("http_port", None)
            text = "\n".join(f"{k}: {_conf_value(k, v)}" for k, v in options.items())
            path = write_config(tmp_path, text)
            srv = start_server("nats-server", "-c", path,
                               http_port=free_port() if http == -1 else http)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def test_stale_connection_is_closed_after_ping_max_unanswered(configured):
    srv = configured(ping_interval=0.2, ping_max=2)
    with Wire(srv.host, srv.port, timeout=5) as w:
        w.connect()
        w.expect(rb"PING\r\n")
        w.expect(rb"PING\r\n")
        w.expect(rb"-ERR 'Stale Connection'\r\n")
        assert w.expect_closed() == b""


@pytest.mark.parametrize("ping_max", [1, 2])
def test_stale_cut_comes_ping_max_intervals_after_connect(configured, ping_max):
    """With a ping interval shorter than nats-server's first-PING delay (2 s), the first PING
    comes after the interval: ping_max PINGs, then the cut, all well within two seconds."""
    srv = configured(ping_interval=0.1, ping_max=ping_max)
    with Wire(srv.host, srv.port, timeout=1.5) as w:
        w.read_info()
        w.send(b'CONNECT {"verbose":false}\r\n')
        assert w.expect_closed() == b"PING\r\n" * ping_max + b"-ERR 'Stale Connection'\r\n"


def test_answered_pings_keep_the_connection(configured):
    srv = configured(ping_interval=0.1, ping_max=1)
    with Wire(srv.host, srv.port, timeout=5) as w:
        w.connect()
        for _ in range(4):
            w.expect(rb"PING\r\n")
            w.send(b"PONG\r\n")
        w.send(b"PING\r\n")
        w.expect(rb"(PING\r\n)*PONG\r\n")


def test_max_connections(configured):
    srv = configured(max_connections=2)
    a, b = Wire(srv.host, srv.port).connect(), Wire(srv.host, srv.port).connect()
    with a, b, Wire(srv.host, srv.port) as c:
        info = json.loads(c.read_info()[5:])  # nats-server sends INFO first, then the error
        assert info["max_payload"] > 0 and "client_id" in info
        assert c.expect_closed() == b"-ERR 'maximum connections exceeded'\r\n"
        a.send(b"PING\r\n")
        a.expect(rb"PONG\r\n")


def test_configured_max_payload_is_announced_and_enforced(configured):
    srv = configured(max_payload=1024)
    with Wire(srv.host, srv.port) as w:
        info = json.loads(w.read_info()[5:])
        assert info["max_payload"] == 1024
        w.send(b'CONNECT {"verbose":false}\r\nPUB foo 1024\r\n' + b"x" * 1024 + b"\r\nPING\r\n")
        w.expect(rb"PONG\r\n")
        w.send(b"PUB foo 1025\r\n")
        w.expect(rb"-ERR 'Maximum Payload Violation'\r\n")
        w.expect_closed()


def test_configured_max_control_line(configured):
    srv = configured(max_control_line=256)
    with Wire(srv.host, srv.port) as w:
        w.connect()
        w.send(b"SUB " + b"a" * 200 + b" 1\r\nPING\r\n")
        w.expect(rb"PONG\r\n")
        w.send(b"SUB " + b"a" * 300 + b" 1\r\n")
        w.expect(rb"-ERR 'maximum control line exceeded'\r\n")
        w.expect_closed()


def test_slow_consumer_is_closed_and_others_unaffected(configured):
    srv = configured(max_pending=1024 * 1024, write_deadline=0.5, http_port=-1)
    slow = socket.create_connection((srv.host, srv.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.recv(4096)  # INFO
    slow.sendall(b'CONNECT {"verbose":false}\r\nSUB big 1\r\nPING\r\n')
    answer = b""
    while b"PONG" not in answer:  # the SUB is in place
        answer += slow.recv(4096)
    good = Wire(srv.host, srv.port, timeout=20).connect()
    good.send(b"SUB big 1\r\nPING\r\n")
    good.expect(rb"PONG\r\n")
    payload = b"x" * 8192
    count = 2000  # 16 MiB: far over max_pending for a reader that never reads
    frame = b"MSG big 1 8192\r\n" + payload + b"\r\n"
    expected = frame * count
    received = bytearray(good.buf)

    def read_all():
        good.sock.settimeout(20)
        while len(received) < len(expected):
            chunk = good.sock.recv(1 << 20)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read_all)
    reader.start()
    with Wire(srv.host, srv.port, timeout=20) as pub:
        pub.connect()
        pub.send((b"PUB big 8192\r\n" + payload + b"\r\n") * count + b"PING\r\n")
        pub.expect(rb"PONG\r\n")
    reader.join(30)
    assert received == expected
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        varz = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/varz").read())
        if varz["slow_consumers"] >= 1:
            break
        time.sleep(0.1)
    assert varz["slow_consumers"] >= 1
    slow.close()
    good.close()
