"""CPU time and memory of a broker process, read from /proc (Linux). Elsewhere every reader
returns None and the reports leave the per-CPU-second columns empty.

`/proc/<pid>/stat` fields 14 and 15 (utime, stime) count the whole thread group in clock ticks,
so the delta over a run is the broker's CPU time however many threads it has (nats-server's Go
runtime has several) and however busy the rest of the machine is."""

from __future__ import annotations

import os

try:
    _TICK = os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):
    _TICK = 100
try:
    _PAGE = os.sysconf("SC_PAGE_SIZE")
except (AttributeError, ValueError, OSError):
    _PAGE = 4096


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of process `pid`, in seconds; None when /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(b")") + 2:].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (IndexError, ValueError):
        return None


def rss_bytes(pid: int) -> int | None:
    """Resident set size of process `pid` in bytes; None when /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


class CpuMeter:
    """CPU seconds a process used between `start()` and `stop()`; given several pids (the nodes
    of a cluster), the sum over them, and `per_pid` keeps each one's share."""

    def __init__(self, pid):
        self.pids = [p for p in (pid if isinstance(pid, (list, tuple)) else [pid]) if p]
        self.pid = self.pids[0] if self.pids else None
        self._start: list | None = None
        self.per_pid: list[float] | None = None

    def start(self) -> None:
        self._start = [cpu_seconds(p) for p in self.pids] if self.pids else None

    def stop(self) -> float | None:
        if self._start is None or not self.pids or None in self._start:
            return None
        end = [cpu_seconds(p) for p in self.pids]
        if None in end:
            return None
        self.per_pid = [max(0.0, e - s) for s, e in zip(self._start, end, strict=True)]
        return sum(self.per_pid)


def total_rss(pid) -> int | None:
    """rss_bytes of one pid, or the sum over a list of pids."""
    pids = [p for p in (pid if isinstance(pid, (list, tuple)) else [pid]) if p]
    values = [rss_bytes(p) for p in pids]
    return None if not values or None in values else sum(values)
