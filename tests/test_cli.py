"""The `zats-server` command line as a user runs it: nats-server's flags, refusal of flags zats
does not support, the log lines, pid/log files, monitoring on -m, graceful stop, and rebinding the
same port at once after a restart."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from support.servers import free_port, nats_server_binary, require_nats_server, start_server, wait_for_port
from support.wire import Wire

ZATS = [sys.executable, "-m", "zats.broker"]


def run(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run(ZATS + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("flag", ["--https_port", "--ports_file_dir"])
def test_unsupported_nats_server_flags_are_refused(flag):
    result = run(flag, "x")
    assert result.returncode == 1
    assert "not support" in result.stderr and flag in result.stderr


def test_unknown_flag_is_refused():
    result = run("--no-such-flag")
    assert result.returncode == 1
    assert "--no-such-flag" in result.stderr


def test_version_and_help():
    version = run("-v")
    assert version.returncode == 0 and re.search(r"v\d+\.\d+\.\d+", version.stdout)
    help_ = run("-h")
    assert help_.returncode == 0 and "--http_port" in help_.stdout


def test_console_script_is_installed():
    assert shutil.which("zats-server"), "pip install should put zats-server on PATH"


class Daemon:
    """zats-server as a subprocess with its stderr captured to a file."""

    def __init__(self, tmp_path, *args: str):
        self.log_path = tmp_path / "stderr.log"
        self.proc = subprocess.Popen(ZATS + list(args), stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "w"))

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_log(self, pattern: str, timeout: float = 10) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m
            assert self.proc.poll() is None, f"exited early: {self.log()}"
            time.sleep(0.02)
        raise AssertionError(f"{pattern!r} not in log: {self.log()}")

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(10)


def test_sigterm_while_the_server_is_starting_stops_it_cleanly(tmp_path):
    """The signal handlers are in place before the first port listens: a SIGTERM as soon as
    clients can connect (the monitor and route listeners still starting) is a clean stop."""
    for _ in range(3):
        port = free_port()
        d = Daemon(tmp_path, "-p", str(port), "-a", "127.0.0.1", "-m", str(free_port()),
                   "--cluster", f"nats://127.0.0.1:{free_port()}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.001)
        assert d.stop() == 0, d.log()


def test_acceptance_command_serves_clients_and_varz(tmp_path):
    port, http = free_port(), free_port()
    d = Daemon(tmp_path, "-p", str(port), "-m", str(http), "-a", "127.0.0.1")
    try:
        d.wait_log(r"\[INF\] Server is ready")
        assert f"[INF] Listening for client connections on 127.0.0.1:{port}" in d.log()
        with Wire("127.0.0.1", port) as w:
            w.connect()
            w.send(b"SUB x 1\r\nPUB x 2\r\nhi\r\nPING\r\n")
            w.expect(rb"MSG x 1 2\r\nhi\r\nPONG\r\n")
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/varz") as resp:
            assert resp.status == 200
            varz = json.loads(resp.read())
        assert varz["port"] == port and varz["in_msgs"] == 1 and varz["out_msgs"] == 1
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz") as resp:
            assert json.loads(resp.read()) == {"status": "ok"}
    finally:
        assert d.stop() == 0


def test_random_port_pid_file_log_file_and_no_logtime(tmp_path):
    pid_file, log_file = tmp_path / "zats.pid", tmp_path / "zats.log"
    d = Daemon(tmp_path, "-p", "-1", "-a", "127.0.0.1", "-P", str(pid_file), "-l", str(log_file),
               "-T=false")
    try:
        deadline = time.monotonic() + 10
        while not (log_file.exists() and "Server is ready" in log_file.read_text()):
            assert time.monotonic() < deadline and d.proc.poll() is None
            time.sleep(0.02)
        text = log_file.read_text()
        port = int(re.search(r"Listening for client connections on 127.0.0.1:(\d+)", text).group(1))
        assert port > 0
        assert re.match(r"\[\d+\] \[INF\] ", text), "no timestamp with -T=false"
        assert int(pid_file.read_text()) == d.proc.pid
        with Wire("127.0.0.1", port) as w:
            w.connect()
    finally:
        assert d.stop() == 0
    assert not pid_file.exists()


def test_sigint_flushes_queued_messages_and_closes_clients(tmp_path):
    port = free_port()
    d = Daemon(tmp_path, "-p", str(port), "-a", "127.0.0.1")
    d.wait_log("Server is ready")
    with Wire("127.0.0.1", port) as sub, Wire("127.0.0.1", port) as pub:
        sub.connect()
        sub.send(b"SUB x 1\r\nPING\r\n")
        sub.expect(rb"PONG\r\n")
        pub.connect()
        pub.send(b"PUB x 1\r\na\r\nPING\r\n")
        pub.expect(rb"PONG\r\n")
        assert d.stop(signal.SIGINT) == 0
        assert sub.expect_closed() == b"MSG x 1 1\r\na\r\n"


def test_restart_rebinds_the_same_port_at_once(tmp_path):
    port = free_port()
    d = Daemon(tmp_path, "-p", str(port), "-a", "127.0.0.1")
    d.wait_log("Server is ready")
    w = Wire("127.0.0.1", port).connect()  # an open connection leaves the port in TIME_WAIT
    d.stop()
    w.expect_closed()
    w.close()
    d2 = Daemon(tmp_path, "-p", str(port), "-a", "127.0.0.1")
    try:
        d2.wait_log("Server is ready", timeout=5)
        wait_for_port("127.0.0.1", port, d2.proc)
    finally:
        d2.stop()


def test_killed_server_gives_clients_a_clean_eof(tmp_path):
    port = free_port()
    d = Daemon(tmp_path, "-p", str(port), "-a", "127.0.0.1")
    d.wait_log("Server is ready")
    with Wire("127.0.0.1", port) as w:
        w.connect()
        d.stop(signal.SIGKILL)
        assert w.expect_closed() == b""


def test_port_in_use_is_a_fatal_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run("-p", str(port), "-a", "127.0.0.1")
    assert result.returncode == 1
    assert "[FTL]" in result.stderr


def _run_kind(kind: str, *args: str) -> subprocess.CompletedProcess:
    command = ZATS if kind == "zats" else [require_nats_server()]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("kind", ["zats", "nats-server"])
@pytest.mark.parametrize("listener, message", [
    ("client", 'Error listening on port: 127.0.0.1:{port}, "listen tcp 127.0.0.1:{port}: bind: '
               'address already in use"'),
    ("cluster", "Error listening on router port: {port} - listen tcp 127.0.0.1:{port}: bind: "
                "address already in use"),
    ("monitor", "Can't start monitoring: can't listen to the monitor port: listen tcp "
                "127.0.0.1:{port}: bind: address already in use"),
])
def test_busy_port_is_a_fatal_error_that_names_the_listener(tmp_path, kind, listener, message):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        args = ["-p", str(busy if listener == "client" else free_port()), "-a", "127.0.0.1"]
        if listener == "cluster":
            args += ["--cluster", f"nats://127.0.0.1:{busy}"]
        elif listener == "monitor":
            args += ["-m", str(busy)]
        result = _run_kind(kind, *args)
    assert result.returncode == 1
    assert "[FTL] " + message.format(port=busy) in result.stderr, result.stderr


def test_busy_leafnode_port_is_a_fatal_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        conf = tmp_path / "leaf.conf"
        conf.write_text(f"leafnodes {{ listen: 127.0.0.1:{busy} }}\n")
        result = run("-p", str(free_port()), "-a", "127.0.0.1", "-c", str(conf))
    assert result.returncode == 1
    assert (f"[FTL] Error listening on leafnode port: {busy} - listen tcp 127.0.0.1:{busy}: bind: "
            "address already in use") in result.stderr, result.stderr


@pytest.mark.parametrize("kind", ["zats", "nats-server"])
@pytest.mark.parametrize("args, message", [
    (["-p", "99999"], 'Error listening on port: 127.0.0.1:99999, "listen tcp: address 99999: invalid port"'),
    (["-p", "-5"], 'Error listening on port: 127.0.0.1:-5, "listen tcp: address -5: invalid port"'),
    (["--port=65536"], 'Error listening on port: 127.0.0.1:65536, "listen tcp: address 65536: invalid port"'),
    (["-p", "0", "-m", "99999"],
     "Can't start monitoring: can't listen to the monitor port: listen tcp: address 99999: invalid port"),
])
def test_ports_out_of_range_are_fatal_not_wrapped_around(kind, args, message):
    result = _run_kind(kind, "-a", "127.0.0.1", *args)
    assert result.returncode == 1
    assert "[FTL] " + message in result.stderr, result.stderr


@pytest.mark.parametrize("kind", ["zats", "nats-server"])
def test_an_address_that_does_not_resolve_is_fatal(kind):
    port = free_port()
    result = _run_kind(kind, "-a", "999.1.1.1", "-p", str(port))
    assert result.returncode == 1
    assert (f'[FTL] Error listening on port: 999.1.1.1:{port}, "listen tcp: lookup 999.1.1.1: '
            'no such host"') in result.stderr, result.stderr


@pytest.mark.parametrize("kind", ["zats", "nats-server"])
def test_a_log_file_that_cannot_be_opened_is_one_error_line(kind, tmp_path):
    path = tmp_path / "missing" / "x.log"
    result = _run_kind(kind, "-p", str(free_port()), "-l", str(path))
    assert result.returncode == 1
    assert f"error opening file: open {path}: no such file or directory" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("kind", ["zats", "nats-server"])
def test_a_missing_certificate_file_is_named(kind, tmp_path):
    missing = str(tmp_path / "missing.pem")
    result = _run_kind(kind, "-p", str(free_port()), "--tls", "--tlscert", missing, "--tlskey", missing)
    assert result.returncode == 1
    assert (f"error parsing X509 certificate/key pair: open {missing}: no such file or directory"
            in result.stderr), result.stderr


@pytest.mark.parametrize("kind", ["zats", "nats-server"])
@pytest.mark.parametrize("url, message", [
    ("127.0.0.1:6222", 'parse "127.0.0.1:6222": first path segment in URL cannot contain colon'),
    (":6222", 'parse ":6222": missing protocol scheme'),
    ("localhost:6222", "missing port in address"),
])
def test_a_cluster_url_without_scheme_is_refused(kind, url, message):
    result = _run_kind(kind, "-p", str(free_port()), "--cluster", url)
    assert result.returncode == 1
    assert message in result.stderr, result.stderr


_LOG_PREFIX = re.compile(r"^\[\d+\] (?:[\d/]+ [\d:.]+ )?")
_CONN = re.compile(r"^127\.0\.0\.1:\d+ - (cid|rid|lid):\d+")


def trace_lines(stderr: str, level: str = "TRC") -> list[str]:
    """A log's lines at `level`, without pid and time, the connection's port and id numbered
    out (`127.0.0.1:PORT - cid:N`)."""
    out = []
    for line in stderr.splitlines():
        line = _LOG_PREFIX.sub("", line)
        if line.startswith(f"[{level}] "):
            out.append(_CONN.sub(lambda m: f"127.0.0.1:PORT - {m.group(1)}:N", line[6:]))
    return out


def _traced_session(kind: str, tmp_path) -> tuple[list[str], list[str]]:
    """One client session against a -DV server: its trace and debug lines."""
    srv = start_server(kind, "-DV", "--user", "u", "--pass", "hunter2")
    try:
        with Wire(srv.host, srv.port) as w:
            w.read_info()
            steps = [b'CONNECT {"verbose":false,"user":"u","pass":"hunter2","name":"app",'
                     b'"lang":"python3","version":"1.2.3","headers":true}\r\nPING\r\n',
                     b"SUB foo 1\r\nPING\r\n", b"PUB foo 2\r\nhi\r\nPING\r\n",
                     b'HPUB foo 12 15\r\nNATS/1.0\r\n\r\n\xc3\xa9\t\r\nPING\r\n']
            for step in steps:  # a PONG between steps: both servers log in the same order
                w.send(step)
                w.expect(rb".*?PONG\r\n")
        deadline = time.monotonic() + 5
        while not re.search(r'app".* - Client connection closed', srv.stderr_text()) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        text = srv.stderr_text()
    finally:
        srv.stop()
    assert "hunter2" not in text
    return trace_lines(text), trace_lines(text, "DBG")


def test_trace_is_one_line_per_operation_as_nats_server_writes_it(tmp_path):
    ours, our_debug = _traced_session("zats", tmp_path)
    tag = '127.0.0.1:PORT - cid:N - "v1.2.3:python3:app" - "$G/user:u"'
    expected = [
        '127.0.0.1:PORT - cid:N - <<- [CONNECT {"verbose":false,"user":"u","pass":"[REDACTED]",'
        '"name":"app","lang":"python3","version":"1.2.3","headers":true}]',
        f"{tag} - <<- [PING]", f"{tag} - ->> [PONG]",
        f"{tag} - <<- [SUB foo 1]", f"{tag} - <<- [PING]", f"{tag} - ->> [PONG]",
        f"{tag} - <<- [PUB foo 2]", f'{tag} - <<- MSG_PAYLOAD: ["hi"]', f"{tag} - ->> [MSG foo 1 2]",
        f'{tag} - ->> MSG_PAYLOAD: ["hi"]', f"{tag} - <<- [PING]", f"{tag} - ->> [PONG]",
        f"{tag} - <<- [HPUB foo 12 15]", f'{tag} - <<- MSG_PAYLOAD: ["NATS/1.0\\r\\n\\r\\né\\t"]',
        f"{tag} - ->> [HMSG foo 1 12 15]", f'{tag} - ->> MSG_PAYLOAD: ["NATS/1.0\\r\\n\\r\\né\\t"]',
        f"{tag} - <<- [PING]", f"{tag} - ->> [PONG]",
    ]
    # nats-server traces a delivery when it happens, zats when it is written at the end of the
    # read: within one step the order may differ, never the lines.
    assert sorted(ours) == sorted(expected)
    assert "127.0.0.1:PORT - cid:N - Client connection created" in our_debug
    assert f"{tag} - Client connection closed: Client Closed" in our_debug
    if nats_server_binary():
        theirs, their_debug = _traced_session("nats-server", tmp_path)
        theirs = [line for line in theirs if "<->" not in line]  # its internal DELSUB
        assert sorted(theirs) == sorted(expected)
        assert "127.0.0.1:PORT - cid:N - Client connection created" in their_debug
        assert f"{tag} - Client connection closed: Client Closed" in their_debug


def test_trace_costs_nothing_when_off():
    """Tracing off: the read and write paths test one attribute and never reach the tracer."""
    from zats.broker import trace
    from zats.broker.log import Logger

    assert Logger().trace_enabled is False and Logger().debug_enabled is False
    calls = []
    original = trace.trace
    trace.trace = lambda *a: calls.append(a)
    try:
        import asyncio

        from zats.broker.server import Broker

        async def session():
            async with Broker(host="127.0.0.1", port=0) as broker:
                r, w = await asyncio.open_connection("127.0.0.1", broker.port)
                await r.readline()
                w.write(b"CONNECT {}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n")
                await r.readuntil(b"PONG\r\n")
                w.close()

        asyncio.run(session())
    finally:
        trace.trace = original
    assert calls == []


@pytest.mark.parametrize("kind", ["zats", "nats-server"])
@pytest.mark.parametrize("link", ["route", "leafnode"])
def test_trace_redacts_route_and_leafnode_passwords(kind, link, tmp_path):
    port = free_port()
    if link == "route":
        hub_args = ["--cluster", f"nats://ru:s3cret@127.0.0.1:{port}", "--cluster_name", "c"]
        spoke_args = ["--cluster", f"nats://ru:s3cret@127.0.0.1:{free_port()}", "--cluster_name", "c",
                      "--routes", f"nats://ru:s3cret@127.0.0.1:{port}"]
    else:
        hub = tmp_path / "hub.conf"
        hub.write_text(f'leafnodes {{ listen: 127.0.0.1:{port}\n authorization {{ user: lu, password: s3cret }} }}\n')
        spoke = tmp_path / "spoke.conf"
        spoke.write_text(f'leafnodes {{ remotes: [ {{ url: "nats-leaf://lu:s3cret@127.0.0.1:{port}" }} ] }}\n')
        hub_args, spoke_args = ["-c", str(hub)], ["-c", str(spoke)]
    hub_srv = start_server(kind, "-V", *hub_args)
    spoke_srv = start_server(kind, "-V", *spoke_args)
    try:
        kind_id = "rid" if link == "route" else "lid"
        connect = re.compile(rf'{kind_id}:N - <<- \[CONNECT \{{.*"pass(word)?":"\[REDACTED\]".*\}}\]$')
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(connect.search(line) for line in trace_lines(hub_srv.stderr_text())):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"no redacted {link} CONNECT traced: {hub_srv.stderr_text()[-3000:]}")
        time.sleep(0.2)
    finally:
        spoke_srv.stop()
        hub_srv.stop()
    for srv in (hub_srv, spoke_srv):
        assert "s3cret" not in srv.stderr_text()


def test_cluster_flags():
    from zats.broker.cli import parse_args

    opts = parse_args(["--cluster", "nats://ru:rp@127.0.0.1:6333", "--cluster_name", "C1",
                       "--routes", "nats://127.0.0.1:6334, nats-route://u:p@127.0.0.1:6335",
                       "--no_advertise", "--connect_retries", "3", "--cluster_advertise", "10.0.0.1:6333"])
    c = opts.cluster
    assert (c.host, c.port, c.user, c.password, c.name) == ("127.0.0.1", 6333, "ru", "rp", "C1")
    assert c.routes == ["nats://127.0.0.1:6334", "nats-route://u:p@127.0.0.1:6335"]
    assert c.no_advertise and c.connect_retries == 3 and c.advertise == "10.0.0.1:6333"
    assert parse_args(["--cluster_listen", "nats://127.0.0.1:-1"]).cluster.port == -1


@pytest.mark.parametrize("args, message", [
    (["--routes", "nats://127.0.0.1:1"], "solicited routes require cluster capabilities, e.g. --cluster"),
    (["--cluster", "nats://127.0.0.1:1", "--cluster_name", "a b"], "cluster name cannot contain spaces"),
])
def test_cluster_flag_errors_as_nats_server(args, message):
    result = run(*args)
    assert result.returncode == 1 and message in result.stderr
    nats = shutil.which("nats-server")
    if nats:
        theirs = subprocess.run([nats, *args], capture_output=True, text=True, timeout=10)
        assert theirs.returncode == 1 and message in theirs.stderr


@pytest.mark.parametrize("kind", ["zats", "nats-server"])
@pytest.mark.parametrize("value, err", [
    ("bad:host:x", "address bad:host:x: too many colons in address"),
    ("nats://h:1", "address nats://h:1: too many colons in address"),
    ("h:abc", 'strconv.Atoi: parsing "abc": invalid syntax'),
])
def test_bad_client_advertise_stops_the_server_as_nats_server(kind, value, err):
    command = ZATS if kind == "zats" else [require_nats_server()]
    result = subprocess.run([*command, "-a", "127.0.0.1", "-p", str(free_port()),
                             "--client_advertise", value], capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert f"Error setting server INFO with ClientAdvertise value of {value}, err={err}" in result.stderr


@pytest.mark.parametrize("value, host, port", [
    ("adv.example.com:5555", "adv.example.com", 5555),
    ("adv.example.com", "adv.example.com", 4222),   # no port: the client port
    ("adv.example.com:0", "adv.example.com", 4222),
    ("adv.example.com:-1", "adv.example.com", 4222),
    (" adv.example.com ", "adv.example.com", 4222),
    (":4000", "", 4000),
    ("[::1]:4000", "::1", 4000),
])
def test_client_advertise_host_and_port_as_nats_server_reads_them(value, host, port):
    from zats.broker.options import ServerOptions, client_advertise_address

    assert client_advertise_address(ServerOptions(client_advertise=value), 4222) == (host, port)


def test_log_reopen_that_fails_keeps_logging_to_the_old_file(tmp_path):
    """SIGUSR1 after the log's directory went away: an error line, no traceback, and logging goes
    on where it was."""
    from zats.broker.log import Logger

    (tmp_path / "logs").mkdir()
    log = Logger(path=str(tmp_path / "logs" / "x.log"))
    (tmp_path / "logs").rename(tmp_path / "moved")
    log.reopen()
    log.notice("still here")
    log.close()
    text = (tmp_path / "moved" / "x.log").read_text()
    assert f"[ERR] error opening file: open {tmp_path}/logs/x.log: no such file or directory" in text
    assert "still here" in text
