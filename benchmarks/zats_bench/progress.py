"""A plain-text progress bar on stderr. On a terminal one line is redrawn in place (at most ten
times a second); elsewhere (CI logs, pipes) each run prints one line when it ends, so logs stay
short."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, stream=None, enabled: bool = True, width: int = 24):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.width = width
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self._shown = 0
        self.prefix = ""  # e.g. "round 2/3" in compare

    def update(self, label: str, fraction: float, detail: str = "", force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        fraction = min(1.0, max(0.0, fraction))
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        text = f"{self.prefix + ' ' if self.prefix else ''}{label:<28} [{bar}] {fraction:4.0%} {detail}"
        pad = max(0, self._shown - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._shown = len(text)

    def finish(self, line: str) -> None:
        """Ends the current bar with a summary line."""
        if not self.enabled:
            return
        if self.tty:
            pad = max(0, self._shown - len(line) - len(self.prefix) - 1)
            self.stream.write("\r" + (self.prefix + " " if self.prefix else "") + line + " " * pad + "\n")
            self._shown = 0
        else:
            self.stream.write((self.prefix + " " if self.prefix else "") + line + "\n")
        self.stream.flush()

    def note(self, line: str) -> None:
        if self.enabled:
            if self.tty and self._shown:
                self.stream.write("\r" + " " * self._shown + "\r")
                self._shown = 0
            self.stream.write(line + "\n")
            self.stream.flush()
