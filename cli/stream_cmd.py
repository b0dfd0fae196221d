"""`zats stream add|info|ls|rm|purge|get`: JetStream streams as the nats CLI manages them,
non-interactively (flags only; `rm` and `purge` need `-f` when there is no terminal to ask on)."""

from __future__ import annotations

import asyncio
import sys

import click

from . import aio, jsapi, jsview
from .connection import DURATION, connect, connection_options
from .output import CliError, console, human_bytes, out, print_json

RETENTION = {"limits": "limits", "interest": "interest", "work": "workqueue", "workqueue": "workqueue"}
RETENTION_SHOWN = {"limits": "Limits", "interest": "Interest", "workqueue": "WorkQueue"}


def js_command(settings, body) -> None:
    """Runs `body(nc)` on a connection: the coroutine every JetStream command is."""

    async def main(stopped: asyncio.Event) -> None:
        async with connect(settings) as nc:
            await body(nc)

    aio.run(main)


def confirm(force: bool, action: str) -> None:
    """Goes on with `-f`; else asks on a terminal, and refuses without one."""
    if force:
        return
    if not sys.stdin.isatty():
        raise CliError(f"not confirmed: add -f to {action} (there is no terminal to ask on)")
    if not click.confirm(f"Really {action}?", default=False):
        raise CliError("aborted")


@click.group("stream", short_help="JetStream streams: add, info, ls, rm, purge, get.")
def stream():
    """Manage JetStream streams (the server runs with JetStream: `-js`)."""


@stream.command("add", short_help="Create a stream.")
@click.argument("name")
@click.option("--subjects", metavar="S[,S]", help="Subjects the stream stores (default: NAME)")
@click.option("--storage", type=click.Choice(["file", "memory"]), default="file", show_default=True)
@click.option("--retention", type=click.Choice(sorted(RETENTION)), default="limits", show_default=True)
@click.option("--max-msgs", type=int, default=-1, help="Most messages kept (-1: unlimited)")
@click.option("--max-bytes", type=int, default=-1, help="Most bytes kept (-1: unlimited)")
@click.option("--max-age", type=DURATION, default=0.0, help="Oldest message kept, e.g. 1h (0: unlimited)")
@click.option("--replicas", type=int, default=1, show_default=True)
@click.option("--defaults", is_flag=True, help="Accepted for the nats CLI's sake: zats never prompts")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON")
@connection_options
def add(name, subjects, storage, retention, max_msgs, max_bytes, max_age, replicas, defaults, as_json, settings):
    """Create the stream NAME."""
    config = {"name": name, "subjects": [s for s in (subjects or name).split(",") if s],
              "retention": RETENTION[retention], "storage": storage, "max_consumers": -1,
              "max_msgs": max_msgs, "max_bytes": max_bytes, "max_age": int(max_age * 1e9),
              "max_msgs_per_subject": -1, "max_msg_size": -1, "discard": "old", "num_replicas": replicas}

    async def body(nc) -> None:
        info = await jsapi.call(nc, settings, "STREAM.CREATE", name, body=config)
        if as_json:
            print_json(info)
            return
        out(f"Stream {name} was created")
        out()
        show_info(info)

    js_command(settings, body)


@stream.command("info", short_help="Show a stream's configuration and state.")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON")
@connection_options
def info(name, as_json, settings):
    """Show the configuration and state of the stream NAME."""

    async def body(nc) -> None:
        answer = await jsapi.call(nc, settings, "STREAM.INFO", name)
        if as_json:
            print_json(answer)
        else:
            show_info(answer)

    js_command(settings, body)


def show_info(info: dict) -> None:
    cfg, state = info.get("config", {}), info.get("state", {})
    out(f"Information for Stream {cfg.get('name')} created {jsview.timestamp(info.get('created'))}")
    out()
    jsview.sections([
        (None, [("Subjects", ", ".join(cfg.get("subjects") or [])),
                ("Replicas", cfg.get("num_replicas", 1)),
                ("Storage", str(cfg.get("storage", "file")).capitalize())]),
        ("Options", [("Retention", RETENTION_SHOWN.get(cfg.get("retention"), cfg.get("retention"))),
                     ("Acknowledgments", str(not cfg.get("no_ack", False)).lower()),
                     ("Discard Policy", str(cfg.get("discard", "old")).capitalize()),
                     ("Duplicate Window", jsview.duration(cfg.get("duplicate_window", 0))),
                     ("Allows Msg Delete", str(not cfg.get("deny_delete", False)).lower()),
                     ("Allows Purge", str(not cfg.get("deny_purge", False)).lower()),
                     ("Allows Rollups", str(cfg.get("allow_rollup_hdrs", False)).lower())]),
        ("Limits", [("Maximum Messages", jsview.limit(cfg.get("max_msgs"))),
                    ("Maximum Per Subject", jsview.limit(cfg.get("max_msgs_per_subject"))),
                    ("Maximum Bytes", jsview.size_limit(cfg.get("max_bytes"))),
                    ("Maximum Age", jsview.age_limit(cfg.get("max_age"))),
                    ("Maximum Message Size", jsview.size_limit(cfg.get("max_msg_size"))),
                    ("Maximum Consumers", jsview.limit(cfg.get("max_consumers")))]),
        ("State", [("Messages", f"{state.get('messages', 0):,}"),
                   ("Bytes", human_bytes(state.get("bytes", 0))),
                   ("First Sequence", f"{state.get('first_seq', 0):,}"),
                   ("Last Sequence", f"{state.get('last_seq', 0):,}"),
                   ("Deleted Messages", f"{state.get('num_deleted', 0):,}" if state.get("num_deleted") else None),
                   ("Active Consumers", f"{state.get('consumer_count', 0):,}"),
                   ("Number of Subjects", f"{state.get('num_subjects', 0):,}" if state.get("num_subjects") else None)]),
    ])


@stream.command("ls", short_help="List the streams.")
@click.option("-n", "--names", is_flag=True, help="Print only the names, one a line")
@click.option("--json", "as_json", is_flag=True, help="Print the streams as JSON")
@connection_options
def ls(names, as_json, settings):
    """List the streams of the account."""

    async def body(nc) -> None:
        streams = await jsapi.paged(nc, settings, "STREAM.LIST", key="streams")
        streams.sort(key=lambda s: s["config"]["name"])
        if as_json:
            print_json([s["config"]["name"] for s in streams] if names else streams)
        elif names:
            for s in streams:
                out(s["config"]["name"])
        elif not streams:
            out("No Streams defined")
        else:
            _table(streams)

    js_command(settings, body)


def _table(streams: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="Streams", title_justify="left")
    for column in ("Name", "Description", "Created", "Messages", "Size", "Last Message"):
        table.add_column(column, justify="right" if column in ("Messages", "Size") else "left")
    for s in streams:
        cfg, state = s["config"], s.get("state", {})
        table.add_row(cfg["name"], cfg.get("description", ""), jsview.timestamp(s.get("created")),
                      f"{state.get('messages', 0):,}", human_bytes(state.get("bytes", 0)),
                      jsview.timestamp(state.get("last_ts")))
    console().print(table)


@stream.command("rm", short_help="Delete a stream and its messages.")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Delete without asking")
@connection_options
def rm(name, force, settings):
    """Delete the stream NAME, its messages and consumers."""
    confirm(force, f"delete Stream {name}")

    async def body(nc) -> None:
        await jsapi.call(nc, settings, "STREAM.DELETE", name)

    js_command(settings, body)


@stream.command("purge", short_help="Remove every message of a stream.")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Purge without asking")
@click.option("--json", "as_json", is_flag=True, help="Print the stream's information as JSON")
@connection_options
def purge(name, force, as_json, settings):
    """Remove every message of the stream NAME, then show its information."""
    confirm(force, f"purge Stream {name}")

    async def body(nc) -> None:
        await jsapi.call(nc, settings, "STREAM.PURGE", name)
        answer = await jsapi.call(nc, settings, "STREAM.INFO", name)
        if as_json:
            print_json(answer)
        else:
            show_info(answer)

    js_command(settings, body)


@stream.command("get", short_help="Show one stored message.")
@click.argument("name")
@click.argument("seq", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print the message as JSON")
@connection_options
def get(name, seq, as_json, settings):
    """Show the message at sequence SEQ of the stream NAME."""

    async def body(nc) -> None:
        answer = await jsapi.call(nc, settings, "STREAM.MSG.GET", name, body={"seq": seq})
        if as_json:
            print_json(answer["message"])
        else:
            jsview.stored_message(name, answer["message"])

    js_command(settings, body)
