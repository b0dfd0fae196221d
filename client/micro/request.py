"""A request to a service endpoint as its handler sees it, the replies it can send (`respond`,
`respond_error` with the `Nats-Service-Error` and `Nats-Service-Error-Code` headers of ADR-32),
and `ServiceError`, which a handler may raise to answer with an error of its choosing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from zats.protocol.headers import Headers, HeadersLike

from ..msg import Msg, _Done

ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"


class ServiceError(Exception):
    """Raised by a handler: the request is answered with this code and description in the
    error headers (any other exception is answered with code 500)."""

    def __init__(self, code: int | str, description: str, data: bytes = b""):
        super().__init__(f"{code}:{description}")
        self.code = str(code)
        self.description = description
        self.data = data


class Request:
    """One request to an endpoint: `subject`, `reply`, `headers`, `data` (owned `bytes` for an
    `async def` handler; a `memoryview` valid only during the call for a plain `def` handler,
    as with subscription callbacks), and the replies `respond()` / `respond_error()`."""

    __slots__ = ("msg", "error")

    def __init__(self, msg: Msg):
        self.msg = msg
        # "code:description" of the error reply sent, counted in the endpoint's stats
        self.error: str | None = None

    @property
    def subject(self) -> str:
        return self.msg.subject

    @property
    def reply(self) -> str:
        return self.msg.reply

    @property
    def data(self) -> Any:
        return self.msg.data

    @property
    def headers(self) -> Headers | None:
        return self.msg.headers

    def respond(self, data: Any = b"", headers: HeadersLike | None = None) -> _Done:
        """Publishes the reply: bytes as they are, any other object encoded with the
        connection's codec (JSON by default). A plain call; the result may be awaited."""
        return self.msg.respond(data, headers)

    def respond_error(self, code: int | str, description: str, data: Any = b"",
                      headers: HeadersLike | None = None) -> _Done:
        """Publishes an error reply: `Nats-Service-Error: description` and
        `Nats-Service-Error-Code: code` added to `headers`, `data` as the payload. The endpoint
        counts it in `num_errors` and `last_error`."""
        error_headers = Headers(headers)
        error_headers.set(ERROR_HEADER, description)
        error_headers.set(ERROR_CODE_HEADER, str(code))
        self.error = f"{code}:{description}"
        return self.msg.respond(data, error_headers)


Handler = Callable[[Request], Awaitable[None] | None]
"""An endpoint handler: `async def handler(request)` (requests handled one at a time, in order,
with owned data) or a plain `def handler(request)` (called inline as the read is parsed)."""


def service_error(headers: Headers | None) -> tuple[str, str] | None:
    """(code, description) of a reply carrying the service error headers, else None; for
    callers of a service, which must look for these headers (ADR-32)."""
    if headers is None:
        return None
    description = headers.get(ERROR_HEADER)
    code = headers.get(ERROR_CODE_HEADER)
    if description is None and code is None:
        return None
    return (code or "", description or "")
