"""Optional PNG charts (`--chart FILE`), with matplotlib from the `chart` extra:
`pip install 'zats[chart]'`. A compare chart shows, per scenario, messages per broker CPU-second
for both brokers (log scale) and the zats/nats-server ratio against the issue's targets (the p50
latency ratio for request/reply with one in flight); a run chart shows msgs/s per run."""

from __future__ import annotations


class ChartUnavailable(RuntimeError):
    pass


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ChartUnavailable("--chart needs matplotlib: pip install 'zats[chart]'") from exc
    return plt


def compare_chart(report, path: str) -> None:
    plt = _pyplot()
    a, b = report.kinds
    rows = [r for r in report.rows if r.kind != "conns"]
    names = [r.scenario for r in rows]
    va = [r.stats[a].per_cpu or 0 for r in rows]
    vb = [r.stats[b].per_cpu or 0 for r in rows]
    ratios = []
    for r in rows:
        key = "p50" if r.kind == "reqrep" and r.scenario.find("_W") < 0 else "per_cpu"
        ratios.append(r.ratios.get(key) or 0)
    x = range(len(rows))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, 0.9 * len(rows) + 2), 8),
                                      gridspec_kw={"height_ratios": [3, 2]})
    w = 0.4
    top.bar([i - w / 2 for i in x], va, w, label=a, color="#3b7dd8")
    top.bar([i + w / 2 for i in x], vb, w, label=b, color="#9aa5b1")
    top.set_yscale("log")
    top.set_ylabel("messages per broker CPU-second")
    top.set_xticks(list(x))
    top.set_xticklabels(names, rotation=30, ha="right")
    top.legend()
    top.set_title(f"{a} vs {b}: medians of {report.rounds} round(s), {report.mode} "
                  f"({report.date[:10]})")
    colors = []
    for r in rows:
        if r.holds is None:
            colors.append("#9aa5b1")
        else:
            colors.append("#3a9d5d" if r.holds else "#d64545")
    bottom.bar(list(x), ratios, 0.6, color=colors)
    for i, r in enumerate(rows):
        if r.target is not None and r.target.metric in ("per_cpu", "p50"):
            bottom.hlines(r.target.value, i - 0.35, i + 0.35, colors="black", linestyles="dashed")
    bottom.axhline(1.0, color="grey", linewidth=0.8)
    bottom.set_ylabel(f"{a}/{b}: msgs per CPU-s\n(p50 latency for ReqRep, one in flight)")
    bottom.set_xticks(list(x))
    bottom.set_xticklabels(names, rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def runs_chart(results, path: str) -> None:
    plt = _pyplot()
    rows = [r for r in results if r.rate is not None]
    labels = [f"{r.scenario}\n{r.broker}" if r.broker else r.scenario for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows) + 2), 5))
    ax.bar(range(len(rows)), [r.rate for r in rows], color="#3b7dd8")
    ax.set_yscale("log")
    ax.set_ylabel("msgs/s (req/s for ReqRep, conns/s for IdleConns)")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
