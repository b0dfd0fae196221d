"""How the monitoring answers are written: JSON indented as nats-server indents it (two spaces),
Go's time and uptime formats, and the pacing that keeps a large answer from blocking the event
loop: work is counted in items (a connection, a subscription) and the builder yields to the loop
after every SLICE of them, so delivery runs between slices."""

from __future__ import annotations

import asyncio
import datetime
import inspect

import msgspec

SLICE = 2000  # items built or encoded between two yields to the event loop (about 2 ms)

_encode = msgspec.json.Encoder().encode


class Pacer:
    """Counts work done for one answer and yields to the event loop after every SLICE items."""

    __slots__ = ("left",)

    def __init__(self):
        self.left = SLICE

    async def spend(self, items: int = 1) -> None:
        self.left -= items
        if self.left <= 0:
            self.left = SLICE
            await asyncio.sleep(0)


def pretty(body: dict) -> bytes:
    return msgspec.json.format(_encode(body), indent=2)


async def pretty_paced(body: dict, key: str, items: list, make, weight=None) -> bytes:
    """`body` indented like pretty(), with `make(item)` (a value, or an awaitable of one, for
    items that pace their own making) for each of `items` as the list under `key` (its last key).
    Items are made and encoded a slice at a time (SLICE units of work, an
    item weighing `weight(item)`, else 1) with a yield to the loop between slices, so neither
    the time nor the objects of the whole list pile up at once."""
    head = pretty({**body, key: []})
    if not items:
        return head
    assert head.endswith(b"[]\n}"), "the list must be the last key"
    parts = [head[:-4], b"[\n"]

    def encode(made: list) -> None:
        if len(parts) > 2:
            parts.append(b",\n")
        # "[\n  item,\n  item\n]" -> the items, one level deeper
        chunk = msgspec.json.format(_encode(made), indent=2)[2:-2]
        parts.append(b"  " + chunk.replace(b"\n", b"\n  "))

    made, load = [], 0
    for item in items:
        value = make(item)
        made.append(await value if inspect.isawaitable(value) else value)
        load += 1 if weight is None else weight(item)
        if load >= SLICE:
            encode(made)
            made, load = [], 0
            await asyncio.sleep(0)
    if made:
        encode(made)
    parts.append(b"\n  ]\n}")
    return b"".join(parts)


def utc(ts: float) -> datetime.datetime:
    """A time for a JSON answer: the encoder writes it as RFC 3339 in UTC (`...Z`)."""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC)


def uptime(seconds: float) -> str:
    """A duration as nats-server prints uptime and idle time: `1y2d3h4m5s`, largest unit first."""
    s = int(seconds)
    minutes, s = divmod(s, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    years, days = divmod(days, 365)
    if years:
        return f"{years}y{days}d{hours}h{minutes}m{s}s"
    if days:
        return f"{days}d{hours}h{minutes}m{s}s"
    if hours:
        return f"{hours}h{minutes}m{s}s"
    if minutes:
        return f"{minutes}m{s}s"
    return f"{s}s"


def seconds(value: float) -> float | int:
    """A number of seconds as Go's JSON writes a float64: `2`, not `2.0`."""
    return int(value) if float(value).is_integer() else value
