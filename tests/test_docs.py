"""The README's and docs/*.md's code blocks, checked the way a new user would use them: copied
into a shell, a file or a Python script, in order, in a fresh directory.

Every fenced block of each file has an entry in BLOCKS, in the file's order: the start of its
first line (so that a block added, moved or changed shows up here) and what is done with it:

- PYTHON: run as a script; it must exit 0. PYTEST: saved as a test file and run by pytest (with
  the plugins installed here, the zats plugin among them); every test must pass. `PYTHON_WITH_BROKER`: a zats broker is started first
  on the port the snippet connects to.
- SERVE: long-running shell commands (servers started with `&`): the block runs in bash, every
  client port it names must start listening, and its servers stay up for the blocks after it,
  until the next SERVE (or the end of the file) stops them.
- EACH_SERVES: each line is one long-running command: it must start (log "Server is ready") and
  stop cleanly on SIGTERM.
- RUN: a shell block that runs to completion: exit 0, its output holding `expect`.
  SERVE_AND_RUN: the same for a block that also starts servers in the background: the servers
  of earlier blocks are stopped first, and its own stay up until the next SERVE.
- CONFIG: a configuration file: `zats-server -t` must accept it (and nats-server's `-t` too,
  the files being meant for both). A block whose first line is `# NAME.conf` is saved as NAME.conf
  for the blocks after it.
- SIGNAL: `zats-server --signal` against a broker started with the PID file the block names.
- SKIP: with the reason (an install step, a Docker engine, a benchmark of minutes, not code).

Ports are those of the docs moved by one offset, so that the checks do not collide with
anything else on the machine (arithmetic like `$((4222+i))` moves with them); TLS blocks find
test certificates under the names they use.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.servers import nats_server_binary, wait_for_port
from zats.bench.ports import PORT_RANGE

ROOT = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent)  # zats-server and python of this environment
DOC_PORTS = (4222, 4223, 4224, 6222, 6223, 6224, 7422, 8080, 8222, 8223, 8224)  # 8080: websocket
_PORT = re.compile(r"(?<!\d)(" + "|".join(map(str, DOC_PORTS)) + r")(?!\d)")
CPUS = len(os.sched_getaffinity(0))  # what `nproc` says
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


@dataclass(frozen=True)
class Check:
    action: str
    note: str = ""  # SKIP: why; RUN: text the output must hold


PYTHON, PYTHON_WITH_BROKER, PYTEST = Check("python"), Check("python with broker"), Check("pytest")
SERVE, EACH_SERVES, CONFIG, SIGNAL = Check("serve"), Check("each serves"), Check("config"), Check("signal")


def RUN(expect: str = "") -> Check:
    return Check("run", expect)


def SERVE_AND_RUN(expect: str = "") -> Check:
    return Check("serve and run", expect)


def SKIP(reason: str) -> Check:
    return Check("skip", reason)


BLOCKS = {
    "README.md": [
        ("pip install . && zats-server", SKIP("an install step; the commands below run zats-server")),
        ("pip install -e '.[test]' && pytest -n auto", SKIP("the test suite itself")),
        ("zats-server -a 127.0.0.1 -p 4222 -m 8222", EACH_SERVES),
        ("zats-server --version", RUN("uncompiled (ZATS_PURE=1)")),
        ("listen: 127.0.0.1:4222", CONFIG),
        ("accounts {", CONFIG),
        ("zats-server --tls --tlscert", EACH_SERVES),
        ("# ws.conf\nport: 4224", CONFIG),
        ("zats-server -c ws.conf -p 4224 &", SERVE),
        ("import asyncio\n\nimport nats\n\n\nasync def main():\n    nc = await nats.connect(\"ws://", PYTHON),
        ("zats-server --signal reload=", SIGNAL),
        ("docker build", SKIP("needs a Docker engine; tests/test_docker.py runs the image's "
                              "command and the compose services' commands")),
        ("zats-server -p 4222 -m 8222 &", SERVE_AND_RUN("gnatsd_varz_connections{server_id=")),
        ("# prometheus.yml", SKIP("a Prometheus server's configuration; tests/test_metrics.py "
                                 "scrapes /metrics")),
        ("import asyncio", PYTHON),
        ("jetstream {", CONFIG),
        ("ROUTES=nats://127.0.0.1:6222", SERVE),
        ("import asyncio\nimport msgspec", PYTHON_WITH_BROKER),
        ("# ws.conf", CONFIG),
        ("zats-server -a 127.0.0.1 -p 4222 -c ws.conf &", SERVE),
        ("import asyncio\nimport zats.client\n", PYTHON),
        ("import nats\nimport pytest\n\n\n@pytest.mark.asyncio", PYTEST),
        ("import asyncio\nimport ssl\n\nimport nats\nimport pytest", PYTEST),
        ("import asyncio\n\nimport nats\nfrom zats.testing import", PYTHON),
        ("export NATS_URL=nats://127.0.0.1:4222", RUN("hi joe\n")),
        ("zats context add local", RUN("local*")),
        ("# sys.conf", CONFIG),
        ("zats-server -c sys.conf", SERVE),
        ("zats server ping", RUN("---- ping statistics ----")),
        ("eval \"$(zats completion bash)\"", RUN()),
        ("zats-server -js -sd", SERVE_AND_RUN("stream not found (10059)")),
        ("export NATS_URL=nats://127.0.0.1:4222\nzats kv add CONFIG", RUN("wrong last sequence: 3 (10071)")),
        ("protocol/    zats.protocol", SKIP("the layout of the repository, not code")),
    ],
    "client/README.md": [
        ("import asyncio\nimport msgspec\nimport zats.client", PYTHON_WITH_BROKER),
        ("zats-server -a 127.0.0.1 -p 4222 -js -sd js-store &", SERVE),
        ("import asyncio\nimport zats.client\nfrom zats.client.jetstream import", PYTHON),
        ("import asyncio\nimport msgspec\nimport zats.client\nfrom zats.client.jetstream import kv", PYTHON),
        ("import asyncio\nimport io\nimport zats.client\nfrom zats.client.jetstream import object_store", PYTHON),
        ("import asyncio\nimport zats.client\nfrom zats.client import micro", PYTHON),
        ("scenario ", SKIP("a benchmark's output; benchmarks/bench_client.py makes it")),
        ("scenario ", SKIP("a benchmark's output; benchmarks/bench_client.py makes it")),
    ],
    "docs/clustering.md": [
        ("ROUTES=nats://127.0.0.1:6222", SERVE),
        ("until curl -s http://127.0.0.1:8222/routez", RUN('"num_routes": 2')),
        ("import asyncio, nats\n\nasync def main():\n    a = ", PYTHON),
        ("zats-server -p 4222 --cluster", SERVE),
        ("N=$(nproc)", SERVE_AND_RUN(f'"num_routes": {CPUS - 1}')),
        ("zats-bench scale", SKIP("benchmark runs of minutes; tests/test_bench_scale.py covers "
                                  "the command")),
        ("cluster {", CONFIG),
        ("# hub.conf", CONFIG),
        ("# leaf.conf", CONFIG),
        ("python -m zats.broker -c hub.conf &", SERVE),
        ("import asyncio, nats\n\nasync def main():\n    leaf = ", PYTHON),
    ],
    "docs/architecture.md": [
        (" socket ──recv_into──▶ ReceiveBuffer", SKIP("a diagram, not code")),
        ("   bytes in ", SKIP("a diagram, not code")),
    ],
}


def blocks(name: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced block of a Markdown file."""
    return _FENCE.findall((ROOT / name).read_text())


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_offset() -> int:
    """An offset that moves every port of the docs (and the next few, for `$((4222+i))`) onto
    free ports below the ones free_port hands out (other tests' servers), which lie below the
    ephemeral range."""
    span = max(CPUS, 3)
    top = min(PORT_RANGE.start, 32768) if PORT_RANGE else 32768
    for _ in range(200):
        offset = random.randrange(5000, max(top - 8224 - span, 5001))
        if all(_free(base + offset + i) for base in (4222, 6222, 7422, 8080, 8222) for i in range(span)):
            return offset
    raise RuntimeError("no free port range")


class Session:
    """One Markdown file followed in a fresh directory: the servers its blocks leave running,
    the files they name, and the port offset."""

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.offset = _port_offset()
        # zats contexts the blocks save stay in the fresh directory, not the user's ~/.config
        self.env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
                    "XDG_CONFIG_HOME": str(workdir / "config")}
        self.group: subprocess.Popen | None = None
        self.logs = 0
        self._certificates()

    def ports(self, text: str) -> str:
        return _PORT.sub(lambda m: str(int(m.group(1)) + self.offset), text)

    def port(self, doc_port: int) -> int:
        return doc_port + self.offset

    def _certificates(self) -> None:
        trustme = pytest.importorskip("trustme")
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_and_cert_chain_pem.write_to_path(str(self.dir / "server.pem"))
        cert.private_key_pem.write_to_path(str(self.dir / "server-key.pem"))
        ca.cert_pem.write_to_path(str(self.dir / "ca.pem"))

    def _log(self) -> Path:
        self.logs += 1
        return self.dir / f"block{self.logs}.log"

    def start(self, command: list[str]) -> tuple[subprocess.Popen, Path]:
        log = self._log()
        with open(log, "w") as out:
            proc = subprocess.Popen(command, cwd=self.dir, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        return proc, log

    def stop_group(self) -> None:
        """Stops the servers of the last SERVE block: its shell's process group (which outlives
        the shell itself when the block ended with servers in the background)."""
        if self.group is None:
            return
        try:
            os.killpg(self.group.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.group.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.group.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the servers have gone when their group is empty
            try:
                os.killpg(self.group.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.group = None

    def stop_all(self) -> None:
        """Ends every process the blocks started (each block's shell leads its own session)."""
        self.stop_group()
        for proc in getattr(self, "_started", []):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _client_ports(session: Session, text: str) -> list[int]:
    return sorted({session.port(int(p)) for p in _PORT.findall(text) if int(p) in (4222, 4223, 4224, 8080)})


def _config_client_ports(session: Session, text: str) -> list[int]:
    """Client ports (websocket listeners among them) in the config files `text` starts servers
    with (`-c NAME.conf`, saved by a CONFIG block with its ports already moved)."""
    wanted = {session.port(p) for p in (4222, 4223, 4224, 8080)}
    found: set[int] = set()
    for name in re.findall(r"-c (\S+\.conf)", text):
        path = session.dir / name
        if path.exists():
            found |= {int(p) for p in re.findall(r"\d+", path.read_text())} & wanted
    return sorted(found)


def serve(session: Session, text: str) -> None:
    session.stop_group()
    proc, log = session.start(["bash", "-c", session.ports(text) + "\nwait\n"])
    session.group = proc
    session._started = [*getattr(session, "_started", []), proc]
    for port in sorted({*_client_ports(session, text), *_config_client_ports(session, text)}):
        try:
            wait_for_port("127.0.0.1", port, proc, timeout=20)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}: {log.read_text()[-2000:]}") from None


def each_serves(session: Session, text: str) -> None:
    for line in text.splitlines():
        command = line.split("#", 1)[0].strip()
        if not command:
            continue
        command = session.ports(command)
        if " -p " not in f" {command} ":  # the docs' default port, moved like the others
            command += f" -p {session.port(4222)}"
        proc, log = session.start(["bash", "-c", f"exec {command}"])
        try:
            deadline = time.monotonic() + 20
            while "Server is ready" not in log.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, \
                    f"{command!r} did not start: {log.read_text()[-2000:]}"
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0, log.read_text()[-2000:]
        finally:
            if proc.poll() is None:
                proc.kill()


def run_shell(session: Session, text: str, expect: str, own_servers: bool = False) -> None:
    if own_servers:
        session.stop_group()
    proc, log = session.start(["bash", "-c", session.ports(text)])
    session._started = [*getattr(session, "_started", []), proc]
    if own_servers:
        session.group = proc
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after 60 s: {log.read_text()[-2000:]}") from None
    output = log.read_text()
    assert code == 0, output[-2000:]
    assert expect in output, output[-2000:]


def run_python(session: Session, text: str) -> None:
    script = session.dir / f"block{session.logs + 1}.py"
    script.write_text(session.ports(text))
    result = subprocess.run([sys.executable, str(script)], cwd=session.dir, env=session.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def run_pytest(session: Session, text: str) -> None:
    session.logs += 1
    test_file = session.dir / f"test_block{session.logs}.py"
    test_file.write_text(session.ports(text))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-p", "no:randomly", test_file.name], cwd=session.dir, env=session.env,
                            capture_output=True, text=True, timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode == 0 and re.search(r"^\d+ passed", out, re.M), out


def check_config(session: Session, text: str) -> None:
    first = text.splitlines()[0]
    named = re.fullmatch(r"# (\S+\.conf)", first.strip())
    path = session.dir / (named.group(1) if named else f"block{session.logs + 1}.conf")
    session.logs += 1
    path.write_text(session.ports(text))
    ours = subprocess.run([os.path.join(BIN, "zats-server"), "-t", "-c", path.name], cwd=session.dir,
                          capture_output=True, text=True, timeout=30)
    assert ours.returncode == 0, ours.stderr
    binary = nats_server_binary()
    if binary:
        theirs = subprocess.run([binary, "-t", "-c", path.name], cwd=session.dir,
                                capture_output=True, text=True, timeout=30)
        assert theirs.returncode == 0, theirs.stderr


def send_signal(session: Session, text: str) -> None:
    pid_file = re.search(r"reload=(\S+)", text).group(1)
    local = session.dir / "zats.pid"
    proc, log = session.start([os.path.join(BIN, "zats-server"), "-a", "127.0.0.1", "-p",
                               str(session.port(4222)), "-P", str(local)])
    try:
        wait_for_port("127.0.0.1", session.port(4222), proc)
        run_shell(session, text.replace(pid_file, str(local)), "")
        deadline = time.monotonic() + 10
        while "Reloaded server configuration" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_documentation_code_blocks_work_as_written(name, tmp_path):
    found = blocks(name)
    table = BLOCKS[name]
    for i, (_, text) in enumerate(found):
        assert i < len(table), f"{name}: block {i + 1} ({text[:60]!r}) has no entry in BLOCKS"
        assert text.startswith(table[i][0]), \
            f"{name}: block {i + 1} starts {text[:60]!r}, BLOCKS expects {table[i][0]!r}"
    assert len(found) == len(table), f"{name}: BLOCKS lists {len(table)} blocks, the file has {len(found)}"
    session = Session(tmp_path)
    try:
        for (_, text), (_, check) in zip(found, table, strict=True):
            if check.action == "skip":
                continue
            if check.action == "python":
                run_python(session, text)
            elif check.action == "pytest":
                run_pytest(session, text)
            elif check.action == "python with broker":
                session.stop_group()
                serve(session, "zats-server -a 127.0.0.1 -p 4222 &")
                run_python(session, text)
            elif check.action == "serve":
                serve(session, text)
            elif check.action == "each serves":
                each_serves(session, text)
            elif check.action == "run":
                run_shell(session, text, check.note)
            elif check.action == "serve and run":
                run_shell(session, text, check.note, own_servers=True)
            elif check.action == "config":
                check_config(session, text)
            elif check.action == "signal":
                send_signal(session, text)
    finally:
        session.stop_all()


def test_every_document_with_code_blocks_is_in_the_table():
    """A new page in docs/ (or the README) whose fenced blocks BLOCKS does not list fails here,
    instead of going unchecked."""
    pages = ["README.md", "client/README.md"] + sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))
    unlisted = [page for page in pages if blocks(page) and page not in BLOCKS]
    assert not unlisted, f"fenced code blocks not in BLOCKS: {unlisted}"
