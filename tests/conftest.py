"""Shared fixtures: a running broker of each kind ("zats" and the real "nats-server"), so that
every conformance and interop test states nats-server's behaviour and checks ours against it."""

from __future__ import annotations

import os

import pytest

from support.servers import KINDS, ServerProcess, start_server
from zats.bench import ports


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: three workers for every two CPUs, at least three. Most tests spend their time
    waiting for servers in other processes and for sockets, so one worker per CPU leaves the
    machine half idle (the whole suite on 2 CPUs: 495 s with two workers, 328 s with three)."""
    return max(3, (3 * len(os.sched_getaffinity(0)) + 1) // 2)


def pytest_configure(config) -> None:
    """Each xdist worker picks its servers' ports from its own share of the range: two workers
    could otherwise check the same free port at once, and the second server would not start."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
    if worker.startswith("gw"):
        ports.share(int(worker[2:]), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))


@pytest.fixture(scope="session", params=KINDS)
def server(request) -> ServerProcess:
    """One long-lived server per kind, shared by tests that do not change its configuration."""
    srv = start_server(request.param)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def zats_server() -> ServerProcess:
    srv = start_server("zats")
    yield srv
    srv.stop()


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    """The kind of server, for tests that start their own with particular flags."""
    return request.param


@pytest.fixture
def spawn():
    """Factory: spawn(kind, *flags, http_port=None) starts a server stopped at teardown. Each
    server's log is printed then, which pytest shows only when the test failed."""
    started: list[ServerProcess] = []

    def _spawn(kind: str, *args: str, **kw) -> ServerProcess:
        srv = start_server(kind, *args, **kw)
        started.append(srv)
        return srv

    yield _spawn
    for srv in started:
        srv.stop()
        print(f"--- log of {srv.kind} on port {srv.port} ---\n{srv.stderr_text()[-6000:]}")
