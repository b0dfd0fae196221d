"""Differential runs for the KV and object store tests: one scenario run by nats-py against zats
and against nats-server (both with -js and a store directory of their own), each returning a
transcript of what the server answered; the test compares the two. Also the normalising of what
legitimately differs between two runs (timestamps, nuids, creation times)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from typing import Any

import nats

from support.servers import KINDS, ServerProcess

Scenario = Callable[[Any, str], Awaitable[Any]]

_TIMESTAMP = re.compile(rb"^(Nats-Time-Stamp): .*$", re.MULTILINE)
_VOLATILE_KEYS = {"created", "ts", "time", "mtime", "nuid", "first_ts", "last_ts", "cluster",
                  "timestamp", "leader_since", "raft_group", "consumer_limits", "metadata"}


def volatile_free(value: Any) -> Any:
    """`value` with the fields that differ between any two runs (times, nuids, cluster names,
    server version metadata) replaced by their names, recursively through dicts and lists."""
    if isinstance(value, dict):
        return {k: (k if k in _VOLATILE_KEYS else volatile_free(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [volatile_free(v) for v in value]
    if isinstance(value, bytes):
        return _TIMESTAMP.sub(rb"\1: T", value)
    return value


def headers_of(msg) -> dict[str, str]:
    """A message's headers with Nats-Time-Stamp's value replaced (it is the store time)."""
    return {k: ("T" if k == "Nats-Time-Stamp" else v) for k, v in (msg.headers or {}).items()}


_runs = itertools.count(1)


class Names:
    """The bucket/stream names of one scenario run: the same sequence on each server, so that
    names in the transcripts (stream names, subjects) compare equal."""

    def __init__(self, run: int):
        self._run, self._next = run, itertools.count(1)

    def __call__(self, prefix: str = "b") -> str:
        return f"{prefix}{self._run}x{next(self._next)}"


async def run_both(servers: dict[str, ServerProcess], scenario: Scenario) -> dict[str, Any]:
    """`scenario(js, names)` against each server kind with a fresh nats-py connection, `names`
    giving the same names on both; returns {kind: transcript}."""
    out, run = {}, next(_runs)
    for kind in KINDS:
        nc = await nats.connect(servers[kind].url)
        js = nc.jetstream(timeout=3)
        js.nc = nc
        try:
            out[kind] = await scenario(js, Names(run))
        finally:
            await nc.close()
    return out


async def same_on_both(servers: dict[str, ServerProcess], scenario: Scenario) -> Any:
    """Runs `scenario` on both servers, asserts the transcripts are equal and returns zats's."""
    got = await run_both(servers, scenario)
    ours, theirs = got["zats"], got["nats-server"]
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert a == b, f"step {i}: zats {a!r} != nats-server {b!r}"
    assert ours == theirs
    return ours
