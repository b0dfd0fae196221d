"""`zats kv`: key/value buckets as the nats CLI manages them (`add`, `info`, `ls`, `del`/`rm`,
`put`, `get`, `create`, `update`, `purge`, `history`, `watch`), on zats.client's KeyValue; never
a prompt without a terminal (`del` and `purge` take `-f`). As in the nats CLI, `ls` lists the
buckets, `ls BUCKET` its keys, and `del BUCKET` without a key deletes the bucket."""

from __future__ import annotations

import asyncio
import base64
import sys

import click

from zats.client.jetstream import kv as kvapi

from . import jsview
from .buckets import SIZE, bucket_command, follow, list_buckets, printable, show_value
from .connection import DURATION, connection_options
from .groups import AliasGroup
from .output import body_text, console, flush_stdout, human_bytes, out, paint, print_json
from .stream_cmd import confirm

PREFIX = "KV_"
OPS = {kvapi.PUT: "PUT", kvapi.DEL: "DELETE", kvapi.PURGE: "PURGE"}


class _Group(AliasGroup):
    """`kv` with the nats CLI's other names of its commands."""

    ALIASES = {"new": "add", "status": "info", "view": "info", "list": "ls", "rm": "del"}


@click.group("kv", cls=_Group, short_help="JetStream key/value buckets: add, put, get, watch...")
def kv():
    """Manage key/value buckets and their keys (the server runs with JetStream: `-js`)."""


def _value(value: str | None) -> bytes:
    """VALUE, or (as the nats CLI) stdin when it is omitted and stdin is not a terminal."""
    if value is None and not sys.stdin.isatty():
        return sys.stdin.buffer.read()
    return (value or "").encode("utf-8", errors="surrogateescape")


# ------------------------------------------------------------------------------------ buckets

@kv.command("add", short_help="Create a bucket.")
@click.argument("bucket")
@click.option("--history", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Values kept per key")
@click.option("--ttl", type=DURATION, default=0.0, help="How long values are kept, e.g. 1h (0: forever)")
@click.option("--max-value-size", type=SIZE, default=-1, help="Largest value, e.g. 1KB (-1: unlimited)")
@click.option("--max-bucket-size", type=SIZE, default=-1, help="Largest bucket, e.g. 1GB (-1: unlimited)")
@click.option("--storage", type=click.Choice(["file", "memory"]), default="file", show_default=True)
@click.option("--replicas", type=int, default=1, show_default=True)
@click.option("--description", default=None, help="What the bucket is for")
@click.option("--json", "as_json", is_flag=True, help="Print the bucket's stream information as JSON")
@connection_options
def add(bucket, history, ttl, max_value_size, max_bucket_size, storage, replicas, description, as_json, settings):
    """Create the key/value bucket BUCKET."""

    async def body(js) -> None:
        store = await js.create_key_value(bucket=bucket, history=history, ttl=ttl or None,
                                          max_value_size=max_value_size, max_bytes=max_bucket_size,
                                          storage=storage, replicas=replicas, description=description)
        _show_status((await store.status()).as_dict(), as_json)

    bucket_command(settings, body)


@kv.command("info", short_help="Show a bucket's configuration and state.")
@click.argument("bucket")
@click.option("--json", "as_json", is_flag=True, help="Print the bucket's stream information as JSON")
@connection_options
def info(bucket, as_json, settings):
    """Show the configuration and state of BUCKET (also `kv status`)."""

    async def body(js) -> None:
        store = await js.key_value(bucket)
        _show_status((await store.status()).as_dict(), as_json)

    bucket_command(settings, body)


def _show_status(info: dict, as_json: bool) -> None:
    if as_json:
        print_json(info)
        return
    cfg, state = info.get("config", {}), info.get("state", {})
    bucket = cfg.get("name", "")[len(PREFIX):]
    out(f"Information for Key-Value Store Bucket {bucket} created {jsview.timestamp(info.get('created'))}")
    out()
    jsview.sections([("Configuration", [
        ("Bucket Name", bucket),
        ("History Kept", f"{cfg.get('max_msgs_per_subject', 1):,}"),
        ("Values Stored", f"{state.get('messages', 0):,}"),
        ("Compressed", str(cfg.get("compression") == "s2").lower()),
        ("Backing Store Kind", "JetStream"),
        ("Description", cfg.get("description") or None),
        ("Bucket Size", human_bytes(state.get("bytes", 0))),
        ("Maximum Bucket Size", jsview.size_limit(cfg.get("max_bytes"))),
        ("Maximum Value Size", jsview.size_limit(cfg.get("max_msg_size"))),
        ("Maximum Age", jsview.age_limit(cfg.get("max_age"))),
        ("JetStream Stream", cfg.get("name")),
        ("Storage", str(cfg.get("storage", "file")).capitalize())])])


@kv.command("ls", short_help="List the buckets, or the keys of one.")
@click.argument("bucket", required=False)
@click.option("-n", "--names", is_flag=True, help="Print only the bucket names, one a line")
@click.option("--json", "as_json", is_flag=True, help="Print the buckets (or keys) as JSON")
@connection_options
def ls(bucket, names, as_json, settings):
    """List the key/value buckets; with BUCKET, the keys that have a value."""

    async def body(js) -> None:
        if bucket is not None:
            await _keys(js, bucket, as_json)
            return
        await list_buckets(js, PREFIX, "Key-Value", names, as_json, values=True)

    bucket_command(settings, body)


async def _keys(js, bucket: str, as_json: bool) -> None:
    store = await js.key_value(bucket)
    keys = sorted(await store.keys())
    if as_json:
        print_json(keys)
    elif not keys:
        out("No keys found in bucket")
    else:
        for key in keys:
            out(key)


@kv.command("keys", hidden=True)
@click.argument("bucket")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON")
@connection_options
def keys(bucket, as_json, settings):
    """List the keys of BUCKET that have a value (the nats CLI's `kv ls BUCKET`)."""
    bucket_command(settings, lambda js: _keys(js, bucket, as_json))


@kv.command("del", short_help="Delete a key, or a whole bucket.")
@click.argument("bucket")
@click.argument("key", required=False)
@click.option("-f", "--force", is_flag=True, help="Delete without asking")
@connection_options
def del_(bucket, key, force, settings):
    """Delete KEY from BUCKET (its history stays); without KEY, delete BUCKET and all its
    values (also `kv rm`)."""
    confirm(force, f"delete key {bucket} > {key}" if key else f"delete bucket {bucket}")

    async def body(js) -> None:
        if key is None:
            await js.delete_key_value(bucket)
        else:
            await (await js.key_value(bucket)).delete(key)

    bucket_command(settings, body)


del_.name = "del"


@kv.command("purge", short_help="Delete a key and its history.")
@click.argument("bucket")
@click.argument("key")
@click.option("-f", "--force", is_flag=True, help="Purge without asking")
@connection_options
def purge(bucket, key, force, settings):
    """Delete KEY from BUCKET with its history (one delete marker stays)."""
    confirm(force, f"purge key {bucket} > {key}")

    async def body(js) -> None:
        await (await js.key_value(bucket)).purge(key)

    bucket_command(settings, body)


# ------------------------------------------------------------------------------------ values

@kv.command("put", short_help="Set a key's value.")
@click.argument("bucket")
@click.argument("key")
@click.argument("value", required=False)
@connection_options
def put(bucket, key, value, settings):
    """Set KEY of BUCKET to VALUE (read from stdin when omitted) and print VALUE."""
    _set(settings, bucket, key, value, "put")


def _set(settings, bucket: str, key: str, value: str | None, how: str) -> None:
    """`put` or `create` VALUE (or stdin), then print VALUE as the nats CLI does."""
    data = _value(value)

    async def body(js) -> None:
        await getattr(await js.key_value(bucket), how)(key, data)
        if value is not None:
            out(value)

    bucket_command(settings, body)


@kv.command("create", short_help="Set a key that has no value.")
@click.argument("bucket")
@click.argument("key")
@click.argument("value", required=False)
@connection_options
def create(bucket, key, value, settings):
    """Set KEY of BUCKET to VALUE (or stdin) only if it is new or was deleted."""
    _set(settings, bucket, key, value, "create")


@kv.command("update", short_help="Set a key if it is at a revision.")
@click.argument("bucket")
@click.argument("key")
@click.argument("value")
@click.argument("revision", type=click.IntRange(min=0))
@connection_options
def update(bucket, key, value, revision, settings):
    """Set KEY of BUCKET to VALUE only if its latest revision is REVISION."""

    async def body(js) -> None:
        await (await js.key_value(bucket)).update(key, _value(value), last=revision)
        out(value)

    bucket_command(settings, body)


@kv.command("get", short_help="Show a key's value.")
@click.argument("bucket")
@click.argument("key")
@click.option("--revision", type=click.IntRange(min=1), help="That revision, not the latest")
@click.option("--raw", is_flag=True, help="Print only the value, as it is")
@click.option("--json", "as_json", is_flag=True, help="Print the entry as JSON")
@connection_options
def get(bucket, key, revision, raw, as_json, settings):
    """Show the value of KEY in BUCKET."""

    async def body(js) -> None:
        entry = await (await js.key_value(bucket)).get(key, revision)
        if raw:
            sys.stdout.buffer.write(entry.value)
            flush_stdout()
        elif as_json:
            print_json(_entry_json(entry))
        else:
            _show_entry(entry)

    bucket_command(settings, body)


def _entry_json(entry: kvapi.Entry) -> dict:
    """An entry as JSON: the value as text when it is UTF-8, else base64 (`encoding`)."""
    doc = {"bucket": entry.bucket, "key": entry.key, "revision": entry.revision, "created": entry.created,
           "operation": OPS.get(entry.operation, entry.operation)}
    try:
        doc["value"] = entry.value.decode("utf-8")
    except UnicodeDecodeError:
        doc.update(value=base64.b64encode(entry.value).decode(), encoding="base64")
    return doc


def _show_entry(entry: kvapi.Entry) -> None:
    """As `nats kv get`: a title line, then the value (base64 unless printable, cut to 120
    characters)."""
    created = jsview.parse_time(entry.created)
    when = created.astimezone().strftime("%d %b %y %H:%M %Z") if created else "never"
    out(f"{entry.bucket} > {entry.key} revision: {entry.revision} created @ {when}")
    out()
    text = printable(entry.value)
    if len(text) > 120:
        out(f"Showing first 120 bytes of {len(text):,}, use --raw for full data")
        out()
        text = text[:120]
    out(text)
    out()


@kv.command("history", short_help="Show every revision of a key.")
@click.argument("bucket")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print the revisions as JSON")
@connection_options
def history(bucket, key, as_json, settings):
    """Show the revisions BUCKET keeps of KEY, oldest first."""

    async def body(js) -> None:
        entries = await (await js.key_value(bucket)).history(key)
        if as_json:
            print_json([_entry_json(e) for e in entries])
            return
        from rich.table import Table

        table = Table(title=f"History for {bucket} > {key}", title_justify="left")
        for column in ("Key", "Revision", "Op", "Created", "Length", "Value"):
            table.add_column(column, justify="right" if column in ("Revision", "Length") else "left")
        for e in entries:
            table.add_row(e.key, str(e.revision), OPS.get(e.operation, e.operation), jsview.timestamp(e.created),
                          f"{len(e.value):,}", show_value(printable(e.value)))
        console().print(table)

    bucket_command(settings, body)


@kv.command("watch", short_help="Print a bucket's changes as they happen.")
@click.argument("bucket")
@click.argument("key", default=">")
@click.option("--history", "include_history", is_flag=True, help="Start with every kept revision")
@click.option("--deletes/--no-deletes", default=True, show_default=True, help="Show deletes and purges")
@click.option("--count", type=click.IntRange(min=0), default=0, help="Exit after this many entries")
@connection_options
def watch(bucket, key, include_history, deletes, count, settings):
    """Print the latest value of each key of BUCKET matching KEY (wildcards allowed), then each
    change, until Ctrl-C (or --count entries)."""

    async def body(js, stopped: asyncio.Event) -> None:
        store = await js.key_value(bucket)
        watcher = await store.watch(key, include_history=include_history, ignore_deletes=not deletes)
        await follow(watcher, stopped, count, _show_change)

    bucket_command(settings, body, until_stopped=True)


def _show_change(e: kvapi.Entry) -> None:
    when = jsview.timestamp(e.created)
    op = OPS.get(e.operation, e.operation)
    if e.operation == kvapi.PUT:
        out(f"[{when}] {paint(op, 'green')} {e.bucket} > {e.key}: {body_text(e.value)}")
    else:
        out(f"[{when}] {paint(op, 'red')} {e.bucket} > {e.key}")

