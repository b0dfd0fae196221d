"""Subject and queue-name rules (nats-server sublist.go): tokens separated by '.', none empty, no
whitespace; '*' and '>' are wildcards only as whole tokens and '>' only as the last token."""

from __future__ import annotations

_WHITESPACE = (b" ", b"\t", b"\r", b"\n", b"\x0c", b"\x0b")


def _has_whitespace(subject: bytes) -> bool:
    for ch in _WHITESPACE:
        if ch in subject:
            return True
    return False


def is_valid_subject(subject: bytes) -> bool:
    """A subscription subject: wildcards allowed as whole tokens, '>' last."""
    if not subject or _has_whitespace(subject):
        return False
    tokens = subject.split(b".")
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        if not token:
            return False
        if token == b">" and i != last:
            return False
    return True


def is_literal(subject: bytes) -> bool:
    """True when no token is a wildcard ('foo*' is a literal token)."""
    # (find, not `in`: `in` takes a bytes needle for an integer first, and the TypeError it
    # raises and clears costs twice the search.)
    if subject.find(b"*") < 0 and subject.find(b">") < 0:
        return True
    for token in subject.split(b"."):
        if token == b"*" or token == b">":
            return False
    return True


def is_valid_publish_subject(subject: bytes) -> bool:
    """A publish subject: a valid subject without wildcard tokens."""
    return is_valid_subject(subject) and is_literal(subject)


def _is_wildcard(token: bytes) -> bool:
    return token == b"*" or token == b">"


def is_subset_match(subject: bytes, test: bytes) -> bool:
    """Whether every subject `subject` matches is also matched by `test` (both may hold
    wildcards): "foo.*" is a subset of ">", "*.*" and "foo.*", not of "foo.bar".
    As nats-server, a `test` token only needs to start with '*' to take any token there."""
    tokens = subject.split(b".")
    tests = test.split(b".")
    n = len(tokens)
    for i, t2 in enumerate(tests):
        if i >= n or not t2:
            return False
        if t2 == b">":
            return True
        t1 = tokens[i]
        if not t1 or t1 == b">":
            return False
        if t1 == b"*":
            if t2 != b"*":
                return False
        elif t2[:1] != b"*" and t1 != t2:
            return False
    return n == len(tests)


def subjects_collide(a: bytes, b: bytes) -> bool:
    """Whether some literal subject is matched by both `a` and `b` (either may hold wildcards).
    As nats-server, a token that starts with '*' or '>' is taken to match any token."""
    if a == b:
        return True
    ta = a.split(b".")
    tb = b.split(b".")
    a_literal = not any(_is_wildcard(t) for t in ta)
    b_literal = not any(_is_wildcard(t) for t in tb)
    if a_literal and b_literal:
        return False
    if a_literal:
        return is_subset_match(a, b)
    if b_literal:
        return is_subset_match(b, a)
    na, nb = len(ta), len(tb)
    if na != nb:
        # Only a '>' in the shorter one can take the other's extra tokens.
        shorter = ta if na < nb else tb
        if b">" not in shorter:
            return False
    for t1, t2 in zip(ta, tb, strict=False):
        if not t1 or not t2:
            return False
        if t1[:1] in (b"*", b">") or t2[:1] in (b"*", b">"):
            continue
        if t1 != t2:
            return False
    return True
