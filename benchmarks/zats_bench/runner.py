"""Runs one scenario against one broker URL: forks the worker processes, releases them together,
watches their progress counters (progress bar, stall detection), drains, and turns what they
report into a `RunResult`: every message accounted for (published, expected, received, lost),
rates, the broker's CPU seconds over the run (when its pid is known), latency percentiles for
request/reply, RSS per connection for idle connections."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue as queue_mod
import secrets
import time
from array import array
from dataclasses import asdict, dataclass, field

from . import jetstream, varied, workers
from .cpu import CpuMeter
from .cpu import total_rss as rss_bytes
from .progress import Progress
from .scenarios import Scenario
from .wire import msg_frame_len

DEFAULT_MAX_LAG_BYTES = 8 * 1024 * 1024
# /proc counts CPU time in clock ticks (10 ms): below this much broker CPU per run, a
# msgs-per-CPU-second figure would be mostly rounding, and is left out.
MIN_CPU_SECONDS = 0.05


@dataclass
class RunResult:
    scenario: str
    kind: str
    size: int
    pubs: int
    subs: int
    window: int
    conns: int
    broker: str = ""
    count: int | None = None
    duration: float | None = None
    published: int = 0
    expected: int = 0
    received: int = 0
    lost: int = 0
    extra: int = 0  # received beyond expected (duplicates): always an error
    elapsed: float = 0.0
    pub_rate: float | None = None
    sub_rate: float | None = None
    rate: float | None = None  # the headline msgs/s (requests/s for reqrep)
    mb_rate: float | None = None  # payload MB/s of the headline rate
    broker_cpu: float | None = None
    per_cpu: float | None = None  # headline messages per broker CPU-second
    latency_us: dict | None = None  # min p50 p90 p99 max mean, microseconds
    kib_per_conn: float | None = None
    rss_before: int | None = None
    rss_after: int | None = None
    nodes: int = 1  # brokers the clients were spread over (a cluster: round-robin by slot)
    node_cpu: list | None = None  # broker CPU seconds per node, when nodes > 1
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.lost == 0 and self.extra == 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def percentiles(values_ns: array) -> dict | None:
    if not values_ns:
        return None
    v = sorted(values_ns)
    n = len(v)

    def rank(q: float) -> float:
        return v[max(0, min(n - 1, math.ceil(q * n) - 1))] / 1000.0

    return {"min": v[0] / 1000.0, "p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99),
            "max": v[-1] / 1000.0, "mean": sum(v) / n / 1000.0, "samples": n}


def _context():
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


class _Run:
    """The bookkeeping of one run in the parent process."""

    def __init__(self, sc: Scenario, url: str, count, duration, broker_pid, max_lag_bytes,
                 stall_timeout, progress: Progress, label: str):
        self.sc = sc
        # One URL, or one per cluster node: worker slot i connects to urls[i % len(urls)].
        self.urls = [url] if isinstance(url, str) else list(url)
        self.url = self.urls[0]
        self.count = count
        self.duration = duration
        self.pid = broker_pid
        self.max_lag_bytes = max_lag_bytes
        self.stall_timeout = stall_timeout
        self.progress = progress
        self.label = label
        self.ctx = _context()
        self.run_id = secrets.token_hex(4)
        self.subject = f"bench.{self.run_id}"
        self.procs: dict[int, mp.Process] = {}
        self.roles: dict[int, str] = {}
        self.ready: set[int] = set()
        self.opened: set[int] = set()
        self.done: dict[int, dict] = {}
        self.errors: list[str] = []
        self._closed = False

    # -- workers --------------------------------------------------------------------------

    def _spawn(self, target, job: dict, role: str) -> None:
        slot = job["slot"]
        job.update(url=self.urls[slot % len(self.urls)], subject=self.subject, run_id=self.run_id, parent=os.getpid(),
                   stall_timeout=self.stall_timeout)
        p = self.ctx.Process(target=target, args=(job, self.phase, self.counters, self.results),
                             name=f"zats-bench-{role}-{slot}", daemon=True)
        p.start()
        self.procs[slot] = p
        self.roles[slot] = role

    def _handle(self, item) -> None:
        kind, slot = item[0], item[1]
        if kind == "ready":
            self.ready.add(slot)
        elif kind == "open":
            self.opened.add(slot)
        elif kind == "done":
            self.done[slot] = item[2]
            if item[2].get("error"):
                self.errors.append(f"{self.roles.get(slot, '?')}#{slot}: {item[2]['error']}")

    def _pump(self, timeout: float) -> None:
        try:
            self._handle(self.results.get(timeout=timeout))
            while True:
                self._handle(self.results.get_nowait())
        except queue_mod.Empty:
            pass

    def _dead_without_report(self, slots) -> list[int]:
        return [s for s in slots if s not in self.done and not self.procs[s].is_alive()
                and self.procs[s].exitcode is not None]

    def _wait(self, slots, what: str, condition, timeout: float, show=None) -> bool:
        """Pumps results until `condition()`; False (with an error recorded) on a stall or a
        worker that died without reporting."""
        last_total = -1
        last_change = time.monotonic()
        hard = time.monotonic() + timeout if timeout else None
        while not condition():
            self._pump(0.05)
            if show is not None:
                show()
            now = time.monotonic()
            total = sum(self.counters)
            if total != last_total:
                last_total, last_change = total, now
            elif now - last_change > self.stall_timeout:
                self.errors.append(f"stalled: no progress for {self.stall_timeout:.0f}s "
                                   f"while waiting for {what}")
                return False
            if hard is not None and now > hard:
                self.errors.append(f"timed out after {timeout:.0f}s waiting for {what}")
                return False
            dead = self._dead_without_report(slots)
            if dead:
                # Give a report still in the queue a moment to arrive.
                self._pump(0.2)
                dead = self._dead_without_report(slots)
                if dead:
                    self.errors.append(f"worker(s) {dead} died without reporting "
                                       f"(exit codes {[self.procs[s].exitcode for s in dead]})")
                    return False
        return True

    def _shutdown(self, phase: int) -> None:
        if self._closed:
            return
        self._closed = True
        self.phase.value = max(self.phase.value, phase)
        deadline = time.monotonic() + 5.0
        while len(self.done) < len(self.procs) and time.monotonic() < deadline:
            self._pump(0.05)
            if not [s for s in self.procs if s not in self.done and self.procs[s].is_alive()]:
                self._pump(0.1)
                break
        for p in self.procs.values():
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(1.0)
        self.results.close()

    # -- the run ----------------------------------------------------------------------------

    def execute(self) -> RunResult:
        sc = self.sc
        res = RunResult(sc.name, sc.kind, sc.size, sc.pubs, sc.subs, sc.window, sc.conns,
                        broker=self.label, count=self.count, duration=self.duration,
                        nodes=len(self.urls))
        self.phase = self.ctx.RawValue("i", workers.SETUP)
        n_slots = sc.subs + sc.pubs + (1 if sc.kind == "conns" else 0)
        self.counters = self.ctx.RawArray("q", n_slots)
        self.results = self.ctx.Queue()
        meter = CpuMeter(self.pid)
        try:
            self._execute(res, meter)
        except KeyboardInterrupt:
            self.errors.append("interrupted")
            self._shutdown(workers.ABORT)
            raise
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self._shutdown(workers.ABORT)
        res.errors = self.errors
        return res

    def _execute(self, res: RunResult, meter: CpuMeter) -> None:
        sc = self.sc
        if sc.kind == "conns":
            return self._execute_conns(res, meter)
        if sc.kind in jetstream.KINDS:
            return self._execute_js(res, meter)
        sub_slots = list(range(sc.subs))
        pub_slots = list(range(sc.subs, sc.subs + sc.pubs))
        reqrep = sc.kind == "reqrep"
        vary = varied.traffic(sc.kind, self.subject, sc.pubs, sc.subs) \
            if sc.kind in varied.KINDS else None
        queue = "bench-q" if sc.kind == "queue" else ("bench-rr" if reqrep and sc.subs > 1 else None)
        if vary is not None and vary.queue:
            queue = vary.queue.decode()
        plain = [] if (queue or reqrep) else sub_slots
        queued = sub_slots if queue and not reqrep else []
        shares = {s: vary.share(s) for s in plain} if vary is not None else None
        max_lag = 0
        if self.max_lag_bytes and sub_slots and not reqrep:
            frame = vary.mean_frame() if vary is not None else \
                msg_frame_len(self.subject.encode(), b"%d" % sc.subs, sc.size)
            max_lag = max(4, self.max_lag_bytes // frame)
        shape = {"kind": sc.kind, "pubs": sc.pubs, "subs": sc.subs}
        for s in sub_slots:
            self._spawn(workers.replier if reqrep else workers.subscriber,
                        {"slot": s, "queue": queue, "size": sc.size, **shape},
                        "rep" if reqrep else "sub")
        if not self._wait(sub_slots, "subscribers to connect",
                          lambda: self.ready.issuperset(sub_slots) or self.errors, 30.0) \
                or self.errors:
            return self._shutdown(workers.ABORT)
        counts = _split(self.count, sc.pubs)
        for i, s in enumerate(pub_slots):
            job = {"slot": s, "size": sc.size, "count": counts[i] if counts else None,
                   "duration": self.duration, "max_lag": max_lag, "pub_slots": pub_slots,
                   "plain_slots": plain, "queue_slots": queued, "window": sc.window,
                   "pub_index": i, "shares": shares, **shape}
            target = workers.requester if reqrep else \
                workers.varied_publisher if vary is not None else workers.publisher
            self._spawn(target, job, "req" if reqrep else "pub")
        if not self._wait(pub_slots, "publishers to connect",
                          lambda: self.ready.issuperset(pub_slots) or self.errors, 30.0) \
                or self.errors:
            return self._shutdown(workers.ABORT)

        mesh = None
        if len(self.urls) > 1:
            from .mesh import Mesh

            # Every worker has subscribed (and seen its PONG): prove that every node knows of
            # every other node's subscriptions before the load starts.
            try:
                mesh = Mesh(self.urls, self.run_id)
                mesh.wait_interest(timeout=30.0)
            except Exception as exc:
                if mesh is not None:
                    mesh.close()
                self.errors.append(str(exc))
                return self._shutdown(workers.ABORT)

        label = f"{self.label + ' ' if self.label else ''}{sc.name}"
        t_go = time.monotonic()

        def show() -> None:
            if self.duration:
                frac = (time.monotonic() - t_go) / self.duration
            else:
                frac = sum(self.counters[s] for s in pub_slots) / max(1, self.count)
            got = sum(self.counters[s] for s in (pub_slots if reqrep or not sub_slots else sub_slots))
            self.progress.update(label, frac, f"{got:,} msgs")

        res.rss_before = rss_bytes(self.pid) if self.pid else None
        meter.start()
        self.phase.value = workers.GO
        ok = self._wait(pub_slots, "publishers to finish",
                        lambda: all(s in self.done for s in pub_slots), 0, show)
        if ok and mesh is not None and sub_slots and not reqrep:
            # The publishers' PONGs cover their own node; the routes may still carry messages.
            try:
                mesh.flush_routes(timeout=self.stall_timeout)
            except Exception as exc:
                self.errors.append(str(exc))
                ok = False
        if mesh is not None:
            mesh.close()
        if ok and not reqrep:
            self.phase.value = workers.DRAIN
            ok = self._wait(sub_slots, "subscribers to drain",
                            lambda: all(s in self.done for s in sub_slots), 0, show)
        res.broker_cpu = meter.stop()
        if len(meter.pids) > 1:
            res.node_cpu = meter.per_pid
        res.rss_after = rss_bytes(self.pid) if self.pid else None
        self._shutdown(workers.STOP if ok else workers.ABORT)
        self._summarise(res, pub_slots, sub_slots)

    def _summarise(self, res: RunResult, pub_slots, sub_slots) -> None:
        sc = self.sc
        pubs = [self.done.get(s, {}) for s in pub_slots]
        subs = [self.done.get(s, {}) for s in sub_slots]
        starts = [p["t0"] for p in pubs if p.get("t0") is not None]
        ends = [p["t1"] for p in pubs if p.get("t1") is not None]
        t0 = min(starts) if starts else None
        if sc.kind == "reqrep":
            p = pubs[0] if pubs else {}
            res.published = p.get("sent", 0)
            res.expected = res.published
            res.received = p.get("received", 0)
            lat = array("q")
            lat.frombytes(p.get("latencies_ns") or b"")
            res.latency_us = percentiles(lat)
            if t0 is not None and ends:
                res.elapsed = max(ends) - t0
        else:
            res.published = sum(p.get("sent", 0) for p in pubs)
            if ends and t0 is not None:
                res.pub_rate = res.published / max(1e-9, max(ends) - t0)
            if sc.kind == "pub":
                res.elapsed = (max(ends) - t0) if ends and t0 is not None else 0.0
            else:
                if sc.kind in varied.KINDS:  # what the publishers' frames must cause
                    res.expected = sum(p.get("expected", 0) for p in pubs)
                else:
                    res.expected = res.published * sc.fanout
                res.received = sum(s.get("received", 0) for s in subs)
                lasts = [s["t_last"] for s in subs if s.get("t_last") is not None]
                if lasts and t0 is not None:
                    res.elapsed = max(lasts) - t0
                    res.sub_rate = res.received / max(1e-9, res.elapsed)
                not_drained = [s for s, d in zip(sub_slots, subs, strict=True) if not d.get("drained")]
                if not_drained and not self.errors:
                    self.errors.append(f"subscriber(s) {not_drained} did not drain")
        res.lost = max(0, res.expected - res.received)
        res.extra = max(0, res.received - res.expected) if sc.kind != "pub" else 0
        if sc.kind == "pub":
            res.rate = res.pub_rate
            n = res.published
        elif sc.kind == "reqrep":
            res.rate = res.received / res.elapsed if res.elapsed > 0 else None
            n = res.received
        else:
            res.rate = res.sub_rate
            n = res.received
        if res.rate is not None and sc.kind not in varied.KINDS:  # varied: sizes are a mix
            res.mb_rate = res.rate * sc.size / 1e6
        if res.broker_cpu is not None and res.broker_cpu >= MIN_CPU_SECONDS:
            res.per_cpu = n / res.broker_cpu

    def _execute_js(self, res: RunResult, meter: CpuMeter) -> None:
        """One worker does a JetStream scenario's setup (stream, fill) before it reports ready,
        and only the measured traffic between GO and its report."""
        sc = self.sc
        slot = 0
        self._spawn(jetstream.worker, {"slot": slot, "kind": sc.kind, "size": sc.size,
                                       "window": sc.window, "storage": sc.storage,
                                       "count": self.count, "duration": self.duration}, "js")
        if not self._wait([slot], "the JetStream worker to set up",
                          lambda: slot in self.ready or slot in self.done or self.errors, 0) \
                or self.errors:
            return self._shutdown(workers.ABORT)
        label = f"{self.label + ' ' if self.label else ''}{sc.name}"
        t_go = time.monotonic()

        def show() -> None:
            frac = (time.monotonic() - t_go) / self.duration if self.duration else \
                self.counters[slot] / max(1, self.count)
            self.progress.update(label, frac, f"{self.counters[slot]:,} msgs")

        meter.start()
        self.phase.value = workers.GO
        ok = self._wait([slot], "the JetStream worker", lambda: slot in self.done, 0, show)
        res.broker_cpu = meter.stop()
        self._shutdown(workers.STOP if ok else workers.ABORT)
        d = self.done.get(slot, {})
        res.published = d.get("sent", 0)
        res.expected = d.get("expected", 0)
        res.received = d.get("received", 0)
        res.lost = max(0, res.expected - res.received)
        lat = array("q")
        lat.frombytes(d.get("latencies_ns") or b"")
        res.latency_us = percentiles(lat)
        if d.get("t0") is not None and d.get("t1") is not None:
            res.elapsed = d["t1"] - d["t0"]
            res.rate = res.received / max(1e-9, res.elapsed)
            res.mb_rate = res.rate * sc.size / 1e6
        if res.broker_cpu is not None and res.broker_cpu >= MIN_CPU_SECONDS:
            res.per_cpu = res.received / res.broker_cpu

    def _execute_conns(self, res: RunResult, meter: CpuMeter) -> None:
        sc = self.sc
        slot = 0
        self._spawn(workers.idle_conns, {"slot": slot, "conns": sc.conns}, "conns")
        if not self._wait([slot], "the connection worker",
                          lambda: slot in self.ready or self.errors, 30.0) or self.errors:
            return self._shutdown(workers.ABORT)
        label = f"{self.label + ' ' if self.label else ''}{sc.name}"

        def show() -> None:
            n = self.counters[slot]
            self.progress.update(label, n / max(1, sc.conns), f"{n:,} conns")

        time.sleep(0.2)
        res.rss_before = rss_bytes(self.pid) if self.pid else None
        meter.start()
        self.phase.value = workers.GO
        ok = self._wait([slot], "connections to open",
                        lambda: slot in self.opened or slot in self.done, 0, show)
        if ok and slot in self.opened:
            time.sleep(0.5)  # let the broker settle (first PINGs, lazily allocated buffers)
            res.rss_after = rss_bytes(self.pid) if self.pid else None
        res.broker_cpu = meter.stop()
        self._shutdown(workers.STOP if ok else workers.ABORT)
        d = self.done.get(slot, {})
        opened = d.get("opened", int(self.counters[slot]))
        res.expected = sc.conns
        res.received = opened
        res.published = opened
        res.lost = max(0, sc.conns - opened)
        if d.get("t0") is not None and d.get("t1") is not None:
            res.elapsed = d["t1"] - d["t0"]
            res.rate = opened / max(1e-9, res.elapsed)
        if res.rss_before is not None and res.rss_after is not None and opened:
            res.kib_per_conn = (res.rss_after - res.rss_before) / opened / 1024.0
        if res.broker_cpu is not None and res.broker_cpu >= MIN_CPU_SECONDS:
            res.per_cpu = opened / res.broker_cpu


def _split(total: int | None, parts: int) -> list[int] | None:
    if total is None or parts <= 0:
        return None
    base, rest = divmod(total, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


def run_scenario(sc: Scenario, url: str, *, count: int | None = None,
                 duration: float | None = None, broker_pid: int | None = None,
                 label: str = "", max_lag_bytes: int = DEFAULT_MAX_LAG_BYTES,
                 stall_timeout: float = 20.0, progress: Progress | None = None) -> RunResult:
    """One run of `sc` against the broker at `url`. Give `count` (messages in total, or requests)
    or `duration` (seconds). `broker_pid` enables the CPU and RSS columns.

    For a cluster, `url` is a list (one client URL per node; worker slot i connects to node
    i % N: subscribers first, then publishers) and `broker_pid` the list of the nodes' pids (CPU
    and RSS are summed over them). Interest is then proven to have reached every node before
    the load starts, and the routes are drained before the subscribers' final PING/PONG."""
    if (count is None) == (duration is None) and sc.kind != "conns":
        raise ValueError("give exactly one of count and duration")
    progress = progress or Progress(enabled=False)
    run = _Run(sc, url, count, duration, broker_pid, max_lag_bytes, stall_timeout, progress, label)
    result = run.execute()
    progress.finish(summary_line(result))
    return result


def summary_line(r: RunResult) -> str:
    who = f"{r.broker} " if r.broker else ""
    if r.kind == "conns":
        kib = f"{r.kib_per_conn:.1f} KiB/conn" if r.kib_per_conn is not None else "RSS n/a"
        body = f"{r.received:,}/{r.expected:,} conns, {kib}"
    elif r.kind == "reqrep":
        lat = r.latency_us or {}
        body = (f"{r.received:,} req, {r.rate or 0:,.0f} req/s, p50 {lat.get('p50', 0):.0f} us, "
                f"p99 {lat.get('p99', 0):.0f} us")
    else:
        body = f"{r.rate or 0:,.0f} msgs/s"
        if r.kind != "pub":
            body = f"{r.received:,}/{r.expected:,} delivered, " + body
        else:
            body = f"{r.published:,} published, " + body
    if r.per_cpu:
        body += f", {r.per_cpu:,.0f}/CPU-s"
    if r.lost:
        body += f", LOST {r.lost:,}"
    if r.extra:
        body += f", EXTRA {r.extra:,}"
    if r.errors:
        body += f", ERROR {r.errors[0]}"
    return f"{who}{r.scenario}: {body}"
