"""Running the `zats` command line client in tests: one-shot commands, long-running ones (sub,
reply) in the background, the environment of a user with nothing saved, and the shape every
error must have (one `zats: error:` line, a non-zero status, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

ZATS = [sys.executable, "-m", "zats.cli"]


def clean_env(tmp_path) -> dict:
    """The environment of a user with no saved contexts and no NATS_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "ZATS_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return env


def zats(*args: str, env: dict, input: str | None = None, timeout: float = 15) -> subprocess.CompletedProcess:
    return subprocess.run([*ZATS, *args], capture_output=True, text=True, env=env,
                          input=input if input is not None else "", timeout=timeout)


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


