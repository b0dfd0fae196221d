"""Per-user publish/subscribe permissions, as nats-server applies them: allow and deny lists of
subjects (wildcards allowed) matched with the subject index's own rules, so a wildcard in a
SUB subject is a literal token that only a wildcard pattern covers. Deny wins over allow.
`allow_responses` lets a responder publish to the reply subject of a request it received,
up to `max` times within `expires`, even where its publish permissions deny it."""

from __future__ import annotations

import time

from .options import Permissions as PermissionsConfig
from .options import SubjectPermission
from .sublist import Sublist

_CACHE_MAX = 1024  # per connection: publish subjects already checked


class _Pattern:
    __slots__ = ("subject", "queue")

    def __init__(self, subject: bytes):
        self.subject = subject
        self.queue = None


class PatternSet:
    """A list of subject patterns; `matches(subject)` when any pattern covers it."""

    __slots__ = ("sublist", "empty")

    def __init__(self, patterns: list[str]):
        self.sublist = Sublist(cache=False)
        self.empty = not patterns
        for p in patterns:
            self.sublist.insert(_Pattern(p.encode()))

    def matches(self, subject: bytes) -> bool:
        return not self.empty and bool(self.sublist.match(subject).plain)


def _compile(perm: SubjectPermission | None) -> tuple[PatternSet | None, PatternSet | None]:
    if perm is None:
        return None, None
    allow = PatternSet(perm.allow) if perm.allow is not None else None
    deny = PatternSet(perm.deny) if perm.deny else None
    return allow, deny


class UserPermissions:
    """A user's permissions compiled once; shared by that user's connections."""

    __slots__ = ("pub_allow", "pub_deny", "sub_allow", "sub_deny", "response")

    def __init__(self, config: PermissionsConfig):
        publish = config.publish
        if config.allow_responses is not None and (publish is None or publish.allow is None):
            # As nats-server: response permissions without a publish allow list turn the blanket
            # publish allowance off; only responses (and explicit allows) may be published.
            publish = SubjectPermission(allow=[], deny=publish.deny if publish else None)
        self.pub_allow, self.pub_deny = _compile(publish)
        self.sub_allow, self.sub_deny = _compile(config.subscribe)
        self.response = config.allow_responses

    def can_subscribe(self, subject: bytes) -> bool:
        if self.sub_allow is not None and not self.sub_allow.matches(subject):
            return False
        return not (self.sub_deny is not None and self.sub_deny.matches(subject))

    def _can_publish(self, subject: bytes) -> bool:
        if self.pub_allow is not None and not self.pub_allow.matches(subject):
            return False
        return not (self.pub_deny is not None and self.pub_deny.matches(subject))


class ConnectionPermissions:
    """One connection's view of its user's permissions: the publish-check cache and the reply
    subjects it may answer under allow_responses."""

    __slots__ = ("user", "_cache", "replies")

    def __init__(self, user: UserPermissions):
        self.user = user
        self._cache: dict[bytes, bool] = {}
        # reply subject -> [remaining publishes, expiry (monotonic) or 0]
        self.replies: dict[bytes, list] | None = {} if user.response is not None else None

    def can_subscribe(self, subject: bytes) -> bool:
        return self.user.can_subscribe(subject)

    def can_publish(self, subject: bytes) -> bool:
        allowed = self._cache.get(subject)
        if allowed is None:
            allowed = self.user._can_publish(subject)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[subject] = allowed
        if allowed:
            return True
        return self.replies is not None and self._use_reply(subject)

    def saw_request(self, reply: bytes) -> None:
        """Records a reply subject this connection was sent a request on."""
        response = self.user.response
        expires = time.monotonic() + response.expires if response.expires > 0 else 0.0
        replies = self.replies
        if len(replies) >= _CACHE_MAX:
            self._prune()
        replies[reply] = [response.max, expires]

    def _use_reply(self, subject: bytes) -> bool:
        entry = self.replies.get(subject)
        if entry is None:
            return False
        if entry[1] and time.monotonic() > entry[1]:
            del self.replies[subject]
            return False
        entry[0] -= 1
        if entry[0] <= 0:
            del self.replies[subject]
        return True

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, exp) in self.replies.items() if exp and now > exp]:
            del self.replies[key]
        if len(self.replies) >= _CACHE_MAX:
            self.replies.clear()
