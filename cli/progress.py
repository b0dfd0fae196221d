"""A rich progress bar on stderr, shown only when stderr is a terminal (a pipe or a log file
gets no bar and no escape codes)."""

from __future__ import annotations

import sys


class Tracker:
    """`with Tracker(total, label) as t: ... t.advance()`; does nothing when not enabled or
    when stderr is not a terminal."""

    def __init__(self, total: int, label: str, enabled: bool = True):
        self.total = total
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None
        self._task = None

    def __enter__(self) -> Tracker:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            from .output import console

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=console(stderr=True), transient=False)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def update(self, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
