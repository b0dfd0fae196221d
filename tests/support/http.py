"""Raw HTTP exchanges with a server's monitoring port, for tests that send the same bytes to zats
and nats-server and compare the answers (less the Date header) byte for byte."""

from __future__ import annotations

import re
import socket

from support.wire import read_until_closed

_DATE = re.compile(rb"Date: [^\r\n]*\r\n")


def exchange(port: int, data: bytes, *, timeout: float = 3.0, shut: bool = False,
             host: str = "127.0.0.1") -> tuple[bytes, bool]:
    """Sends `data` (then half-closes if `shut`) and reads until the server closes or `timeout`
    passes; returns what arrived and whether the server closed."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if data:
            sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock, timeout)


def without_date(answer: bytes) -> bytes:
    return _DATE.sub(b"", answer)


def status_and_body(answer: bytes) -> tuple[bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body
