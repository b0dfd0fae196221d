"""`zats pub`, `sub`, `req` and `reply`, with the nats CLI's flags and output: status lines on
stderr after the time, messages on stdout (`[#N] Received on "subject"`, headers, body)."""

from __future__ import annotations

import asyncio
import datetime
import os
import random
import shlex
import time

import click

from zats.client import Headers, errors

from . import aio
from .connection import DURATION, Settings, connect, connection_options, describe
from .messages import (
    encode,
    expand,
    header_lines,
    header_option,
    parse_headers,
    show,
    stdin_bodies,
    template_option,
)
from .output import CliError, flush_stdout, log, out, print_body
from .progress import Bars


def go_duration(seconds: float) -> str:
    """A duration as Go prints one: `812ns`, `215.3µs`, `1.52ms`, `2.004s`."""
    ns = seconds * 1e9
    for limit, unit, scale in ((1e3, "ns", 1), (1e6, "µs", 1e3), (1e9, "ms", 1e6)):
        if ns < limit:
            return f"{ns / scale:.6g}{unit}" if unit != "ns" else f"{int(ns)}ns"
    return f"{seconds:.6g}s"


class _Errors:
    """Asynchronous errors of a connection (a permissions violation, a slow consumer), kept to
    be shown and turned into a failure."""

    def __init__(self):
        self.seen: list[BaseException] = []

    def __call__(self, exc: BaseException) -> None:
        self.seen.append(exc)

    def check(self, s: Settings) -> None:
        if self.seen:
            raise CliError(describe(self.seen[0], s))


def _bodies(body: str | None, send_on: str, quiet: bool):
    if body is not None:
        return [body]
    if not quiet:
        log("Reading payload from STDIN")
    return stdin_bodies(send_on)


# ------------------------------------------------------------------------------------ pub

@click.command("pub", short_help="Publish messages.")
@click.argument("subject")
@click.argument("body", required=False)
@click.option("--reply", metavar="SUBJECT", help="Reply subject of the messages")
@header_option
@click.option("--count", default=1, show_default=True, help="Number of messages to publish")
@click.option("--sleep", type=DURATION, default=0.0, help="Pause between messages (e.g. 100ms)")
@click.option("--send-on", type=click.Choice(["eof", "newline"]), default="eof", show_default=True,
              help="Body from stdin: all of it, or one message per line")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors")
@template_option
@connection_options
def pub(subject, body, reply, headers, count, sleep, send_on, quiet, templates, settings):
    """Publish BODY (or stdin) to SUBJECT.

    BODY, SUBJECT and header values may use templates: {{Count}}, {{TimeStamp}}, {{Unix}},
    {{UnixNano}}, {{Time}}, {{ID}}, {{Random 10 100}}.
    """
    count = max(count, 1)

    async def main(stopped: asyncio.Event) -> None:
        errs = _Errors()
        async with connect(settings, error_cb=errs) as nc:
            with Bars(enabled=count > 20 and not quiet) as bars:
                bar = bars.add("Publishing", count)
                for text in _bodies(body, send_on, quiet):
                    for i in range(1, count + 1):
                        if stopped.is_set():
                            return
                        data = encode(expand(text, i, "body", templates))
                        subj = expand(subject, i, "subject", templates)
                        try:
                            nc.publish(subj, data, reply or None, parse_headers(headers, i))
                        except errors.ZatsError as exc:
                            raise CliError(describe(exc, settings)) from None
                        if count <= 20 or sleep or i == count:
                            await _flush(nc, settings)
                            errs.check(settings)
                        if bars.enabled:
                            bars.update(bar, i)
                        elif not quiet:
                            log(f'Published {len(data)} bytes to "{subj}"')
                        if sleep and i < count:
                            await asyncio.sleep(sleep)
            errs.check(settings)

    aio.run(main)


async def _flush(nc, settings: Settings) -> None:
    try:
        await nc.flush(timeout=settings.timeout)
    except errors.TimeoutError:
        raise CliError(f"timeout: the server did not answer within {settings.timeout:g}s") from None
    except errors.ZatsError as exc:
        raise CliError(describe(exc, settings)) from None


# ------------------------------------------------------------------------------------ sub

def _stamp(timestamps: bool, delta: bool, start: float) -> str:
    if timestamps:
        now = datetime.datetime.now()
        return f" @ {now:%b} {now.day:>2} {now:%H:%M:%S.%f}"
    if delta:
        return f" @ {go_duration(time.monotonic() - start)}"
    return ""


@click.command("sub", short_help="Subscribe and print messages.")
@click.argument("subjects", nargs=-1, required=True)
@click.option("--queue", metavar="GROUP", help="Join this queue group")
@click.option("-r", "--raw", is_flag=True, help="Print only the message bodies")
@click.option("--count", type=int, default=0, help="Exit after this many messages")
@click.option("--wait", type=DURATION, help="Exit after this long without messages")
@click.option("-t", "--timestamp", is_flag=True, help="Show when each message arrived")
@click.option("-d", "--delta-time", is_flag=True, help="Show the time since the start")
@click.option("--headers-only", is_flag=True, help="Show headers, not bodies")
@click.option("--subjects-only", is_flag=True, help="Show only the subjects")
@connection_options
def sub(subjects, queue, raw, count, wait, timestamp, delta_time, headers_only, subjects_only, settings):
    """Subscribe to SUBJECTS (wildcards allowed) and print what arrives."""

    async def main(stopped: asyncio.Event) -> None:
        errs = _Errors()
        async with connect(settings, error_cb=errs, log_events=True) as nc:
            inbox: asyncio.Queue = asyncio.Queue()

            async def handler(msg) -> None:
                await inbox.put(msg)

            for subject in subjects:
                try:
                    await nc.subscribe(subject, queue=queue or "", cb=handler)
                except errors.ZatsError as exc:
                    raise CliError(describe(exc, settings)) from None
            await _flush(nc, settings)
            errs.check(settings)
            if not raw:
                log(f"Subscribing on {', '.join(subjects)}" + (f" in group {queue!r}" if queue else ""))
            start = time.monotonic()
            seen = 0
            while not stopped.is_set():
                get = asyncio.ensure_future(inbox.get())
                await aio.wait_any(stopped, get, timeout=wait)
                if not get.done() or get.cancelled():
                    if not stopped.is_set() and wait:
                        return  # --wait passed without traffic
                    continue
                msg = get.result()
                seen += 1
                _print_msg(msg, seen, raw, _stamp(timestamp, delta_time, start), headers_only, subjects_only)
                flush_stdout()
                if count and seen >= count:
                    return
                errs.check(settings)

    aio.run(main)


def _print_msg(msg, n: int, raw: bool, stamp: str, headers_only: bool, subjects_only: bool) -> None:
    if raw:
        print_body(msg.data, compact=True)
        return
    line = f'[#{n}]{stamp} Received on "{msg.subject}"'
    if msg.reply:
        line += f' with reply "{msg.reply}"'
    out(line)
    if not subjects_only:
        show(msg.headers, msg.data, headers_only=headers_only)


# ------------------------------------------------------------------------------------ req

@click.command("req", short_help="Send requests and print the replies.")
@click.argument("subject")
@click.argument("body", required=False)
@header_option
@click.option("--count", default=1, show_default=True, help="Number of requests to send")
@click.option("--replies", default=1, show_default=True,
              help="Replies to wait for (scatter-gather); 0 waits until --timeout")
@click.option("--reply-timeout", type=DURATION, default=0.3, show_default="300ms",
              help="With --replies, the longest wait between replies")
@click.option("-r", "--raw", is_flag=True, help="Print only the reply bodies")
@click.option("--send-on", type=click.Choice(["eof", "newline"]), default="eof", show_default=True,
              help="Body from stdin: all of it, or one request per line")
@template_option
@connection_options
def req(subject, body, headers, count, replies, reply_timeout, raw, send_on, templates, settings):
    """Send a request with BODY (or stdin) to SUBJECT and print the replies."""

    async def main(stopped: asyncio.Event) -> None:
        async with connect(settings) as nc:
            for text in _bodies(body, send_on, raw):
                for i in range(1, max(count, 1) + 1):
                    if stopped.is_set():
                        return
                    data = encode(expand(text, i, "body", templates))
                    subj = expand(subject, i, "subject", templates)
                    await _request(nc, settings, subj, data, parse_headers(headers, i), replies,
                                   reply_timeout, raw)

    aio.run(main)


async def _request(nc, settings: Settings, subject: str, data: bytes, headers, replies: int,
                   reply_timeout: float, raw: bool) -> None:
    if not raw:
        log(f'Sending request on "{subject}"')
    inbox = nc.new_inbox()
    try:
        sub_ = await nc.subscribe(inbox)
        nc.publish(subject, data, inbox, headers)
    except errors.ZatsError as exc:
        raise CliError(describe(exc, settings)) from None
    start = time.monotonic()
    timeout = settings.timeout
    received, total_rtt = 0, 0.0
    try:
        while True:
            try:
                msg = await sub_.next_msg(timeout=max(timeout, 0.0))
            except errors.TimeoutError:
                break
            except errors.ZatsError as exc:
                raise CliError(describe(exc, settings)) from None
            rtt = time.monotonic() - start
            if msg.status == 503 and not msg.data:
                raise CliError(f"no responders are available for {subject!r}")
            received += 1
            if raw:
                print_body(msg.data)
            else:
                log(f"Received with rtt {go_duration(rtt)}")
                lines = header_lines(msg.headers)
                for line in lines:
                    log(line)
                if lines:
                    log("")
                print_body(msg.data)
            flush_stdout()
            if replies and received >= replies:
                break
            if replies == 0:
                timeout = settings.timeout - (time.monotonic() - start)
            else:
                if not msg.data:
                    break  # an empty reply ends a scatter-gather, as in the nats CLI
                total_rtt += rtt
                timeout = total_rtt / received + reply_timeout
    finally:
        sub_.unsubscribe()
    if received == 0:
        raise CliError(f"timeout: no reply to {subject!r} within {settings.timeout:g}s")


# ------------------------------------------------------------------------------------ reply

@click.command("reply", short_help="Answer requests.")
@click.argument("subject")
@click.argument("body", required=False)
@click.option("--echo", is_flag=True, help="Answer with the request itself (the default without BODY)")
@click.option("--command", "command", metavar="CMD",
              help="Answer with the output of CMD ({{0}}, {{1}}... are subject tokens)")
@click.option("-q", "--queue", default="NATS-RPLY-22", show_default=True, help="Queue group")
@click.option("--sleep", type=DURATION, default=0.0, help="Wait a random time up to this before answering")
@header_option
@click.option("--count", type=int, default=0, help="Exit after this many requests")
@connection_options
def reply(subject, body, echo, command, queue, sleep, headers, count, settings):
    """Answer requests on SUBJECT with BODY, the request itself, or a command's output.

    BODY may use the templates of `zats pub` and {{Request}} (the request's body). CMD gets the
    request in NATS_REQUEST_SUBJECT and NATS_REQUEST_BODY.
    """
    if body is None and command is None and not echo:
        log("No body or command supplied, enabling echo mode")
        echo = True

    async def main(stopped: asyncio.Event) -> None:
        errs = _Errors()
        async with connect(settings, error_cb=errs, log_events=True) as nc:
            inbox: asyncio.Queue = asyncio.Queue()

            async def handler(msg) -> None:
                await inbox.put(msg)

            try:
                await nc.subscribe(subject, queue=queue, cb=handler)
            except errors.ZatsError as exc:
                raise CliError(describe(exc, settings)) from None
            await _flush(nc, settings)
            errs.check(settings)
            log(f'Listening on "{subject}" in group "{queue}"')
            n = 0
            while not stopped.is_set():
                get = asyncio.ensure_future(inbox.get())
                await aio.wait_any(stopped, get)
                if not get.done() or get.cancelled():
                    continue
                msg = get.result()
                n += 1
                log(f'[#{n}] Received on subject "{msg.subject}":')
                for line in header_lines(msg.headers):
                    log(line)
                out()
                out(bytes(msg.data).decode("utf-8", errors="replace"))
                flush_stdout()
                if sleep:
                    await asyncio.sleep(sleep * random.random())
                if msg.reply:
                    data, hdrs = await _answer(msg, n, body, echo, command, headers)
                    nc.publish(msg.reply, data, None, hdrs)
                    await _flush(nc, settings)
                if count and n >= count:
                    return

    aio.run(main)


async def _answer(msg, n: int, body, echo: bool, command, headers):
    hdrs = parse_headers(headers, n)
    request = bytes(msg.data)
    if echo:
        merged = Headers(msg.headers.items() if msg.headers is not None else None)
        for k, v in (hdrs.items() if hdrs else []):
            merged.add(k, v)
        hdrs = merged
        hdrs.add("NATS-Reply-Counter", str(n))
        return request, hdrs
    text = request.decode("utf-8", errors="surrogateescape")
    if command is not None:
        return await _run_command(command, msg.subject, text, n), hdrs
    return encode(expand(body, n, "body", True, request=text)), hdrs


async def _run_command(command: str, subject: str, request: str, n: int) -> bytes:
    raw = command
    for i, token in enumerate(subject.split(".")):
        raw = raw.replace(f"{{{{{i}}}}}", token)
    raw = expand(raw, n, "command", True, request=request)
    try:
        argv = shlex.split(raw)
    except ValueError as exc:
        log(f"Could not parse command: {exc}")
        return b""
    if not argv:
        return b""
    env = {**os.environ, "NATS_REQUEST_SUBJECT": subject, "NATS_REQUEST_BODY": request}
    try:
        proc = await asyncio.create_subprocess_exec(*argv, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
    except OSError as exc:
        log(f"Command {raw!r} failed to run: {exc.strerror or exc}")
        return b""
    output, _ = await proc.communicate()
    if proc.returncode != 0:
        log(f"Command {raw!r} failed to run: exit status {proc.returncode}")
    return output
