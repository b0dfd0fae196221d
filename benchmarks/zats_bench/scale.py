"""`zats-bench scale`: one zats process against N zats processes on the same machine, joined as a
full-mesh cluster, each node pinned to its own CPU.

Every configuration in `--nodes` (say 1 and 2) is started once, up front: node i of each is
pinned to CPU i (wrapping when there are more nodes than CPUs). Each round runs every scenario
against every configuration back to back, the order alternating from one scenario (and round) to
the next, as `compare` does. In a cluster the clients are spread round-robin over the nodes
(worker slot i connects to node i % N, subscribers first, then publishers); every run first
proves that interest has reached every node and, at the end, drains the routes before the
subscribers' final PING/PONG, so every message is accounted for exactly as on one broker.

The summary keeps, per scenario and node count, the medians over the rounds of: msgs/s (what the
whole cluster delivered), the speed-up over the first configuration, broker CPU seconds summed
over all nodes, msgs per broker CPU-second (summed), and how busy each node was (its CPU seconds
over the run's elapsed time)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

from .compare import broker_version
from .progress import Progress
from .runner import DEFAULT_MAX_LAG_BYTES, RunResult, run_scenario
from .scenarios import Scenario, make
from .servers import Cluster, available_cpus, cluster_cpus, raise_fd_limit, start_cluster


@dataclass
class ScaleRow:
    scenario: str
    kind: str
    nodes: int
    runs: int = 0
    rate: float | None = None
    speedup: float | None = None  # rate over the first configuration's rate
    broker_cpu: float | None = None
    per_cpu: float | None = None
    per_cpu_ratio: float | None = None
    busy: list | None = None  # per node: CPU seconds / elapsed seconds (medians)
    lost: int = 0
    errors: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class ScaleReport:
    nodes: list
    kind: str
    rounds: int
    mode: str
    cpus: dict  # node count -> the CPU of each node
    date: str
    command: str
    version: str
    elapsed: float = 0.0
    rows: list = field(default_factory=list)
    runs: list = field(default_factory=list)

    @property
    def failed(self) -> list:
        return [r for r in self.runs if not r.ok]

    def to_dict(self) -> dict:
        return {
            "command_kind": "scale", "nodes": self.nodes, "kind": self.kind,
            "rounds": self.rounds, "mode": self.mode,
            "cpus": {str(k): v for k, v in self.cpus.items()}, "date": self.date,
            "command": self.command, "version": self.version, "elapsed": self.elapsed,
            "machine": {"cpus": os.cpu_count(), "usable_cpus": len(available_cpus()),
                        "platform": platform.platform(), "python": sys.version.split()[0]},
            "rows": [r.to_dict() for r in self.rows],
            "runs": [r.to_dict() for r in self.runs],
        }


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _busy(r: RunResult) -> list | None:
    """Each node's CPU seconds over the run's elapsed seconds (1.0: one core fully busy)."""
    if r.broker_cpu is None or not r.elapsed:
        return None
    per = r.node_cpu if r.node_cpu else [r.broker_cpu]
    return [c / r.elapsed for c in per]


def summarise(matrix: list[Scenario], nodes: list[int], runs: list[RunResult]) -> list[ScaleRow]:
    rows = []
    for sc in matrix:
        base = None
        for n in nodes:
            mine = [r for r in runs if r.scenario == sc.name and r.nodes == n]
            good = [r for r in mine if not r.errors]
            row = ScaleRow(sc.name, sc.kind, n, runs=len(mine),
                           lost=sum(r.lost + r.extra for r in mine),
                           errors=sum(1 for r in mine if r.errors))
            row.rate = _median([r.rate for r in good])
            row.broker_cpu = _median([r.broker_cpu for r in good])
            row.per_cpu = _median([r.per_cpu for r in good])
            busies = [b for b in (_busy(r) for r in good) if b and len(b) == n]
            if busies:
                row.busy = [statistics.median(b[i] for b in busies) for i in range(n)]
            if base is None:
                base = row
            else:
                if row.rate is not None and base.rate:
                    row.speedup = row.rate / base.rate
                if row.per_cpu is not None and base.per_cpu:
                    row.per_cpu_ratio = row.per_cpu / base.per_cpu
            rows.append(row)
    return rows


def run_scale(matrix: list[Scenario], *, nodes: list[int], rounds: int = 3,
              count: int | None = None, duration: float | None = None, kind: str = "zats",
              cpus: list[int] | None = None, max_lag_bytes: int = DEFAULT_MAX_LAG_BYTES,
              warmup: float = 0.3, progress: Progress | None = None,
              command: str = "") -> ScaleReport:
    progress = progress or Progress(enabled=False)
    if (count is None) == (duration is None):
        raise ValueError("give exactly one of count and duration")
    if any(sc.kind == "conns" for sc in matrix):
        raise_fd_limit()
    mode = f"{count:,} msgs per run" if count else f"{duration:g} s per run"
    layout = {n: cluster_cpus(n, cpus) for n in nodes}
    report = ScaleReport(nodes=list(nodes), kind=kind, rounds=rounds, mode=mode, cpus=layout,
                         date=_dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                         command=command, version=broker_version(kind))
    t_start = time.monotonic()
    clusters: dict[int, Cluster] = {}
    try:
        for n in nodes:
            clusters[n] = start_cluster(n, kind=kind, cpus=layout[n],
                                        name=f"zb{os.getpid()}n{n}")
            where = ", ".join(f"{u} (CPU {c})" for u, c in zip(clusters[n].urls, layout[n],
                                                               strict=True))
            progress.note(f"started {n} {kind} node(s): {where}")
        if warmup:
            for n in nodes:
                run_scenario(make("pubsub", 128), clusters[n].urls, duration=warmup,
                             max_lag_bytes=max_lag_bytes, broker_pid=clusters[n].pids)
        for r in range(rounds):
            progress.prefix = f"[round {r + 1}/{rounds}]"
            for i, sc in enumerate(matrix):
                order = list(nodes) if (r + i) % 2 == 0 else list(nodes)[::-1]
                for n in order:
                    c = clusters[n]
                    if not c.alive():
                        progress.note(f"the {n}-node cluster lost a node; restarting it:\n"
                                      f"{c.log_tail()}")
                        c.stop()
                        clusters[n] = c = start_cluster(n, kind=kind, cpus=layout[n],
                                                        name=f"zb{os.getpid()}n{n}r{r}")
                    report.runs.append(run_scenario(
                        sc, c.urls, count=count, duration=duration, broker_pid=c.pids,
                        label=f"{n}x{kind}", max_lag_bytes=max_lag_bytes, progress=progress))
    finally:
        for c in clusters.values():
            c.stop()
        progress.prefix = ""
    report.elapsed = time.monotonic() - t_start
    report.rows = summarise(matrix, list(nodes), report.runs)
    return report
