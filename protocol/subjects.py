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
    if b"*" not in subject and b">" not in subject:
        return True
    for token in subject.split(b"."):
        if token == b"*" or token == b">":
            return False
    return True


def is_valid_publish_subject(subject: bytes) -> bool:
    """A publish subject: a valid subject without wildcard tokens."""
    return is_valid_subject(subject) and is_literal(subject)


def is_valid_queue(queue: bytes) -> bool:
    """A queue group name: non-empty, no whitespace."""
    return bool(queue) and not _has_whitespace(queue)
