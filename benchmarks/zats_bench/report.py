"""Text tables and JSON for single runs and for `compare` summaries. Nothing here measures;
it only formats `RunResult`s and `CompareReport`s."""

from __future__ import annotations

import json

from .scenarios import VARIED, format_size

# JetStream kinds whose one-in-flight rows are latency rows (a fetch batch is not a window).
JS_LATENCY = ("jspub", "kvput", "kvget")


def si(x: float | None, digits: int = 3) -> str:
    """1234567 -> '1.23M', 532100 -> '532k', 950 -> '950'; None -> '-'."""
    if x is None:
        return "-"
    ax = abs(x)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if ax >= div:
            v = x / div
            return f"{v:.{max(0, digits - len(str(int(abs(v)))))}f}{suffix}"
    if ax >= 100 or x == int(x):
        return f"{x:.0f}"
    return f"{x:.{digits - 1}f}"


def ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def spread(r: list | None) -> str:
    return "-" if not r else f"{r[0]:.2f}-{r[1]:.2f}"


def us(x: float | None) -> str:
    return "-" if x is None else (f"{x:.0f}" if x >= 10 else f"{x:.1f}")


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A plain text table; columns in `right` (default: all but the first) are right-aligned."""
    if right is None:
        right = set(range(1, len(headers)))
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


_LEFT = {"scenario", "broker", "clients", "notes", "target", "ok", "name", "kind", "what"}


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |",
           "| " + " | ".join("---" if h in _LEFT else "---:" for h in headers) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _clients(r) -> str:
    k = r.kind
    if k == "conns":
        return f"{r.conns} idle"
    if k == "reqrep":
        return f"1 req/{r.subs} rep"
    return f"{r.pubs}->{r.subs}"


def run_rows(results) -> tuple[list[str], list[list[str]]]:
    headers = ["scenario", "broker", "size", "clients", "msgs", "msgs/s", "MB/s", "broker CPU s",
               "msgs/CPU-s", "lost", "p50 us", "p90 us", "p99 us", "notes"]
    rows = []
    for r in results:
        lat = r.latency_us or {}
        if r.kind == "conns":
            msgs = f"{r.received:,}"
            note = f"{r.kib_per_conn:.1f} KiB RSS/conn" if r.kib_per_conn is not None else ""
        else:
            msgs = f"{(r.published if r.kind == 'pub' else r.received):,}"
            note = ""
        if r.errors:
            note = (note + "; " if note else "") + "ERROR: " + r.errors[0]
        rows.append([
            r.scenario, r.broker or "-", ("16-2K" if r.kind in VARIED else format_size(r.size)) if r.kind != "conns" else "-",
            _clients(r), msgs, si(r.rate), si(r.mb_rate) if r.kind not in ("conns",) else "-",
            f"{r.broker_cpu:.2f}" if r.broker_cpu is not None else "-", si(r.per_cpu),
            f"{r.lost:,}" + (f" (+{r.extra:,})" if r.extra else ""),
            us(lat.get("p50")), us(lat.get("p90")), us(lat.get("p99")), note,
        ])
    return headers, rows


def run_table(results) -> str:
    headers, rows = run_rows(results)
    # Drop columns that are empty for every row (latency for non-reqrep runs, and so on).
    keep = [i for i in range(len(headers))
            if i < 2 or any(row[i] not in ("-", "") for row in rows)]
    headers = [headers[i] for i in keep]
    rows = [[row[i] for i in keep] for row in rows]
    left = {"scenario", "broker", "clients", "notes"}
    return table(headers, rows, right={i for i, h in enumerate(headers) if h not in left})


# -- compare ------------------------------------------------------------------------------

def compare_sections(report, markdown: bool = False) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) for the throughput, latency and memory tables of a compare."""
    a, b = report.kinds
    thr_rows, lat_rows, mem_rows = [], [], []
    for row in report.rows:
        sa, sb = row.stats[a], row.stats[b]
        target = row.target.text if row.target else ""
        holds = {True: "yes", False: "NO", None: "?" if row.target else ""}[row.holds]
        lost = f"{sa.lost:,}/{sb.lost:,}"
        if sa.errors or sb.errors:
            lost += f" err {sa.errors}/{sb.errors}"
        if row.kind == "conns":
            mem_rows.append([row.scenario, us(sa.kib_per_conn), us(sb.kib_per_conn),
                             ratio(row.ratios.get("kib_per_conn")), si(sa.rate), si(sb.rate),
                             lost, target, holds])
            continue
        if row.kind == "reqrep" or (row.kind in JS_LATENCY and row.window == 1):
            lat_rows.append([row.scenario, us(sa.p50), us(sb.p50), ratio(row.ratios.get("p50")),
                             spread(row.ratios.get("p50_range")),
                             us(sa.p90), us(sb.p90), us(sa.p99), us(sb.p99),
                             si(sa.rate), si(sb.rate), ratio(row.ratios.get("rate")),
                             si(sa.per_cpu), si(sb.per_cpu), ratio(row.ratios.get("per_cpu")),
                             lost, target, holds])
            continue
        thr_rows.append([row.scenario, si(sa.rate), si(sb.rate), ratio(row.ratios.get("rate")),
                         si(sa.per_cpu), si(sb.per_cpu), ratio(row.ratios.get("per_cpu")),
                         spread(row.ratios.get("per_cpu_range")), lost, target, holds])
    A, B = ("zats", "nats") if (a, b) == ("zats", "nats-server") else (a, b)
    sections = []
    if thr_rows:
        sections.append(("Throughput (medians; msgs/s delivered, published for Pub*)",
                         ["scenario", f"{A} msgs/s", f"{B} msgs/s", "ratio",
                          f"{A} msgs/CPU-s", f"{B} msgs/CPU-s", "ratio", "range", "lost",
                          "target", "ok"],
                         thr_rows))
    if lat_rows:
        sections.append(("Request/reply (medians; latency in microseconds)",
                         ["scenario", f"{A} p50", f"{B} p50", "ratio", "range", f"{A} p90",
                          f"{B} p90",
                          f"{A} p99", f"{B} p99", f"{A} req/s", f"{B} req/s", "ratio",
                          f"{A} req/CPU-s", f"{B} req/CPU-s", "ratio", "lost", "target", "ok"],
                         lat_rows))
    if mem_rows:
        sections.append(("Idle connections (broker RSS growth per connection)",
                         ["scenario", f"{A} KiB/conn", f"{B} KiB/conn", "ratio",
                          f"{A} conns/s", f"{B} conns/s", "lost", "target", "ok"], mem_rows))
    return sections


def compare_text(report, markdown: bool = False) -> str:
    a, b = report.kinds
    head = (f"{report.rounds} round(s), interleaved; ratio = {a}/{b}; "
            f"brokers pinned to CPU {report.broker_cpu if report.broker_cpu is not None else '(not pinned)'}"
            f", load generator on CPU(s) {report.client_cpus or '(any)'}; {report.mode}")
    parts = [head, ""]
    for title, headers, rows in compare_sections(report):
        parts.append(("### " if markdown else "") + title)
        if markdown:
            parts.append("")
        right = {i for i, h in enumerate(headers) if h not in _LEFT}
        parts.append(markdown_table(headers, rows) if markdown else table(headers, rows, right))
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


# -- scale ---------------------------------------------------------------------------------

def scale_rows(report) -> tuple[list[str], list[list[str]]]:
    # speed-up: msgs/s over the first configuration's (usually 1 node); efficiency: the same
    # for msgs per broker CPU-second (summed over the nodes).
    headers = ["scenario", "nodes", "CPUs", "msgs/s", "speed-up", "broker CPU s",
               "msgs/CPU-s", "efficiency", "node busy", "lost"]
    rows = []
    for row in report.rows:
        cpus = report.cpus.get(row.nodes) or []
        busy = "+".join(f"{b * 100:.0f}%" for b in row.busy) if row.busy else "-"
        lost = f"{row.lost:,}" + (f" ({row.errors} err)" if row.errors else "")
        rows.append([row.scenario, str(row.nodes),
                     ",".join("-" if c is None else str(c) for c in cpus) or "-",
                     si(row.rate), ratio(row.speedup),
                     "-" if row.broker_cpu is None else f"{row.broker_cpu:.2f}",
                     si(row.per_cpu), ratio(row.per_cpu_ratio), busy, lost])
    return headers, rows


def scale_text(report, markdown: bool = False) -> str:
    headers, rows = scale_rows(report)
    if markdown:
        return markdown_table(headers, rows)
    left = {"scenario", "CPUs", "node busy"}
    return table(headers, rows, right={i for i, h in enumerate(headers) if h not in left})


def to_json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, default=str)
