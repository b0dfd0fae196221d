"""Hostile probes: signals under load. A publisher keeps publishing (each batch confirmed by its
PONG) to a subscriber that keeps reading, a bystander pings, and the server gets SIGHUP
(reload), SIGUSR1 (reopen the log file) or SIGTERM. Against zats and nats-server configured
alike: the bystander keeps its latency and messages until shutdown, memory stays bounded, and no
confirmed message is lost, not even the ones queued when SIGTERM arrives."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

from support.hostile import MemoryWatch, Pinger
from support.servers import write_config
from support.wire import Wire

PAYLOAD = b"x" * 100
FRAME = b"MSG load 1 100\r\n" + PAYLOAD + b"\r\n"
BATCH = 200


class Load:
    """A subscriber reading in one thread and a publisher in another, publishing batches of
    BATCH messages each followed by PING: `confirmed` counts the messages of batches whose PONG
    came back (the server has them), `sent` every message written."""

    def __init__(self, host: str, port: int, read_pause: float = 0.0, read_size: int = 65536):
        self.read_pause, self.read_size = read_pause, read_size
        self.sub = Wire(host, port, timeout=20)
        self.sub.connect()
        self.sub.send(b"SUB load 1\r\nPING\r\n")
        self.sub.expect(rb"PONG\r\n")
        self.pub = Wire(host, port, timeout=20)
        self.pub.connect()
        self.sent = self.confirmed = 0
        self.received = b""
        self._stop = threading.Event()
        self.reading = threading.Event()  # cleared: the subscriber stops reading for a while
        self.reading.set()
        self._threads = [threading.Thread(target=self._publish, daemon=True),
                         threading.Thread(target=self._read, daemon=True)]

    def _publish(self) -> None:
        batch = (b"PUB load 100\r\n" + PAYLOAD + b"\r\n") * BATCH + b"PING\r\n"
        try:
            while not self._stop.is_set():
                self.pub.send(batch)
                self.sent += BATCH
                self.pub.expect(rb"PONG\r\n")
                self.confirmed += BATCH
                time.sleep(0.005)
        except (OSError, AssertionError):
            pass  # the server went away: what was confirmed is counted

    def _read(self) -> None:
        chunks = [self.sub.buf]
        sock = self.sub.sock
        sock.settimeout(30)
        try:
            while True:
                self.reading.wait()
                chunk = sock.recv(self.read_size)
                if not chunk:
                    break
                chunks.append(chunk)
                if self.read_pause:
                    time.sleep(self.read_pause)
        except OSError:
            pass
        self.received = b"".join(chunks)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.pub.close()
        self.sub.close()

    def wait_for(self, messages: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.confirmed < messages and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.confirmed >= messages, f"only {self.confirmed} messages confirmed"

    def finish(self) -> None:
        """Stops publishing; the subscriber reads until the server closes its connection."""
        self._stop.set()
        self.reading.set()
        self._threads[0].join(20)
        self._threads[1].join(30)

    def assert_nothing_confirmed_lost(self) -> None:
        got = self.received.count(FRAME)
        assert got >= self.confirmed, f"{self.confirmed - got} confirmed messages lost"
        assert got <= self.sent


def test_reload_under_load(kind, spawn, tmp_path):
    path = write_config(tmp_path, "max_payload: 2048\n")
    srv = spawn(kind, "-c", path)
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as pinger, \
            Load(srv.host, srv.port) as load:
        load.wait_for(BATCH)
        for i in range(10):
            write_config(tmp_path, f"max_payload: {2048 + i}\n")
            os.kill(srv.proc.pid, signal.SIGHUP)
            load.wait_for(load.confirmed + BATCH)
        pinger.assert_unharmed()
        memory.assert_bounded()
        srv.proc.send_signal(signal.SIGTERM)
        load.finish()
        assert srv.proc.wait(20) == 0
        load.assert_nothing_confirmed_lost()
    assert "Reloaded server configuration" in srv.stderr_text()


def test_log_reopen_under_load(kind, spawn, tmp_path):
    log = tmp_path / "server.log"
    srv = spawn(kind, "-l", str(log))
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as pinger, \
            Load(srv.host, srv.port) as load:
        load.wait_for(BATCH)
        for i in range(10):
            os.rename(log, tmp_path / f"server.log.{i}")  # as logrotate does
            os.kill(srv.proc.pid, signal.SIGUSR1)
            deadline = time.monotonic() + 5
            while not log.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert log.exists(), "the log file was not reopened"
            load.wait_for(load.confirmed + BATCH)
        pinger.assert_unharmed()
        memory.assert_bounded()
        srv.proc.send_signal(signal.SIGTERM)
        load.finish()
        assert srv.proc.wait(20) == 0
        load.assert_nothing_confirmed_lost()
    deadline = time.monotonic() + 5
    while "File log re-opened" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "File log re-opened" in log.read_text()


def test_shutdown_under_load_loses_nothing_confirmed(kind, spawn):
    srv = spawn(kind)
    with MemoryWatch(srv.proc.pid) as memory, Pinger(srv.host, srv.port) as pinger, \
            Load(srv.host, srv.port, read_pause=0.01) as load:
        load.sub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        load.wait_for(10 * BATCH)
        # The subscriber stops reading (a pause, a busy consumer) while the publisher goes on:
        # megabytes are queued for it at SIGTERM, and it reads them slowly after.
        load.reading.clear()
        load.wait_for(load.confirmed + 200 * BATCH)
        pinger.assert_unharmed()  # until shutdown
        memory.assert_bounded()
        srv.proc.send_signal(signal.SIGTERM)
        load.finish()
        assert srv.proc.wait(20) == 0
        load.assert_nothing_confirmed_lost()
