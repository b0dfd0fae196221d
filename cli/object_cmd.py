"""`zats object`: object store buckets as the nats CLI manages them (`add`, `info`, `ls`,
`del`/`rm`, `put`, `get`, `watch`, `seal`), on zats.client's ObjectStore. `put` streams from a
file (or stdin) and `get` into one, a chunk at a time, with a progress bar on a terminal. As in
the nats CLI, `ls` lists the buckets, `ls BUCKET` its objects, and `del BUCKET` without a name
deletes the bucket; replacing an object or a file, deleting and sealing take `-f` when there is
no terminal to ask on."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time

import click
import msgspec

from zats.client.jetstream import object_store as obs

from . import jsview
from .buckets import SIZE, bucket_command, follow, list_buckets
from .connection import DURATION, connection_options
from .groups import AliasGroup
from .messages import header_option, parse_headers
from .output import CliError, console, human_bytes, out, paint, print_json
from .progress import Bars
from .stream_cmd import confirm

PREFIX = "OBJ_"
BAR_FROM = 20 * 1024  # smaller objects get no progress bar (as the nats CLI)


class _Group(AliasGroup):
    """`object` with the nats CLI's other names of its commands."""

    ALIASES = {"rm": "del", "show": "info", "i": "info"}


@click.group("object", cls=_Group, short_help="JetStream object stores: add, put, get, ls, watch...")
def object_group():
    """Manage object store buckets and their objects (the server runs with JetStream: `-js`)."""


# ------------------------------------------------------------------------------------ buckets

@object_group.command("add", short_help="Create a bucket.")
@click.argument("bucket")
@click.option("--ttl", type=DURATION, default=0.0, help="How long objects are kept, e.g. 24h (0: forever)")
@click.option("--max-bucket-size", type=SIZE, default=-1, help="Largest bucket, e.g. 1GB (-1: unlimited)")
@click.option("--storage", type=click.Choice(["file", "memory"]), default="file", show_default=True)
@click.option("--replicas", type=int, default=1, show_default=True)
@click.option("--description", default=None, help="What the bucket is for")
@click.option("--json", "as_json", is_flag=True, help="Print the bucket's stream information as JSON")
@connection_options
def add(bucket, ttl, max_bucket_size, storage, replicas, description, as_json, settings):
    """Create the object store bucket BUCKET."""

    async def body(js) -> None:
        store = await js.create_object_store(bucket, ttl=ttl or None, max_bytes=max_bucket_size,
                                             storage=storage, replicas=replicas, description=description)
        _show_bucket(await store.status(), as_json)

    bucket_command(settings, body)


@object_group.command("info", short_help="Show a bucket's or an object's information.")
@click.argument("bucket")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the information as JSON")
@connection_options
def info(bucket, name, as_json, settings):
    """Show the configuration and state of BUCKET, or the information of its object NAME."""

    async def body(js) -> None:
        store = await js.object_store(bucket)
        if name is None:
            _show_bucket(await store.status(), as_json)
        else:
            _show_object(await store.get_info(name), as_json)

    bucket_command(settings, body)


def _show_bucket(status: obs.ObjectStoreStatus, as_json: bool) -> None:
    info = status.stream_info.as_dict()
    if as_json:
        print_json(info)
        return
    cfg, state = info.get("config", {}), info.get("state", {})
    out(f"Information for Object Store Bucket {status.bucket} created {jsview.timestamp(info.get('created'))}")
    out()
    jsview.sections([("Configuration", [
        ("Bucket Name", status.bucket),
        ("Description", cfg.get("description") or None),
        ("Replicas", cfg.get("num_replicas", 1)),
        ("TTL", jsview.age_limit(cfg.get("max_age"))),
        ("Sealed", str(bool(cfg.get("sealed"))).lower()),
        ("Size", human_bytes(state.get("bytes", 0))),
        ("Maximum Bucket Size", jsview.size_limit(cfg.get("max_bytes"))),
        ("Backing Store Kind", "JetStream"),
        ("JetStream Stream", cfg.get("name"))])])


def _show_object(info: obs.ObjectInfo, as_json: bool) -> None:
    if as_json:
        print_json(msgspec.to_builtins(info))
        return
    out(f"Object information for {info.bucket} > {info.name}")
    out()
    algorithm, _, digest = (info.digest or "").partition("=")
    try:
        digest = base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex()
    except ValueError:
        pass  # shown as stored
    headers = [f"{k}: {v}" for k, values in (info.headers or {}).items() for v in values]
    when = jsview.parse_time(info.mtime)
    link = info.options.link if info.options is not None else None
    jsview.sections([(None, [
        ("Description", info.description or None),
        ("Size", human_bytes(info.size)),
        ("Modification Time", when.astimezone().strftime("%d %b %y %H:%M %z") if when else "never"),
        ("Chunks", f"{info.chunks:,}"),
        ("Digest", f"{algorithm} {digest}" if info.digest else None),
        ("Link", f"{link.bucket} > {link.name}" if link and link.name else link.bucket if link else None),
        ("Deleted", "true" if info.deleted else None),
        ("Headers", "\n                     ".join(headers) if headers else None)])])


@object_group.command("ls", short_help="List the buckets, or the objects of one.")
@click.argument("bucket", required=False)
@click.option("-n", "--names", is_flag=True, help="Print only the names, one a line")
@click.option("--json", "as_json", is_flag=True, help="Print the buckets (or objects) as JSON")
@connection_options
def ls(bucket, names, as_json, settings):
    """List the object store buckets; with BUCKET, its objects."""

    async def body(js) -> None:
        if bucket is not None:
            await _objects(js, bucket, names, as_json)
            return
        await list_buckets(js, PREFIX, "Object Store", names, as_json, values=False)

    bucket_command(settings, body)


async def _objects(js, bucket: str, names: bool, as_json: bool) -> None:
    store = await js.object_store(bucket)
    found = sorted(await store.list(), key=lambda i: i.name)
    if as_json:
        print_json([i.name for i in found] if names else msgspec.to_builtins(found))
    elif not found:
        out("No entries found")
    elif names:
        for i in found:
            out(i.name)
    else:
        from rich.table import Table

        table = Table(title="Bucket Contents", title_justify="left")
        for column in ("Name", "Size", "Time"):
            table.add_column(column, justify="right" if column == "Size" else "left")
        for i in found:
            table.add_row(i.name, human_bytes(i.size), jsview.timestamp(i.mtime))
        console().print(table)


@object_group.command("del", short_help="Delete an object, or a whole bucket.")
@click.argument("bucket")
@click.argument("name", required=False)
@click.option("-f", "--force", is_flag=True, help="Delete without asking")
@connection_options
def del_(bucket, name, force, settings):
    """Delete the object NAME from BUCKET; without NAME, delete BUCKET and all its objects (also
    `object rm`)."""
    confirm(force, f"delete object {bucket} > {name}" if name else f"delete bucket {bucket} and all its objects")

    async def body(js) -> None:
        if name is None:
            await js.delete_object_store(bucket)
            return
        store = await js.object_store(bucket)
        await store.get_info(name)  # a missing object is an error, not a silent no-op
        await store.delete(name)
        out(f"Removed {bucket} > {name}")
        out()
        _show_bucket(await store.status(), False)

    bucket_command(settings, body)


del_.name = "del"


@object_group.command("seal", short_help="Seal a bucket: no more changes.")
@click.argument("bucket")
@click.option("-f", "--force", is_flag=True, help="Seal without asking")
@connection_options
def seal(bucket, force, settings):
    """Seal BUCKET: its objects can no longer be put, changed or deleted (for good)."""
    confirm(force, f"seal bucket {bucket} (a sealed bucket cannot be unsealed or changed)")

    async def body(js) -> None:
        store = await js.object_store(bucket)
        status = await store.seal()
        out(f"{bucket} has been sealed")
        out()
        _show_bucket(status, False)

    bucket_command(settings, body)


# ------------------------------------------------------------------------------------ objects

class _Counted:
    """A binary file that moves a progress bar as it is read or written (put and get call
    it from a worker thread; rich's progress takes updates from any thread)."""

    def __init__(self, file, bars: Bars, task: int):
        self._file, self._bars, self._task, self.done = file, bars, task, 0

    def _moved(self, n: int) -> int:
        self.done += n
        self._bars.update(self._task, self.done)
        return n

    def readinto(self, buf) -> int:
        return self._moved(self._file.readinto(buf) or 0)

    def write(self, data) -> int:
        self._file.write(data)
        return self._moved(len(data))

    def flush(self) -> None:
        self._file.flush()


@object_group.command("put", short_help="Store a file as an object.")
@click.argument("bucket")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True), required=False)
@click.option("--name", help="The object's name (default: FILE as given; required for stdin)")
@click.option("--description", help="What the object is")
@header_option
@click.option("-f", "--force", is_flag=True, help="Replace an object of that name without asking")
@click.option("--no-progress", is_flag=True, help="No progress bar")
@click.option("--json", "as_json", is_flag=True, help="Print the object's information as JSON")
@connection_options
def put(bucket, file, name, description, headers, force, no_progress, as_json, settings):
    """Store FILE (stdin when omitted or `-`) in BUCKET, read and sent a chunk at a time."""
    from_stdin = file in (None, "-")
    name = name or (None if from_stdin else os.path.normpath(file))
    if not name:
        raise CliError("--name is required when reading from stdin")
    hdrs = parse_headers(headers, 0)
    meta_headers: dict[str, list[str]] | None = None
    if hdrs is not None:
        meta_headers = {}
        for key, value in hdrs.items():
            meta_headers.setdefault(key, []).append(value)

    async def body(js) -> None:
        store = await js.object_store(bucket)
        if not force:
            try:
                existing = await store.get_info(name)
            except obs.ObjectNotFoundError:
                pass
            else:
                if sys.stdin.isatty():
                    _show_object(existing, False)
                confirm(False, f"replace object {bucket} > {name}")
        source = sys.stdin.buffer if from_stdin else open(file, "rb")  # noqa: SIM115 - closed below
        try:
            size = None if from_stdin else os.fstat(source.fileno()).st_size
            with Bars(enabled=not no_progress and size is not None and size > BAR_FROM) as bars:
                data = _Counted(source, bars, bars.add(name, size or 0)) if bars.enabled else source
                stored = await store.put(name, data, description=description, headers=meta_headers)
        finally:
            if not from_stdin:
                source.close()
        _show_object(stored, as_json)

    bucket_command(settings, body)


@object_group.command("get", short_help="Write an object into a file.")
@click.argument("bucket")
@click.argument("name")
@click.option("-O", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="The file to write (default: the object name's last part; `-`: stdout)")
@click.option("-f", "--force", is_flag=True, help="Replace an existing file without asking")
@click.option("--no-progress", is_flag=True, help="No progress bar")
@connection_options
def get(bucket, name, output, force, no_progress, settings):
    """Write the object NAME of BUCKET into a file, a chunk at a time as it arrives."""

    async def body(js) -> None:
        reader = await (await js.object_store(bucket)).reader(name)
        try:
            if output == "-":
                await _copy(reader, sys.stdout.buffer)
                return
            target = os.path.abspath(output or os.path.basename(name) or name)
            if os.path.exists(target) and not force:
                confirm(False, f"replace the file {target}")
            size = reader.info.size
            start = time.monotonic()
            try:
                with open(target, "wb") as sink, Bars(enabled=not no_progress and size > BAR_FROM) as bars:
                    await _copy(reader, _Counted(sink, bars, bars.add(name, size)))
            except BaseException:
                os.unlink(target)  # never leave part of an object behind
                raise
        finally:
            reader.close()
        took = time.monotonic() - start
        line = f"Wrote: {human_bytes(size)} to {target} in {jsview.duration(int(took * 1e9))}"
        if took > 2:
            line += f" average {human_bytes(size / took)}/s"
        out(line)

    bucket_command(settings, body)


async def _copy(reader: obs.ObjectReader, sink) -> None:
    """The object's chunks into `sink` as they come (writes in a worker thread: a file or a
    pipe may block)."""
    loop = asyncio.get_running_loop()
    async for chunk in reader:
        await loop.run_in_executor(None, sink.write, chunk)
    await loop.run_in_executor(None, sink.flush)


@object_group.command("watch", short_help="Print a bucket's changes as they happen.")
@click.argument("bucket")
@click.option("--count", type=click.IntRange(min=0), default=0, help="Exit after this many changes")
@connection_options
def watch(bucket, count, settings):
    """Print every object of BUCKET kept, then each change, until Ctrl-C (or --count
    changes)."""

    async def body(js, stopped: asyncio.Event) -> None:
        store = await js.object_store(bucket)
        await follow(await store.watch(include_history=True), stopped, count, _show_change)

    bucket_command(settings, body, until_stopped=True)


def _show_change(i: obs.ObjectInfo) -> None:
    when = jsview.timestamp(i.mtime)
    if i.deleted:
        out(f"[{when}] {paint('DEL', 'red')} {i.bucket} > {i.name}")
    else:
        out(f"[{when}] {paint('PUT', 'green')} {i.bucket} > {i.name}: {human_bytes(i.size)} "
            f"in {i.chunks:,} chunks")
