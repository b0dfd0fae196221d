"""`zats micro ls|info|stats [NAME [ID]]`: the services of the NATS service API (ADR-32) found
with `$SRV.PING|INFO|STATS` requests (zats.client.micro's discovery), shown in the layout of the
nats CLI's `nats micro list|info|stats`: the service table, the information sections and the
statistics table with its totals. `--json` prints the services' own documents."""

from __future__ import annotations

import asyncio

import click

from zats.client import micro

from . import aio, jsview
from .connection import connect, connection_options
from .output import CliError, console, out, print_json
from .pubsub import go_duration


def _found(settings, verb, name: str | None, instance: str | None) -> list:
    """Every answer to the discovery request, sorted by service name and id; none is an error."""

    async def main(stopped: asyncio.Event) -> None:
        async with connect(settings) as nc:
            reports = await verb(nc, name, instance, timeout=settings.timeout)
            answers.extend(sorted(reports, key=lambda r: (r.name, r.id)))

    answers: list = []
    aio.run(main)
    if not answers:
        target = " ".join(filter(None, (name, instance)))
        raise CliError(f"no micro service {target} answered" if target else "no micro services answered")
    return answers


def _duration(ns: int) -> str:
    return go_duration(ns / 1e9) if ns else "0s"


class _Aliases(click.Group):
    """`list` is the nats CLI's name of `ls`."""

    def get_command(self, ctx, cmd_name):
        return super().get_command(ctx, "ls" if cmd_name == "list" else cmd_name)


@click.group("micro", cls=_Aliases, short_help="NATS services: ls, info, stats.")
def micro_group():
    """Find and inspect services of the NATS service API (any client's: zats, nats-py, nats.go)."""


@micro_group.command("ls", short_help="List the services that answer.")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the PING answers as JSON")
@connection_options
def ls(name, as_json, settings):
    """List every service instance (or those named NAME)."""
    infos = _found(settings, micro.info, name, None)
    if as_json:
        print_json([micro.as_dict(i) for i in infos])
        return
    from rich.table import Table

    table = Table(title="All Micro Services" if not name else f"{name} Micro Services", title_justify="left")
    for column in ("Name", "Version", "ID", "Description"):
        table.add_column(column)
    for i in infos:
        table.add_row(i.name, i.version, i.id, i.description or "")
    console().print(table)


@micro_group.command("info", short_help="Show a service's endpoints and statistics.")
@click.argument("name")
@click.argument("instance", metavar="[ID]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the INFO answers as JSON")
@connection_options
def info(name, instance, as_json, settings):
    """Show the information of the service NAME (every instance, or the one with ID)."""
    infos = _found(settings, micro.info, name, instance)
    if as_json:
        print_json([micro.as_dict(i) for i in infos])
        return
    stats = {s.id: s for s in _found_or_none(settings, name, instance)}
    for i in infos:
        _show_info(i, stats.get(i.id))


def _found_or_none(settings, name, instance) -> list:
    try:
        return _found(settings, micro.stats, name, instance)
    except CliError:
        return []


def _show_info(i: micro.InfoResponse, stats: micro.StatsResponse | None) -> None:
    out("Service Information:")
    out()
    rows = [("Service", f"{i.name} ({i.id})"), ("Description", i.description or ""), ("Version", i.version)]
    rows += [(f"Metadata {k}", v) for k, v in sorted((i.metadata or {}).items())]
    jsview.sections([(None, rows)])
    out("Endpoints:")
    out()
    for e in i.endpoints:
        jsview.sections([(None, [("Name", e.name), ("Subject", e.subject), ("Queue Group", e.queue_group)]
                          + [(f"Metadata {k}", v) for k, v in sorted((e.metadata or {}).items())])])
    if stats is None:
        return
    out(f"Statistics for {len(stats.endpoints)} Endpoint(s):")
    out()
    for e in stats.endpoints:
        out(f"  {e.name} Endpoint Statistics:")
        out()
        jsview.sections([(None, [
            ("Requests", f"{e.num_requests:,} in group {e.queue_group}"),
            ("Processing Time", f"{_duration(e.processing_time)} "
                                f"(average {_duration(e.average_processing_time)})"),
            ("Started", jsview.timestamp(stats.started)),
            ("Errors", f"{e.num_errors:,}"),
            ("Last Error", e.last_error or None),
            ("Data", repr(e.data) if e.data is not None else None)])])


@micro_group.command("stats", short_help="Show the request statistics of services.")
@click.argument("name", required=False)
@click.argument("instance", metavar="[ID]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the STATS answers as JSON")
@connection_options
def stats(name, instance, as_json, settings):
    """Show the statistics of every endpoint of the service NAME (or of every service)."""
    reports = _found(settings, micro.stats, name, instance)
    if as_json:
        print_json([micro.as_dict(s) for s in reports])
        return
    from rich.table import Table

    table = Table(title=f"{name} Service Statistics" if name else "Service Statistics", title_justify="left",
                  show_footer=True)
    totals = [0, 0, 0]
    rows = []
    for s in reports:
        for e in s.endpoints:
            totals[0] += e.num_requests
            totals[1] += e.num_errors
            totals[2] += e.processing_time
            rows.append((s.name if not name else s.id, e.name, f"{e.num_requests:,}", e.queue_group,
                         f"{e.num_errors:,}", _duration(e.processing_time),
                         _duration(e.average_processing_time)))
    average = totals[2] // totals[0] if totals[0] else 0
    footer = ("", "", f"{totals[0]:,}", "", f"{totals[1]:,}", _duration(totals[2]), _duration(average))
    for column, total in zip(("ID" if name else "Service", "Endpoint", "Requests", "Queue Group", "Errors",
                              "Processing Time", "Average Time"), footer, strict=True):
        table.add_column(column, footer=total,
                         justify="right" if column in ("Requests", "Errors", "Processing Time", "Average Time")
                         else "left")
    for row in rows:
        table.add_row(*row)
    console().print(table)
