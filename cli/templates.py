"""The body templates of the nats CLI's pub, req and reply: `{{Count}}`, `{{.Count}}`,
`{{TimeStamp}}`, `{{Unix}}`, `{{UnixNano}}`, `{{Time}}`, `{{ID}}`, `{{Random 10 100}}` and (for
reply) `{{Request}}`. A template naming anything else is left as it is, and the error says why,
as the nats CLI does with a body Go's template package cannot run."""

from __future__ import annotations

import datetime
import random
import re
import secrets
import string
import time

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_CALL = re.compile(r"\.?([A-Za-z_]\w*)((?:\s+-?\d+)*)")
_LETTERS = string.ascii_letters + string.digits
_NO_ARGS = ("Count", "Cnt", "Unix", "UnixNano", "TimeStamp", "Time", "ID", "Request")


class TemplateError(ValueError):
    pass


def random_string(shortest: int, longest: int) -> str:
    """Letters and digits, between `shortest` and `longest` characters long (both included)."""
    if shortest > longest:
        shortest, longest = longest, shortest
    return "".join(random.choices(_LETTERS, k=random.randint(max(0, shortest), max(0, longest))))


def unique_id() -> str:
    """A 22-character unique identifier, as long as a NUID."""
    return "".join(secrets.choice(_LETTERS) for _ in range(22))


def render(text: str, count: int, request: str | None = None) -> str:
    """`text` with its template actions replaced; raises TemplateError (naming the action) when
    one is not known."""
    if "{{" not in text:
        return text
    now = time.time_ns()
    local = datetime.datetime.fromtimestamp(now / 1e9).astimezone()

    def one(match: re.Match) -> str:
        action = match.group(1)
        call = _CALL.fullmatch(action)
        if call is None:
            raise TemplateError(f"cannot evaluate {match.group(0)!r}")
        name, args = call.group(1), [int(a) for a in call.group(2).split()]
        if name == "Random" and len(args) == 2:
            return random_string(args[0], args[1])
        if name not in _NO_ARGS:
            raise TemplateError(f"function {name!r} not defined")
        if args:
            raise TemplateError(f"wrong number of arguments for {name!r}")
        if name in ("Count", "Cnt"):
            return str(count)
        if name == "Unix":
            return str(now // 1_000_000_000)
        if name == "UnixNano":
            return str(now)
        if name == "TimeStamp":
            return local.isoformat(timespec="seconds").replace("+00:00", "Z")
        if name == "Time":
            return local.strftime("%I:%M%p").lstrip("0")
        if name == "ID":
            return unique_id()
        return request or ""

    return _ACTION.sub(one, text)
