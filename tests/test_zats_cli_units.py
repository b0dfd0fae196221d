"""The parts of the `zats` CLI that need no server: body templates, Go durations, the merging of
flags over a saved context, the layouts of durations and sizes, byte sizes as flags, and the
one-line wording of the client's bucket errors."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys

import click
import pytest

from zats.cli import contexts, jsview, templates
from zats.cli.buckets import SIZE, printable, problem, show_value
from zats.cli.connection import parse_duration, resolve
from zats.cli.consumer_cmd import _ack_metadata
from zats.cli.jsapi import api_error
from zats.cli.output import CliError, human_bytes
from zats.cli.pubsub import go_duration
from zats.client import errors
from zats.client.jetstream import errors as jserrors
from zats.client.jetstream import kv


def test_templates():
    assert templates.render("n {{Count}} {{ .Count }} {{Cnt}}", 7) == "n 7 7 7"
    assert re.fullmatch(r"\d{10} \d{19}", templates.render("{{Unix}} {{UnixNano}}", 1))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", templates.render("{{TimeStamp}}", 1))
    assert re.fullmatch(r"\d{1,2}:\d\d(AM|PM)", templates.render("{{Time}}", 1))
    assert re.fullmatch(r"[A-Za-z0-9]{22}", templates.render("{{ID}}", 1))
    for _ in range(20):
        assert 3 <= len(templates.render("{{Random 3 6}}", 1)) <= 6
    assert templates.render("{{Random 5 5}}{{Request}}", 1, request="!")[5:] == "!"
    assert templates.render("no actions", 1) == "no actions"
    with pytest.raises(templates.TemplateError, match="'Nope' not defined"):
        templates.render("{{Nope}}", 1)
    with pytest.raises(templates.TemplateError):
        templates.render("{{Count 3}}", 1)


def test_durations():
    assert parse_duration("5s") == 5 and parse_duration("500ms") == 0.5 and parse_duration("1m30s") == 90
    assert parse_duration("2") == 2 and parse_duration("1.5h") == 5400
    for bad in ("", "5x", "s"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert go_duration(0.000000812) == "812ns"
    assert go_duration(0.0002153) == "215.3µs"
    assert go_duration(0.00152) == "1.52ms"
    assert go_duration(2.004) == "2.004s"
    assert human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KiB" and human_bytes(12 << 20) == "12 MiB"


def test_flags_over_context_over_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert resolve({}).servers == "nats://127.0.0.1:4222" and resolve({}).timeout == 5
    contexts.save("a", {"url": "nats://a:1", "user": "u", "password": "p", "tls_first": True})
    contexts.save("b", {"url": "nats://b:1"})
    contexts.select("a")
    s = resolve({"timeout": 2.0, "user": None})
    assert (s.servers, s.user, s.password, s.tlsfirst, s.timeout, s.context) == ("nats://a:1", "u", "p", True, 2.0, "a")
    assert resolve({"servers": "nats://flag:1"}).servers == "nats://flag:1"
    assert resolve({}, context="b").servers == "nats://b:1"
    assert resolve({}, no_context=True).servers == "nats://127.0.0.1:4222"
    # a user without a password is a token, as in the nats CLI
    lone = resolve({"user": "s3cret"}, no_context=True)
    assert (lone.user, lone.token) == (None, "s3cret")
    contexts.remove("a")
    assert contexts.selected() is None and contexts.names() == ["b"]
    with pytest.raises(CliError, match="invalid context name"):
        contexts.save("../x", {})
    with pytest.raises(CliError, match="unknown context"):
        resolve({}, context="gone")


def test_the_cli_does_not_load_the_broker():
    """The CLI is a client: loading every command (zats-bench's helpers included) brings in no
    part of zats.broker."""
    code = ("import sys, zats.cli.app; "
            "print(sorted(m for m in sys.modules if m.startswith('zats.broker')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result


def test_jetstream_layouts():
    assert [jsview.duration(ns) for ns in (0, 500_000_000, 30 * 10**9, 90 * 10**9, 120 * 10**9,
                                           24 * 3600 * 10**9, 1_500_000_000)] == \
        ["0s", "500ms", "30s", "1m30s", "2m0s", "24h0m0s", "1.5s"]
    assert [jsview.limit(v) for v in (-1, 0, 1234)] == ["unlimited", "unlimited", "1,234"]
    assert jsview.size_limit(1048576) == "1.0 MiB" and jsview.age_limit(-1) == "unlimited"
    assert jsview.timestamp("0001-01-01T00:00:00Z") == "never"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", jsview.timestamp("2026-12-04T20:41:02.123456789Z"))
    assert api_error({"error": {"code": 404, "err_code": 10059, "description": "stream not found"}}) == \
        "stream not found (10059)"
    old = _ack_metadata("$JS.ACK.ORDERS.C1.2.17.5.1733300000000000000.3")
    new = _ack_metadata("$JS.ACK.dom.ACCHASH.ORDERS.C1.2.17.5.1733300000000000000.3.tok")
    assert old == new == {"delivered": "2", "stream_seq": "17", "pending": "3"}
    assert _ack_metadata("_INBOX.x") is None and _ack_metadata(None) is None


def test_api_times_keep_their_zone():
    """Nanoseconds are cut to microseconds without losing the `Z` after them (a time read as
    local would be shown hours off wherever the zone is not UTC)."""
    when = jsview.parse_time("2026-12-04T20:41:02.123456789Z")
    assert when == datetime.datetime(2026, 12, 4, 20, 41, 2, 123456, tzinfo=datetime.UTC)
    assert jsview.parse_time("2026-12-04T20:41:02+01:00").utcoffset() == datetime.timedelta(hours=1)
    assert jsview.parse_time("0001-01-01T00:00:00Z") is None and jsview.parse_time("soon") is None


def test_bucket_sizes_values_and_errors():
    assert [SIZE.convert(v, None, None) for v in ("1024", "1K", "2kb", "1KiB", "10MB", "1g", "1T", "-1")] == \
        [1024, 1024, 2048, 1024, 10 << 20, 1 << 30, 1 << 40, -1]
    with pytest.raises(click.BadParameter, match="invalid size '5 apples'"):
        SIZE.convert("5 apples", None, None)
    assert printable(b"plain text") == "plain text" and printable(b"a\nb") == "YQpi"  # base64, as nats
    assert show_value("x" * 40) == "x" * 40 and show_value("a" * 20 + "b" * 30) == "a" * 15 + "..." + "b" * 15
    wrong = kv.KeyWrongLastSequenceError("wrong last sequence: 3 (code=400, err_code=10071)")
    assert problem(wrong, 5) == "wrong last sequence: 3 (10071)"
    assert problem(jserrors.StreamNotFoundError(404, 10059, "stream not found"), 5) == "stream not found (10059)"
    assert problem(jserrors.JetStreamNotEnabledError("$JS.API.STREAM.LIST"), 5) == \
        "JetStream is not enabled on this server or account"
    assert problem(errors.TimeoutError(), 2.5) == "timeout: JetStream did not answer within 2.5s"
    assert problem(kv.BucketNotFoundError("bucket 'B' not found"), 5) == "bucket 'B' not found"
