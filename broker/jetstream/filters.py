"""Subject filters for the stores: does a stored (literal) subject match a filter that may hold
`*` and `>` tokens. b"" and b">" match everything; a matcher is None for them so that callers
can skip the test altogether."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from zats.protocol.subjects import is_literal

__all__ = ["matcher", "multi_matcher", "is_all"]

Matcher = Callable[[bytes], bool]


def is_all(filter: bytes) -> bool:
    return filter == b"" or filter == b">"


_compiled: dict[bytes, Matcher | None] = {}


def matcher(filter: bytes) -> Matcher | None:
    """A predicate for `filter`, or None when it matches every subject (compiled once per
    filter: consumers ask for the same few again and again)."""
    m = _compiled.get(filter, False)
    if m is False:
        if len(_compiled) >= 1024:
            _compiled.clear()
        m = _compiled[filter] = _compile(filter)
    return m


def _compile(filter: bytes) -> Matcher | None:
    if is_all(filter):
        return None
    if is_literal(filter):
        return filter.__eq__
    tokens = filter.split(b".")
    n = len(tokens)
    full = tokens[-1] == b">"
    if full:
        tokens.pop()
        n -= 1
    checks = [(i, t) for i, t in enumerate(tokens) if t != b"*"]
    cache: dict[bytes, bool] = {}

    def match(subject: bytes) -> bool:
        hit = cache.get(subject)
        if hit is not None:
            return hit
        parts = subject.split(b".")
        if full:
            ok = len(parts) > n
        else:
            ok = len(parts) == n
        if ok:
            for i, t in checks:
                if parts[i] != t:
                    ok = False
                    break
        if len(cache) >= 4096:
            cache.clear()
        cache[subject] = ok
        return ok

    return match


def multi_matcher(filters: Iterable[bytes]) -> Matcher | None:
    """A predicate matching any of `filters`, or None when there are none or one of them
    matches everything."""
    ms = []
    for f in filters:
        m = matcher(f)
        if m is None:
            return None
        ms.append(m)
    if not ms:
        return None
    if len(ms) == 1:
        return ms[0]
    return lambda subject: any(m(subject) for m in ms)
