"""Free TCP ports for the local servers that benchmarks and tests start."""

from __future__ import annotations

import os
import random
import socket


def _below_ephemeral_range() -> range:
    """Ports the kernel never hands to an outgoing connection: below its ephemeral range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(max(10000, low - 12000), low) if low > 12000 else range(0)


PORT_RANGE = _below_ephemeral_range()  # what free_port hands out (other port pickers keep off it)
_PORTS = PORT_RANGE
_handed_out: set[int] = set()
SHARE_ENV = "ZATS_PORT_SHARE"  # "index/count": see share(); inherited by child processes


def share(index: int, count: int) -> None:
    """Hands out only every `count`-th port of the range, starting at `index`: processes that
    start servers at the same time (parallel test workers) then never pick the same port. The
    share is also put in the environment, so that the processes this one starts (zats-bench,
    scripts) keep to it."""
    global _PORTS
    if count > 1:
        _PORTS = PORT_RANGE[index % count::count]
        os.environ[SHARE_ENV] = f"{index % count}/{count}"


def _inherited_share() -> None:
    index, _, count = os.environ.get(SHARE_ENV, "").partition("/")
    if index.isdigit() and count.isdigit():
        share(int(index), int(count))


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, never the same one twice in this process.

    Binding port 0 and releasing it is not enough: the kernel may give that same port to the
    next bind-0 (two free_port() calls of one server, client and cluster, collided) or to an
    outgoing connection before the server binds it. Ports below the ephemeral range, each
    handed out once, avoid both."""
    for _ in range(len(_PORTS)):
        port = random.choice(_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    while True:  # no range below the ephemeral one on this machine: fall back to the kernel
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


_inherited_share()
