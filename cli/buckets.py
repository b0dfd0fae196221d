"""What `zats kv` and `zats object` share: running a command on zats.client's JetStreamContext
with its errors (bucket or key not found, a wrong revision, an API error, no JetStream) turned
into one line for the user, the buckets of the account (the streams named `KV_*` or `OBJ_*`),
byte sizes as the nats CLI reads them (`10MB`, `512K`), and bucket values shown as text or,
when not printable, base64 (as the nats CLI)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import re

import click

from zats.client import errors
from zats.client.jetstream import errors as jserrors

from . import aio, jsapi, jsview
from .connection import connect
from .output import CliError, console, flush_stdout, human_bytes, out, print_json

_SIZE = re.compile(r"(\d+)([a-zA-Z]*)")
_SIZE_SHIFTS = {"": 0, "b": 0, "k": 10, "kb": 10, "kib": 10, "m": 20, "mb": 20, "mib": 20,
                "g": 30, "gb": 30, "gib": 30, "t": 40, "tb": 40, "tib": 40}
# how zats.client words an API error inside a KV or object store error
_API_SUFFIX = re.compile(r" \(code=\w+, err_code=(\w+)\)$")


class Size(click.ParamType):
    """Bytes as the nats CLI reads them: a number, or one with K, KB, KiB, M... T (powers of
    1024); a negative number is -1 (unlimited)."""

    name = "BYTES"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = value.strip()
        if text.startswith("-"):
            return -1
        m = _SIZE.fullmatch(text)
        if m is None or m.group(2).lower() not in _SIZE_SHIFTS:
            self.fail(f"invalid size {value!r} (examples: 1024, 512K, 10MB, 1GiB)", param, ctx)
        return int(m.group(1)) << _SIZE_SHIFTS[m.group(2).lower()]


SIZE = Size()


def problem(exc: BaseException, timeout: float) -> str:
    """One line for an error of zats.client's JetStream, KV or object store API."""
    if isinstance(exc, jserrors.JetStreamNotEnabledError):
        return jsapi.NO_JETSTREAM
    if isinstance(exc, errors.TimeoutError):
        return f"timeout: JetStream did not answer within {timeout:g}s"
    if isinstance(exc, jserrors.APIError):
        return jsapi.api_error({"error": {"description": exc.description, "err_code": exc.err_code,
                                          "code": exc.code}})
    text = str(exc) or type(exc).__name__
    return _API_SUFFIX.sub(lambda m: f" ({m.group(1)})" if m.group(1) != "None" else "", text)


def bucket_command(settings, body, *, until_stopped: bool = False) -> None:
    """Runs `body(js)` on a JetStreamContext (requests waiting up to --timeout), or with
    `until_stopped` `body(js, stopped)` (a watch, which ends when `stopped` is set by Ctrl-C);
    every error of the client's JetStream API, and a name it refuses (ValueError), is one
    line."""

    async def main(stopped: asyncio.Event) -> None:
        async with connect(settings, log_events=until_stopped) as nc:
            js = nc.jetstream(timeout=settings.timeout)
            try:
                await (body(js, stopped) if until_stopped else body(js))
            except (jserrors.JetStreamError, errors.TimeoutError, ValueError) as exc:
                raise CliError(problem(exc, settings.timeout)) from None

    aio.run(main)


async def follow(watcher, stopped: asyncio.Event, count: int, show) -> None:
    """`show(entry)` for each entry of a bucket watcher until `stopped` is set (or after
    `count` of them, when not 0); the end-of-initial-values marker is skipped. Stops the
    watcher."""
    seen = 0
    try:
        while not stopped.is_set() and not (count and seen >= count):
            update = asyncio.ensure_future(watcher.updates(timeout=None))
            await aio.wait_any(stopped, update)
            if not update.done() or update.cancelled() or update.result() is None:
                continue  # stopped, or the marker
            seen += 1
            show(update.result())
            flush_stdout()
    finally:
        await watcher.stop()


async def buckets(js, prefix: str) -> list[dict]:
    """The infos (the API's JSON) of the streams named `prefix` + bucket, by bucket name."""
    found = [info.as_dict() for info in await js.streams_info() if info.config.name.startswith(prefix)]
    return sorted(found, key=lambda s: s["config"]["name"])


async def list_buckets(js, prefix: str, kind: str, names: bool, as_json: bool, values: bool) -> None:
    """`kv ls` and `object ls` without a bucket: the buckets of `kind` (`Key-Value`...) as a
    table (`values`: with a Values column), names, or JSON."""
    found = await buckets(js, prefix)
    if as_json:
        print_json([s["config"]["name"][len(prefix):] for s in found] if names else found)
    elif not found:
        out(f"No {kind} buckets found")
    elif names:
        for s in found:
            out(s["config"]["name"][len(prefix):])
    else:
        bucket_table(f"{kind} Buckets", prefix, found, values)


def bucket_table(title: str, prefix: str, found: list[dict], values: bool) -> None:
    """The nats CLI's table of buckets: name, description, created, size, (values,) last
    update."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    columns = ["Bucket", "Description", "Created", "Size"] + (["Values"] if values else []) + ["Last Update"]
    for column in columns:
        table.add_column(column, justify="right" if column in ("Size", "Values") else "left")
    for s in found:
        cfg, state = s["config"], s.get("state", {})
        row = [cfg["name"][len(prefix):], cfg.get("description", ""), jsview.timestamp(s.get("created")),
               human_bytes(state.get("bytes", 0))]
        if values:
            row.append(f"{state.get('messages', 0):,}")
        row.append(since(state.get("last_ts")))
        table.add_row(*row)
    console().print(table)


def since(text: str | None) -> str:
    """How long ago an API time was, as a Go duration rounded to the second (`never` for
    none)."""
    when = jsview.parse_time(text)
    if when is None:
        return jsview.timestamp(text)
    ago = datetime.datetime.now(datetime.UTC) - when
    return jsview.duration(max(round(ago.total_seconds()), 0) * 1_000_000_000)


def printable(data: bytes) -> str:
    """The value as text when it is printable ASCII, else base64 (as the nats CLI shows
    values)."""
    if all(32 <= b < 127 for b in data):
        return data.decode("ascii")
    return base64.b64encode(data).decode()


def show_value(text: str, width: int = 40) -> str:
    """A value cut to its first and last 15 characters when longer than `width` (as the nats
    CLI's history and revert)."""
    return text if len(text) <= width else f"{text[:15]}...{text[-15:]}"

