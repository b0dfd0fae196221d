"""The JSON documents of the service API (ADR-32): the answers to `$SRV.PING`, `$SRV.INFO` and
`$SRV.STATS`, as msgspec Structs whose field names and order are those nats.go writes (identity
first: name, id, version, metadata, then type). A service encodes them; discovery decodes them,
from zats services and from nats-py's and nats.go's alike.

Where the reference clients differ, the Structs accept both when decoding and write the form both
can read: `description` is a string ("" when unset, nats-py writes null); endpoint `metadata` is
null when unset (as both write); `data` is always present in endpoint stats (null without a stats
handler) because nats-py's decoder requires the key; `started` has six fraction digits, which
nats-py's `strptime` and Go's RFC 3339 parser both read."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec

PING_RESPONSE_TYPE = "io.nats.micro.v1.ping_response"
INFO_RESPONSE_TYPE = "io.nats.micro.v1.info_response"
STATS_RESPONSE_TYPE = "io.nats.micro.v1.stats_response"


class PingResponse(msgspec.Struct, kw_only=True):
    """`$SRV.PING`: who the service instance is."""

    name: str
    id: str
    version: str
    metadata: dict[str, str] | None = None
    type: str = PING_RESPONSE_TYPE


class EndpointInfo(msgspec.Struct, kw_only=True):
    """One endpoint in an INFO answer."""

    name: str
    subject: str
    queue_group: str = ""
    metadata: dict[str, str] | None = None


class InfoResponse(msgspec.Struct, kw_only=True):
    """`$SRV.INFO`: the identity, the description and every endpoint."""

    name: str
    id: str
    version: str
    metadata: dict[str, str] | None = None
    type: str = INFO_RESPONSE_TYPE
    description: str | None = ""
    endpoints: list[EndpointInfo] = msgspec.field(default_factory=list)


class EndpointStats(msgspec.Struct, kw_only=True):
    """One endpoint in a STATS answer; times in nanoseconds."""

    name: str
    subject: str
    queue_group: str = ""
    num_requests: int = 0
    num_errors: int = 0
    last_error: str | None = ""
    processing_time: int = 0
    average_processing_time: int = 0
    data: Any = None


class StatsResponse(msgspec.Struct, kw_only=True):
    """`$SRV.STATS`: the identity, when the service started (UTC, ISO 8601) and every
    endpoint's counters."""

    name: str
    id: str
    version: str
    metadata: dict[str, str] | None = None
    type: str = STATS_RESPONSE_TYPE
    started: str = ""
    endpoints: list[EndpointStats] = msgspec.field(default_factory=list)


def utc_timestamp(when: datetime.datetime) -> str:
    """`when` (aware, UTC) as `2024-01-02T03:04:05.123456Z`, always with six fraction digits."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
