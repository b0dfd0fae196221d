"""A raw-socket NATS peer for black-box wire tests: send bytes, expect regexes, as nats-server's
own test/test.go does."""

from __future__ import annotations

import re
import socket
import time

INFO_RE = re.compile(rb"\AINFO \{.*\} \r\n", re.S)


class Wire:
    """A blocking TCP connection to a server with `send` and regex `expect` helpers."""

    def __init__(self, host: str, port: int, timeout: float = 3.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        """Reads more bytes; False on EOF or timeout."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionResetError:
            return False
        if not chunk:
            return False
        self.buf += chunk
        return True

    def expect(self, pattern: bytes | re.Pattern, timeout: float | None = None) -> re.Match:
        """Waits until the unread bytes start with `pattern`; consumes and returns the match."""
        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, re.S)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = rx.match(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            if not self._fill(deadline):
                raise AssertionError(f"expected {rx.pattern!r}, have {self.buf[:300]!r}")

    def read_info(self) -> bytes:
        return self.expect(INFO_RE).group(0)

    def connect(self, opts: bytes = b'{"verbose":false,"pedantic":false}') -> Wire:
        """Reads INFO, sends CONNECT+PING and waits for the PONG. The server's first keepalive
        PING may come before it when the check is slow (bcrypt on a loaded machine)."""
        self.read_info()
        self.send(b"CONNECT " + opts + b"\r\nPING\r\n")
        self.expect(rb"(?:PING\r\n)?PONG\r\n")
        return self

    def expect_closed(self, timeout: float | None = None) -> bytes:
        """Waits for EOF; returns whatever arrived before it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._fill(deadline):
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"connection still open; have {self.buf[:300]!r}")
        rest, self.buf = self.buf, b""
        return rest

    def expect_nothing(self, wait: float = 0.2) -> None:
        """Asserts that nothing arrives within `wait` seconds (connection stays open)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not self._fill(deadline):
                break
        assert self.buf == b"", f"unexpected bytes {self.buf[:300]!r}"


def exchange(sock: socket.socket, writes: list[bytes], timeout: float = 5.0) -> tuple[bytes, bool]:
    """Sends each chunk as a write of its own, then reads until EOF or `timeout`: (what arrived,
    whether the server closed). A server that closes while we still write is not an error: what
    it wrote before is still there to read. The socket is closed afterwards."""
    try:
        try:
            for chunk in writes:
                sock.sendall(chunk)
                time.sleep(0.001)  # separate writes, so the server sees the chunks as reads
        except OSError:
            pass
        return read_until_closed(sock, timeout)
    finally:
        sock.close()


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Reads until EOF or `timeout`: (what arrived, whether the server closed)."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got, False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return got, False
        except ConnectionResetError:
            return got, True
        if not chunk:
            return got, True
        got += chunk
