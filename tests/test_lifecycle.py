"""Signals and lifecycle observed from connected clients, against zats and the real nats-server
run alike: configuration reload (SIGHUP and `--signal reload`), a bad file on reload, and lame
duck mode (SIGUSR2 and `--signal ldm`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

import nats
import pytest

from support.servers import nats_server_binary, write_config
from support.wire import Wire


def signal_command(kind: str, name: str, pid: int) -> list[str]:
    """The kind's own `--signal NAME=PID` command line."""
    exe = [sys.executable, "-m", "zats.broker"] if kind == "zats" else [nats_server_binary()]
    return exe + ["--signal", f"{name}={pid}"]


async def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


USERS = 'authorization {{ users: [ {{user: {user}, password: {password}}} ] }}\nmax_payload: {max_payload}\n'


@pytest.mark.parametrize("how", ["SIGHUP", "--signal"])
async def test_reload_applies_auth_and_limits_and_closes_unauthorised(kind, spawn, tmp_path, how):
    path = write_config(tmp_path, USERS.format(user="alice", password="one", max_payload=2048))
    srv = spawn(kind, "-c", path)
    closed = asyncio.Event()

    async def on_closed():
        closed.set()

    errors = []

    async def on_error(e):
        errors.append(str(e))

    alice = await nats.connect(srv.url, user="alice", password="one", allow_reconnect=False,
                               closed_cb=on_closed, error_cb=on_error)
    assert alice.max_payload == 2048
    write_config(tmp_path, USERS.format(user="bob", password="two", max_payload=4096))
    if how == "SIGHUP":
        os.kill(srv.proc.pid, signal.SIGHUP)
    else:
        subprocess.run(signal_command(kind, "reload", srv.proc.pid), check=True, timeout=10)
    await asyncio.wait_for(closed.wait(), 5)  # alice no longer authorises: closed, no -ERR
    assert not any("Authorization Violation" in e for e in errors)
    bob = await nats.connect(srv.url, user="bob", password="two", allow_reconnect=False)
    assert bob.max_payload == 4096
    sub = await bob.subscribe("after.reload")
    await bob.publish("after.reload", b"ok")
    assert (await sub.next_msg(timeout=2)).data == b"ok"
    await bob.close()
    with pytest.raises((nats.errors.Error, OSError)):
        await nats.connect(srv.url, user="alice", password="one", allow_reconnect=False,
                           max_reconnect_attempts=0, connect_timeout=2)


@pytest.mark.parametrize("bad", ["max_payload: {{{ broken\n", "x {" * 3000 + "}" * 3000 + "\n"],
                         ids=["broken", "nested-3000-deep"])
async def test_bad_file_on_reload_keeps_the_running_configuration(kind, spawn, tmp_path, bad):
    path = write_config(tmp_path, "max_payload: 2048\n")
    srv = spawn(kind, "-c", path)
    nc = await nats.connect(srv.url, allow_reconnect=False)
    write_config(tmp_path, bad)
    os.kill(srv.proc.pid, signal.SIGHUP)
    for _ in range(500):  # both servers log the refused reload
        if "Failed to reload server configuration" in srv.stderr_text():
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("reload not attempted")
    assert srv.proc.poll() is None and "Traceback" not in srv.stderr_text()
    sub = await nc.subscribe("still.up")
    await nc.publish("still.up", b"yes")
    assert (await sub.next_msg(timeout=2)).data == b"yes"
    with Wire(srv.host, srv.port) as w:
        assert json.loads(w.read_info()[5:])["max_payload"] == 2048
    await nc.close()


LAME_DUCK = 'lame_duck_grace_period: "500ms"\nlame_duck_duration: "30s"\n'


@pytest.mark.parametrize("how", ["SIGUSR2", "--signal"])
async def test_lame_duck_mode_is_announced_then_clients_closed(kind, spawn, tmp_path, how):
    srv = spawn(kind, "-c", write_config(tmp_path, LAME_DUCK))
    lame_duck, disconnected = asyncio.Event(), asyncio.Event()

    async def on_lame_duck():
        lame_duck.set()

    async def on_disconnected():
        disconnected.set()

    nc = await nats.connect(srv.url, allow_reconnect=False, lame_duck_mode_cb=on_lame_duck,
                            disconnected_cb=on_disconnected)
    if how == "SIGUSR2":
        os.kill(srv.proc.pid, signal.SIGUSR2)
    else:
        subprocess.run(signal_command(kind, "ldm", srv.proc.pid), check=True, timeout=10)
    await asyncio.wait_for(lame_duck.wait(), 5)  # the INFO with "ldm": true
    # New clients are refused while the server is in lame duck mode.
    with pytest.raises(OSError):
        for _ in range(50):
            Wire(srv.host, srv.port, timeout=0.5).close()
            await asyncio.sleep(0.02)
    await asyncio.wait_for(disconnected.wait(), 10)  # closed after the grace period
    assert srv.proc.wait(10) == 0  # and the server exits
    await nc.close()


def test_signal_to_a_pid_file(tmp_path):
    pid_file = tmp_path / "zats.pid"
    proc = subprocess.Popen([sys.executable, "-m", "zats.broker", "-a", "127.0.0.1", "-p", "-1",
                             "-P", str(pid_file)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        result = subprocess.run([sys.executable, "-m", "zats.broker", "--signal",
                                 f"quit={pid_file}"], capture_output=True, text=True, timeout=10)
        assert result.returncode == 0, result.stderr
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_signal_without_a_broker_fails_cleanly():
    result = subprocess.run([sys.executable, "-m", "zats.broker", "--signal", "reload=999999"],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 1 and "No such process" in result.stderr


def _read_until_closed(sock, pause: float, limit: float = 30.0) -> bytes:
    """Everything a socket receives until the server closes it, read in small pieces with a
    pause between them (a subscriber slower than the publisher)."""
    chunks = []
    deadline = time.monotonic() + limit
    sock.settimeout(limit)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(32768)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
        time.sleep(pause)
    return b"".join(chunks)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_flushes_acknowledged_messages_to_a_slow_subscriber(kind, spawn, sig):
    """A publisher's PONG says the server has its messages; a subscriber that reads slower than
    they came still gets every one of them when the server is stopped (nats-server flushes each
    connection before it closes it, bounded by the write deadline)."""
    srv = spawn(kind)
    count, payload = 4000, b"x" * 1000
    frame = b"MSG sig.flush 1 1000\r\n" + payload + b"\r\n"
    sub = Wire(srv.host, srv.port)
    # 64 KiB, not less: with a receive window below loopback's 64 KiB MSS, once the server has
    # exited the kernel sends what it still holds one 200 ms window probe at a time (~27 s here)
    sub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sub.connect()
    sub.send(b"SUB sig.flush 1\r\nPING\r\n")
    sub.expect(rb"PONG\r\n")
    with Wire(srv.host, srv.port, timeout=20) as pub:
        pub.connect()
        pub.send(b"PUB sig.flush 1000\r\n" + payload + b"\r\n")
        pub.send((b"PUB sig.flush 1000\r\n" + payload + b"\r\n") * (count - 1) + b"PING\r\n")
        pub.expect(rb"PONG\r\n")  # every message is the server's now
        srv.proc.send_signal(sig)
        received = sub.buf + _read_until_closed(sub.sock, pause=0.002)
    sub.close()
    assert srv.proc.wait(20) == 0
    assert received.count(frame) == count, f"{count - received.count(frame)} messages lost"


def test_shutdown_flush_is_bounded_by_the_write_deadline(kind, spawn, tmp_path):
    """A subscriber that never reads does not hold the server up past its write deadline, and
    the log says it was a slow consumer."""
    srv = spawn(kind, "-c", write_config(tmp_path, 'write_deadline: "1s"\n'))
    sub = Wire(srv.host, srv.port)
    sub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sub.connect()
    sub.send(b"SUB sig.stuck 1\r\nPING\r\n")
    sub.expect(rb"PONG\r\n")
    with Wire(srv.host, srv.port, timeout=20) as pub:
        pub.connect()
        pub.send((b"PUB sig.stuck 1000\r\n" + b"x" * 1000 + b"\r\n") * 20000 + b"PING\r\n")
        pub.expect(rb"PONG\r\n")
        start = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(20) == 0
    took = time.monotonic() - start
    sub.close()
    assert took < 6, f"shutdown took {took:.1f}s with a write deadline of 1s"
    assert "Slow Consumer Detected" in srv.stderr_text()
