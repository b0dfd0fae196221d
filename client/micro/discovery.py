"""Finding services and asking them for their reports, from the caller's side: `ping`, `info`
and `stats` send one request to `$SRV.<VERB>[.<name>[.<id>]]` and gather every instance's answer
(any client's services: zats, nats-py, nats.go), decoded into the Structs of `schema`.

Answers are gathered until `timeout` has passed, or until `gap` seconds pass without another
answer once one has come, or, when an `id` is given, as soon as that instance has answered."""

from __future__ import annotations

import time
from typing import Any, TypeVar

import msgspec

from ..client import Client
from ..errors import TimeoutError
from .schema import InfoResponse, PingResponse, StatsResponse
from .service import API_PREFIX, control_subject

_Report = TypeVar("_Report", PingResponse, InfoResponse, StatsResponse)


async def _gather(nc: Client, verb: str, report: type[_Report], name: str | None, id: str | None,  # noqa: A002
                  timeout: float, gap: float, prefix: str) -> list[_Report]:
    decode = msgspec.json.Decoder(report).decode
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        nc.publish(control_subject(verb, name, id, prefix), b"", inbox)
        found: list[_Report] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if found:
                left = min(left, gap)
            if left <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=left)
            except TimeoutError:
                break
            if msg.headers is not None and msg.headers.status is not None:
                continue  # 503: nobody listens; any other status is no answer either
            try:
                found.append(decode(msg.data))
            except msgspec.DecodeError:  # malformed, or not a service's answer
                continue
            if id is not None:
                break
        return found
    finally:
        sub.unsubscribe()


async def ping(nc: Client, name: str | None = None, id: str | None = None, *,  # noqa: A002
               timeout: float = 2.0, gap: float = 0.3, prefix: str = API_PREFIX) -> list[PingResponse]:
    """Every service instance that answers PING (all, those named `name`, or instance `id`)."""
    return await _gather(nc, "PING", PingResponse, name, id, timeout, gap, prefix)


async def info(nc: Client, name: str | None = None, id: str | None = None, *,  # noqa: A002
               timeout: float = 2.0, gap: float = 0.3, prefix: str = API_PREFIX) -> list[InfoResponse]:
    """Every answering instance's INFO: identity, description, endpoints."""
    return await _gather(nc, "INFO", InfoResponse, name, id, timeout, gap, prefix)


async def stats(nc: Client, name: str | None = None, id: str | None = None, *,  # noqa: A002
                timeout: float = 2.0, gap: float = 0.3, prefix: str = API_PREFIX) -> list[StatsResponse]:
    """Every answering instance's STATS: counters and processing times of each endpoint."""
    return await _gather(nc, "STATS", StatsResponse, name, id, timeout, gap, prefix)


def as_dict(report: Any) -> dict[str, Any]:
    """A report as the JSON object the service sent (for printing)."""
    result: dict[str, Any] = msgspec.to_builtins(report)
    return result
