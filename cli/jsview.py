"""How the JetStream commands show things, in the nats CLI's layout: titled sections of
right-aligned `Label: value` lines, Go-style durations, `unlimited` for -1 limits, and a stored
message with its headers."""

from __future__ import annotations

import base64
import datetime

from zats.protocol.headers import decode_headers

from .messages import show
from .output import human_bytes, out


def sections(parts: list[tuple[str | None, list[tuple[str, object]]]]) -> None:
    """Sections (a title, or None for none) of `Label: value` lines, the colons aligned across
    all of them; rows whose value is None are left out."""
    width = max((len(label) for _, rows in parts for label, _ in rows), default=0)
    for title, rows in parts:
        if title:
            out(f"{title}:")
            out()
        for label, value in rows:
            if value is not None:
                out(f"  {label:>{width}}: {value}")
        out()


def duration(ns: int) -> str:
    """Nanoseconds as Go prints a duration: `2m0s`, `30s`, `1h0m0s`, `500ms`."""
    if ns <= 0:
        return "0s"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:g}ms"
    secs = ns / 1e9
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    s_text = f"{s:g}s"
    if h:
        return f"{int(h)}h{int(m)}m{s_text}"
    if m:
        return f"{int(m)}m{s_text}"
    return s_text


def limit(value: int | None, fmt=lambda v: f"{v:,}") -> str:
    return "unlimited" if value in (None, -1, 0) else fmt(value)


def size_limit(value: int | None) -> str:
    return limit(value, human_bytes)


def age_limit(ns: int | None) -> str:
    return limit(ns, duration)


def parse_time(text: str | None) -> datetime.datetime | None:
    """An RFC 3339 time from the API; None for none, Go's zero time, or one that does not
    parse."""
    if not text or text.startswith("0001-"):
        return None
    try:
        return datetime.datetime.fromisoformat(_trim(text))
    except ValueError:
        return None


def timestamp(text: str | None) -> str:
    """An RFC 3339 time from the API in the local zone, `2026-12-04 20:41:02`."""
    when = parse_time(text)
    if when is None:
        return "never" if not text or text.startswith("0001-") else text
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _trim(text: str) -> str:
    """Python before 3.11 takes at most 6 fractional digits; the API sends up to 9."""
    text = text.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if not dot:
        return text
    digits = rest[:len(rest) - len(rest.lstrip("0123456789"))]  # those before the zone
    return f"{head}.{digits[:6]}{rest[len(digits):]}"


def stored_message(stream: str, msg: dict) -> None:
    """A message from `STREAM.MSG.GET` as `nats stream get` shows it."""
    out(f"Item: {stream}#{msg.get('seq')} received {timestamp(msg.get('time'))} on Subject {msg.get('subject')}")
    out()
    headers = decode_headers(base64.b64decode(msg["hdrs"])) if msg.get("hdrs") else None
    data = base64.b64decode(msg.get("data") or "")
    show(headers, data)
