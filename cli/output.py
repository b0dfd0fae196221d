"""What the commands print: log lines on stderr with the local time in front (as the nats CLI's
`HH:MM:SS message`), data on stdout, errors as one `zats: error: ...` line on stderr with exit
status 1, JSON documents, and rich consoles and tables (colour only on a terminal; rich leaves
colour out when the stream is not one, or when NO_COLOR is set)."""

from __future__ import annotations

import datetime
import json
import os
import sys
from typing import Any

import click


class CliError(click.ClickException):
    """A failure the user gets as one line on stderr and exit status 1, never a traceback."""

    def show(self, file=None) -> None:
        click.echo(f"zats: error: {self.message}", err=True)


def log(message: str) -> None:
    """A progress or status line on stderr, after the local time."""
    now = datetime.datetime.now().strftime("%H:%M:%S")
    click.echo(f"{now} {message}", err=True)


def out(text: str = "", nl: bool = True) -> None:
    click.echo(text, nl=nl)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def console(stderr: bool = False):
    """A rich Console on stdout (or stderr); imported on demand, so that commands that print no
    table start faster."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output is not cut to 80 columns: tables keep their full width.
    width = None if stream.isatty() else 250
    return Console(file=stream, highlight=False, width=width)


def paint(text: str, colour: str) -> str:
    """`text` in `colour` when stdout is a terminal and NO_COLOR is not set, else as it is."""
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return text
    return click.style(text, fg=colour)


def body_text(data: bytes) -> str:
    return bytes(data).decode("utf-8", errors="replace")


def print_body(data: bytes, *, compact: bool = False) -> None:
    """A message body as the nats CLI shows it: `nil body` when empty, else the text, ending in
    one newline; `compact` (raw mode) adds no blank line after it."""
    if not data:
        out("nil body")
    else:
        text = body_text(data)
        out(text, nl=not text.endswith("\n"))
    if not compact:
        out()


def human_bytes(n: float) -> str:
    """Bytes in IEC units as the nats CLI shows them: `512 B`, `1.5 KiB`, `12 MiB`."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        n /= 1024
        if n < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if n < 10 else f"{n:.0f} {unit}"
    raise AssertionError("unreachable")


def flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
