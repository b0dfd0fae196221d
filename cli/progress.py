"""Rich progress bars on stderr, drawn only when stderr is a terminal (a pipe or a log file gets
no bar and no escape codes)."""

from __future__ import annotations

import sys


class Bars:
    """`with Bars() as bars: task = bars.add("label", total); bars.update(task, done)`; does
    nothing when not enabled or when stderr is not a terminal."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None

    def __enter__(self) -> Bars:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            from .output import console

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=console(stderr=True))
            self._progress.start()
        return self

    def add(self, label: str, total: int) -> int:
        return self._progress.add_task(label, total=total) if self._progress is not None else 0

    def update(self, task: int, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(task, completed=completed)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
