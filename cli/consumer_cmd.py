"""`zats consumer add|info|ls|rm|next`: JetStream consumers as the nats CLI manages them,
non-interactively; `next` pulls messages from a pull consumer, prints them as `zats sub` does
and acknowledges them."""

from __future__ import annotations

import json

import click

from zats.client import errors

from . import jsapi, jsview
from .connection import DURATION, connection_options, describe
from .messages import show
from .output import CliError, console, flush_stdout, log, out, print_json
from .stream_cmd import confirm, js_command

POLICIES = {"all": "All", "last": "Last", "new": "New", "explicit": "Explicit", "none": "None",
            "instant": "Instant", "original": "Original", "last_per_subject": "Last Per Subject",
            "by_start_sequence": "By Start Sequence", "by_start_time": "By Start Time"}


@click.group("consumer", short_help="JetStream consumers: add, info, ls, rm, next.")
def consumer():
    """Manage the consumers of JetStream streams."""


@consumer.command("add", short_help="Create a durable consumer.")
@click.argument("stream")
@click.argument("name")
@click.option("--pull", is_flag=True, help="A pull consumer (the default without --deliver)")
@click.option("--deliver", metavar="SUBJECT", help="A push consumer delivering to SUBJECT")
@click.option("--filter", "filter_subject", metavar="SUBJECT", help="Only messages on this subject")
@click.option("--ack", type=click.Choice(["explicit", "none", "all"]), default="explicit", show_default=True)
@click.option("--deliver-policy", type=click.Choice(["all", "last", "new"]), default="all", show_default=True)
@click.option("--wait", "ack_wait", type=DURATION, default=30.0, show_default="30s",
              help="How long to wait for an acknowledgement before redelivering")
@click.option("--defaults", is_flag=True, help="Accepted for the nats CLI's sake: zats never prompts")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON")
@connection_options
def add(stream, name, pull, deliver, filter_subject, ack, deliver_policy, ack_wait, defaults, as_json, settings):
    """Create the durable consumer NAME on STREAM."""
    if pull and deliver:
        raise CliError("--pull and --deliver exclude each other")
    config = {"name": name, "durable_name": name, "ack_policy": ack, "deliver_policy": deliver_policy,
              "ack_wait": int(ack_wait * 1e9), "max_deliver": -1, "replay_policy": "instant"}
    if deliver:
        config["deliver_subject"] = deliver
    else:
        config["max_waiting"] = 512
    if ack != "none":
        config["max_ack_pending"] = 1000
    if filter_subject:
        config["filter_subject"] = filter_subject

    async def body(nc) -> None:
        info = await jsapi.call(nc, settings, "CONSUMER.CREATE", stream, name,
                                body={"stream_name": stream, "config": config})
        if as_json:
            print_json(info)
        else:
            show_info(info)

    js_command(settings, body)


@consumer.command("info", short_help="Show a consumer's configuration and state.")
@click.argument("stream")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON")
@connection_options
def info(stream, name, as_json, settings):
    """Show the configuration and state of the consumer NAME of STREAM."""

    async def body(nc) -> None:
        answer = await jsapi.call(nc, settings, "CONSUMER.INFO", stream, name)
        if as_json:
            print_json(answer)
        else:
            show_info(answer)

    js_command(settings, body)


def _seqs(point: dict | None) -> str:
    point = point or {}
    return f"Consumer sequence: {point.get('consumer_seq', 0):,} Stream sequence: {point.get('stream_seq', 0):,}"


def show_info(info: dict) -> None:
    cfg = info.get("config", {})
    pull = not cfg.get("deliver_subject")
    out(f"Information for Consumer {info.get('stream_name')} > {info.get('name')} "
        f"created {jsview.timestamp(info.get('created'))}")
    out()
    max_ack = cfg.get("max_ack_pending", 0)
    waiting = cfg.get("max_waiting", 0)
    jsview.sections([
        ("Configuration", [
            ("Name", info.get("name")),
            ("Durable Name", cfg.get("durable_name")),
            ("Pull Mode", "true" if pull else None),
            ("Delivery Subject", cfg.get("deliver_subject")),
            ("Filter Subject", cfg.get("filter_subject")),
            ("Deliver Policy", POLICIES.get(cfg.get("deliver_policy"), cfg.get("deliver_policy"))),
            ("Ack Policy", POLICIES.get(cfg.get("ack_policy"), cfg.get("ack_policy"))),
            ("Ack Wait", jsview.duration(cfg.get("ack_wait", 0)) if cfg.get("ack_policy") != "none" else None),
            ("Replay Policy", POLICIES.get(cfg.get("replay_policy"), cfg.get("replay_policy"))),
            ("Max Ack Pending", f"{max_ack:,}" if max_ack > 0 else None),
            ("Max Waiting Pulls", f"{waiting:,}" if pull and waiting > 0 else None)]),
        ("State", [
            ("Last Delivered Message", _seqs(info.get("delivered"))),
            ("Acknowledgment Floor", _seqs(info.get("ack_floor"))),
            ("Outstanding Acks", f"{info.get('num_ack_pending', 0):,}"
                                 + (f" out of maximum {max_ack:,}" if max_ack > 0 else "")),
            ("Redelivered Messages", f"{info.get('num_redelivered', 0):,}"),
            ("Unprocessed Messages", f"{info.get('num_pending', 0):,}"),
            ("Waiting Pulls", f"{info.get('num_waiting', 0):,} of maximum {waiting:,}" if pull else None)]),
    ])


@consumer.command("ls", short_help="List the consumers of a stream.")
@click.argument("stream")
@click.option("-n", "--names", is_flag=True, help="Print only the names, one a line")
@click.option("--json", "as_json", is_flag=True, help="Print the consumers as JSON")
@connection_options
def ls(stream, names, as_json, settings):
    """List the consumers of STREAM."""

    async def body(nc) -> None:
        found = await jsapi.paged(nc, settings, "CONSUMER.LIST", stream, key="consumers")
        found.sort(key=lambda c: c["name"])
        if as_json:
            print_json([c["name"] for c in found] if names else found)
        elif names:
            for c in found:
                out(c["name"])
        elif not found:
            out(f"No Consumers defined on Stream {stream}")
        else:
            _table(stream, found)

    js_command(settings, body)


def _table(stream: str, found: list[dict]) -> None:
    from rich.table import Table

    table = Table(title=f"Consumers for Stream {stream}", title_justify="left")
    for column in ("Name", "Description", "Created", "Ack Pending", "Unprocessed", "Last Delivery"):
        table.add_column(column, justify="right" if column in ("Ack Pending", "Unprocessed") else "left")
    for c in found:
        delivered = (c.get("delivered") or {}).get("last_active")
        table.add_row(c["name"], c.get("config", {}).get("description", ""), jsview.timestamp(c.get("created")),
                      f"{c.get('num_ack_pending', 0):,}", f"{c.get('num_pending', 0):,}",
                      jsview.timestamp(delivered))
    console().print(table)


@consumer.command("rm", short_help="Delete a consumer.")
@click.argument("stream")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Delete without asking")
@connection_options
def rm(stream, name, force, settings):
    """Delete the consumer NAME of STREAM."""
    confirm(force, f"delete Consumer {stream} > {name}")

    async def body(nc) -> None:
        await jsapi.call(nc, settings, "CONSUMER.DELETE", stream, name)

    js_command(settings, body)


@consumer.command("next", short_help="Pull messages from a pull consumer and acknowledge them.")
@click.argument("stream")
@click.argument("name")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Messages to pull")
@click.option("--no-ack", is_flag=True, help="Leave the messages unacknowledged")
@click.option("-r", "--raw", is_flag=True, help="Print only the message bodies")
@connection_options
def next_(stream, name, count, no_ack, raw, settings):
    """Pull up to COUNT messages from the pull consumer NAME of STREAM, waiting up to --timeout,
    print them and acknowledge each (unless --no-ack)."""

    async def body(nc) -> None:
        info = await jsapi.call(nc, settings, "CONSUMER.INFO", stream, name)
        if info.get("config", {}).get("deliver_subject"):
            raise CliError(f"consumer {name} is a push consumer: `next` pulls from pull consumers")
        inbox = nc.new_inbox()
        try:
            sub = await nc.subscribe(inbox)
            # The server answers with 408 when `expires` passes: a little before our own timeout.
            request = {"batch": count, "expires": int(max(settings.timeout - 0.1, 0.05) * 1e9)}
            nc.publish(f"{jsapi.PREFIX}.CONSUMER.MSG.NEXT.{stream}.{name}", json.dumps(request).encode(), inbox)
        except errors.ZatsError as exc:
            raise CliError(describe(exc, settings)) from None
        received = 0
        try:
            while received < count:
                try:
                    msg = await sub.next_msg(timeout=settings.timeout)
                except errors.TimeoutError:
                    break
                if msg.status is not None:
                    if msg.status in (404, 408):
                        break  # no (more) messages, or the pull request expired
                    raise CliError(f"pull request failed: {msg.status} {msg.headers.description or ''}".strip())
                received += 1
                _print(msg, received, raw)
                if not no_ack and msg.reply:
                    await _ack(nc, settings, msg.reply)
                    if not raw:
                        log("Acknowledged message")
                flush_stdout()
        finally:
            sub.unsubscribe()
        if received == 0:
            raise CliError(f"no message received from consumer {stream} > {name} within {settings.timeout:g}s")

    js_command(settings, body)


def _print(msg, n: int, raw: bool) -> None:
    if raw:
        show(None, msg.data)
        return
    meta = _ack_metadata(msg.reply)
    line = f'[#{n}] Received on "{msg.subject}"'
    if meta:
        line += f" (stream seq {meta['stream_seq']}, delivered {meta['delivered']}, pending {meta['pending']})"
    out(line)
    show(msg.headers, msg.data)


def _ack_metadata(reply: str | None) -> dict | None:
    """The numbers in a JetStream reply subject: `$JS.ACK.<stream>.<consumer>.<delivered>.
    <stream seq>.<consumer seq>.<time>.<pending>` (with a domain and account hash after
    `$JS.ACK` in the newer form)."""
    if not reply or not reply.startswith("$JS.ACK."):
        return None
    tokens = reply.split(".")
    if len(tokens) >= 12:
        tokens = tokens[:2] + tokens[4:]
    if len(tokens) < 9:
        return None
    return {"delivered": tokens[4], "stream_seq": tokens[5], "pending": tokens[8]}


async def _ack(nc, settings, reply: str) -> None:
    """Acknowledges and waits for the server to confirm it (as the nats CLI's synchronous ack)."""
    try:
        await nc.request(reply, b"+ACK", timeout=settings.timeout)
    except errors.ZatsError as exc:
        raise CliError(f"could not acknowledge the message: {describe(exc, settings)}") from None


next_.name = "next"
