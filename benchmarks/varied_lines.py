"""1 publisher -> 1 subscriber where no two consecutive PUB control lines are equal (payload
sizes cycle through 100..163 B, ~132 B on average), so zats cannot use its run of identical
frames. Two traffic shapes, each measured for zats and nats-server alike (pinned to CPU 1,
client processes on CPU 0, 3 interleaved rounds, medians, broker CPU from /proc):

- one subject, sizes vary (`PUB bench <size>`, subscriber `bench`): zats gathers such frames
  and delivers them with one match (ClientOpsParser.on_pub_sizes);
- subject and size vary (`PUB bench.<i> <size>`, 64 subjects, subscriber `bench.>`): every
  message takes the per-message parse, match and delivery.

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
BLOCKS_PER_WRITE = 8


def _shape(subjects: list[bytes], filter_: bytes) -> tuple[bytes, int, bytes]:
    """(what the publisher sends per block, what the subscriber receives per block, its SUB)."""
    block = b"".join(b"PUB %s %d\r\n%s\r\n" % (subj, n, b"x" * n)
                     for subj, n in zip(subjects, SIZES, strict=True))
    out = sum(len(b"MSG %s 1 %d\r\n" % (subj, n)) + n + 2
              for subj, n in zip(subjects, SIZES, strict=True))
    return block, out, filter_


SHAPES = {
    "one subject, sizes vary": _shape([b"bench"] * len(SIZES), b"bench"),
    "subject and size vary": _shape([b"bench.%d" % i for i in range(len(SIZES))], b"bench.>"),
}


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


def _subscriber(port: int, writes: int, shape: str, ready, result) -> None:
    _pin(0)
    _, out_block, filter_ = SHAPES[shape]
    s = _connect(port)
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB %s 1\r\nPING\r\n' % filter_)
    _wait_pong(s)
    ready.set()
    total, got, start = writes * BLOCKS_PER_WRITE * out_block, 0, None
    while got < total:
        data = s.recv(1 << 20)
        if not data:
            raise SystemExit("broker closed the subscriber")
        start = start or time.perf_counter()
        got += len(data)
    result.put(time.perf_counter() - start)


def _publisher(port: int, writes: int, shape: str) -> None:
    _pin(0)
    s = _connect(port)
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
    batch = SHAPES[shape][0] * BLOCKS_PER_WRITE
    for _ in range(writes):
        s.sendall(batch)
    s.sendall(b"PING\r\n")
    _wait_pong(s)


def run(kind: str, shape: str, messages: int) -> tuple[float, float]:
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
        sub = mp.Process(target=_subscriber, args=(port, writes, shape, ready, result))
        sub.start()
        ready.wait(10)
        c0 = cpu()
        pub = mp.Process(target=_publisher, args=(port, writes, shape))
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
    for shape in SHAPES:
        rows: dict[str, list[tuple[float, float]]] = {"zats": [], "nats-server": []}
        for _ in range(3):
            for kind in rows:
                rows[kind].append(run(kind, shape, messages))
        med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
               for k, v in rows.items()}
        (zr, zc), (nr, nc) = med["zats"], med["nats-server"]
        print(f"{shape}, 1 -> 1, ~132 B: zats {zr:,.0f} msgs/s, nats-server {nr:,.0f} msgs/s; "
              f"per broker CPU-second {zc:,.0f} vs {nc:,.0f} = {zc / nc:.2f}x", flush=True)


if __name__ == "__main__":
    main()
