"""The JavaScript side of the WebSocket tests: tests/js (package.json + package-lock.json pin
nats.ws) installed with `npm ci`, once per lockfile, and node scripts run from there.

`npm ci` runs under a file lock (xdist workers share the directory) and is skipped when
node_modules was installed from the same package-lock.json (a stamp holds its hash). Without
npm or node the tests skip, except under CI where they fail: .ci/run installs them."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parent.parent / "js"
NODE_MODULES = JS_DIR / "node_modules"
_STAMP = NODE_MODULES / ".zats-lock-sha256"


def _missing(what: str) -> None:
    reason = f"{what} is missing: apt-get install -y nodejs npm (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def install_js_modules() -> Path:
    """tests/js/node_modules as package-lock.json pins it; runs `npm ci` when needed."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            _missing(tool)
    digest = hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()
    with open(JS_DIR / ".npm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (_STAMP.exists() and _STAMP.read_text() == digest):
            done = subprocess.run(
                ["npm", "ci", "--prefix", str(JS_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
                capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                pytest.fail(f"npm ci in {JS_DIR} failed:\n{done.stdout}\n{done.stderr}")
            _STAMP.write_text(digest)
    return NODE_MODULES


@pytest.fixture(scope="session")
def js_modules() -> Path:
    """tests/js/node_modules, installed (see the module docstring)."""
    return install_js_modules()


def node_command(script: str, *args: str) -> list[str]:
    """The command running tests/js/`script` in node with the WebSocket global (node 20 has it
    behind a flag; node 22 and later by default, where the flag is still accepted)."""
    return [shutil.which("node") or "node", "--experimental-websocket", str(JS_DIR / script), *args]
