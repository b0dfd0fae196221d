"""`Service` and `Group`: a service instance (ADR-32), its endpoints, and its answers on the
discovery subjects `$SRV.<VERB>`, `$SRV.<VERB>.<name>` and `$SRV.<VERB>.<name>.<id>` for the
verbs PING, INFO and STATS. Create one with `await add_service(nc, name=..., version=...)`.

The discovery subscriptions are plain (inline) callbacks: an answer is encoded with msgspec
straight into the outbound buffer while the request is parsed. The PING answer never changes
(metadata is immutable), so it is encoded once."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import msgspec

from ..client import Client
from ..errors import ZatsError
from ..msg import Msg
from ..mux import random_token
from ..subscription import Subscription
from .endpoint import Endpoint
from .request import Handler, Request
from .schema import InfoResponse, PingResponse, StatsResponse, utc_timestamp
from .validate import (
    check_group_prefix,
    check_metadata,
    check_name,
    check_queue_group,
    check_subject,
    check_version,
)

DEFAULT_QUEUE_GROUP = "q"
API_PREFIX = "$SRV"
VERBS = ("PING", "INFO", "STATS")

StatsHandler = Callable[[Endpoint], Any]
"""Returns the `data` of an endpoint's STATS entry (anything msgspec can encode as JSON)."""

_encode = msgspec.json.Encoder().encode


def control_subject(verb: str, name: str | None = None, id: str | None = None,  # noqa: A002 (ADR-32's name)
                    prefix: str = API_PREFIX) -> str:
    """The discovery subject of `verb` for every service, the services named `name`, or the
    instance `id` of `name`."""
    if id is not None and name is None:
        raise ZatsError("a service id needs the service name")
    return ".".join(p for p in (prefix, verb, name, id) if p is not None)


class _EndpointOwner:
    """What a service and its groups share: adding endpoints and groups under a subject prefix
    with a default queue group."""

    _service: Service
    _prefix: str
    _queue_group: str

    async def add_endpoint(self, name: str, handler: Handler, *, subject: str | None = None,
                           queue_group: str | None = None,
                           metadata: Mapping[str, str] | None = None) -> Endpoint:
        """Adds an endpoint and subscribes it: on `subject` (default: `name`) after this
        group's prefix, in `queue_group` (default: the group's, else the service's, else "q").
        Raises `ServiceConfigError` for a bad name, subject, queue group or metadata."""
        check_name(name, "endpoint")
        local = check_subject(subject if subject is not None else name, "endpoint subject")
        full = f"{self._prefix}.{local}" if self._prefix else local
        queue = check_queue_group(queue_group) if queue_group is not None else self._queue_group
        endpoint = Endpoint(name, full, queue, check_metadata(metadata, "endpoint"), handler)
        await self._service._start_endpoint(endpoint)
        return endpoint

    def add_group(self, name: str, *, queue_group: str | None = None) -> Group:
        """A group whose endpoints' subjects start with `name` (after this group's prefix), in
        `queue_group` by default (else this one's)."""
        check_group_prefix(name)
        prefix = ".".join(p for p in (self._prefix, name) if p)
        queue = check_queue_group(queue_group) if queue_group is not None else self._queue_group
        return Group(self._service, prefix, queue)


class Group(_EndpointOwner):
    """A subject prefix and a default queue group for endpoints (`add_endpoint`, `add_group`)."""

    def __init__(self, service: Service, prefix: str, queue_group: str):
        self._service = service
        self._prefix = prefix
        self._queue_group = queue_group

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def queue_group(self) -> str:
        return self._queue_group


class Service(_EndpointOwner):
    """A running service instance: `id`, `name`, `version`, `description`, `metadata`,
    `endpoints`; `info()`, `stats()`, `reset()`, `await stop()`, `stopped` (an asyncio.Event).
    Use it with `async with` to stop it at the end."""

    def __init__(self, nc: Client, name: str, version: str, *, description: str = "",
                 metadata: Mapping[str, str] | None = None, queue_group: str | None = None,
                 stats_handler: StatsHandler | None = None, api_prefix: str = API_PREFIX):
        self.name = check_name(name, "service")
        self.api_prefix = check_group_prefix(api_prefix) or API_PREFIX
        self.version = check_version(version)
        if not isinstance(description, str):
            raise ZatsError("description must be a str")
        self.description = description
        self.metadata: dict[str, str] = check_metadata(metadata, "service") or {}
        self._queue_group = check_queue_group(queue_group) if queue_group is not None else DEFAULT_QUEUE_GROUP
        self._stats_handler = stats_handler
        self._nc = nc
        self._service = self
        self._prefix = ""
        self.id = random_token(16)[:22]
        self.endpoints: list[Endpoint] = []
        self._verb_subs: list[Subscription] = []
        self._started = datetime.datetime.now(datetime.UTC)
        self._ping = _encode(PingResponse(name=self.name, id=self.id, version=self.version,
                                          metadata=self.metadata))
        self.stopped = asyncio.Event()

    async def start(self) -> Service:
        """Subscribes the discovery subjects and waits until the server has them."""
        if self._verb_subs:
            return self
        answers: dict[str, Callable[[Msg], None]] = {
            "PING": self._answer_ping, "INFO": self._answer_info, "STATS": self._answer_stats}
        for verb in VERBS:
            prefix = self.api_prefix
            for subject in (control_subject(verb, prefix=prefix), control_subject(verb, self.name, prefix=prefix),
                            control_subject(verb, self.name, self.id, prefix)):
                self._verb_subs.append(await self._nc.subscribe(subject, cb=answers[verb]))
        self._started = datetime.datetime.now(datetime.UTC)
        await self._nc.flush()
        return self

    async def _start_endpoint(self, endpoint: Endpoint) -> None:
        if self.stopped.is_set():
            raise ZatsError("the service is stopped")
        await endpoint.start(self._nc)
        self.endpoints.append(endpoint)

    @property
    def queue_group(self) -> str:
        return self._queue_group

    @property
    def started(self) -> datetime.datetime:
        return self._started

    def info(self) -> InfoResponse:
        return InfoResponse(name=self.name, id=self.id, version=self.version, metadata=self.metadata,
                            description=self.description,
                            endpoints=[e.info() for e in self.endpoints])

    def stats(self) -> StatsResponse:
        handler = self._stats_handler
        return StatsResponse(
            name=self.name, id=self.id, version=self.version, metadata=self.metadata,
            started=utc_timestamp(self._started),
            endpoints=[e.stats(handler(e) if handler is not None else None) for e in self.endpoints])

    def reset(self) -> None:
        """Zeroes every endpoint's statistics; `started` becomes now."""
        for endpoint in self.endpoints:
            endpoint.reset()
        self._started = datetime.datetime.now(datetime.UTC)

    async def stop(self) -> None:
        """Drains the endpoints and the discovery subscriptions (requests already received are
        answered), then sets `stopped`. Safe to call more than once."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        for endpoint in self.endpoints:
            await endpoint.stop()
        subs, self._verb_subs = self._verb_subs, []
        for sub in subs:
            try:
                await sub.drain()
            except ZatsError:
                sub.unsubscribe()

    def _answer_ping(self, msg: Msg) -> None:
        if msg.reply:
            msg.respond(self._ping)

    def _answer_info(self, msg: Msg) -> None:
        if msg.reply:
            msg.respond(_encode(self.info()))

    def _answer_stats(self, msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            body = _encode(self.stats())
        except Exception as exc:  # the stats handler failed, or returned what JSON cannot hold
            Request(msg).respond_error(500, f"Error handling STATS request: {exc}")
            return
        msg.respond(body)

    async def __aenter__(self) -> Service:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"<zats.client.micro.Service {self.name} {self.version} id={self.id}>"


async def add_service(nc: Client, name: str, version: str, *, description: str = "",
                      metadata: Mapping[str, str] | None = None, queue_group: str | None = None,
                      stats_handler: StatsHandler | None = None, api_prefix: str = API_PREFIX) -> Service:
    """Creates and starts a service on connection `nc`: it answers `$SRV.PING|INFO|STATS` (for
    all services, for `name`, and for its own id) once this returns. Add endpoints with
    `service.add_endpoint(name, handler, ...)` and groups with `service.add_group(name)`.
    `api_prefix` replaces `$SRV` (for tools that reach services across accounts). Raises
    `ServiceConfigError` for a bad name, version, queue group or metadata."""
    return await Service(nc, name, version, description=description, metadata=metadata,
                         queue_group=queue_group, stats_handler=stats_handler, api_prefix=api_prefix).start()
