"""What every hostile probe checks besides the offender's own answer: that a bystander on another
connection keeps its messages and its responsiveness, and that the server's memory stays bounded.

A probe starts a server (zats or nats-server, configured alike), opens a `Bystander`, attacks,
and then asserts with `bystander.check()` and `MemoryWatch.assert_bounded()`. The stall limit is
not a speed target: it catches a blocked event loop (a probe that would block it does so for
seconds), and holds on a busy, shared machine.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time

from support.wire import Wire

# A round trip slower than this means the server's loop was blocked, not merely busy.
STALL_LIMIT = 2.0
# Memory a probe may add to the server, unless it names its own bound.
MEMORY_SLACK_KIB = 64 * 1024

_names = itertools.count()


class Bystander:
    """An innocent client: subscribed to a subject of its own, it publishes to it and reads the
    messages back, so a check proves delivery with nothing lost or reordered."""

    def __init__(self, host: str, port: int, connect: bytes = b'{"verbose":false,"pedantic":false}'):
        self.subject = b"bystander.%d.%d" % (os.getpid(), next(_names))
        self.wire = Wire(host, port, timeout=10.0)
        self.wire.connect(connect)
        self.wire.send(b"SUB " + self.subject + b" 1\r\nPING\r\n")
        self.wire.expect(rb"PONG\r\n")
        self.sent = 0
        self.worst_rtt = 0.0
        self._lock = threading.Lock()  # a Pinger's thread and the probe may both use it

    def _expect(self, pattern: bytes) -> None:
        """Waits for `pattern`, answering the server's keepalive PINGs that come before it."""
        m = self.wire.expect(rb"(?P<pings>(?:PING\r\n)*)" + pattern)
        pings = m.group("pings").count(b"PING")
        if pings:
            self.wire.send(b"PONG\r\n" * pings)

    def round_trip(self) -> float:
        """Seconds for a PING to come back as PONG; records the worst seen."""
        with self._lock:
            start = time.monotonic()
            self.wire.send(b"PING\r\n")
            self._expect(rb"PONG\r\n")
            rtt = time.monotonic() - start
        self.worst_rtt = max(self.worst_rtt, rtt)
        return rtt

    def check(self, messages: int = 20) -> None:
        """Publishes `messages` to itself and expects every one back in order, then asserts that
        no round trip (this one or any before) stalled."""
        with self._lock:
            self._check(messages)

    def _check(self, messages: int) -> None:
        start = self.sent
        frames = b"".join(b"PUB %s %d\r\n%d\r\n" % (self.subject, len(b"%d" % i), i)
                          for i in range(start, start + messages))
        self.sent += messages
        begin = time.monotonic()
        self.wire.send(frames + b"PING\r\n")
        for i in range(start, start + messages):
            body = b"%d" % i
            self._expect(re.escape(b"MSG %s 1 %d\r\n%s\r\n" % (self.subject, len(body), body)))
        self._expect(rb"PONG\r\n")
        self.worst_rtt = max(self.worst_rtt, time.monotonic() - begin)
        assert self.worst_rtt < STALL_LIMIT, f"bystander stalled for {self.worst_rtt:.2f}s"

    def close(self) -> None:
        self.wire.close()

    def __enter__(self) -> Bystander:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Pinger:
    """A bystander's round trips measured in a background thread while a probe runs, so a loop
    blocked in the middle of an attack is seen even when it has recovered by the end."""

    def __init__(self, host: str, port: int, interval: float = 0.01,
                 connect: bytes = b'{"verbose":false,"pedantic":false}'):
        self.bystander = Bystander(host, port, connect)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None
        self.rounds = 0

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.bystander.round_trip()
                self.rounds += 1
                self._stop.wait(self.interval)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def __enter__(self) -> Pinger:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def assert_unharmed(self) -> None:
        """After the attack: the bystander never stalled, and still gets its own messages."""
        self._stop.set()
        self._thread.join(30)
        if self.error is not None:
            raise AssertionError(f"bystander failed during the probe: {self.error!r}")
        self.bystander.check()
        self.bystander.close()


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class MemoryWatch:
    """The server's resident memory before a probe and its peak while the probe runs, sampled
    in a background thread (a declared size allocated at once shows even if it is freed)."""

    def __init__(self, pid: int, interval: float = 0.005):
        self.pid = pid
        self.before = rss_kib(pid)
        self.peak = self.before
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except (OSError, RuntimeError):
                return  # the process is gone; the probe will say why
            self._stop.wait(self.interval)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def assert_bounded(self, slack_kib: int = MEMORY_SLACK_KIB) -> None:
        self._stop.set()
        self._thread.join(5)
        grown = self.peak - self.before
        assert grown <= slack_kib, f"server memory grew by {grown} KiB (limit {slack_kib} KiB)"


class FanOutCrowd:
    """Connections that each subscribe `subs_each` times to `fan.*` and count, in a reader
    thread each, the MSG frames they receive: a fan-out bomb's receivers. `wait(expected)` waits
    until every connection has `expected` messages (or a minute passed) and returns the counts."""

    def __init__(self, host: str, port: int, connections: int, subs_each: int):
        import socket

        self.counts = [0] * connections
        self.socks = []
        for i in range(connections):
            s = socket.create_connection((host, port))
            self.socks.append(s)
            s.recv(4096)
            s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n' +
                      b"".join(b"SUB fan.* %d\r\n" % n for n in range(subs_each)) + b"PING\r\n")
            got = b""
            while b"PONG\r\n" not in got:
                got += s.recv(65536)
            threading.Thread(target=self._drain, args=(s, i), daemon=True).start()

    def _drain(self, sock, index: int) -> None:
        """Reads until EOF, counting the MSG frames that arrive."""
        tail = b""
        try:
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    return
                data = tail + chunk
                self.counts[index] += data.count(b"MSG fan.")
                tail = data[-7:]  # a frame head split across reads is counted once, with its end
                self.counts[index] -= tail.count(b"MSG fan.")
        except OSError:
            return

    def wait(self, expected: int) -> list[int]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.counts != [expected] * len(self.counts):
            time.sleep(0.05)
        return self.counts

    def __enter__(self) -> FanOutCrowd:
        return self

    def __exit__(self, *exc) -> None:
        for s in self.socks:
            s.close()
