"""`zats context add|ls|select|info|rm|unselect` as a user runs them, and connecting through the
selected context, a named one, flags over a context, and NATS_URL. Contexts are the client's
own business: one zats server serves."""

from __future__ import annotations

import json
import os

from support.servers import free_port
from support.zats_cli import assert_one_error, clean_env, zats


def url(srv) -> str:
    return f"nats://{srv.host}:{srv.port}"


def test_contexts(zats_server, tmp_path):
    srv, env = zats_server, clean_env(tmp_path)
    add = zats("context", "add", "local", "-s", url(srv), "--description", "test box", "--select", env=env)
    assert add.returncode == 0, add.stderr
    assert 'NATS Configuration Context "local"' in add.stdout and "test box" in add.stdout
    with open(os.path.join(env["XDG_CONFIG_HOME"], "zats", "context", "local.json")) as f:
        saved = json.load(f)
    assert saved == {"description": "test box", "url": url(srv)}
    # The selected context connects: no -s needed.
    assert zats("pub", "x", "y", env=env).returncode == 0
    dead = free_port()
    zats("context", "add", "broken", "-s", f"nats://127.0.0.1:{dead}", "--user", "u", "--password", "p", env=env)
    info = zats("context", "info", "broken", env=env)
    assert "Username: u" in info.stdout and "Password: *" in info.stdout and "p\n" not in info.stdout
    # --context picks another one; flags win over it.
    assert_one_error(zats("pub", "x", "y", "--context", "broken", env=env), "could not connect")
    assert zats("pub", "x", "y", "--context", "broken", "-s", url(srv), env=env).returncode == 0
    # add on an existing context changes what is given and keeps the rest
    zats("context", "add", "broken", "--description", "kept?", env=env)
    assert json.loads(zats("context", "info", "broken", "--json", env=env).stdout) == {
        "description": "kept?", "url": f"nats://127.0.0.1:{dead}", "user": "u", "password": "p"}
    ls = zats("context", "ls", "--json", env=env)
    assert json.loads(ls.stdout) == [{"name": "broken", "description": "kept?", "selected": False},
                                     {"name": "local", "description": "test box", "selected": True}]
    table = zats("context", "ls", env=env).stdout
    assert "local*" in table and "\x1b[" not in table
    assert zats("context", "select", "broken", env=env).returncode == 0
    assert zats("context", "select", env=env).stdout == "broken\n"
    assert zats("context", "rm", "broken", env=env).returncode == 0
    assert zats("context", "ls", "--names", env=env).stdout == "local\n"
    assert_one_error(zats("context", "select", "nope", env=env), "unknown context 'nope'")
    # NATS_URL stands in for -s
    env = {**env, "NATS_URL": f"nats://127.0.0.1:{free_port()}"}
    assert_one_error(zats("pub", "x", "y", "--no-context", env=env), "could not connect")
