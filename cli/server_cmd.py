"""`zats server ping|info|list|check connection`: the servers' own reports, asked for with the
system account's requests (`$SYS.REQ.SERVER.PING`, `...PING.VARZ`) as the nats CLI does, or, for
a user outside the system account, read from a monitoring port given with `--monitor`. Output
follows the nats CLI's layout: `ping` lines and statistics, `info` sections, the `list` table,
and `check`'s Nagios line and exit status (0 OK, 1 WARNING, 2 CRITICAL)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import secrets
import time
import urllib.error
import urllib.request

import click

from zats.client import errors

from . import aio
from .connection import DURATION, Settings, connect, connection_options, describe
from .output import CliError, human_bytes, out, print_json
from .pubsub import go_duration

PING = "$SYS.REQ.SERVER.PING"
_NO_SYSTEM = ("no answer to $SYS requests: connect as a user of the system account, "
              "or give --monitor http://HOST:PORT")


@dataclasses.dataclass
class Reply:
    """One server's answer: who it is (`name`, `host`, `id`, `ver`, `cluster`), its report
    (statsz for ping/list, varz for info) and how long it took."""

    server: dict
    data: dict
    rtt: float


def monitor_option(func):
    return click.option("--monitor", metavar="URL", envvar="ZATS_MONITOR",
                        help="Monitoring URL (http://host:8222) for users outside the system account")(func)


async def _sys_replies(settings: Settings, subject: str, key: str, expect: int, body: bytes = b"") -> list[Reply]:
    """The answers to a system request from every server that hears it: until `expect` of them
    (else as many as the first one counts in `active_servers`) or the timeout."""
    async with connect(settings) as nc:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        start = time.monotonic()
        nc.publish(subject, body, inbox)
        replies: list[Reply] = []
        deadline = start + settings.timeout
        while not expect or len(replies) < expect:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=left)
            except errors.TimeoutError:
                break
            if msg.status is not None:
                raise CliError(_NO_SYSTEM if msg.status == 503 else f"status {msg.status} from {subject}")
            try:
                body = json.loads(bytes(msg.data))
            except ValueError:
                raise CliError(f"could not decode the answer to {subject}") from None
            if "error" in body:
                raise CliError(f"{subject}: {body['error'].get('description', body['error'])}")
            data = body.get(key) or {}
            replies.append(Reply(body.get("server", {}), data, time.monotonic() - start))
            if not expect and key == "statsz":
                expect = data.get("active_servers") or 0
        return replies


def _fetch(monitor: str, path: str, timeout: float) -> dict:
    url = monitor.rstrip("/") + path
    if "://" not in url:
        url = "http://" + url
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(f"could not read {url}: {reason}") from None


def _from_varz(varz: dict, rtt: float, report: str) -> Reply:
    """A monitoring port's /varz as the answer the system request would have given."""
    server = {"name": varz.get("server_name", ""), "id": varz.get("server_id", ""),
              "host": varz.get("host", ""), "ver": varz.get("version", ""),
              "cluster": (varz.get("cluster") or {}).get("name", ""),
              "jetstream": bool((varz.get("jetstream") or {}).get("config")),
              "time": varz.get("now", "")}
    if report == "varz":
        return Reply(server, varz, rtt)
    statsz = {k: varz.get(k) for k in ("start", "mem", "cores", "cpu", "connections",
                                       "total_connections", "subscriptions", "slow_consumers")}
    statsz["routes"] = varz.get("routes", 0)
    statsz["active_servers"] = 1
    return Reply(server, statsz, rtt)


async def gather(settings: Settings, monitor: str | None, report: str, expect: int = 0,
                 server_name: str | None = None) -> list[Reply]:
    """Every server's statsz (`report="statsz"`), or one server's varz (the first to answer, or
    the one named): over NATS from the system account, else from the monitoring port."""
    body = b""
    if report == "statsz":
        subject, key = PING, "statsz"
    elif server_name and len(server_name) == 56 and server_name.isupper():
        subject, key, expect = f"$SYS.REQ.SERVER.{server_name}.VARZ", "data", 1
    else:
        subject, key, expect = f"{PING}.VARZ", "data", 1
        if server_name:
            body = json.dumps({"server_name": server_name, "exact_match": True}).encode()
    try:
        replies = await _sys_replies(settings, subject, key, expect, body)
    except CliError as exc:
        if monitor is None:
            raise
        if exc.message != _NO_SYSTEM and not exc.message.startswith(("could not connect", "no servers")):
            raise
        replies = []
    if replies:
        return replies
    if monitor is None:
        raise CliError(f"no server named {server_name!r} answered" if server_name else _NO_SYSTEM)
    start = time.monotonic()
    varz = await asyncio.to_thread(_fetch, monitor, "/varz", settings.timeout)
    return [_from_varz(varz, time.monotonic() - start, report)]


@click.group("server")
def server():
    """Server reports: ping, info, list, check."""


@server.command("ping")
@click.argument("expect", type=int, default=0)
@click.option("--id", "show_id", is_flag=True, help="Show the server IDs")
@monitor_option
@connection_options
def ping(expect, show_id, monitor, settings):
    """Ping every server and show their round trip times (EXPECT: servers to wait for)."""

    async def main(stopped):
        replies = await gather(settings, monitor, "statsz", expect)
        times = []
        for r in replies:
            name = r.server.get("name", "")
            out((f"{r.server.get('id', '')} " if show_id else "") + f"{name:<60} rtt={go_duration(r.rtt)}")
            times.append(r.rtt * 1000)
        out()
        out("---- ping statistics ----")
        out(f"{len(times)} replies max: {max(times):.2f} min: {min(times):.2f} avg: {sum(times) / len(times):.2f}")
        if expect and len(times) < expect:
            out()
            out(f"Missing {expect - len(times)} server(s)")
            raise CliError(f"{len(times)} of {expect} servers answered")

    aio.run(main)


def _uptime(start: str, now: str | None = None) -> str:
    try:
        begin = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
        end = (datetime.datetime.fromisoformat(now.replace("Z", "+00:00")) if now
               else datetime.datetime.now(datetime.UTC))
    except (AttributeError, ValueError):
        return ""
    seconds = max(0, int((end - begin).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{days}d" if days else ""
    text += f"{hours}h" if hours or days else ""
    text += f"{minutes}m" if minutes or hours or days else ""
    return text + f"{secs}s"


@server.command("list")
@click.argument("expect", type=int, default=0)
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output")
@click.option("--sort", type=click.Choice(["name", "conns", "subs", "mem", "cpu", "uptime", "rtt"]),
              default="rtt", show_default=True, help="Sort by")
@click.option("-R", "--reverse", is_flag=True, help="Reverse the order")
@monitor_option
@connection_options
def list_(expect, as_json, sort, reverse, monitor, settings):
    """List the servers with their connections, subscriptions and resources."""

    async def main(stopped):
        replies = await gather(settings, monitor, "statsz", expect)
        if as_json:
            print_json([{"server": r.server, "statsz": r.data, "rtt": r.rtt} for r in replies])
            return
        keys = {"name": lambda r: r.server.get("name", ""), "conns": lambda r: r.data.get("connections", 0),
                "subs": lambda r: r.data.get("subscriptions", 0), "mem": lambda r: r.data.get("mem", 0),
                "cpu": lambda r: r.data.get("cpu", 0), "uptime": lambda r: r.data.get("start", ""),
                "rtt": lambda r: r.rtt}
        replies.sort(key=keys[sort], reverse=reverse)
        from rich.table import Table

        from .output import console

        table = Table(title="Server Overview", show_footer=True)
        headers = ["Name", "Cluster", "Host", "Version", "JS", "Conns", "Subs", "Routes", "Mem", "CPU %",
                   "Cores", "Slow", "Uptime", "RTT"]
        totals = {"Cluster": str(len({r.server.get("cluster") for r in replies if r.server.get("cluster")})),
                  "Name": str(len(replies)),
                  "Conns": f"{sum(r.data.get('connections', 0) for r in replies):,}",
                  "Subs": f"{sum(r.data.get('subscriptions', 0) for r in replies):,}",
                  "Mem": human_bytes(sum(r.data.get("mem", 0) for r in replies)),
                  "Slow": f"{sum(r.data.get('slow_consumers', 0) for r in replies):,}"}
        for h in headers:
            table.add_column(h, footer=totals.get(h, ""), justify="left" if h in ("Name", "Cluster", "Host", "Version") else "right")
        for r in replies:
            d = r.data
            routes = d.get("routes") or 0
            table.add_row(r.server.get("name", ""), r.server.get("cluster", "") or "", r.server.get("host", ""),
                          r.server.get("ver", ""), "yes" if r.server.get("jetstream") else "no",
                          f"{d.get('connections', 0):,}", f"{d.get('subscriptions', 0):,}",
                          str(len(routes) if isinstance(routes, list) else routes),
                          human_bytes(d.get("mem", 0)), f"{d.get('cpu', 0):.0f}", str(d.get("cores", "")),
                          f"{d.get('slow_consumers', 0):,}", _uptime(d.get("start", ""), r.server.get("time")),
                          go_duration(round(r.rtt, 3)) if r.rtt >= 0.001 else go_duration(r.rtt))
        console().print(table)

    aio.run(main)


@server.command("info")
@click.argument("name", required=False)
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output (the server's varz)")
@monitor_option
@connection_options
def info(name, as_json, monitor, settings):
    """Show one server's details (NAME: a server name or ID; default: the one connected to)."""

    async def main(stopped):
        replies = await gather(settings, monitor, "varz", server_name=name)
        varz = replies[0].data
        if name and name not in (varz.get("server_name"), varz.get("server_id")):
            raise CliError(f"no server named {name!r} answered")
        if as_json:
            print_json(varz)
            return
        _print_varz(varz)

    aio.run(main)


def _print_varz(v: dict) -> None:
    name, sid = v.get("server_name", ""), v.get("server_id", "")
    out(f"Server information for {name}" + (f" ({sid})" if sid and sid != name else ""))
    sections = [
        ("Process Details", [("Version", v.get("version")), ("Git Commit", v.get("git_commit")),
                             ("Go Version", v.get("go")), ("Start Time", v.get("start")),
                             ("Uptime", v.get("uptime"))]),
        ("Connection Details", [("Auth Required", str(bool(v.get("auth_required"))).lower()),
                                ("TLS Required", str(bool(v.get("tls_required"))).lower()),
                                ("Host", f"{v.get('host')}:{v.get('port')}")]
         + [("Client URLs" if i == 0 else "", u) for i, u in enumerate(v.get("connect_urls") or [])]),
        ("Limits", [("Maximum Connections", f"{v.get('max_connections', 0):,}"),
                    ("Maximum Subscriptions", f"{v.get('max_subscriptions', 0):,}"),
                    ("Maximum Payload", human_bytes(v.get("max_payload", 0))),
                    ("TLS Timeout", go_duration(float(v.get("tls_timeout", 0)))),
                    ("Write Deadline", go_duration(v.get("write_deadline", 0) / 1e9))]),
        ("Statistics", [("CPU Cores", f"{v.get('cores', 0)} {v.get('cpu', 0):.2f}%"),
                        ("Memory", human_bytes(v.get("mem", 0))),
                        ("Connections", f"{v.get('connections', 0):,}"),
                        ("Subscriptions", f"{v.get('subscriptions', 0):,}"),
                        ("Messages", f"{v.get('in_msgs', 0):,} in {v.get('out_msgs', 0):,} out"),
                        ("Bytes", f"{human_bytes(v.get('in_bytes', 0))} in {human_bytes(v.get('out_bytes', 0))} out"),
                        ("Slow Consumers", f"{v.get('slow_consumers', 0):,}")]),
    ]
    cluster = v.get("cluster") or {}
    if cluster.get("urls") or cluster.get("name"):
        sections.append(("Cluster", [("Name", cluster.get("name")),
                                     ("Host", f"{cluster.get('addr', cluster.get('host', ''))}:{cluster.get('cluster_port', cluster.get('port', ''))}")]
                         + [("URLs" if i == 0 else "", u) for i, u in enumerate(cluster.get("urls") or [])]))
    width = max(len(label) for _, rows in sections for label, _ in rows)
    for title, rows in sections:
        out()
        out(f"{title}:")
        out()
        for label, value in rows:
            if value in (None, ""):
                continue
            out(f"  {label:>{width}}{':' if label else ' '} {value}")


@server.group("check")
@click.option("--format", "fmt", type=click.Choice(["nagios", "json", "text"]), default="nagios",
              show_default=True, help="Output format")
@click.pass_context
def check(ctx, fmt):
    """Health checks, with Nagios output and exit status."""
    ctx.obj = fmt


class Check:
    """A check result as the nats CLI's: OK/WARNING/CRITICAL messages and performance data,
    rendered as a Nagios line, JSON or text; the exit status is Nagios's."""

    CODES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}

    def __init__(self, name: str, check: str):
        self.name, self.check = name, check
        self.oks: list[str] = []
        self.warnings: list[str] = []
        self.criticals: list[str] = []
        self.perf: list[tuple[str, float, float, float]] = []

    @property
    def status(self) -> str:
        return "CRITICAL" if self.criticals else "WARNING" if self.warnings else "OK"

    def measure(self, name: str, seconds: float, warn: float, crit: float, what: str, ok: str) -> None:
        """Records a time against its thresholds."""
        self.perf.append((name, seconds, warn, crit))
        if crit and seconds >= crit:
            self.criticals.append(f"{what} exceeded {go_duration(crit)}")
        elif warn and seconds >= warn:
            self.warnings.append(f"{what} exceeded {go_duration(warn)}")
        else:
            self.oks.append(ok)

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return json.dumps({"name": self.name, "check": self.check, "status": self.status,
                               "oks": self.oks, "warnings": self.warnings, "criticals": self.criticals,
                               "perf_data": [{"name": n, "value": v, "warning": w, "critical": c, "unit": "s"}
                                             for n, v, w, c in self.perf]}, indent=2)
        if fmt == "text":
            lines = [f"{self.name}: {self.status}", ""]
            lines += [f"  Critical: {m}" for m in self.criticals] + [f"  Warning: {m}" for m in self.warnings]
            lines += [f"        OK: {m}" for m in self.oks]
            return "\n".join(lines)
        parts = [self.name] + [f"Crit:{m}" for m in self.criticals] + [f"Warn:{m}" for m in self.warnings]
        parts += [f"OK:{m}" for m in self.oks]
        line = f"{self.status} {' '.join(parts)}"
        if self.perf:
            line += " | " + " ".join(f"{n}={v:.4f}s;{w:.4f};{c:.4f}" for n, v, w, c in self.perf)
        return line


@check.command("connection")
@click.option("--connect-warn", type=DURATION, default=0.5, show_default="500ms", help="Connect time warning")
@click.option("--connect-critical", type=DURATION, default=1.0, show_default="1s", help="Connect time critical")
@click.option("--rtt-warn", type=DURATION, default=0.5, show_default="500ms", help="Server RTT warning")
@click.option("--rtt-critical", type=DURATION, default=1.0, show_default="1s", help="Server RTT critical")
@click.option("--req-warn", type=DURATION, default=0.5, show_default="500ms", help="Round trip warning")
@click.option("--req-critical", type=DURATION, default=1.0, show_default="1s", help="Round trip critical")
@connection_options
@click.pass_obj
def check_connection(fmt, connect_warn, connect_critical, rtt_warn, rtt_critical, req_warn, req_critical, settings):
    """Connect, measure the RTT and a message's round trip."""
    result = Check("Connection", "connections")

    async def main(stopped):
        start = time.monotonic()
        try:
            async with connect(settings) as nc:
                uri = nc.connected_url
                result.measure("connect_time", time.monotonic() - start, connect_warn, connect_critical,
                               "connect time", f"connected to {uri.scheme}://{uri.hostname}:{uri.port} in "
                               f"{go_duration(time.monotonic() - start)}")
                rtt = await nc.rtt(timeout=settings.timeout)
                result.measure("rtt", rtt, rtt_warn, rtt_critical, "rtt time", f"rtt time {go_duration(rtt)}")
                inbox = nc.new_inbox()
                sub = await nc.subscribe(inbox, max_msgs=1)
                payload = secrets.token_hex(50).encode()
                sent = time.monotonic()
                nc.publish(inbox, payload)
                try:
                    msg = await sub.next_msg(timeout=settings.timeout)
                except errors.TimeoutError:
                    result.criticals.append(f"did not receive from {inbox}: timeout")
                    return
                took = time.monotonic() - sent
                if bytes(msg.data) != payload:
                    result.criticals.append("did not receive expected message")
                result.measure("request_time", took, req_warn, req_critical, "round trip request",
                               f"round trip took {took:.6f}s")
        except CliError as exc:
            result.criticals.append(f"connection failed: {exc.message}")
        except errors.ZatsError as exc:
            result.criticals.append(f"check failed: {describe(exc, settings)}")

    aio.run(main)
    out(result.render(fmt))
    raise SystemExit(Check.CODES[result.status])
