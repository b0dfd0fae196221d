"""`zats-server --signal NAME[=PID|PIDFILE]` (nats-server's `-sl`): sends a running broker the
Unix signal that stands for NAME. Without a PID, the one running zats-server process is found
with pgrep, as nats-server does for itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

SIGNALS = {
    "stop": signal.SIGKILL,
    "quit": signal.SIGINT,
    "term": signal.SIGTERM,
    "reload": signal.SIGHUP,
    "ldm": signal.SIGUSR2,
    "reopen": signal.SIGUSR1,
}


def _pid_of(target: str) -> int:
    """A PID given as a number or as the path of a PID file."""
    if target.isdigit():
        return int(target)
    try:
        with open(target) as f:
            return int(f.read().strip())
    except (OSError, ValueError) as exc:
        raise ValueError(f"could not read PID from {target!r}: {exc}") from None


def _running_brokers() -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-f", r"zats-server|zats\.broker"], capture_output=True,
                             text=True).stdout
    except OSError:
        return []
    me = os.getpid()
    return [int(p) for p in out.split() if int(p) != me]


def send_signal(command: str) -> int:
    """Sends the signal; returns the exit status (0 on success), printing errors."""
    name, _, target = command.partition("=")
    sig = SIGNALS.get(name.lower())
    if sig is None:
        sys.stderr.write(f"zats-server: unknown signal {name!r} (one of {', '.join(SIGNALS)})\n")
        return 1
    try:
        if target:
            pids = [_pid_of(target)]
        else:
            pids = _running_brokers()
            if not pids:
                raise ValueError("no zats-server processes running")
            if len(pids) > 1:
                raise ValueError("multiple zats-server processes running:\n"
                                 + "\n".join(map(str, pids)))
        os.kill(pids[0], sig)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"zats-server: {exc}\n")
        return 1
    return 0
