"""`zats bench pub|sub|request|reply`: the nats CLI's `bench` for core NATS, with its flags
(`--clients`, `--msgs`, `--size`, `--progress`, `--csv`), on zats.client with the user's
connection options (contexts, auth, TLS): one connection per client in this process, a progress
bar per client on a terminal, then a results table and the nats CLI's summary line
(`Pub stats: N msgs/sec ~ M MB/sec`).

Sizes, latency percentiles and number formats are zats-bench's (zats.bench), so both tools
read and report the same way; zats-bench stays the tool that drives the broker to its limit
from raw-socket worker processes and compares brokers."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import secrets
import time
from array import array

import click

from zats.bench.report import si, us
from zats.bench.runner import percentiles
from zats.bench.scenarios import format_size, parse_size
from zats.client import errors

from . import aio
from .connection import Settings, connect, connection_options, describe
from .output import CliError, log, out
from .progress import Bars

SERVICE_QUEUE = "zats-bench-service"
_FLUSH_BYTES = 1 << 20  # a publisher waits for the server's PONG after about this much


@dataclasses.dataclass
class ClientResult:
    client: int
    msgs: int
    size: int
    start: float
    end: float
    latencies: array | None = None  # request round trips, ns

    @property
    def elapsed(self) -> float:
        return max(self.end - self.start, 1e-9)

    @property
    def rate(self) -> float:
        return self.msgs / self.elapsed


class Size(click.ParamType):
    name = "SIZE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _common(func):
    for option in reversed([
        click.option("--clients", default=1, show_default=True, type=click.IntRange(1), help="Concurrent clients"),
        click.option("--msgs", default=100_000, show_default=True, type=click.IntRange(1),
                     help="Messages to publish, or to receive per subscriber"),
        click.option("--size", default="128B", show_default=True, type=Size(), help="Message size (e.g. 1K)"),
        click.option("--progress/--no-progress", default=True, help="Progress bars (on a terminal)"),
        click.option("--csv", "csv_file", metavar="FILE", help="Save each client's figures as CSV"),
    ]):
        func = option(func)
    return func


def _split(total: int, parts: int) -> list[int]:
    base, rest = divmod(total, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


@click.group("bench")
def bench():
    """Benchmark publishing, subscribing and requests."""


async def _clients(settings: Settings, n: int, stack: contextlib.AsyncExitStack) -> list:
    return [await stack.enter_async_context(connect(settings, pending_msgs_limit=0, pending_bytes_limit=0))
            for _ in range(n)]


async def _watch(bars: Bars, tasks: list[int], counters: list[int]) -> None:
    while True:
        for task, done in zip(tasks, counters, strict=True):
            bars.update(task, done)
        await asyncio.sleep(0.1)


async def _run(settings: Settings, label: str, clients: int, totals: list[int], progress: bool, work) -> list:
    """Connects `clients` clients, runs `work(i, nc, counters)` for each with progress bars, and
    returns their results; a connection failure or error of a client is one CliError."""
    counters = [0] * clients
    async with contextlib.AsyncExitStack() as stack:
        conns = await _clients(settings, clients, stack)
        with Bars(enabled=progress) as bars:
            tasks = [bars.add(f"{label} #{i + 1}", totals[i]) for i in range(clients)]
            watcher = asyncio.ensure_future(_watch(bars, tasks, counters)) if bars.enabled else None
            try:
                return await asyncio.gather(*(work(i, nc, counters) for i, nc in enumerate(conns)))
            except errors.ZatsError as exc:
                raise CliError(describe(exc, settings)) from None
            finally:
                if watcher is not None:
                    watcher.cancel()
                    for task, done in zip(tasks, counters, strict=True):
                        bars.update(task, done)


def _report(kind: str, results: list[ClientResult], csv_file: str | None, latency: bool = False) -> None:
    from rich.table import Table

    from .output import console

    msgs = sum(r.msgs for r in results)
    start, end = min(r.start for r in results), max(r.end for r in results)
    elapsed = max(end - start, 1e-9)
    size = results[0].size
    table = Table(title=f"{kind} stats", show_footer=len(results) > 1)
    columns = ["Client", "Msgs", "Msgs/s", "MB/s", "Time"] + (["p50 µs", "p90 µs", "p99 µs"] if latency else [])
    all_lat = array("q")
    for r in results:
        if r.latencies is not None:
            all_lat.extend(r.latencies)
    total = percentiles(all_lat) if latency else None
    footer = ["all", f"{msgs:,}", si(msgs / elapsed), f"{msgs * size / elapsed / 1e6:.2f}", f"{elapsed:.3f}s"]
    if latency:
        footer += [us(total and total["p50"]), us(total and total["p90"]), us(total and total["p99"])]
    for col, foot in zip(columns, footer, strict=True):
        table.add_column(col, footer=foot, justify="left" if col == "Client" else "right")
    for r in results:
        row = [str(r.client), f"{r.msgs:,}", si(r.rate), f"{r.rate * size / 1e6:.2f}", f"{r.elapsed:.3f}s"]
        if latency:
            p = percentiles(r.latencies) if r.latencies else None
            row += [us(p and p["p50"]), us(p and p["p90"]), us(p and p["p99"])]
        table.add_row(*row)
    console().print(table)
    out(f"{kind} stats: {msgs / elapsed:,.0f} msgs/sec ~ {msgs * size / elapsed / 1e6:,.2f} MB/sec")
    if latency and total:
        out(f"Latency: p50 {us(total['p50'])} µs, p90 {us(total['p90'])} µs, p99 {us(total['p99'])} µs")
    if csv_file:
        run_id = secrets.token_hex(4)
        with open(csv_file, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["#RunID", "ClientID", "MsgCount", "MsgBytes", "MsgsPerSec", "BytesPerSec", "DurationSecs"])
            for r in results:
                w.writerow([run_id, r.client, r.msgs, r.msgs * r.size, f"{r.rate:.0f}", f"{r.rate * r.size:.0f}",
                            f"{r.elapsed:.6f}"])
        log(f"Saved metric data in csv file {csv_file}")


def _banner(what: str, subject: str, clients: int, size: int, msgs: int) -> None:
    log(f"Starting Core NATS {what} benchmark [subject={subject}, clients={clients}, "
        f"msg-size={format_size(size)}, msgs={msgs:,}]")


def _ready(ready: list[int], clients: int, what: str) -> None:
    """Logs once every client has subscribed: the moment to start the other side."""
    ready[0] += 1
    if ready[0] == clients:
        log(f"{clients} {what}")


@bench.command("pub")
@click.argument("subject")
@_common
@connection_options
def pub(subject, clients, msgs, size, progress, csv_file, settings):
    """Publish MSGS messages of SIZE bytes to SUBJECT, split over CLIENTS."""
    _banner("publisher", subject, clients, size, msgs)
    counts = _split(msgs, clients)
    payload = bytes(size)
    batch = max(1, _FLUSH_BYTES // (size + len(subject) + 16))

    async def work(i, nc, counters):
        start = time.perf_counter()
        sent = 0
        while sent < counts[i]:
            n = min(batch, counts[i] - sent)
            for _ in range(n):
                nc.publish(subject, payload)
            sent += n
            counters[i] = sent
            await nc.flush(timeout=settings.timeout)
        return ClientResult(i + 1, sent, size, start, time.perf_counter())

    async def main(stopped):
        _report("Pub", await _run(settings, "Publishing", clients, counts, progress, work), csv_file)

    aio.run(main)


@bench.command("sub")
@click.argument("subject")
@_common
@connection_options
def sub(subject, clients, msgs, size, progress, csv_file, settings):
    """Receive MSGS messages on SUBJECT in each of CLIENTS subscribers (run `zats bench pub`
    alongside)."""
    _banner("subscriber", subject, clients, size, msgs)
    ready = [0]

    async def work(i, nc, counters):
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        times = [0.0, 0.0]
        sizes = [0]

        def on_msg(msg) -> None:  # inline: counts during the read, no copy
            n = counters[i] = counters[i] + 1
            if n == 1:
                times[0] = time.perf_counter()
                sizes[0] = len(msg.data)
            if n == msgs:
                times[1] = time.perf_counter()
                done.set_result(None)
                msg.subscription.unsubscribe()

        await nc.subscribe(subject, cb=on_msg)
        await nc.flush(timeout=settings.timeout)
        _ready(ready, clients, f"subscribers listening on {subject}")
        await done
        return ClientResult(i + 1, msgs, sizes[0], times[0], times[1])

    async def main(stopped):
        async def everything():
            return await _run(settings, "Receiving", clients, [msgs] * clients, progress, work)

        task = asyncio.ensure_future(everything())
        await aio.wait_any(stopped, task)
        if not task.done():
            raise CliError("interrupted before every message arrived")
        _report("Sub", task.result(), csv_file)

    aio.run(main)


@bench.command("request")
@click.argument("subject")
@_common
@connection_options
def request(subject, clients, msgs, size, progress, csv_file, settings):
    """Send MSGS requests of SIZE bytes to SUBJECT, one at a time per client, and measure their
    round trips (answer them with `zats bench reply`)."""
    _banner("request", subject, clients, size, msgs)
    counts = _split(msgs, clients)
    payload = bytes(size)

    async def work(i, nc, counters):
        lat = array("q")
        start = time.perf_counter()
        for n in range(counts[i]):
            t0 = time.perf_counter_ns()
            await nc.request(subject, payload, timeout=settings.timeout)
            lat.append(time.perf_counter_ns() - t0)
            counters[i] = n + 1
        return ClientResult(i + 1, counts[i], size, start, time.perf_counter(), lat)

    async def main(stopped):
        try:
            results = await _run(settings, "Requesting", clients, counts, progress, work)
        except CliError as exc:
            if exc.message.startswith("no responders"):
                raise CliError(f"{exc.message}: start `zats bench reply {subject}` first") from None
            raise
        _report("Request", results, csv_file, latency=True)

    aio.run(main)


@bench.command("reply")
@click.argument("subject")
@_common
@connection_options
def reply(subject, clients, msgs, size, progress, csv_file, settings):
    """Answer MSGS requests on SUBJECT in total with SIZE-byte replies, CLIENTS in a queue
    group."""
    _banner("reply", subject, clients, size, msgs)
    ready = [0]
    payload = bytes(size)

    async def work(i, nc, counters):
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        times = [0.0, 0.0]

        def on_request(msg) -> None:
            if done.done():
                return
            msg.respond(payload)
            n = counters[i] = counters[i] + 1
            if n == 1:
                times[0] = time.perf_counter()
            if sum(counters) >= msgs:
                times[1] = time.perf_counter()
                for f in finished:
                    if not f.done():
                        f.set_result(None)

        finished.append(done)
        await nc.subscribe(subject, queue=SERVICE_QUEUE, cb=on_request)
        await nc.flush(timeout=settings.timeout)
        _ready(ready, clients, f"repliers listening on {subject}")
        await done
        await nc.flush(timeout=settings.timeout)
        return ClientResult(i + 1, counters[i], size, times[0] or time.perf_counter(), times[1] or time.perf_counter())

    finished: list[asyncio.Future] = []

    async def main(stopped):
        async def everything():
            return await _run(settings, "Replying", clients, [msgs] * clients, progress, work)

        task = asyncio.ensure_future(everything())
        await aio.wait_any(stopped, task)
        if not task.done():
            raise CliError("interrupted before every request arrived")
        _report("Reply", task.result(), csv_file)

    aio.run(main)
