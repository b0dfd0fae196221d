"""`zats-bench`: the command line.

    zats-bench [run] [SCENARIO ...] [--server URL | --start zats|nats-server] [options]
    zats-bench compare [--rounds N] [--scenarios LIST] [--sizes LIST] [options]
    zats-bench scale [--nodes 1,2] [SCENARIO ...] [options]
    zats-bench list

`run` measures one broker (any NATS server URL; `--start zats --cluster N`: N zats nodes as a
cluster, one per CPU); `compare` starts zats and nats-server itself and measures both in
interleaved rounds; `scale` measures one zats process against N zats processes as a cluster. Exit status: 0 when every message was accounted for, 1 when a
run lost messages or failed, 2 on a usage error."""

from __future__ import annotations

import argparse
import shlex
import sys

from . import report as rep
from .progress import Progress
from .runner import DEFAULT_MAX_LAG_BYTES, run_scenario
from .scenarios import (
    ALIASES,
    DEFAULT_MATRIX,
    JS,
    JS_MATRIX,
    KINDS,
    default_matrix,
    make,
    parse_name,
    parse_size,
    resolve,
)

COMPARE_DEFAULT_DURATION = 1.0
COMPARE_DEFAULT_ROUNDS = 5
RUN_DEFAULT_DURATION = 3.0
SCALE_DEFAULT = ("pubsub", "fanout", "fanin")
SCALE_DEFAULT_DURATION = 2.0
SCALE_DEFAULT_ROUNDS = 3


def _positive_int(text: str) -> int:
    try:
        n = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return n


def _count(text: str) -> int:
    t = text.strip().lower()
    mult = 1
    if t.endswith("k"):
        mult, t = 1000, t[:-1]
    elif t.endswith("m"):
        mult, t = 1_000_000, t[:-1]
    return _positive_int(t) * mult


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if x <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return x


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _nodes(text: str) -> list[int]:
    out = []
    for t in text.split(","):
        if t.strip():
            n = _positive_int(t.strip())
            if n not in out:
                out.append(n)
    if not out:
        raise argparse.ArgumentTypeError("give node counts such as 1,2")
    return out


def _pids(text: str):
    pids = [_positive_int(t) for t in text.split(",") if t.strip()]
    if not pids:
        raise argparse.ArgumentTypeError("give a pid (or pids, comma-separated)")
    return pids[0] if len(pids) == 1 else pids


def _shape(p: argparse.ArgumentParser, default: str = "pubsub") -> None:
    p.add_argument("--size", type=_size, default=128, help="payload size (default 128; 16K, 1M)")
    p.add_argument("--pubs", type=_positive_int, help="publishers (pubsub, fanin, queue)")
    p.add_argument("--subs", type=_positive_int,
                   help="subscribers (pubsub, fanout), queue members, or repliers")
    p.add_argument("--window", type=_positive_int, help="requests in flight (reqrep; default 1)")
    p.add_argument("--conns", type=_positive_int, help="idle connections (conns; default 10000)")


def _sizes(text: str) -> list[int]:
    return [_size(t) for t in text.split(",") if t.strip()]


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-n", "--msgs", type=_count, metavar="N",
                   help="messages per run in total, split across publishers (requests for "
                        "ReqRep); 10k and 1m work")
    g.add_argument("-d", "--duration", type=_positive_float, metavar="SECONDS",
                   help="publish for this long per run instead of a count")
    p.add_argument("--max-lag", type=_size, default=DEFAULT_MAX_LAG_BYTES, metavar="BYTES",
                   help="flow control: publishers pause while the slowest subscriber is more "
                        "than this many bytes behind (default 8M; 0: off, and a slow "
                        "subscriber may be cut off by the broker)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout instead of tables")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the JSON to FILE")
    p.add_argument("--chart", metavar="FILE.png", help="write a PNG chart (needs matplotlib: "
                                                       "pip install 'zats[chart]')")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="zats-bench",
        description="End-to-end load generator for NATS brokers (zats or nats-server).",
        epilog="Scenarios: " + ", ".join(KINDS) + " (or nats-style names such as PubSub16K, "
               "FanOut10x128B, ReqRep128B_W16, IdleConns10k). `zats-bench list` shows them. "
               "Without a subcommand, `run` is assumed.")
    sub = p.add_subparsers(dest="command", metavar="{run,compare,scale,list}")

    r = sub.add_parser("run", help="measure one broker",
                       description="Run scenarios against one broker and print a table.")
    r.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help="pub, pubsub, fanout, fanin, queue, reqrep, conns, or a name such as "
                        "PubSub16K (default: pubsub)")
    where = r.add_mutually_exclusive_group()
    where.add_argument("-s", "--server", default=None, metavar="URL",
                       help="broker URL (default nats://127.0.0.1:4222); several, comma-"
                            "separated: the nodes of a cluster, clients spread over them")
    where.add_argument("--start", choices=("zats", "nats-server"),
                       help="start this broker on a free port for the run (its CPU and memory "
                            "are then measured too)")
    r.add_argument("--pid", type=_pids, help="pid of the broker at --server, for the CPU and "
                                             "memory columns (a cluster: the pids, comma-"
                                             "separated, summed)")
    r.add_argument("--cluster", type=_positive_int, metavar="N",
                   help="with --start: start N brokers as a full-mesh cluster, node i pinned "
                        "to CPU i, and spread the clients over them round-robin")
    r.add_argument("--broker-cpu", type=int, metavar="CPU",
                   help="with --start: pin the broker to this CPU")
    _shape(r)
    r.add_argument("--rounds", type=_positive_int, default=1, help="repeat every scenario")
    _common(r)

    c = sub.add_parser("compare", help="zats against nats-server, side by side",
                       description="Start zats and nats-server pinned to the same CPU, run the "
                                   "matrix against both in interleaved rounds, print medians "
                                   "and ratios zats/nats-server.")
    c.add_argument("-r", "--rounds", type=_positive_int, default=COMPARE_DEFAULT_ROUNDS,
                   help=f"rounds (default {COMPARE_DEFAULT_ROUNDS})")
    c.add_argument("--scenarios", action="append", metavar="LIST",
                   help="comma-separated names or families (default: the whole matrix: "
                        + ",".join(DEFAULT_MATRIX) + ")")
    c.add_argument("--sizes", type=_sizes, metavar="LIST",
                   help="payload sizes for the families given (e.g. 128,16K,1M)")
    c.add_argument("--broker-cpu", default="auto", metavar="CPU",
                   help="CPU both brokers are pinned to (default: the last one; 'none': no "
                        "pinning)")
    c.add_argument("--no-warmup", action="store_true", help="skip the warm-up runs")
    c.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    _common(c)

    k = sub.add_parser("scale", help="one zats process against N as a cluster (one per CPU)",
                       description="Start one broker and N-node full-mesh clusters of the same "
                                   "kind (node i pinned to CPU i), spread the clients over the "
                                   "nodes round-robin, run the scenarios against each in "
                                   "interleaved rounds, and print aggregate msgs/s and msgs per "
                                   "broker CPU-second (summed over the nodes) side by side.")
    k.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help="families or names as for `run` (default: " + " ".join(SCALE_DEFAULT)
                        + ")")
    k.add_argument("--nodes", type=_nodes, default=None, metavar="LIST",
                   help="node counts to measure, comma-separated (default: 1,<CPUs>)")
    k.add_argument("--kind", choices=("zats", "nats-server"), default="zats",
                   help="broker kind (default zats; nats-server for reference)")
    k.add_argument("-r", "--rounds", type=_positive_int, default=SCALE_DEFAULT_ROUNDS,
                   help=f"rounds (default {SCALE_DEFAULT_ROUNDS})")
    k.add_argument("--cpus", type=_nodes, metavar="LIST",
                   help="CPUs for the nodes, in order (default: every CPU; node i on the i-th, "
                        "wrapping)")
    k.add_argument("--no-warmup", action="store_true", help="skip the warm-up runs")
    k.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    _shape(k)
    _common(k)

    sub.add_parser("list", help="list scenario names and the default compare matrix")
    return p


def _argv(argv: list[str]) -> list[str]:
    if not argv:
        return ["run"]
    if argv[0] in ("run", "compare", "scale", "list") or argv[0] in ("-h", "--help"):
        return argv
    return ["run"] + argv


def _write_json(args, data) -> None:
    text = rep.to_json(data)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    if args.json:
        print(text)


def _chart(args, draw, obj) -> int:
    if not args.chart:
        return 0
    from .chart import ChartUnavailable

    try:
        draw(obj, args.chart)
    except ChartUnavailable as exc:
        print(f"zats-bench: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"chart written to {args.chart}", file=sys.stderr)
    return 0


def cmd_list() -> int:
    rows = []
    for name in DEFAULT_MATRIX:
        sc = parse_name(name)
        rows.append([name, sc.kind, sc.description])
    print("Default compare matrix:\n")
    print(rep.table(["name", "kind", "what"], rows, right=set()))
    print("\nJetStream rows (`--scenarios js`; brokers started with -js -sd <fresh dir>):\n")
    print(rep.table(["name", "kind", "what"],
                    [[n, parse_name(n).kind, parse_name(n).description] for n in JS_MATRIX],
                    right=set()))
    print("\nFamilies for `run` (with --size/--pubs/--subs/--window/--conns): "
          + ", ".join(KINDS))
    print("Any nats-style name works too: Pub<size>, PubSub<size>, FanOut<N>x<size>, "
          "FanIn<N>x<size>, QueueSub<N>x<size>, ReqRep<size>[_W<window>], IdleConns<N>[k]")
    return 0


def cmd_run(args) -> int:
    try:
        scenarios = [resolve(s, size=args.size, pubs=args.pubs, subs=args.subs,
                             window=args.window, conns=args.conns)
                     for s in (args.scenarios or ["pubsub"])]
    except ValueError as exc:
        print(f"zats-bench: {exc}", file=sys.stderr)
        return 2
    count, duration = args.msgs, args.duration
    if count is None and duration is None:
        duration = RUN_DEFAULT_DURATION
    progress = Progress(enabled=not args.quiet)
    broker = None
    url, pid, label = args.server or "nats://127.0.0.1:4222", args.pid, ""
    if "," in url:
        url = [u.strip() for u in url.split(",") if u.strip()]
    if args.cluster and not args.start:
        print("zats-bench: --cluster needs --start", file=sys.stderr)
        return 2
    if any(sc.kind == "conns" for sc in scenarios):
        from .servers import raise_fd_limit

        raise_fd_limit()
    if args.start and args.cluster and args.cluster > 1:
        from .servers import available_cpus, cluster_cpus, start_cluster

        order = available_cpus()
        if args.broker_cpu is not None:  # start there, then the next usable CPUs, wrapping
            if args.broker_cpu not in order:
                print(f"zats-bench: CPU {args.broker_cpu} is not usable here", file=sys.stderr)
                return 2
            k = order.index(args.broker_cpu)
            order = order[k:] + order[:k]
        cpus = cluster_cpus(args.cluster, order)
        try:
            broker = start_cluster(args.cluster, kind=args.start, cpus=cpus)
        except RuntimeError as exc:
            print(f"zats-bench: {exc}", file=sys.stderr)
            return 1
        url, pid, label = broker.urls, broker.pids, f"{args.cluster}x{args.start}"
        for i, (u, p, c) in enumerate(zip(broker.urls, broker.pids, cpus, strict=True)):
            pinned = f", CPU {c}" if c is not None else ""
            progress.note(f"started {args.start} node {i} at {u} (pid {p}{pinned})")
    elif args.start:
        from .servers import start_broker

        try:
            broker = start_broker(args.start, cpu=args.broker_cpu,
                                  jetstream=any(sc.kind in JS for sc in scenarios))
        except RuntimeError as exc:
            print(f"zats-bench: {exc}", file=sys.stderr)
            return 1
        url, pid, label = broker.url, broker.pid, args.start
        pinned = f", CPU {args.broker_cpu}" if args.broker_cpu is not None else ""
        progress.note(f"started {args.start} at {url} (pid {pid}{pinned})")
    results = []
    try:
        for _ in range(args.rounds):
            for sc in scenarios:
                results.append(run_scenario(sc, url, count=count, duration=duration,
                                            broker_pid=pid, label=label,
                                            max_lag_bytes=args.max_lag, progress=progress))
    except KeyboardInterrupt:
        print("zats-bench: interrupted", file=sys.stderr)
        return 130
    finally:
        if broker is not None:
            broker.stop()
    _write_json(args, {"command": "run", "url": url, "results": [r.to_dict() for r in results]})
    if not args.json:
        print(rep.run_table(results))
    status = 0 if all(r.ok for r in results) else 1
    from .chart import runs_chart

    return _chart(args, runs_chart, results) or status


def _matrix(args) -> list:
    if not args.scenarios and not args.sizes:
        return default_matrix()
    items = [t.strip() for s in (args.scenarios or []) for t in s.split(",") if t.strip()]
    if not items:  # --sizes alone: every family of the default matrix at those sizes
        items = []
        for name in DEFAULT_MATRIX:
            kind = parse_name(name).kind
            if kind not in items:
                items.append(kind)
    out = []
    for item in items:
        if item.lower() in ("js", "jetstream"):
            out.extend(sc for sc in map(parse_name, JS_MATRIX) if sc not in out)
        elif item.lower() in ALIASES:
            kind = ALIASES[item.lower()]
            defaults = [sc for sc in default_matrix() if sc.kind == kind]
            if kind == "conns":
                found = defaults or [make("conns")]
            elif args.sizes:
                found = []
                for size in args.sizes:
                    for base in (defaults or [make(kind)]):
                        sc = make(kind, size, pubs=base.pubs, subs=base.subs,
                                  window=base.window)
                        if sc not in found:
                            found.append(sc)
            else:
                found = defaults or [make(kind)]
            out.extend(sc for sc in found if sc not in out)
        else:
            sc = parse_name(item)
            if sc not in out:
                out.append(sc)
    return out


def cmd_compare(args, argv: list[str]) -> int:
    from .chart import compare_chart
    from .compare import run_compare

    try:
        matrix = _matrix(args)
    except ValueError as exc:
        print(f"zats-bench: {exc}", file=sys.stderr)
        return 2
    if args.broker_cpu in ("none", "off", "-1"):
        cpu = None
    elif args.broker_cpu == "auto":
        cpu = "auto"
    else:
        try:
            cpu = int(args.broker_cpu)
        except ValueError:
            print(f"zats-bench: bad --broker-cpu {args.broker_cpu!r}", file=sys.stderr)
            return 2
    count, duration = args.msgs, args.duration
    if count is None and duration is None:
        duration = COMPARE_DEFAULT_DURATION
    progress = Progress(enabled=not args.quiet)
    command = "zats-bench " + " ".join(shlex.quote(a) for a in argv)
    try:
        report = run_compare(matrix, rounds=args.rounds, count=count, duration=duration,
                             broker_cpu=cpu, max_lag_bytes=args.max_lag,
                             warmup=0 if args.no_warmup else 0.3, progress=progress,
                             command=command)
    except KeyboardInterrupt:
        print("zats-bench: interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"zats-bench: {exc}", file=sys.stderr)
        return 1
    _write_json(args, report.to_dict())
    if not args.json:
        print()
        print(f"$ {report.command}")
        print(f"{report.date}; {report.versions.get('zats', '')} vs "
              f"{report.versions.get('nats-server', '')}; {report.elapsed:.0f} s")
        print(rep.compare_text(report, markdown=args.markdown))
        failed = report.failed
        if failed:
            print(f"{len(failed)} run(s) lost messages or failed:")
            for r in failed:
                print("  " + rep_line(r))
    status = 0 if not report.failed else 1
    return _chart(args, compare_chart, report) or status


def cmd_scale(args, argv: list[str]) -> int:
    from .scale import run_scale
    from .servers import available_cpus, can_pin

    try:
        matrix = []
        for s in (args.scenarios or list(SCALE_DEFAULT)):
            sc = resolve(s, size=args.size, pubs=args.pubs, subs=args.subs, window=args.window,
                         conns=args.conns)
            if sc not in matrix:
                matrix.append(sc)
    except ValueError as exc:
        print(f"zats-bench: {exc}", file=sys.stderr)
        return 2
    ncpu = len(args.cpus) if args.cpus else len(available_cpus())
    nodes = args.nodes or sorted({1, max(1, ncpu)})
    count, duration = args.msgs, args.duration
    if count is None and duration is None:
        duration = SCALE_DEFAULT_DURATION
    progress = Progress(enabled=not args.quiet)
    if can_pin() and max(nodes) > ncpu:
        progress.note(f"{max(nodes)} nodes on {ncpu} CPU(s): some nodes share a CPU")
    command = "zats-bench " + " ".join(shlex.quote(a) for a in argv)
    try:
        report = run_scale(matrix, nodes=nodes, rounds=args.rounds, count=count,
                           duration=duration, kind=args.kind, cpus=args.cpus,
                           max_lag_bytes=args.max_lag, warmup=0 if args.no_warmup else 0.3,
                           progress=progress, command=command)
    except KeyboardInterrupt:
        print("zats-bench: interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"zats-bench: {exc}", file=sys.stderr)
        return 1
    _write_json(args, report.to_dict())
    if not args.json:
        print()
        print(f"$ {report.command}")
        print(f"{report.date}; {report.version}; {report.rounds} round(s), {report.mode}; "
              f"medians; {report.elapsed:.0f} s")
        print(rep.scale_text(report, markdown=args.markdown))
        failed = report.failed
        if failed:
            print(f"{len(failed)} run(s) lost messages or failed:")
            for r in failed:
                print("  " + rep_line(r))
    if args.chart and not args.quiet:
        print("zats-bench: --chart is not drawn for scale (see the JSON)", file=sys.stderr)
    return 0 if not report.failed else 1


def rep_line(r) -> str:
    from .runner import summary_line

    return summary_line(r)


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(_argv(raw))
    if args.command == "list":
        return cmd_list()
    if args.command == "compare":
        return cmd_compare(args, raw)
    if args.command == "scale":
        return cmd_scale(args, raw)
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
