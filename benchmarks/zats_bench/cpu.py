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
    """CPU seconds a process used between `start()` and `stop()`."""

    def __init__(self, pid: int | None):
        self.pid = pid
        self._start: float | None = None

    def start(self) -> None:
        self._start = cpu_seconds(self.pid) if self.pid else None

    def stop(self) -> float | None:
        if self._start is None or not self.pid:
            return None
        end = cpu_seconds(self.pid)
        return None if end is None else max(0.0, end - self._start)
