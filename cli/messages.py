"""The pieces pub, req and reply share: message bodies from the argument or stdin, `-H K:V`
headers, template expansion with the nats CLI's warning when a template cannot run, and showing
a received message's headers and body."""

from __future__ import annotations

import sys

import click

from zats.client import Headers

from . import templates
from .output import CliError, log, out, print_body


def header_option(func):
    return click.option("-H", "--header", "headers", multiple=True, metavar="K:V",
                        help="Add a header (repeatable)")(func)


def template_option(func):
    return click.option("--templates/--no-templates", default=True, show_default=True,
                        help="Expand {{Count}}, {{TimeStamp}}... in the body and subject")(func)


def expand(text: str, count: int, what: str, enabled: bool = True, request: str | None = None) -> str:
    if not enabled:
        return text
    try:
        return templates.render(text, count, request)
    except templates.TemplateError as exc:
        log(f"Could not parse {what} template: {exc}")
        return text


def parse_headers(pairs: tuple[str, ...], count: int) -> Headers | None:
    """`K:V` strings (values may use templates) as Headers, or None when there are none."""
    if not pairs:
        return None
    hdrs = Headers()
    for pair in pairs:
        key, sep, value = pair.partition(":")
        if not sep or not key.strip():
            raise CliError(f"invalid header {pair!r} (expected K:V)")
        try:
            value = templates.render(value.strip(), count)
        except templates.TemplateError as exc:
            raise CliError(f"invalid template in header {key.strip()}: {exc}") from None
        hdrs.add(key.strip(), value)
    return hdrs


def stdin_bodies(send_on: str):
    """The bodies read from stdin: all of it as one, or one per line with `send_on="newline"`."""
    data = sys.stdin.buffer
    if send_on == "eof":
        yield data.read().decode("utf-8", errors="surrogateescape")
        return
    for line in data:
        yield line.rstrip(b"\r\n").decode("utf-8", errors="surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def header_lines(headers: Headers | None) -> list[str]:
    """`Key: value` lines, the status line first as `Status`/`Description` (as nats.go shows
    them)."""
    if headers is None:
        return []
    lines = []
    if headers.status is not None:
        lines.append(f"Status: {headers.status}")
        if headers.description:
            lines.append(f"Description: {headers.description}")
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    return lines


def show(headers: Headers | None, data: bytes, *, headers_only: bool = False) -> None:
    lines = header_lines(headers)
    for line in lines:
        out(line)
    if lines:
        out()
    if not headers_only:
        print_body(data)
