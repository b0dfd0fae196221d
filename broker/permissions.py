"""Per-user publish/subscribe permissions, as nats-server applies them: allow and deny lists of
subjects (wildcards allowed) matched with the subject index's own rules, so a wildcard in a
SUB subject is a literal token that only a wildcard pattern covers. Deny wins over allow.

A subscribe entry may name a queue group, "subject queue" (the queue may hold wildcards): it
then speaks only of queue subscriptions in groups it matches. Deny is also checked when a
message is delivered: a wildcard (or queue) subscription that could overlap a deny entry arms
the connection's delivery filter, which from then on drops each message, on any of its
subscriptions, whose subject (and queue) a deny entry covers; a queue group then tries another
member.

`allow_responses` lets a responder publish to the reply subject of a request it received,
up to `max` times within `expires`, even where its publish permissions deny it."""

from __future__ import annotations

import time
from itertools import islice

from zats.protocol.subjects import is_literal, is_subset_match, subjects_collide

from .options import Permissions as PermissionsConfig
from .options import SubjectPermission
from .sublist import Sublist

_CACHE_MAX = 1024  # per connection: publish subjects already checked

# Names nats-server keeps for its own traffic (internal RAFT groups, gateway and service-import
# replies, JetStream acks), which no client may publish to or use as a reply subject, whatever
# its permissions. Every one starts with `$` or `_`, which callers test first (RESERVED_FIRST).
RESERVED_FIRST = b"$_"
_RESERVED_SUBJECTS = ((b"$NRG.", 0), (b"_GR_.", 1), (b"$GR.", 1))
_RESERVED_REPLIES = ((b"_R_.", 0), (b"$JS.ACK.", 1), (b"_GR_.", 1), (b"$GR.", 1))
# Their prefixes alone, for one startswith before the exact test (`_INBOX.` replies, the common
# case past RESERVED_FIRST, then cost no Python call).
RESERVED_SUBJECT_PREFIXES = tuple(prefix for prefix, _ in _RESERVED_SUBJECTS)
RESERVED_REPLY_PREFIXES = tuple(prefix for prefix, _ in _RESERVED_REPLIES)


def _reserved(name: bytes, prefixes: tuple) -> bool:
    """Whether `name` starts with one of `prefixes`, followed by at least as many more bytes
    as each prefix asks (nats-server takes some prefixes alone, others only with a rest)."""
    for prefix, rest in prefixes:
        if name.startswith(prefix) and len(name) >= len(prefix) + rest:
            return True
    return False


# The prefixes alone, for one startswith over all of them: most names starting with `$` or
# `_` (every _INBOX reply) match none.
_SUBJECT_STARTS = tuple(prefix for prefix, _ in _RESERVED_SUBJECTS)
_REPLY_STARTS = tuple(prefix for prefix, _ in _RESERVED_REPLIES)


def reserved_subject(subject: bytes) -> bool:
    """A subject no client may publish to (nats-server: a publish permissions violation)."""
    return subject.startswith(_SUBJECT_STARTS) and _reserved(subject, _RESERVED_SUBJECTS)


def reserved_reply(reply: bytes) -> bool:
    """A reply subject no client may publish with (nats-server: a reply permissions violation)."""
    return reply.startswith(_REPLY_STARTS) and _reserved(reply, _RESERVED_REPLIES)


# Per connection: (subject, queue) pairs the delivery filter has decided, and how many of the
# oldest go when it is full (nats-server's bounds).
_DENY_CACHE_MAX = 256
_DENY_CACHE_PRUNE = 32


class _Entry:
    """One permission entry in a PatternSet's index: a subject, and for subscribe entries
    an optional queue group."""

    __slots__ = ("subject", "queue")

    def __init__(self, subject: bytes, queue: bytes | None):
        self.subject = subject
        self.queue = queue


def _split_entry(text: str) -> tuple[bytes, bytes | None]:
    """A subscribe entry: "subject" or "subject queue" (the configuration checked its form)."""
    parts = text.split()
    return parts[0].encode(), parts[1].encode() if len(parts) > 1 else None


def _queue_matches(queue: bytes, groups: tuple) -> bool:
    """Whether a queue entry among `groups` (a match's queue groups) names `queue`: the same
    name, or a pattern with wildcards that covers it."""
    for group in groups:
        name = group[0].queue
        if queue == name or (not is_literal(name) and is_subset_match(queue, name)):
            return True
    return False


class PatternSet:
    """A list of permission entries; `matches(subject)` when a plain entry covers it."""

    __slots__ = ("sublist", "empty", "subjects")

    def __init__(self, patterns: list[str], queues: bool = False):
        self.sublist = Sublist(cache=False)
        self.empty = not patterns
        entries = [_split_entry(p) if queues else (p.encode(), None) for p in patterns]
        self.subjects = [subject for subject, _ in entries]
        for subject, queue in entries:
            self.sublist.insert(_Entry(subject, queue))

    def matches(self, subject: bytes) -> bool:
        return not self.empty and bool(self.sublist.match(subject).plain)

    def allows(self, subject: bytes, queue: bytes | None) -> bool:
        """As an allow list of subscribe entries: a plain entry covers the subject, and for a
        queue subscription, where queue entries cover the subject, one of them names its group."""
        result = self.sublist.match(subject)
        if queue and result.queues:
            return _queue_matches(queue, result.queues)
        return bool(result.plain)

    def denies(self, subject: bytes, queue: bytes | None) -> bool:
        """As a deny list of subscribe entries: a plain entry covers the subject, or a queue
        entry that covers it names the subscription's group."""
        result = self.sublist.match(subject)
        if result.plain:
            return True
        return bool(queue) and bool(result.queues) and _queue_matches(queue, result.queues)


def _compile(perm: SubjectPermission | None,
             subscribe: bool = False) -> tuple[PatternSet | None, PatternSet | None]:
    if perm is None:
        return None, None
    if subscribe:
        # As nats-server: an empty subscribe allow list restricts nothing (an empty publish
        # allow list allows nothing).
        allow = PatternSet(perm.allow, queues=True) if perm.allow else None
    else:
        allow = PatternSet(perm.allow) if perm.allow is not None else None
    deny = PatternSet(perm.deny, queues=subscribe) if perm.deny else None
    return allow, deny


class UserPermissions:
    """A user's permissions compiled once; shared by that user's connections."""

    __slots__ = ("pub_allow", "pub_deny", "sub_allow", "sub_deny", "response", "config")

    def __init__(self, config: PermissionsConfig):
        self.config = config  # as configured, for $SYS.REQ.USER.INFO
        publish = config.publish
        if config.allow_responses is not None and (publish is None or publish.allow is None):
            # As nats-server: response permissions without a publish allow list turn the blanket
            # publish allowance off; only responses (and explicit allows) may be published.
            publish = SubjectPermission(allow=[], deny=publish.deny if publish else None)
        self.pub_allow, self.pub_deny = _compile(publish)
        self.sub_allow, self.sub_deny = _compile(config.subscribe, subscribe=True)
        self.response = config.allow_responses

    def can_subscribe(self, subject: bytes, queue: bytes | None = None) -> bool:
        if self.sub_allow is not None and not self.sub_allow.allows(subject, queue):
            return False
        return not (self.sub_deny is not None and self.sub_deny.denies(subject, queue))

    def overlaps_deny(self, subject: bytes) -> bool:
        """Whether some subject a subscription on `subject` gets could be denied."""
        deny = self.sub_deny
        return deny is not None and any(subjects_collide(d, subject) for d in deny.subjects)

    def _can_publish(self, subject: bytes) -> bool:
        if self.pub_allow is not None and not self.pub_allow.matches(subject):
            return False
        return not (self.pub_deny is not None and self.pub_deny.matches(subject))


class ConnectionPermissions:
    """One connection's view of its user's permissions: the publish-check cache, the reply
    subjects it may answer under allow_responses, and the delivery filter once armed."""

    __slots__ = ("user", "_cache", "replies", "deny")

    def __init__(self, user: UserPermissions):
        self.user = user
        self._cache: dict[bytes, bool] = {}
        # reply subject -> [remaining publishes, expiry (monotonic) or 0]
        self.replies: dict[bytes, list] | None = {} if user.response is not None else None
        # The delivery filter: None until a subscription arms it, then its decisions so far,
        # (subject, queue) -> denied. Delivery tests `deny is not None` and calls `denies`.
        self.deny: dict[tuple, bool] | None = None

    def can_subscribe(self, subject: bytes, queue: bytes | None = None) -> bool:
        """Whether the user may subscribe; a permitted wildcard or queue subscription that
        could receive a denied subject arms the delivery filter (for good, as nats-server)."""
        user = self.user
        if not user.can_subscribe(subject, queue):
            return False
        if self.deny is None and (queue or not is_literal(subject)) and \
                user.overlaps_deny(subject):
            self.deny = {}
        return True

    def denies(self, subject: bytes, queue: bytes | None) -> bool:
        """The armed delivery filter: whether a message on `subject` to a subscription in
        `queue` (None for a plain one) must not be delivered."""
        deny = self.deny
        key = (subject, queue)
        denied = deny.get(key)
        if denied is None:
            denied = self.user.sub_deny.denies(subject, queue)
            if len(deny) >= _DENY_CACHE_MAX:
                for old in list(islice(deny, _DENY_CACHE_PRUNE)):
                    del deny[old]
            deny[key] = denied
        return denied

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


def delivery_denied(conn, subject: bytes, queue: bytes | None) -> bool:
    """Whether `conn`'s armed delivery filter drops a message on `subject` to its subscription
    in `queue`: for pickers of queue members, which then try another member."""
    perms = conn.perms
    return perms is not None and perms.deny is not None and perms.denies(subject, queue)
