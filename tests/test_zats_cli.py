"""The `zats` command line client as a user runs it: each command in a subprocess against zats and
nats-server, checking what it prints and its exit status, errors included (unreachable server,
refused credentials, timeout, no responders, a denied publish: one line, non-zero, no traceback).

One server per kind for the module, with a system account (user `admin`), an application account
(`app`, `limited`, who may not publish to `secret.>`, and an nkey user whose seed is
`srv.seed_file`) and a monitoring port."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from support.servers import KINDS, free_port, start_server
from support.zats_cli import Background, assert_one_error, clean_env, zats
from zats.protocol.nkeys import KeyPair, create_seed

CONFIG = """
accounts {
  SYS { users [{user: admin, password: pw}] }
  APP { users [
    {user: app, password: pw}
    {user: limited, password: pw, permissions: {publish: {deny: "secret.>"}}}
    {nkey: NKEY_PUBLIC}
  ] }
}
system_account: SYS
"""


@pytest.fixture(scope="module", params=KINDS)
def srv(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("conf")
    seed = create_seed()
    (folder / "user.nk").write_text(seed + "\n")
    (folder / "server.conf").write_text(CONFIG.replace("NKEY_PUBLIC", KeyPair(seed).public_key))
    server = start_server(request.param, "-c", str(folder / "server.conf"), http_port=free_port())
    server.seed_file = str(folder / "user.nk")
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path):
    return clean_env(tmp_path)


def url(srv, user: str = "app") -> str:
    return f"nats://{user}:pw@{srv.host}:{srv.port}"


# ------------------------------------------------------------------------------ pub / sub

def test_pub_sub_templates_headers_and_count(srv, env):
    sub = Background("sub", "cli.>", "--count", "3", "-s", url(srv), env=env, ready="Subscribing on cli.>")
    pub = zats("pub", "cli.{{Count}}", "n {{Count}} {{Random 4 4}}", "--count", "3", "-H", "K:v{{Count}}",
               "-s", url(srv), env=env)
    assert pub.returncode == 0, pub.stderr
    assert pub.stderr.count("Published") == 3 and 'to "cli.2"' in pub.stderr
    code, out, _ = sub.finish()
    assert code == 0
    blocks = out.split("[#")[1:]
    assert [b.splitlines()[0] for b in blocks] == ['1] Received on "cli.1"', '2] Received on "cli.2"',
                                                   '3] Received on "cli.3"']
    first = blocks[0].splitlines()
    assert first[1:3] == ["K: v1", ""]
    assert first[3].startswith("n 1 ") and len(first[3]) == len("n 1 ") + 4


def test_pub_from_stdin_with_reply_and_raw_sub(srv, env):
    sub = Background("sub", "cli.raw", "--raw", "--count", "2", "-s", url(srv), env=env, ready=None)
    one = zats("pub", "cli.raw", "--reply", "back.here", "-s", url(srv), env=env, input="from stdin\n")
    assert one.returncode == 0 and "Reading payload from STDIN" in one.stderr
    two = zats("pub", "cli.raw", "-s", url(srv), env=env, input="")
    assert two.returncode == 0
    code, out, _ = sub.finish()
    assert code == 0 and out == "from stdin\nnil body\n"


def test_sub_shows_reply_subject_timestamps_and_waits(srv, env):
    # --wait counts from the subscription: room for the publisher's interpreter to start under load
    sub = Background("sub", "cli.ts", "-t", "--wait", "5s", "-s", url(srv), env=env, ready="Subscribing")
    assert zats("pub", "cli.ts", "x", "--reply", "r.1", "-s", url(srv), env=env).returncode == 0
    code, out, _ = sub.finish()
    assert code == 0  # --wait: ended after 5 s without messages
    first = out.splitlines()[0]
    assert first.startswith("[#1] @ ") and first.endswith('Received on "cli.ts" with reply "r.1"')


def test_sub_queue_group_shares_messages(srv, env):
    subs = [Background("sub", "cli.q", "--queue", "workers", "-s", url(srv), env=env,
                       ready="in group 'workers'") for _ in range(2)]
    assert zats("pub", "cli.q", "m", "--count", "30", "-s", url(srv), env=env).returncode == 0
    time.sleep(0.5)  # the server has all 30 (pub flushed): let them reach the subscribers
    counts = [s.stop()[1].count("Received on") for s in subs]
    assert sum(counts) == 30 and all(counts), counts


def test_sub_ends_cleanly_on_sigterm(srv, env):
    sub = Background("sub", "cli.stop", "-s", url(srv), env=env, ready="Subscribing")
    code, out, err = sub.stop()
    assert code == 0 and "Traceback" not in err and "Disconnected" not in err


# ------------------------------------------------------------------------------ req / reply

def test_req_reply_with_template_and_headers(srv, env):
    rep = Background("reply", "svc.greet", "hi {{Request}} #{{Count}}", "--count", "1", "-s", url(srv),
                     env=env, ready='Listening on "svc.greet"')
    req = zats("req", "svc.greet", "joe", "-H", "Trace:1", "-s", url(srv), env=env)
    assert req.returncode == 0, req.stderr
    assert req.stdout == "hi joe #1\n\n"
    assert 'Sending request on "svc.greet"' in req.stderr and "Received with rtt " in req.stderr
    code, out, err = rep.finish()
    assert code == 0
    assert '[#1] Received on subject "svc.greet":' in err and "Trace: 1" in err and "joe" in out


def test_req_scatter_gather(srv, env):
    reps = [Background("reply", "svc.all", f"from {name}", "--queue", name, "-s", url(srv), env=env,
                       ready="Listening") for name in ("a", "b")]
    try:
        both = zats("req", "svc.all", "x", "--replies", "2", "--raw", "-s", url(srv), env=env)
        assert both.returncode == 0, both.stderr
        assert sorted(both.stdout.split()) == ["a", "b", "from", "from"]
        # --replies 0: everything until the timeout
        until = zats("req", "svc.all", "x", "--replies", "0", "--timeout", "500ms", "-r", "-s", url(srv), env=env)
        assert until.returncode == 0 and until.stdout.count("from ") == 2
    finally:
        for r in reps:
            r.stop()


def test_reply_echo_and_command(srv, env):
    echo = Background("reply", "svc.echo", "--count", "1", "-s", url(srv), env=env, ready="Listening")
    got = zats("req", "svc.echo", "ping", "-H", "A:b", "-s", url(srv), env=env)
    assert got.returncode == 0 and got.stdout == "ping\n\n"
    assert "A: b" in got.stderr and "NATS-Reply-Counter: 1" in got.stderr
    assert echo.finish()[0] == 0
    cmd = Background("reply", "svc.cmd.>", "--command", "printenv NATS_REQUEST_BODY", "--count", "1",
                     "-s", url(srv), env=env, ready="Listening")
    got = zats("req", "svc.cmd.x", "body text", "-r", "-s", url(srv), env=env)
    assert got.returncode == 0 and got.stdout == "body text\n\n"
    assert cmd.finish()[0] == 0
    tok = Background("reply", "svc.tok.>", "--command", "echo token {{2}}", "--count", "1", "-s", url(srv),
                     env=env, ready="Listening")
    got = zats("req", "svc.tok.london", "", "-r", "-s", url(srv), env=env)
    assert got.stdout == "token london\n\n"
    assert tok.finish()[0] == 0


# ------------------------------------------------------------------------------ errors

def test_unreachable_server(env):
    result = zats("pub", "x", "y", "-s", f"nats://127.0.0.1:{free_port()}", env=env)
    assert_one_error(result, "could not connect", "connection refused")


def test_first_reachable_of_a_server_list(srv, env):
    servers = f"nats://127.0.0.1:{free_port()},{url(srv)}"
    result = zats("pub", "x", "y", "-s", servers, env=env)
    assert result.returncode == 0, result.stderr


def test_refused_credentials(srv, env):
    result = zats("pub", "x", "y", "-s", f"nats://{srv.host}:{srv.port}", "--user", "app", "--password",
                  "wrong", env=env)
    assert_one_error(result, "authorization violation")


def test_nkey_and_token_auth(srv, spawn, env):
    plain = f"nats://{srv.host}:{srv.port}"
    assert zats("pub", "x", "y", "--nkey", srv.seed_file, "-s", plain, env=env).returncode == 0
    assert_one_error(zats("pub", "x", "y", "-s", plain, env=env), "authorization violation")
    guarded = spawn(srv.kind, "--auth", "s3cret")
    plain = f"nats://{guarded.host}:{guarded.port}"
    assert zats("pub", "x", "y", "--token", "s3cret", "-s", plain, env=env).returncode == 0
    # as in the nats CLI, --user without --password is a token
    assert zats("pub", "x", "y", "--user", "s3cret", "-s", plain, env=env).returncode == 0
    assert_one_error(zats("pub", "x", "y", "--token", "wrong", "-s", plain, env=env), "authorization violation")


def test_request_timeout(srv, env):
    silent = Background("sub", "svc.silent", "-s", url(srv), env=env, ready="Subscribing")
    try:
        result = zats("req", "svc.silent", "x", "--timeout", "300ms", "-s", url(srv), env=env)
        assert_one_error(result, "timeout", "svc.silent")
    finally:
        silent.stop()


def test_no_responders(srv, env):
    assert_one_error(zats("req", "svc.nobody", "x", "-s", url(srv), env=env), "no responders", "svc.nobody")


def test_denied_publish(srv, env):
    result = zats("pub", "secret.x", "y", "-s", url(srv, "limited"), env=env)
    assert_one_error(result, "Permissions Violation")


def test_bad_flag_values(env):
    result = zats("pub", "x", "--sleep", "soon", env=env)
    assert result.returncode == 2 and "invalid duration" in result.stderr
    assert_one_error(zats("pub", "x", "y", "--creds", "/nonexistent.creds", env=env), "cannot read credentials file")


# ------------------------------------------------------------------------------ server

def test_server_ping_list_info_as_system_user(srv, env):
    ping = zats("server", "ping", "-s", url(srv, "admin"), env=env)
    assert ping.returncode == 0, ping.stderr
    lines = ping.stdout.splitlines()
    assert " rtt=" in lines[0] and lines[2] == "---- ping statistics ----" and lines[3].startswith("1 replies max: ")
    listed = zats("server", "list", "-s", url(srv, "admin"), env=env)
    assert listed.returncode == 0 and "Server Overview" in listed.stdout and "\x1b[" not in listed.stdout
    version = "2.15" if srv.kind == "nats-server" else "0.1"
    assert version in listed.stdout
    as_json = json.loads(zats("server", "list", "--json", "-s", url(srv, "admin"), env=env).stdout)
    assert len(as_json) == 1 and as_json[0]["statsz"]["connections"] >= 1
    info = zats("server", "info", "-s", url(srv, "admin"), env=env)
    assert info.returncode == 0 and info.stdout.startswith("Server information for ")
    for section in ("Process Details:", "Connection Details:", "Limits:", "Statistics:"):
        assert section in info.stdout
    assert f"Host: 0.0.0.0:{srv.port}" in info.stdout or f"Host: {srv.host}:{srv.port}" in info.stdout


def test_server_commands_outside_the_system_account(srv, env):
    assert_one_error(zats("server", "ping", "-s", url(srv), env=env), "system account", "--monitor")
    monitor = f"http://{srv.host}:{srv.http_port}"
    info = zats("server", "info", "--json", "--monitor", monitor, "-s", url(srv), env=env)
    assert info.returncode == 0 and json.loads(info.stdout)["port"] == srv.port
    ping = zats("server", "ping", "--monitor", monitor, "-s", url(srv), env=env)
    assert ping.returncode == 0 and "1 replies" in ping.stdout
    dead = zats("server", "list", "--monitor", f"http://127.0.0.1:{free_port()}", "-s", url(srv), env=env)
    assert_one_error(dead, "could not read http://127.0.0.1:")


def test_server_check_connection(srv, env):
    ok = zats("server", "check", "connection", "-s", url(srv), env=env)
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.startswith("OK Connection OK:connected to nats://") and "| connect_time=" in ok.stdout
    assert "rtt=" in ok.stdout and "request_time=" in ok.stdout
    crit = zats("server", "check", "connection", "-s", f"nats://127.0.0.1:{free_port()}", env=env)
    assert crit.returncode == 2 and crit.stdout.startswith("CRITICAL Connection Crit:connection failed")
    warn = zats("server", "check", "--format", "json", "connection", "--rtt-warn", "1ns", "-s", url(srv), env=env)
    assert warn.returncode == 1 and json.loads(warn.stdout)["status"] == "WARNING"


# ------------------------------------------------------------------------------ the command itself

def test_version_help_and_completion(env):
    assert zats("--version", env=env).stdout == f"zats {__import__('zats.client').client.__version__}\n"
    top = zats("--help", env=env)
    assert top.returncode == 0
    for command in ("pub", "sub", "req", "reply", "context", "server", "bench", "completion"):
        assert f"  {command} " in top.stdout
    for command in (["pub"], ["sub"], ["req"], ["reply"], ["server", "ping"], ["context", "add"], ["bench", "pub"]):
        help_ = zats(*command, "--help", env=env)
        assert help_.returncode == 0 and len(help_.stdout.splitlines()) < 45, command
    script = zats("completion", "bash", env=env)
    assert script.returncode == 0 and "_ZATS_COMPLETE=bash_complete" in script.stdout
    assert "compdef" in zats("completion", "zsh", env=env).stdout
    words = subprocess.run([sys.executable, "-m", "zats.cli"], capture_output=True, text=True,
                           env={**env, "_ZATS_COMPLETE": "bash_complete", "COMP_WORDS": "zats se",
                                "COMP_CWORD": "1"})
    assert "plain,server" in words.stdout.splitlines()


def test_tls_options(kind, spawn, tmp_path, env):
    """--tlsca, --tlscert/--tlskey and --tlsfirst against a server that verifies client
    certificates and starts with the TLS handshake."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_cert, client_cert = ca.issue_cert("127.0.0.1", "localhost"), ca.issue_cert("client@example.com")
    files = {}
    for name, blob in (("server.pem", server_cert.cert_chain_pems[0]), ("server-key.pem", server_cert.private_key_pem),
                       ("client.pem", client_cert.cert_chain_pems[0]), ("client-key.pem", client_cert.private_key_pem),
                       ("ca.pem", ca.cert_pem)):
        blob.write_to_path(str(tmp_path / name))
        files[name] = str(tmp_path / name)
    conf = tmp_path / "tls.conf"
    conf.write_text(f'tls {{ cert_file: "{files["server.pem"]}", key_file: "{files["server-key.pem"]}", '
                    f'ca_file: "{files["ca.pem"]}", verify: true, handshake_first: true }}\n')
    srv = spawn(kind, "-c", str(conf))
    target = ["-s", f"tls://127.0.0.1:{srv.port}", "--tlsfirst"]
    ok = zats("pub", "x", "y", *target, "--tlsca", files["ca.pem"], "--tlscert", files["client.pem"],
              "--tlskey", files["client-key.pem"], env=env)
    assert ok.returncode == 0, ok.stderr
    assert_one_error(zats("pub", "x", "y", *target, "--tlscert", files["client.pem"], "--tlskey",
                          files["client-key.pem"], env=env), "certificate verify failed")
    assert_one_error(zats("pub", "x", "y", *target, "--tlsca", files["ca.pem"], "--tlscert", files["client.pem"],
                          env=env), "--tlscert and --tlskey go together")


# ------------------------------------------------------------------------------ bench

def test_bench_pub_sub(srv, env, tmp_path):
    subs = Background("bench", "sub", "b.ps", "--msgs", "3000", "--clients", "2", "-s", url(srv), env=env,
                      ready="2 subscribers listening on b.ps")
    pub = zats("bench", "pub", "b.ps", "--msgs", "3000", "--clients", "2", "--size", "1K", "--csv",
               str(tmp_path / "pub.csv"), "-s", url(srv), env=env)
    assert pub.returncode == 0, pub.stderr
    assert "Starting Core NATS publisher benchmark [subject=b.ps, clients=2, msg-size=1K, msgs=3,000]" in pub.stderr
    assert "Pub stats" in pub.stdout and "\x1b[" not in pub.stdout
    assert pub.stdout.splitlines()[-1].startswith("Pub stats: ") and " msgs/sec ~ " in pub.stdout
    rows = (tmp_path / "pub.csv").read_text().splitlines()
    assert rows[0].startswith("#RunID,ClientID,MsgCount") and [r.split(",")[2] for r in rows[1:]] == ["1500", "1500"]
    code, out, err = subs.finish()
    assert code == 0, err
    assert re.search(r"│ 1 +│ +3,000 │", out) and re.search(r"│ all +│ +6,000 │", out) and "Sub stats: " in out


def test_bench_request_reply(srv, env):
    assert_one_error(zats("bench", "request", "b.rr", "--msgs", "10", "-s", url(srv), env=env),
                     "no responders", "zats bench reply b.rr")
    rep = Background("bench", "reply", "b.rr", "--msgs", "400", "--clients", "2", "-s", url(srv), env=env,
                     ready="2 repliers listening on b.rr")
    req = zats("bench", "request", "b.rr", "--msgs", "400", "--clients", "2", "--size", "16", "-s", url(srv), env=env)
    assert req.returncode == 0, req.stderr
    assert "p50 µs" in req.stdout and "Request stats: " in req.stdout and "Latency: p50 " in req.stdout
    code, out, _ = rep.finish()
    assert code == 0 and re.search(r"│ all +│ +400 │", out)
