"""Log lines in nats-server's format: `[pid] 2006/01/02 15:04:05.000000 [INF] text` (the
timestamp only with logtime), to stderr or a file; debug and trace levels off unless asked."""

from __future__ import annotations

import os
import sys
import time


class LogFileError(OSError):
    """The log file cannot be opened; str() is nats-server's words for it."""


def go_strerror(exc: OSError) -> str:
    """An OS error's reason as Go words it ("no such file or directory")."""
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return text[:1].lower() + text[1:]


def _open(path: str):
    try:
        return open(path, "a", buffering=1)
    except OSError as exc:
        raise LogFileError(f"error opening file: open {path}: {go_strerror(exc)}") from None


class Logger:
    def __init__(self, *, debug: bool = False, trace: bool = False, logtime: bool = True,
                 utc: bool = False, path: str | None = None):
        self._clock = time.gmtime if utc else time.localtime
        self.debug_enabled = debug
        self.trace_enabled = trace
        self.logtime = logtime
        self.pid = os.getpid()
        self.path = path
        self._stream = _open(path) if path else sys.stderr

    def _write(self, level: str, fmt: str, args: tuple) -> None:
        text = fmt % args if args else fmt
        if self.logtime:
            now = time.time()
            stamp = time.strftime("%Y/%m/%d %H:%M:%S", self._clock(now))
            line = f"[{self.pid}] {stamp}.{int(now % 1 * 1e6):06d} [{level}] {text}\n"
        else:
            line = f"[{self.pid}] [{level}] {text}\n"
        try:
            self._stream.write(line)
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def notice(self, fmt: str, *args) -> None:
        self._write("INF", fmt, args)

    info = notice

    def warn(self, fmt: str, *args) -> None:
        self._write("WRN", fmt, args)

    def error(self, fmt: str, *args) -> None:
        self._write("ERR", fmt, args)

    def fatal(self, fmt: str, *args) -> None:
        self._write("FTL", fmt, args)

    def debug(self, fmt: str, *args) -> None:
        if self.debug_enabled:
            self._write("DBG", fmt, args)

    def trace(self, fmt: str, *args) -> None:
        if self.trace_enabled:
            self._write("TRC", fmt, args)

    def reopen(self) -> None:
        """Reopens the log file (SIGUSR1), for log rotation."""
        if self.path:
            try:
                stream = _open(self.path)
            except LogFileError as exc:  # logging goes on to the file as it was
                self.error("%s", exc)
                return
            old, self._stream = self._stream, stream
            old.close()
            self.notice("File log re-opened")

    def configure(self, *, debug: bool, trace: bool, logtime: bool) -> None:
        self.debug_enabled, self.trace_enabled, self.logtime = debug, trace, logtime

    def close(self) -> None:
        if self._stream is not sys.stderr:
            self._stream.close()
