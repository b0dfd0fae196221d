"""The floor of a per-message broker path in CPython: how many messages per CPU-second a loop
that does only the work no design can skip reaches on the `VariedPubSub` traffic (64 subjects
`bench.<i>`, sizes 16-2048 B, no two consecutive control lines alike), in-process, no sockets.

Per message the loop finds the control line's end, splits it, reads the size, checks the
trailer, looks the subject up in a dict (a subject index's cache hit) and appends the MSG line
(its size part made in advance), the payload and CRLF to the receiver's outbound buffer: fewer steps than zats takes (no
permissions, counters, echo, slow-consumer or queue checks) and no system calls, so the figure
is an upper bound for any pure-Python design of zats's hot path, and the broker's measured
figure (`zats-bench compare --scenarios VariedPubSub`) sits below it.

    python benchmarks/python_floor.py [--rounds N] [--messages N]

prints the floor (median of the rounds, msgs per CPU-second of this process)."""

from __future__ import annotations

import argparse
import random
import statistics
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--messages", type=int, default=200_000)
    ns = ap.parse_args()
    buf = traffic(ns.messages)
    receivers = {b"bench.%d" % i: b"MSG bench.%d 1" % i for i in range(64)}
    rates = []
    for _ in range(ns.rounds):
        out = bytearray()
        t0 = time.process_time()
        n = floor_pass(buf, receivers, out)
        rates.append(n / (time.process_time() - t0))
        assert n == ns.messages
    print(f"floor: {statistics.median(rates) / 1e6:.2f}M msgs/CPU-s median "
          f"({min(rates) / 1e6:.2f}-{max(rates) / 1e6:.2f}M over {ns.rounds} rounds)")


if __name__ == "__main__":
    main()
