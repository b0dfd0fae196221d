"""Running the `zats` command line client in tests: one-shot commands, long-running ones (sub,
reply) in the background, the environment of a user with nothing saved, and the shape every
error must have (one `zats: error:` line, a non-zero status, no traceback); for the JetStream
commands, a server of each kind with JetStream (`js_srv`, module-scoped) and `run`, a command
against it."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time

import pytest

from .servers import KINDS, start_server

ZATS = [sys.executable, "-m", "zats.cli"]


def clean_env(tmp_path) -> dict:
    """The environment of a user with no saved contexts and no NATS_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "ZATS_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return env


def zats(*args: str, env: dict, input: str | None = None, timeout: float = 15,
         cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*ZATS, *args], capture_output=True, text=True, env=env,
                          input=input if input is not None else "", timeout=timeout, cwd=cwd)


class Background:
    """A long-running `zats` command (sub, reply), started and waited for until its status line
    shows that it listens."""

    def __init__(self, *args: str, env: dict, ready: str | None):
        self.proc = subprocess.Popen([*ZATS, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.err_lines: list[str] = []
        if ready is None:  # a command that prints no status line: give it time to subscribe
            time.sleep(0.8)
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.err_lines.append(line)
            if ready in line:
                return
        self.proc.kill()
        raise AssertionError(f"never ready: {''.join(self.err_lines)}{self.proc.stderr.read()}")

    def finish(self, timeout: float = 10) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, "".join(self.err_lines) + err

    def stop(self) -> tuple[int, str, str]:
        self.proc.terminate()
        return self.finish()


def assert_one_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert lines and lines[-1].startswith("zats: error: "), result.stderr
    assert [line for line in lines if line.startswith("zats: error")] == [lines[-1]]
    for word in words:
        assert word in lines[-1], lines[-1]




@pytest.fixture(scope="module", params=KINDS)
def js_srv(request, tmp_path_factory):
    srv = start_server(request.param, "-js", "-sd", str(tmp_path_factory.mktemp(f"store-{request.param}")))
    yield srv
    srv.stop()


@pytest.fixture
def run(js_srv, tmp_path):
    """`run(*args, input=None, cwd=None)`: a zats command against `js_srv`."""
    env = clean_env(tmp_path)
    env["NATS_URL"] = js_srv.url

    def _run(*args: str, input: str | None = None, cwd=None):
        return zats(*args, env=env, input=input, cwd=cwd)

    _run.env = env
    return _run


def ok(result) -> str:
    """The stdout of a command that must succeed."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def labels(text: str) -> dict[str, str]:
    """The `Label: value` lines of an info display."""
    pairs = (line.strip().split(": ", 1) for line in text.splitlines() if ": " in line)
    return {k: v for k, v in pairs}
