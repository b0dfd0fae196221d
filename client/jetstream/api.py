"""One `$JS.API` request and its answer: the subject built from checked names, the request
over the connection's shared reply inbox, and the answer decoded into its Struct, an API error
into its typed `APIError`, garbage into `InvalidResponseError`, no responders into
`JetStreamNotEnabledError`."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from ..errors import NoRespondersError
from .errors import APIError, InvalidResponseError, JetStreamNotEnabledError
from .structs import Base, from_wire

Client = Any  # zats.client.Client (not imported: client.py imports this package)

T = TypeVar("T", bound=Base)

_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode


_NOT_IN_NAMES = re.compile(r"[.*>\s]")  # \s: what str.isspace() calls whitespace


def check_name(name: str, what: str = "name") -> str:
    """A stream or consumer name, which becomes a subject token: one with a dot, a wildcard or
    whitespace would ask another endpoint (nats-server rejects such names)."""
    if not isinstance(name, str) or not name or _NOT_IN_NAMES.search(name):
        raise ValueError(f"invalid {what} {name!r}: cannot be empty or contain whitespace, '.', '*' or '>'")
    return name


def decode_answer(data: bytes | memoryview) -> dict[str, Any]:
    """The answer as a JSON object; raises the typed `APIError` when it holds `error`,
    `InvalidResponseError` when it is not a JSON object."""
    try:
        answer = _json_decode(data)
    except msgspec.DecodeError:
        raise InvalidResponseError(f"invalid JetStream answer: {bytes(data[:80])!r}") from None
    if not isinstance(answer, dict):
        raise InvalidResponseError(f"invalid JetStream answer: {bytes(data[:80])!r}")
    err = answer.get("error")
    if err:
        raise APIError.from_error(err)
    return answer


def convert(cls: type[T], answer: Any) -> T:
    """`answer` as a `cls`; `InvalidResponseError` when it does not fit."""
    try:
        return from_wire(cls, answer)
    except (msgspec.ValidationError, TypeError, ValueError) as exc:
        raise InvalidResponseError(f"unexpected {cls.__name__} in JetStream answer: {exc}") from None


class Api:
    """The request side of the JetStream API of one connection: `prefix` is `$JS.API`, or
    `$JS.<domain>.API` for a domain."""

    def __init__(self, nc: Client, prefix: str, timeout: float):
        self.nc = nc
        self.prefix = prefix
        self.timeout = timeout

    def subject(self, *tokens: str) -> str:
        return ".".join((self.prefix, *tokens))

    async def request(self, subject: str, body: Any = None, timeout: float | None = None) -> dict[str, Any]:
        """The JSON answer of a request to the full API `subject` with `body` (a Struct, a
        dict, bytes, or None for an empty body)."""
        if body is None:
            payload = b""
        elif isinstance(body, (bytes, bytearray)):
            payload = bytes(body)
        else:
            payload = _json_encode(body)
        try:
            msg = await self.nc.request(subject, payload, timeout=self.timeout if timeout is None else timeout)
        except NoRespondersError:
            raise JetStreamNotEnabledError(subject) from None
        return decode_answer(msg.data)

    async def call(self, cls: type[T], subject: str, body: Any = None, timeout: float | None = None) -> T:
        return convert(cls, await self.request(subject, body, timeout))
