"""Hostile probes: abuse of the monitoring port (-m). Each runs against zats and nats-server
configured alike and checks what the offender gets (what nats-server gives it), that a client
bystander keeps its messages and its responsiveness, and that the server's memory stays bounded."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from support.hostile import MemoryWatch, Pinger
from support.http import exchange, read_until_closed, status_and_body
from support.servers import free_port
from support.wire import Wire


@pytest.fixture
def target(kind, spawn):
    return spawn(kind, http_port=free_port())


def _get(path: str, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.1\r\nHost: a\r\n{extra}\r\n".encode()


def _subscriber(srv, count: int) -> Wire:
    """A client holding `count` subscriptions."""
    wire = Wire(srv.host, srv.port, timeout=60)
    wire.connect()
    wire.send(b"".join(b"SUB load.%d %d\r\n" % (i, i) for i in range(count)) + b"PING\r\n")
    wire.expect(rb"(?:PING\r\n)*PONG\r\n")  # the server may have sent its first PING
    return wire


def _get_json(srv, path: str) -> dict:
    with urllib.request.urlopen(f"http://{srv.host}:{srv.http_port}{path}", timeout=60) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def test_huge_page_of_subscriptions_does_not_stall_delivery(target):
    """One request for every one of 400,000 subscriptions (no maximum `limit` in nats-server)."""
    count = 400_000
    with _subscriber(target, count):
        # nats-server itself grows by about 360 MiB building this 56 MiB answer.
        with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
            subsz = _get_json(target, f"/subsz?subs=1&limit={count}")
            # nats-server also lists its system account's internal subscriptions.
            assert subsz["total"] >= count and len(subsz["subscriptions_list"]) >= count
            pinger.assert_unharmed()
            memory.assert_bounded(512 * 1024)


def test_many_concurrent_requests(target):
    """200 requests at once, over several endpoints, against a server with 5,000 subscriptions."""
    paths = ["/varz", "/connz?subs=1", "/subsz?subs=1&limit=100", "/subsz", "/healthz"]
    with _subscriber(target, 5000):
        with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
            socks = [socket.create_connection((target.host, target.http_port)) for _ in range(200)]
            try:
                for i, sock in enumerate(socks):
                    sock.sendall(_get(paths[i % len(paths)], "Connection: close"))
                answers = [read_until_closed(sock, 30) for sock in socks]
            finally:
                for sock in socks:
                    sock.close()
            for got, closed in answers:
                assert closed and got.startswith(b"HTTP/1.1 200 OK\r\n"), got[:200]
            pinger.assert_unharmed()
            memory.assert_bounded()


def test_slow_loris_headers_are_cut_at_5s(target):
    """100 connections trickling a header: nats-server gives a request head 5 s from the
    connection, then closes without an answer (the partial header line is a valid one)."""
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        socks = [socket.create_connection((target.host, target.http_port)) for _ in range(100)]
        start = time.monotonic()
        try:
            for sock in socks:
                sock.sendall(b"GET /varz HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            open_ = list(socks)
            while time.monotonic() - start < 4:
                for sock in open_:
                    sock.sendall(b"b")
                time.sleep(0.5)
            answers = [read_until_closed(sock, max(start + 8 - time.monotonic(), 0.2)) for sock in socks]
        finally:
            for sock in socks:
                sock.close()
        assert all(answer == (b"", True) for answer in answers), answers[:3]
        pinger.assert_unharmed()
        memory.assert_bounded()


# nats-server's /healthz gives its listener 1 ms to show ready; on a loaded machine (CI) it
# sometimes answers this instead of ok. zats never does.
_NATS_NOT_READY = (b"HTTP/1.1 500 Internal Server Error", b"failed to be ready for connections")


def _healthy(target, status: bytes, body: bytes) -> bool:
    if target.kind == "nats-server" and status == _NATS_NOT_READY[0] and _NATS_NOT_READY[1] in body:
        return True
    return (status, body) == (b"HTTP/1.1 200 OK", b'{"status":"ok"}')


def _read_answer(sock) -> bytes:
    """One HTTP answer on a kept-alive connection (its body by Content-Length)."""
    got = b""
    while b"\r\n\r\n" not in got and (chunk := sock.recv(65536)):
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def test_idle_kept_alive_connections_stay_usable(target):
    """300 connections that make one request and then idle: nats-server keeps them open (no idle
    limit between requests) and answers their next request."""
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        socks = [socket.create_connection((target.host, target.http_port)) for _ in range(300)]
        try:
            for sock in socks:
                sock.sendall(_get("/healthz"))
            for sock in socks:
                sock.settimeout(10)
                got = _read_answer(sock)
                assert _healthy(target, *status_and_body(got)), got[:200]
            time.sleep(1)
            for sock in socks:
                sock.sendall(_get("/healthz", "Connection: close"))
            for sock in socks:
                got, closed = read_until_closed(sock, 10)
                assert closed and _healthy(target, *status_and_body(got)), got[:200]
        finally:
            for sock in socks:
                sock.close()
        pinger.assert_unharmed()
        memory.assert_bounded()


# name: (request, the status line nats-server answers before closing)
OVERSIZED_AND_MALFORMED = {
    "request line over 1 MiB": (b"GET /varz?x=" + b"a" * (2 << 20) + b" HTTP/1.1\r\n",
                                b"HTTP/1.1 431 Request Header Fields Too Large"),
    "headers over 1 MiB": (b"GET /varz HTTP/1.1\r\nHost: a\r\n"
                           + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 4000) for i in range(400)),
                           b"HTTP/1.1 431 Request Header Fields Too Large"),
    "binary noise": (bytes(range(256)) * 16, b"HTTP/1.1 400 Bad Request"),
    "no Host": (b"GET /varz HTTP/1.1\r\n\r\n", b"HTTP/1.1 400 Bad Request: missing required Host header"),
    "HTTP/9.9": (b"GET /varz HTTP/9.9\r\nHost: a\r\n\r\n",
                 b"HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version"),
}


@pytest.mark.parametrize("attack", sorted(OVERSIZED_AND_MALFORMED))
def test_oversized_and_malformed_requests(target, attack):
    data, status = OVERSIZED_AND_MALFORMED[attack]
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        for _ in range(20):
            try:
                got, closed = exchange(target.http_port, data, timeout=10)
            except (BrokenPipeError, ConnectionResetError):
                continue  # closed while we were still writing, as nats-server may
            assert closed and got.startswith(status + b"\r\n"), got[:200]
        pinger.assert_unharmed()
        memory.assert_bounded()


def test_pipelined_requests(target):
    """2,000 requests in one write: every one answered, in order, on the one connection."""
    requests = [_get("/healthz"), _get("/nope"), _get("/connz?limit=x")] * 666 + [_get("/healthz")]
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        got, closed = exchange(target.http_port, b"".join(requests) + _get("/healthz", "Connection: close"),
                               timeout=30)
        assert closed
        assert got.count(b"HTTP/1.1 200 OK\r\n") == 668
        assert got.count(b"HTTP/1.1 404 Not Found\r\n") == 666
        assert got.count(b"HTTP/1.1 400 Bad Request\r\n") == 666
        pinger.assert_unharmed()
        memory.assert_bounded()
