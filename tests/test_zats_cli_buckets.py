"""`zats kv` and `zats object` as a user runs them: each command in a subprocess against zats and
nats-server started with JetStream, checking what it prints in the nats CLI's layout (bucket
information, values, history and contents tables, watch lines, objects streamed from and into
files), and the errors: a missing bucket, key or object, a wrong revision, a sealed bucket, a
server without JetStream or none at all: one `zats: error:` line, never a traceback."""

from __future__ import annotations

import base64
import hashlib
import json
import os

from support.servers import free_port
from support.zats_cli import Background, assert_one_error, clean_env, js_srv, labels, ok, run, unique, zats

__all__ = ["js_srv", "run"]  # fixtures


# ------------------------------------------------------------------------------------ kv

def test_kv_bucket_add_info_ls_rm(run):
    bucket = unique("CFG")
    shown = ok(run("kv", "add", bucket, "--history", "5", "--ttl", "1h", "--max-value-size", "1KB",
                   "--max-bucket-size", "1MiB", "--storage", "memory", "--replicas", "1",
                   "--description", "settings"))
    assert shown.startswith(f"Information for Key-Value Store Bucket {bucket} created ")
    assert "\nConfiguration:\n" in shown
    fields = labels(shown)
    assert fields["Bucket Name"] == bucket and fields["History Kept"] == "5"
    assert fields["Values Stored"] == "0" and fields["Description"] == "settings"
    assert fields["Maximum Value Size"] == "1.0 KiB" and fields["Maximum Bucket Size"] == "1.0 MiB"
    assert fields["Maximum Age"] == "1h0m0s" and fields["Storage"] == "Memory"
    assert fields["JetStream Stream"] == f"KV_{bucket}" and fields["Backing Store Kind"] == "JetStream"

    ok(run("kv", "put", bucket, "k", "v"))
    assert labels(ok(run("kv", "status", bucket)))["Values Stored"] == "1"  # the nats CLI's other name
    info = json.loads(ok(run("kv", "info", bucket, "--json")))
    assert info["config"]["name"] == f"KV_{bucket}" and info["config"]["max_msgs_per_subject"] == 5
    assert info["config"]["max_age"] == 3600 * 10**9 and info["state"]["messages"] == 1

    other = unique("CFG")
    ok(run("kv", "add", other))
    ok(run("stream", "add", unique("PLAIN"), "--subjects", unique("plain"), "--storage", "memory"))
    names = ok(run("kv", "ls", "--names")).split()
    assert bucket in names and other in names and not any(n.startswith("PLAIN") for n in names)
    table = ok(run("kv", "ls"))
    assert table.startswith("Key-Value Buckets")
    for column in ("Bucket", "Description", "Created", "Size", "Values", "Last Update"):
        assert column in table
    row = next(line for line in table.splitlines() if f" {bucket} " in line)
    assert "settings" in row and " 1 " in row
    assert set(json.loads(ok(run("kv", "ls", "--names", "--json")))) >= {bucket, other}

    assert_one_error(run("kv", "rm", other), "add -f")
    assert ok(run("kv", "rm", other, "-f")) == ""
    assert other not in ok(run("kv", "ls", "--names")).split()
    assert_one_error(run("kv", "info", other), f"bucket '{other}' not found")


def test_kv_put_get_create_update(run):
    bucket = unique("VALS")
    ok(run("kv", "add", bucket, "--history", "10", "--storage", "memory"))
    assert ok(run("kv", "put", bucket, "user", "bob")) == "bob\n"
    ok(run("kv", "put", bucket, "user", "alice"))
    got = ok(run("kv", "get", bucket, "user")).splitlines()
    assert got[0].startswith(f"{bucket} > user revision: 2 created @ ")
    assert got[1:] == ["", "alice", ""]
    assert ok(run("kv", "get", bucket, "user", "--raw")) == "alice"
    assert ok(run("kv", "get", bucket, "user", "--revision", "1", "--raw")) == "bob"
    entry = json.loads(ok(run("kv", "get", bucket, "user", "--json")))
    assert entry == {"bucket": bucket, "key": "user", "revision": 2, "created": entry["created"],
                     "operation": "PUT", "value": "alice"}

    # no VALUE: stdin, as the nats CLI; a value that is not printable is shown as base64
    assert ok(run("kv", "put", bucket, "multi", input="line 1\nline 2\n")) == ""
    assert ok(run("kv", "get", bucket, "multi", "--raw")) == "line 1\nline 2\n"
    assert ok(run("kv", "get", bucket, "multi")).splitlines()[2] == base64.b64encode(b"line 1\nline 2\n").decode()
    long = "x" * 300
    ok(run("kv", "put", bucket, "long", long))
    shown = ok(run("kv", "get", bucket, "long")).splitlines()
    assert shown[2] == "Showing first 120 bytes of 300, use --raw for full data" and shown[4] == "x" * 120

    assert_one_error(run("kv", "create", bucket, "user", "again"), "key 'user' exists")
    assert ok(run("kv", "create", bucket, "fresh", "new")) == "new\n"
    assert_one_error(run("kv", "update", bucket, "user", "carol", "1"), "wrong last sequence", "(10071)")
    assert ok(run("kv", "update", bucket, "user", "carol", "2")) == "carol\n"
    assert ok(run("kv", "get", bucket, "user", "--raw")) == "carol"

    assert ok(run("kv", "ls", bucket)).split() == ["fresh", "long", "multi", "user"]  # keys, as nats
    assert json.loads(ok(run("kv", "keys", bucket, "--json"))) == ["fresh", "long", "multi", "user"]


def test_kv_history_del_purge(run):
    bucket = unique("HIST")
    ok(run("kv", "add", bucket, "--history", "5", "--storage", "memory"))
    for value in ("one", "two"):
        ok(run("kv", "put", bucket, "k", value))
    assert_one_error(run("kv", "del", bucket, "k"), "add -f")
    assert ok(run("kv", "del", bucket, "k", "-f")) == ""
    assert_one_error(run("kv", "get", bucket, "k"), "key 'k' was deleted")
    assert ok(run("kv", "ls", bucket)) == "No keys found in bucket\n"

    table = ok(run("kv", "history", bucket, "k"))
    assert table.startswith(f"History for {bucket} > k")
    rows = [[cell.strip() for cell in line.strip("│").split("│")] for line in table.splitlines()
            if line.startswith("│")]
    assert [(r[0], r[2], r[4], r[5]) for r in rows] == [("k", "PUT", "3", "one"), ("k", "PUT", "3", "two"),
                                                        ("k", "DELETE", "0", "")]
    revisions = [e["revision"] for e in json.loads(ok(run("kv", "history", bucket, "k", "--json")))]
    assert revisions == sorted(revisions) and len(revisions) == 3

    ok(run("kv", "create", bucket, "k", "back"))  # a deleted key may be created again
    assert ok(run("kv", "purge", bucket, "k", "-f")) == ""
    ops = [e["operation"] for e in json.loads(ok(run("kv", "history", bucket, "k", "--json")))]
    assert ops == ["PURGE"]
    assert_one_error(run("kv", "history", bucket, "never"), "key 'never' not found")


def test_kv_watch(run):
    bucket = unique("WATCH")
    ok(run("kv", "add", bucket, "--storage", "memory", "--history", "5"))
    ok(run("kv", "put", bucket, "a.x", "1"))
    ok(run("kv", "put", bucket, "b", "skipped"))
    # the latest value of each key matching a.> first, then the changes
    watch = Background("kv", "watch", bucket, "a.>", "--count", "3", env=run.env, ready=None)
    ok(run("kv", "put", bucket, "a.y", "2"))
    ok(run("kv", "del", bucket, "a.x", "-f"))
    code, out, err = watch.finish()
    assert code == 0 and "Traceback" not in err
    lines = [line.split("] ", 1)[1] for line in out.splitlines()]
    assert lines == [f"PUT {bucket} > a.x: 1", f"PUT {bucket} > a.y: 2", f"DELETE {bucket} > a.x"]
    assert all(line.startswith("[20") for line in out.splitlines())  # [YYYY-mm-dd HH:MM:SS]
    assert "\x1b[" not in out  # no colour when piped

    history = ok(run("kv", "watch", bucket, "a.x", "--history", "--count", "2")).splitlines()
    assert [line.split("] ", 1)[1] for line in history] == [f"PUT {bucket} > a.x: 1", f"DELETE {bucket} > a.x"]
    assert ok(run("kv", "watch", bucket, "--no-deletes", "--count", "2")).count("PUT") == 2


def test_kv_errors(run):
    bucket = unique("KERR")
    ok(run("kv", "add", bucket, "--storage", "memory", "--max-value-size", "8"))
    for args in (("get", "NOPE", "k"), ("put", "NOPE", "k", "v"), ("ls", "NOPE"), ("info", "NOPE"),
                 ("watch", "NOPE"), ("history", "NOPE", "k"), ("rm", "NOPE", "-f"), ("del", "NOPE", "k", "-f")):
        assert_one_error(run("kv", *args), "bucket 'NOPE' not found")
    assert_one_error(run("kv", "get", bucket, "missing"), "key 'missing' not found")
    assert_one_error(run("kv", "get", bucket, "missing", "--revision", "99"), "not found")
    assert_one_error(run("kv", "put", bucket, "bad key", "v"), "invalid key 'bad key'")
    assert_one_error(run("kv", "put", bucket, "k", "more than eight bytes"), "message size exceeds maximum")
    assert_one_error(run("kv", "add", "a.b"), "invalid bucket name 'a.b'")
    assert_one_error(run("kv", "purge", bucket, "k"), "add -f")
    refused = run("kv", "add", unique("B"), "--max-value-size", "lots")
    assert refused.returncode == 2 and "invalid size 'lots'" in refused.stderr and "Traceback" not in refused.stderr


# ------------------------------------------------------------------------------------ object

def test_object_put_get_info_ls(run, tmp_path):
    bucket = unique("FILES")
    shown = ok(run("object", "add", bucket, "--description", "uploads", "--storage", "memory",
                   "--max-bucket-size", "10MB", "--ttl", "24h"))
    assert shown.startswith(f"Information for Object Store Bucket {bucket} created ")
    fields = labels(shown)
    assert fields["Bucket Name"] == bucket and fields["Description"] == "uploads"
    assert fields["Sealed"] == "false" and fields["TTL"] == "24h0m0s"
    assert fields["Maximum Bucket Size"] == "10 MiB" and fields["JetStream Stream"] == f"OBJ_{bucket}"

    data = os.urandom(300_000)  # three chunks of 128 KiB
    (tmp_path / "big.bin").write_bytes(data)
    put = ok(run("object", "put", bucket, "big.bin", "-H", "Kind:blob", cwd=tmp_path))
    assert put.startswith(f"Object information for {bucket} > big.bin\n")
    fields = labels(put)
    assert fields["Size"] == "293 KiB" and fields["Chunks"] == "3"
    assert fields["Digest"] == f"SHA-256 {hashlib.sha256(data).hexdigest()}" and fields["Headers"] == "Kind: blob"
    assert labels(ok(run("object", "info", bucket, "big.bin"))) == fields
    meta = json.loads(ok(run("object", "info", bucket, "big.bin", "--json")))
    assert meta["size"] == 300_000 and meta["chunks"] == 3 and meta["headers"] == {"Kind": ["blob"]}

    wrote = ok(run("object", "get", bucket, "big.bin", "-O", str(tmp_path / "copy.bin")))
    assert wrote.startswith(f"Wrote: 293 KiB to {tmp_path / 'copy.bin'} in ")
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert_one_error(run("object", "get", bucket, "big.bin", "-O", str(tmp_path / "copy.bin")), "add -f")
    ok(run("object", "get", bucket, "big.bin", "-O", str(tmp_path / "copy.bin"), "-f"))

    assert "\n" in ok(run("object", "put", bucket, "--name", "notes/a.txt", input="from stdin\n"))
    assert ok(run("object", "get", bucket, "notes/a.txt", "-O", "-")) == "from stdin\n"
    (tmp_path / "out").mkdir()
    ok(run("object", "get", bucket, "notes/a.txt", cwd=tmp_path / "out"))  # into the name's last part
    assert (tmp_path / "out" / "a.txt").read_text() == "from stdin\n"
    assert_one_error(run("object", "put", bucket, input="x"), "--name is required")
    assert_one_error(run("object", "put", bucket, "--name", "notes/a.txt", input="x"), "add -f")
    ok(run("object", "put", bucket, "--name", "notes/a.txt", "-f", input="replaced"))
    assert ok(run("object", "get", bucket, "notes/a.txt", "-O", "-")) == "replaced"

    contents = ok(run("object", "ls", bucket))
    assert contents.startswith("Bucket Contents") and "Name" in contents and "Time" in contents
    assert "big.bin" in contents and "293 KiB" in contents
    assert ok(run("object", "ls", bucket, "--names")).split() == ["big.bin", "notes/a.txt"]
    assert [o["name"] for o in json.loads(ok(run("object", "ls", bucket, "--json")))] == ["big.bin", "notes/a.txt"]
    buckets = ok(run("object", "ls"))
    assert buckets.startswith("Object Store Buckets") and f" {bucket} " in buckets
    assert bucket in ok(run("obj", "ls", "--names")).split()  # `obj`: the nats CLI's short name


def test_object_del_watch_seal_rm(run, tmp_path):
    bucket = unique("STORE")
    ok(run("object", "add", bucket, "--storage", "memory"))
    for name in ("one", "two"):
        ok(run("object", "put", bucket, "--name", name, input=name * 10))
    assert_one_error(run("object", "del", bucket, "one"), "add -f")
    removed = ok(run("object", "del", bucket, "one", "-f"))
    assert removed.startswith(f"Removed {bucket} > one\n\nInformation for Object Store Bucket {bucket}")
    assert_one_error(run("object", "get", bucket, "one", "-O", "-"), "object 'one'")
    assert_one_error(run("object", "del", bucket, "one", "-f"), "object 'one'")
    assert ok(run("object", "ls", bucket, "--names")).split() == ["two"]

    lines = ok(run("object", "watch", bucket, "--count", "2")).splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [f"PUT {bucket} > two: 30 B in 1 chunks",
                                                          f"DEL {bucket} > one"]

    assert_one_error(run("object", "seal", bucket), "add -f")
    sealed = ok(run("object", "seal", bucket, "-f"))
    assert sealed.startswith(f"{bucket} has been sealed\n") and labels(sealed)["Sealed"] == "true"
    assert_one_error(run("object", "put", bucket, "--name", "three", "-f", input="x"), "sealed")
    assert ok(run("object", "get", bucket, "two", "-O", "-")) == "two" * 10  # still readable

    assert ok(run("object", "rm", bucket, "-f")) == ""
    assert_one_error(run("object", "info", bucket), f"object store '{bucket}' not found")
    for args in (("ls", "NOPE"), ("put", "NOPE", "--name", "x"), ("get", "NOPE", "x"), ("watch", "NOPE"),
                 ("seal", "NOPE", "-f"), ("rm", "NOPE", "-f")):
        assert_one_error(run("object", *args, input="x"), "object store 'NOPE' not found")
    assert_one_error(run("object", "info", "a.b"), "invalid bucket name 'a.b'")
    missing = run("object", "put", bucket, str(tmp_path / "nofile"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


# ------------------------------------------------------------------------------------ no JetStream

def test_without_jetstream_or_server(server, spawn, tmp_path):
    """A server without -js has nobody on $JS.API; a silent listener there lets requests time
    out; no server cannot be reached; a wrong token is refused: one line each."""
    env = clean_env(tmp_path)
    for args in (("kv", "ls"), ("kv", "get", "B", "k"), ("kv", "watch", "B"), ("object", "ls"),
                 ("object", "put", "B", "--name", "x")):
        assert_one_error(zats(*args, "-s", server.url, env=env, input="x"), "JetStream is not enabled")
    nobody = f"nats://127.0.0.1:{free_port()}"
    for args in (("kv", "get", "B", "k"), ("object", "ls")):
        assert_one_error(zats(*args, "-s", nobody, env=env), "could not connect to")
    guarded = spawn(server.kind, "-js", "-sd", str(tmp_path / "store"), "--auth", "s3cret")
    for args in (("kv", "ls"), ("object", "info", "B")):
        assert_one_error(zats(*args, "-s", guarded.url, "--token", "wrong", env=env), "authorization violation")
    silent = Background("sub", "$JS.API.>", "-s", server.url, env=env, ready="Subscribing on")
    try:
        for args in (("kv", "info", "B"), ("object", "ls")):
            assert_one_error(zats(*args, "-s", server.url, "--timeout", "0.5s", env=env),
                             "timeout: JetStream did not answer within 0.5s")
    finally:
        silent.stop()


def test_help_is_concise(tmp_path):
    env = clean_env(tmp_path)
    for group, commands in (("kv", ("add", "info", "ls", "del", "put", "get", "create", "update", "purge",
                                    "history", "watch")),
                            ("object", ("add", "info", "ls", "del", "put", "get", "watch", "seal"))):
        shown = zats(group, "--help", env=env)
        assert shown.returncode == 0 and len(shown.stdout.splitlines()) <= 25, shown.stdout
        listed = [line.split()[0] for line in shown.stdout.split("Commands:")[1].splitlines() if line.strip()]
        assert sorted(listed) == sorted(commands)
    top = zats("--help", env=env).stdout
    assert "kv " in top and "object " in top
