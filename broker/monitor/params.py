"""Query parameters of the monitoring endpoints, decoded as nats-server decodes them (Go's URL
query rules and strconv), with its error texts for values it refuses (answered with 400)."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_INT = re.compile(r"[+-]?[0-9]+")
_UINT = re.compile(r"[0-9]+")
_TRUE = frozenset(("1", "t", "T", "TRUE", "true", "True"))
_FALSE = frozenset(("0", "f", "F", "FALSE", "false", "False"))
_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\v": "\\v", '"': '\\"', "\\": "\\\\"}


class BadParam(Exception):
    """A parameter value nats-server refuses; the text is its 400 answer's body."""


def parse_query(raw: str) -> dict[str, str]:
    """The first value of each parameter. As Go's url.ParseQuery: pairs split on '&', '+' is a
    space, and a pair with a ';' or a bad %-escape is dropped."""
    out: dict[str, str] = {}
    for pair in raw.split("&"):
        if not pair or ";" in pair:
            continue
        key, _, value = pair.partition("=")
        if _BAD_ESCAPE.search(key) or _BAD_ESCAPE.search(value):
            continue
        key, value = _unescape(key), _unescape(value)
        out.setdefault(key, value)
    return out


def _unescape(text: str) -> str:
    return unquote_to_bytes(text.replace("+", " ")).decode("utf-8", "replace")


def go_quote(text: str) -> str:
    """A string as Go's strconv.Quote writes it (in strconv's error messages)."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def get_bool(query: dict[str, str], name: str) -> bool:
    value = query.get(name, "")
    if not value or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise BadParam(f"Error decoding boolean for '{name}': strconv.ParseBool: parsing "
                   f"{go_quote(value)}: invalid syntax")


def get_int(query: dict[str, str], name: str) -> int:
    value = query.get(name, "")
    if not value:
        return 0
    why = "invalid syntax"
    if _INT.fullmatch(value):
        number = int(value)
        if -(1 << 63) <= number < 1 << 63:
            return number
        why = "value out of range"
    raise BadParam(f"Error decoding int for '{name}': strconv.Atoi: parsing {go_quote(value)}: {why}")


def get_uint(query: dict[str, str], name: str) -> int:
    value = query.get(name, "")
    if not value:
        return 0
    why = "invalid syntax"
    if _UINT.fullmatch(value):
        number = int(value)
        if number < 1 << 64:
            return number
        why = "value out of range"
    raise BadParam(f"Error decoding uint64 for '{name}': strconv.ParseUint: parsing "
                   f"{go_quote(value)}: {why}")


def get_subs(query: dict[str, str]) -> tuple[bool, bool]:
    """`subs`: (list subscriptions, in detail); "detail" asks for subscription objects."""
    if query.get("subs", "").lower() == "detail":
        return True, True
    return get_bool(query, "subs"), False


def get_state(query: dict[str, str]) -> str:
    """`state` of /connz: "open", "closed" or "all"."""
    value = query.get("state", "")
    state = {"": "open", "open": "open", "closed": "closed", "any": "all", "all": "all"}.get(
        value.lower())
    if state is None:
        raise BadParam(f"Error decoding state for {value}")
    return state
