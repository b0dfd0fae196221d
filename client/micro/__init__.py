"""zats.client.micro: the NATS service API (ADR-32), with nats-py's names.

    import zats.client
    from zats.client import micro

    async with zats.client.connect() as nc:
        svc = await micro.add_service(nc, name="calc", version="1.0.0")
        math = svc.add_group("math")

        async def add(req: micro.Request) -> None:
            a, b = req.data.split(b" ")
            req.respond(b"%d" % (int(a) + int(b)))

        await math.add_endpoint("add", add)        # subject math.add, queue group "q"
        print((await nc.request("math.add", b"1 2")).data)
        print(await micro.ping(nc, "calc"))        # discovery: $SRV.PING.calc

Modules: `service` (Service, Group, add_service, discovery answers), `endpoint` (handlers and
stats), `request` (Request, respond/respond_error, ServiceError), `schema` (the PING/INFO/STATS
documents), `validate` (names, versions, subjects; ServiceConfigError), `discovery` (ping/info/
stats from the caller's side)."""

from __future__ import annotations

from .discovery import as_dict, info, ping, stats
from .endpoint import Endpoint
from .request import ERROR_CODE_HEADER, ERROR_HEADER, Handler, Request, ServiceError, service_error
from .schema import (
    INFO_RESPONSE_TYPE,
    PING_RESPONSE_TYPE,
    STATS_RESPONSE_TYPE,
    EndpointInfo,
    EndpointStats,
    InfoResponse,
    PingResponse,
    StatsResponse,
)
from .service import (
    API_PREFIX,
    DEFAULT_QUEUE_GROUP,
    Group,
    Service,
    StatsHandler,
    add_service,
    control_subject,
)
from .validate import ServiceConfigError

__all__ = [
    "API_PREFIX", "DEFAULT_QUEUE_GROUP", "ERROR_CODE_HEADER", "ERROR_HEADER", "INFO_RESPONSE_TYPE",
    "PING_RESPONSE_TYPE", "STATS_RESPONSE_TYPE", "Endpoint", "EndpointInfo", "EndpointStats", "Group",
    "Handler", "InfoResponse", "PingResponse", "Request", "Service", "ServiceConfigError", "ServiceError",
    "StatsHandler", "StatsResponse", "add_service", "as_dict", "control_subject", "info", "ping",
    "service_error", "stats",
]
