"""Probes through a cluster of brokers: one small client connection per node that proves, with
messages rather than sleeps, that

- **interest has propagated** (`wait_interest`): every node knows about the subscriptions made
  on every other node before the load starts, and
- **the routes are drained** (`flush_routes`): after the publishers' PING/PONG, every message a
  node forwarded over a route has been processed by the node at the other end, so that the
  subscribers' own PING/PONG then accounts for every message exactly, as on one broker.

Both rest on the order a route keeps: a node sends its interest (RS+) and its messages (RMSG) to a
peer on one connection, in the order it processed them (zats and nats-server without route
pooling, or for one account with pooling). Node B's probe connection subscribes to
`_ZB.<run>.<B>.>` after every bench worker on B has subscribed and seen its PONG; once a message
published on node A to `_ZB.<run>.<B>.<A>...` reaches the probe on B, A has learnt B's probe
subscription, hence every subscription made on B before it. Likewise, once a probe message
published on A after the publishers' PONG reaches B, every bench message A routed to B before it
has been processed by B, and B queues a subscriber's PONG behind them.

The probe connections parse what they read (probe traffic is a handful of messages)."""

from __future__ import annotations

import secrets
import select
import socket
import time

from .wire import CRLF, PING, PONG, ServerError, connect_frame, parse_url


class ProbeConn:
    """A client connection that records the subjects of the messages it receives."""

    def __init__(self, url: str, name: str, timeout: float = 10.0):
        host, port = parse_url(url)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pongs = 0
        self.subjects: list[bytes] = []
        self.info = self._line()
        if not self.info.startswith(b"INFO"):
            raise ServerError(f"expected INFO, got {self.info[:80]!r}")
        self.sock.sendall(connect_frame(name))

    def _fill(self, timeout: float | None) -> bool:
        if timeout is not None and not select.select([self.sock], [], [], timeout)[0]:
            return False
        data = self.sock.recv(65536)
        if not data:
            raise ServerError("connection closed by the server")
        self.buf += data
        return True

    def _line(self) -> bytes:
        while CRLF not in self.buf:
            self._fill(None)
        i = self.buf.index(CRLF)
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    def _parse(self) -> None:
        while True:
            i = self.buf.find(CRLF)
            if i < 0:
                return
            line = bytes(self.buf[:i])
            if line.startswith(b"MSG "):
                parts = line.split()
                size = int(parts[-1])
                if len(self.buf) < i + 2 + size + 2:
                    return
                self.subjects.append(parts[1])
                del self.buf[:i + 2 + size + 2]
                continue
            del self.buf[:i + 2]
            if line.startswith(b"PING"):
                self.sock.sendall(PONG)
            elif line.startswith(b"PONG"):
                self.pongs += 1
            elif line.startswith(b"-ERR"):
                raise ServerError(line.decode(errors="replace"))

    def read(self, timeout: float) -> None:
        """Reads what arrives within `timeout` seconds (at least one poll)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if not self._fill(max(0.0, left)):
                break
            self._parse()
            if left <= 0:
                break

    def flush(self, extra: bytes = b"", timeout: float = 30.0) -> None:
        want = self.pongs + 1
        self.sock.sendall(extra + PING)
        deadline = time.monotonic() + timeout
        while self.pongs < want:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServerError(f"no PONG within {timeout:g}s")
            self._fill(left)
            self._parse()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Mesh:
    """One probe connection per node URL. Use as a context manager."""

    def __init__(self, urls: list[str], run_id: str | None = None):
        self.urls = list(urls)
        self.run_id = run_id or secrets.token_hex(4)
        self.conns: list[ProbeConn] = []
        self._seq = 0
        try:
            for i, url in enumerate(self.urls):
                c = ProbeConn(url, name=f"zats-bench-probe-{i}")
                c.flush(b"SUB %s 1\r\n" % self._subject(i, None))
                self.conns.append(c)
        except BaseException:
            self.close()
            raise

    def _subject(self, to: int, frm: int | None, token: str = "") -> bytes:
        if frm is None:
            return f"_ZB.{self.run_id}.{to}.>".encode()
        return f"_ZB.{self.run_id}.{to}.{frm}.{token}".encode()

    def _pairs(self) -> list[tuple[int, int]]:
        n = len(self.conns)
        return [(a, b) for a in range(n) for b in range(n) if a != b]

    def _send(self, pairs, token: str) -> None:
        by_sender: dict[int, list[bytes]] = {}
        for a, b in pairs:
            by_sender.setdefault(a, []).append(b"PUB %s 0\r\n\r\n" % self._subject(b, a, token))
        for a, frames in by_sender.items():
            self.conns[a].flush(b"".join(frames))

    def _arrived(self, b: int, a: int, tokens) -> bool:
        prefix = f"_ZB.{self.run_id}.{b}.{a}.".encode()
        return any(s.startswith(prefix) and s[len(prefix):].decode() in tokens
                   for s in self.conns[b].subjects)

    def wait_interest(self, timeout: float = 10.0) -> float:
        """Publishes on every node to every other node's probe until each arrives (re-sending
        what a node dropped for want of interest); returns the seconds it took. Raises
        TimeoutError when some pair never connects."""
        t0 = time.monotonic()
        pending = self._pairs()
        tokens: set[str] = set()
        pause = 0.005
        while pending:
            self._seq += 1
            token = f"i{self._seq}"
            tokens.add(token)
            self._send(pending, token)
            for c in self.conns:
                c.read(pause)
            pending = [(a, b) for a, b in pending if not self._arrived(b, a, tokens)]
            if pending and time.monotonic() - t0 > timeout:
                raise TimeoutError(f"interest not propagated after {timeout:g}s between "
                                   + ", ".join(f"node {a} -> node {b}" for a, b in pending))
            pause = min(pause * 2, 0.1)
        for c in self.conns:
            c.subjects.clear()
        return time.monotonic() - t0

    def flush_routes(self, timeout: float = 30.0) -> float:
        """After it returns, every message any node routed to another before the call has been
        processed by the receiving node. Returns the seconds it took."""
        t0 = time.monotonic()
        self._seq += 1
        token = f"f{self._seq}"
        pending = self._pairs()
        self._send(pending, token)
        while pending:
            for c in self.conns:
                c.read(0.002)
            pending = [(a, b) for a, b in pending if not self._arrived(b, a, (token,))]
            if pending and time.monotonic() - t0 > timeout:
                raise TimeoutError(f"routes not drained after {timeout:g}s: "
                                   + ", ".join(f"node {a} -> node {b}" for a, b in pending))
        for c in self.conns:
            c.subjects.clear()
        return time.monotonic() - t0

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.conns = []

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
