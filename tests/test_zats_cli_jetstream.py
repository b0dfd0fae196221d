"""`zats stream` and `zats consumer` as a user runs them: each command in a subprocess against
zats and nats-server started with JetStream (`-js -sd DIR`), checking what it prints in the nats
CLI's layout, and the errors: an API error (stream not found 10059...) is one `zats: error:` line
with the API's code, a server without JetStream one clear line, never a traceback."""

from __future__ import annotations

import json

from support.zats_cli import assert_one_error, clean_env, js_srv, labels, ok, run, unique, zats

__all__ = ["js_srv", "run"]  # fixtures


def test_stream_add_info_get_purge_rm(run):
    name = unique("ORDERS")
    shown = ok(run("stream", "add", name, "--subjects", f"{name}.*,{name}x", "--storage", "memory",
                   "--retention", "limits", "--max-msgs", "100", "--max-bytes", "1048576",
                   "--max-age", "1h", "--replicas", "1", "--defaults"))
    assert shown.startswith(f"Stream {name} was created\n\nInformation for Stream {name} created ")
    for section in ("\nOptions:\n", "\nLimits:\n", "\nState:\n"):
        assert section in shown
    fields = labels(shown)
    assert fields["Subjects"] == f"{name}.*, {name}x"
    assert fields["Storage"] == "Memory" and fields["Retention"] == "Limits"
    assert fields["Maximum Messages"] == "100" and fields["Maximum Bytes"] == "1.0 MiB"
    assert fields["Maximum Age"] == "1h0m0s" and fields["Maximum Per Subject"] == "unlimited"
    assert fields["Messages"] == "0" and fields["Active Consumers"] == "0"

    ok(run("pub", f"{name}.a", "hello", "-H", "K:v"))
    ok(run("pub", f"{name}.b", "two"))
    info = json.loads(ok(run("stream", "info", name, "--json")))
    assert info["config"]["name"] == name and info["config"]["max_age"] == 3600 * 10**9
    assert info["state"]["messages"] == 2 and info["state"]["last_seq"] == 2
    assert labels(ok(run("stream", "info", name)))["Last Sequence"] == "2"

    got = ok(run("stream", "get", name, "1")).splitlines()
    assert got[0].startswith(f"Item: {name}#1 received ") and got[0].endswith(f" on Subject {name}.a")
    assert got[1:] == ["", "K: v", "", "hello", ""]

    purged = labels(ok(run("stream", "purge", name, "-f")))
    assert purged["Messages"] == "0" and purged["First Sequence"] == "3"
    assert ok(run("stream", "rm", name, "-f")) == ""
    assert_one_error(run("stream", "info", name), "stream not found (10059)")


def test_stream_ls(run):
    a, b = unique("LSB"), unique("LSA")
    for name in (a, b):
        ok(run("stream", "add", name, "--subjects", f"{name}.>", "--storage", "memory"))
    ok(run("pub", f"{a}.x", "12345"))
    names = ok(run("stream", "ls", "--names")).split()
    assert a in names and b in names and names == sorted(names)
    table = ok(run("stream", "ls"))
    assert table.startswith("Streams")
    for column in ("Name", "Created", "Messages", "Size", "Last Message"):
        assert column in table
    row = next(line for line in table.splitlines() if f" {a} " in line)
    assert " 1 " in row and " B " in row
    listed = {s["config"]["name"]: s for s in json.loads(ok(run("stream", "ls", "--json")))}
    assert listed[a]["state"]["messages"] == 1 and listed[b]["state"]["messages"] == 0
    assert json.loads(ok(run("stream", "ls", "--names", "--json"))) == names


def test_stream_errors(run):
    name = unique("ERR")
    ok(run("stream", "add", name, "--subjects", f"{name}.one", "--storage", "memory"))
    assert_one_error(run("stream", "add", unique("ERR"), "--subjects", f"{name}.one"),
                     "subjects overlap with an existing stream (10065)")
    assert_one_error(run("stream", "get", name, "7"), "no message found (10037)")
    assert_one_error(run("stream", "purge", "NOPE", "-f"), "stream not found (10059)")
    # A name with a dot, a wildcard or a space would be another API subject, or none (nats-server
    # leaves `STREAM.INFO.a.b` unanswered): refused before asking.
    assert_one_error(run("stream", "info", "a.b"), "invalid name 'a.b'")
    assert_one_error(run("consumer", "info", name, "a b"), "invalid name 'a b'")
    refused = run("stream", "rm", name)
    assert_one_error(refused, "add -f")
    assert ok(run("stream", "ls", "--names")).split().count(name) == 1  # not deleted


def test_consumer_add_next_info_ls_rm(run):
    stream = unique("WORK")
    ok(run("stream", "add", stream, "--subjects", f"{stream}.*", "--storage", "memory"))
    ok(run("pub", f"{stream}.{{{{Count}}}}", "job {{Count}}", "--count", "3"))
    shown = ok(run("consumer", "add", stream, "PULL", "--pull", "--filter", f"{stream}.*",
                   "--ack", "explicit", "--deliver-policy", "all", "--defaults"))
    assert shown.startswith(f"Information for Consumer {stream} > PULL created ")
    fields = labels(shown)
    assert fields["Pull Mode"] == "true" and fields["Filter Subject"] == f"{stream}.*"
    assert fields["Ack Policy"] == "Explicit" and fields["Deliver Policy"] == "All"
    assert fields["Unprocessed Messages"] == "3"

    pulled = run("consumer", "next", stream, "PULL", "--count", "2")
    blocks = ok(pulled).split("[#")[1:]
    assert [b.splitlines()[0] for b in blocks] == [
        f'1] Received on "{stream}.1" (stream seq 1, delivered 1, pending 2)',
        f'2] Received on "{stream}.2" (stream seq 2, delivered 1, pending 1)']
    assert blocks[0].splitlines()[1] == "job 1"
    assert pulled.stderr.count("Acknowledged message") == 2

    unacked = run("consumer", "next", stream, "PULL", "--no-ack")
    assert ok(unacked).startswith(f'[#1] Received on "{stream}.3"') and "Acknowledged" not in unacked.stderr
    info = json.loads(ok(run("consumer", "info", stream, "PULL", "--json")))
    assert info["ack_floor"]["stream_seq"] == 2 and info["num_ack_pending"] == 1
    state = labels(ok(run("consumer", "info", stream, "PULL")))
    assert state["Last Delivered Message"] == "Consumer sequence: 3 Stream sequence: 3"
    assert state["Outstanding Acks"] == "1 out of maximum 1,000"

    push = labels(ok(run("consumer", "add", stream, "PUSH", "--deliver", "out.here", "--ack", "none",
                         "--deliver-policy", "last")))
    assert push["Delivery Subject"] == "out.here" and push["Ack Policy"] == "None"
    assert push["Deliver Policy"] == "Last" and "Pull Mode" not in push
    assert ok(run("consumer", "ls", stream, "--names")).split() == ["PULL", "PUSH"]
    table = ok(run("consumer", "ls", stream))
    assert table.startswith(f"Consumers for Stream {stream}") and "Ack Pending" in table
    assert_one_error(run("consumer", "next", stream, "PUSH"), "push consumer")
    assert ok(run("consumer", "rm", stream, "PUSH", "-f")) == ""
    assert ok(run("consumer", "ls", stream, "--names")).split() == ["PULL"]


def test_consumer_errors(run):
    stream = unique("CERR")
    ok(run("stream", "add", stream, "--subjects", f"{stream}.*", "--storage", "memory"))
    ok(run("consumer", "add", stream, "C", "--pull"))
    assert_one_error(run("consumer", "info", stream, "NOPE"), "consumer not found (10014)")
    assert_one_error(run("consumer", "add", "NOPE", "C"), "stream not found (10059)")
    assert_one_error(run("consumer", "next", stream, "C", "--timeout", "0.5s"), "no message received")
    assert_one_error(run("consumer", "rm", stream, "C"), "add -f")
    assert_one_error(run("consumer", "ls", "NOPE"), "stream not found (10059)")


def test_without_jetstream(server, tmp_path):
    """A server started without -js has nobody on $JS.API: one line says so."""
    env = clean_env(tmp_path)
    for args in (("stream", "ls"), ("stream", "add", "S", "--subjects", "s"), ("consumer", "info", "S", "C")):
        assert_one_error(zats(*args, "-s", server.url, env=env), "JetStream is not enabled")
