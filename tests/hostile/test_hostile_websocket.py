"""Hostile WebSocket clients against zats and nats-server configured alike: bad upgrade requests
(nats-server's HTTP answers, byte for byte less the Date), frames that break RFC 6455 (the close
frame nats-server sends), a client stalling mid-handshake (handshake_timeout), and a WebSocket
reader too slow for its messages (slow consumer). In every case a bystander on the client port
keeps its messages and its responsiveness."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from support.hostile import Bystander
from support.http import exchange, without_date
from support.servers import free_port
from support.websocket import masked_frame, spawn_ws, upgrade_request
from support.wire import Wire, read_until_closed

BAD_UPGRADES = {
    "post": upgrade_request(method="POST"),
    "no upgrade header": upgrade_request(omit=("Upgrade",)),
    "upgrade not websocket": upgrade_request(headers={"Upgrade": "h2c"}),
    "no connection header": upgrade_request(omit=("Connection",)),
    "no key": upgrade_request(key=None),
    "short key": upgrade_request(key="c2hvcnQ="),
    "key not base64": upgrade_request(key="!!!!!!!!!!!!!!!!!!!!!!!!"),
    "no version": upgrade_request(version=None),
    "version 8": upgrade_request(version="8"),
    "http/1.1 without host": upgrade_request(omit=("Host",)),
    "garbage": b"\x16\x03\x01\x00\xa5garbage\r\n\r\n",
    "nats on the ws port": b"CONNECT {}\r\nPING\r\n",
    "bad header line": b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    "mqtt path": upgrade_request(path="/mqtt"),
    "connection close": upgrade_request(version="7", headers={"Connection": "close"}),
}


def both(spawn, tmp_path, **fields):
    """zats and nats-server from the same websocket block: [(server, ws port)]."""
    started = []
    for kind in ("zats", "nats-server"):
        (tmp_path / kind).mkdir()
        started.append(spawn_ws(spawn, kind, tmp_path / kind, **fields))
    return started


@pytest.mark.parametrize("name", sorted(BAD_UPGRADES))
def test_bad_upgrade_gets_nats_servers_answer(spawn, tmp_path, name):
    answers = []
    for srv, port in both(spawn, tmp_path):
        bystander = Bystander(srv.host, srv.port)
        answer, closed = exchange(port, BAD_UPGRADES[name], timeout=0.5)
        answers.append((without_date(answer), closed))
        bystander.check()
    assert answers[0] == answers[1]
    assert answers[0][0].startswith(b"HTTP/1.1 4")


def upgraded(port: int, rcvbuf: int = 0, **kw) -> socket.socket:
    """A socket past a successful upgrade, its INFO frame read."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(upgrade_request(**kw))
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 101 ")
    data = data.partition(b"\r\n\r\n")[2]
    while b"\r\n" not in data:  # the INFO frame, unmasked: 2 or 4 bytes of header
        data += sock.recv(65536)
    return sock


def close_frame_at_end(data: bytes) -> bytes:
    """The payload of the close frame that ends what the server sent."""
    at = data.rfind(b"\x88")
    assert at >= 0, data
    n = data[at + 1]
    return data[at + 2:at + 2 + n]


FRAME_ABUSE = {  # the frame, and the words of nats-server's close frame for it
    "unmasked frame": (masked_frame(b"PING\r\n", mask=False), "mask bit missing"),
    "64-bit length with the top bit": (masked_frame(b"", length=1 << 63),
                                       "invalid 64-bit payload length"),
    "control frame too long": (masked_frame(b"x" * 126, opcode=9),
                               "control frame length bigger than maximum allowed of 125 bytes"),
    "fragmented ping": (masked_frame(b"x", opcode=9, fin=False),
                        "control frame does not have final bit set"),
    "unknown opcode": (masked_frame(b"x", opcode=3), "unknown opcode 3"),
    "continuation first": (masked_frame(b"PING\r\n", opcode=0), "invalid continuation frame"),
    "rsv2 set": (bytes([0xA2]) + masked_frame(b"PING\r\n")[1:], "RSV2 and RSV3 must be clear"),
    "compressed without deflate": (bytes([0xC2]) + masked_frame(b"PING\r\n")[1:],
                                   "compressed frame received without negotiated permessage-deflate"),
}


def close_frame(status: int, text: str) -> bytes:
    body = status.to_bytes(2, "big") + text.encode()
    return bytes([0x88, len(body)]) + body


def same_as_nats_server(zats: tuple[bytes, bool], nats: tuple[bytes, bool]) -> None:
    """nats-server queues its last words and closes the connection at once, so whether they are
    sent is a race there: what it sent is zats's answer or the start of it."""
    assert zats[1] and nats[1]
    assert zats[0].startswith(nats[0])


@pytest.mark.parametrize("name", sorted(FRAME_ABUSE))
def test_bad_frame_gets_nats_servers_close(spawn, tmp_path, name):
    frame, words = FRAME_ABUSE[name]
    answers = []
    for srv, port in both(spawn, tmp_path):
        bystander = Bystander(srv.host, srv.port)
        with upgraded(port) as sock:
            sock.sendall(frame)
            answers.append(read_until_closed(sock, 5))
        bystander.check()
    assert answers[0][0] == close_frame(1002, words)
    same_as_nats_server(*answers)


def test_client_close_frame_is_echoed(spawn, tmp_path):
    closes = []
    for _srv, port in both(spawn, tmp_path):
        with upgraded(port) as sock:
            sock.sendall(masked_frame((1000).to_bytes(2, "big") + b"bye", opcode=8))
            rest, closed = read_until_closed(sock, 5)
        assert closed
        closes.append(close_frame_at_end(rest))
    assert closes[0] == closes[1]


def test_protocol_error_inside_frames(spawn, tmp_path):
    """A NATS protocol error carried in frames: -ERR in a frame, then the close frame for a
    parse error."""
    answers = []
    for _srv, port in both(spawn, tmp_path):
        with upgraded(port) as sock:
            sock.sendall(masked_frame(b"BOGUS\r\n"))
            answers.append(read_until_closed(sock, 5))
    err = b"-ERR 'Unknown Protocol Operation'\r\n"
    assert answers[0][0] == bytes([0x82, len(err)]) + err + close_frame(1002, "Parse Error")
    same_as_nats_server(*answers)


def test_huge_frame_length_is_refused_by_zats(spawn, tmp_path):
    """A frame announcing a terabyte: zats closes with 1009 instead of buffering it (nats-server
    streams such a frame into its parser and waits for the bytes)."""
    srv, port = spawn_ws(spawn, "zats", tmp_path)
    bystander = Bystander(srv.host, srv.port)
    with upgraded(port) as sock:
        sock.sendall(masked_frame(b"", length=1 << 40))
        rest, closed = read_until_closed(sock, 5)
    assert closed
    assert close_frame_at_end(rest)[:2] == (1009).to_bytes(2, "big")
    bystander.check()


def test_stall_mid_handshake_hits_handshake_timeout(spawn, tmp_path):
    results = []
    for srv, port in both(spawn, tmp_path, handshake_timeout='"1s"'):
        bystander = Bystander(srv.host, srv.port)
        start = time.monotonic()
        answer, closed = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n",
                                  timeout=10)
        assert closed and time.monotonic() - start < 9  # closed by the server, not by us
        results.append(without_date(answer))
        bystander.check()
    assert results[0] == results[1]


def test_slow_websocket_reader_is_a_slow_consumer(spawn, tmp_path):
    """A WebSocket subscriber that stops reading is cut off as a slow consumer once its pending
    output passes max_pending; the publisher and a bystander go on."""
    extra = "max_pending: 1MB\nwrite_deadline: \"1s\"\n"
    for kind in ("zats", "nats-server"):
        (tmp_path / kind).mkdir()
        http_port = free_port()
        srv, port = spawn_ws(spawn, kind, tmp_path / kind, extra=extra, http_port=http_port)
        bystander = Bystander(srv.host, srv.port)
        with upgraded(port, rcvbuf=4096) as slow:
            slow.sendall(masked_frame(b'CONNECT {"verbose":false}\r\nSUB flood 1\r\nPING\r\n'))
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
            bystander.check()
            rest, closed = read_until_closed(slow, 15)
        assert closed, kind
        assert len(rest) < 8 * 1024 * 1024
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/varz") as resp:
            assert json.loads(resp.read())["slow_consumers"] >= 1, kind
