"""JetStream's API as the CLI uses it, over zats.client: a `$JS.API.*` request with a JSON body,
its JSON answer, and an API error (`{"error": {...}}`) or a server without JetStream turned into
one line for the user."""

from __future__ import annotations

import json
from typing import Any

from zats.client import errors

from .connection import Settings, describe
from .output import CliError

PREFIX = "$JS.API"
NO_JETSTREAM = "JetStream is not enabled on this server or account"


def api_error(answer: dict) -> str:
    """An API error as the nats CLI words it: `stream not found (10059)`."""
    err = answer["error"]
    text = err.get("description") or f"error {err.get('code')}"
    return f"{text} ({err['err_code']})" if err.get("err_code") else text


def check_name(name: str) -> str:
    """A stream or consumer name, which becomes a token of the API subject: one with a dot, a
    wildcard or whitespace would ask another endpoint, or none (nats-server rejects such names
    when they are created)."""
    if not name or any(c in name for c in ".*>") or any(c.isspace() for c in name):
        raise CliError(f"invalid name {name!r}: names cannot be empty or contain whitespace, '.', '*' or '>'")
    return name


async def call(nc, settings: Settings, api: str, *names: str, body: Any = None) -> dict:
    """The JSON answer to `$JS.API.<api>.<names...>`; raises CliError on an invalid name, an API
    error, no JetStream or no answer."""
    subject = ".".join([PREFIX, api, *map(check_name, names)])
    payload = b"" if body is None else json.dumps(body).encode()
    try:
        msg = await nc.request(subject, payload, timeout=settings.timeout)
    except errors.NoRespondersError:
        raise CliError(NO_JETSTREAM) from None
    except errors.TimeoutError:
        raise CliError(f"timeout: JetStream did not answer within {settings.timeout:g}s") from None
    except errors.ZatsError as exc:
        raise CliError(describe(exc, settings)) from None
    try:
        answer = json.loads(bytes(msg.data))
    except ValueError:
        raise CliError(f"invalid JetStream answer: {bytes(msg.data)[:80]!r}") from None
    if not isinstance(answer, dict):
        raise CliError(f"invalid JetStream answer: {bytes(msg.data)[:80]!r}")
    if answer.get("error"):
        raise CliError(api_error(answer))
    return answer


async def paged(nc, settings: Settings, api: str, *names: str, key: str) -> list:
    """Every item of a paged list request (`STREAM.LIST`, `CONSUMER.LIST <stream>`...)."""
    items: list = []
    while True:
        answer = await call(nc, settings, api, *names, body={"offset": len(items)})
        page = answer.get(key) or []
        items.extend(page)
        if not page or len(items) >= answer.get("total", 0):
            return items
