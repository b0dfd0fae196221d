"""The floor of a per-message broker path in CPython: how many messages per CPU-second a loop
that does only the work no design can skip reaches on the `VariedPubSub` traffic (64 subjects
`bench.<i>`, sizes 16-2048 B, no two consecutive control lines alike), in-process, no sockets.

Per message the loop finds the control line's end, splits it, reads the size, checks the
trailer, looks the subject up in a dict (a subject index's cache hit) and appends the MSG line
(its size part made in advance), the payload and CRLF to the receiver's outbound buffer: fewer steps than zats takes (no
permissions, counters, echo, slow-consumer or queue checks) and no system calls, so the figure
is an upper bound for any pure-Python design of zats's hot path, and the broker's measured
figure (`zats-bench compare --scenarios VariedPubSub`) sits below it.

    python benchmarks/python_floor.py [--rounds N] [--messages N] [--compiled]

prints the floor (median of the rounds, msgs per CPU-second of this process). `--compiled` also
builds compiled_floor.pyx (the same loop as C in Cython syntax; needs `pip install cython` and a
C compiler) with pyximport, checks that it writes the same bytes, and prints its rate too: what
a compiled kernel could reach where Python cannot."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

from zats.bench.varied import sizes  # the Varied* scenarios' payload sizes


def traffic(messages: int, seed: int = 1) -> bytearray:
    """`messages` PUB frames as a publisher of the VariedPubSub scenario sends them."""
    out = bytearray()
    for i, size in enumerate(sizes(random.Random(seed), messages)):
        out += b"PUB bench.%d %d\r\n" % (i % 64, size) + bytes(size) + b"\r\n"
    return out


TAILS = [b" %d\r\n" % n for n in range(4096)]  # a MSG line's ` <size>\r\n`, made once


def floor_pass(buf: bytearray, receivers: dict, out: bytearray) -> int:
    """One pass of the minimal per-message path over `buf`; returns the messages delivered."""
    tails = TAILS
    view = memoryview(buf)
    find = buf.find
    end = len(buf)
    pos = delivered = 0
    while pos < end:
        eol = find(b"\n", pos, end)
        args = bytes(view[pos:eol]).split()
        size = int(args[2])
        pstart = eol + 1
        pend = pstart + size
        if buf[pend] != 13 or buf[pend + 1] != 10:
            raise ValueError("bad trailer")
        head = receivers.get(args[1])
        if head is not None:
            out += head
            out += tails[size]
            out += view[pstart:pend]
            out += b"\r\n"
            delivered += 1
        pos = pend + 2
    view.release()
    return delivered


def _rate(name: str, run, rounds: int, messages: int) -> bytearray:
    """Runs `run(out)` `rounds` times, prints its median rate; returns the last output."""
    rates = []
    for _ in range(rounds):
        out = bytearray()
        t0 = time.process_time()
        n = run(out)
        rates.append(n / (time.process_time() - t0))
        assert n == messages
    print(f"{name}: {statistics.median(rates) / 1e6:.2f}M msgs/CPU-s median "
          f"({min(rates) / 1e6:.2f}-{max(rates) / 1e6:.2f}M over {rounds} rounds)")
    return out


def _compiled_floor_pass():
    try:
        import pyximport
    except ImportError:
        raise SystemExit("--compiled needs Cython: pip install cython") from None
    pyximport.install(language_level=3)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from compiled_floor import floor_pass as compiled

    return compiled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--compiled", action="store_true", help="also the loop compiled (Cython)")
    ns = ap.parse_args()
    buf = traffic(ns.messages)
    receivers = {b"bench.%d" % i: b"MSG bench.%d 1" % i for i in range(64)}
    compiled = _compiled_floor_pass() if ns.compiled else None
    python = _rate("floor", lambda out: floor_pass(buf, receivers, out), ns.rounds, ns.messages)
    if compiled is not None:
        tails = TAILS
        c_out = _rate("compiled floor", lambda out: compiled(buf, receivers, out, tails),
                      ns.rounds, ns.messages)
        if c_out != python:
            raise SystemExit("the compiled loop wrote other bytes than the Python one")


if __name__ == "__main__":
    main()
