"""1 publisher -> 1 subscriber where no two consecutive PUB control lines are equal (payload
sizes cycle through 100..163 B, ~132 B on average), so zats cannot use its run path and every
message takes the per-message parse and delivery. zats and nats-server are measured alike:
pinned to CPU 1, client processes on CPU 0, 3 interleaved rounds, medians, broker CPU from /proc.

    python benchmarks/varied_lines.py [MESSAGES]      (default 300000)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import time

from zats.bench.ports import free_port

SIZES = [100 + i for i in range(64)]
BLOCK = b"".join(b"PUB bench %d\r\n%s\r\n" % (s, b"x" * s) for s in SIZES)
OUT_BLOCK = sum(len(b"MSG bench 1 %d\r\n" % s) + s + 2 for s in SIZES)
BLOCKS_PER_WRITE = 8


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < os.cpu_count():
        os.sched_setaffinity(0, {cpu})


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.recv(4096)
    return s


def _wait_pong(s: socket.socket) -> None:
    buf = b""
    while b"PONG" not in buf:
        buf += s.recv(4096)


def _subscriber(port: int, writes: int, ready, result) -> None:
    _pin(0)
    s = _connect(port)
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB bench 1\r\nPING\r\n')
    _wait_pong(s)
    ready.set()
    total, got, start = writes * BLOCKS_PER_WRITE * OUT_BLOCK, 0, None
    while got < total:
        data = s.recv(1 << 20)
        if not data:
            raise SystemExit("broker closed the subscriber")
        start = start or time.perf_counter()
        got += len(data)
    result.put(time.perf_counter() - start)


def _publisher(port: int, writes: int) -> None:
    _pin(0)
    s = _connect(port)
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
    batch = BLOCK * BLOCKS_PER_WRITE
    for _ in range(writes):
        s.sendall(batch)
    s.sendall(b"PING\r\n")
    _wait_pong(s)


def run(kind: str, messages: int) -> tuple[float, float]:
    """(msgs/s delivered, msgs per broker CPU-second) for one run."""
    port = free_port()
    cmd = ([sys.executable, "-m", "zats.broker"] if kind == "zats" else ["nats-server"])
    cmd += ["-a", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: _pin(min(1, os.cpu_count() - 1)))
    try:
        time.sleep(0.8)
        writes = messages // (len(SIZES) * BLOCKS_PER_WRITE)
        n = writes * len(SIZES) * BLOCKS_PER_WRITE

        def cpu() -> float:
            fields = open(f"/proc/{proc.pid}/stat").read().split()
            return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

        ready, result = mp.Event(), mp.Queue()
        sub = mp.Process(target=_subscriber, args=(port, writes, ready, result))
        sub.start()
        ready.wait(10)
        c0 = cpu()
        pub = mp.Process(target=_publisher, args=(port, writes))
        pub.start()
        pub.join()
        elapsed = result.get(timeout=120)
        sub.join()
        return n / elapsed, n / max(cpu() - c0, 0.01)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    rows: dict[str, list[tuple[float, float]]] = {"zats": [], "nats-server": []}
    for _ in range(3):
        for kind in rows:
            rows[kind].append(run(kind, messages))
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
           for k, v in rows.items()}
    (zr, zc), (nr, nc) = med["zats"], med["nats-server"]
    print(f"varied lines, 1 -> 1, ~132 B: zats {zr:,.0f} msgs/s, nats-server {nr:,.0f} msgs/s; "
          f"per broker CPU-second {zc:,.0f} vs {nc:,.0f} = {zc / nc:.2f}x")


if __name__ == "__main__":
    main()
