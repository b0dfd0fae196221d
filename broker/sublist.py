"""The broker's subject index: which subscriptions a published subject reaches.

`Sublist` owns the mapping from subscription subjects (with the `*` and `>` wildcards) to
subscriptions, the match-result cache in front of it, and the /subsz statistics. Matching follows
nats-server's sublist: a publish subject is not validated, and one with an empty token (b"",
b".a", b"a..b", b"a.") matches nothing; a `*` or `>` token in a publish subject is an ordinary
token there, reached only by subscriptions with a wildcard in that position.

Subject validation lives in `zats.protocol.subjects`; `insert` assumes a valid subject.
Subscriptions are any objects with `.subject` (bytes) and `.queue` (bytes, or None / b"" for a
plain subscription), compared by identity. Not thread-safe: use from one event loop.

A queue member may carry a `weight` (a route or leaf member stands for that many subscribers
behind it) and be a `last_resort` (a leaf's member, which nats-server picks only when the group
has no other): such a group is a WeightedGroup, whose `start()` picks by weight among the
members that are not a last resort when there are any, and a member of weight 0 or less is left
out of match results (never picked).

Interest listeners: `on_change`, when set (Account sets it while it has listeners), is called as
on_change(sub, delta) after every change of the interest the index holds: +weight for an
insert, -weight for a removal (remove and remove_many alike), the difference for `reweigh`
(see interest_weight). Without a listener a change costs one attribute test more.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from itertools import islice
from random import random
from typing import Any

__all__ = ["Sublist", "SublistResult", "WeightedGroup", "EMPTY_RESULT", "CACHE_MAX", "CACHE_SWEEP",
           "interest_weight", "queue_group"]

# Cache bound, as nats-server's slCacheMax / slCacheSweep: past CACHE_MAX entries the cache
# drops its oldest entries down to CACHE_SWEEP.
CACHE_MAX = 1024
CACHE_SWEEP = 512

_SEP = b"."
_DOT = 0x2E  # (a byte of a subject, as an int)
_EMPTY_TOKEN = b".."
COMPILED = not __file__.endswith(".py")
_JS_ACK = b"$JS.ACK."
_PWC = b"*"
_FWC = b">"


class SublistResult:
    """The subscriptions a subject reaches: `plain` every one gets the message; `queues` holds
    one tuple of members per distinct queue group, of which one is picked per message.

    Results are shared (cached, and `EMPTY_RESULT` for every empty match): never mutate them.
    """

    __slots__ = ("plain", "queues")

    def __init__(self, plain: tuple, queues: tuple) -> None:
        self.plain = plain
        self.queues = queues

    def __repr__(self) -> str:
        return f"SublistResult(plain={self.plain!r}, queues={self.queues!r})"


EMPTY_RESULT = SublistResult((), ())


class WeightedGroup(tuple):
    """A queue group's members when some weigh other than 1; `cum` holds the running total of
    their weights. Made once per cached match, never per message."""

    def start(self) -> int:
        """The index of a member picked with probability proportional to its weight."""
        cum = self.cum
        return bisect_right(cum, random() * cum[-1])


def interest_weight(sub: Any) -> int:
    """How much a subscription adds to the interest counts told to peers: a queue member its
    weight (at least 1, as nats-server counts a new member), anything else 1."""
    if sub.queue:
        return max(getattr(sub, "weight", 1), 1)
    return 1


def queue_group(members: Iterable[Any]) -> tuple | None:
    """A queue group of a match result: a plain tuple when every member weighs 1 and none is a
    last resort (members without those attributes), else a WeightedGroup (its first members the
    ones to pick from, by weight; then the last resorts); None when no member weighs more than 0.
    """
    group = tuple(members)
    for sub in group:
        if getattr(sub, "weight", 1) != 1 or getattr(sub, "last_resort", False):
            break
    else:
        return group
    first = [s for s in group if getattr(s, "weight", 1) > 0 and not getattr(s, "last_resort", False)]
    last = [s for s in group if getattr(s, "weight", 1) > 0 and getattr(s, "last_resort", False)]
    if not first and not last:
        return None
    cum = []
    total = 0
    for sub in first or last:
        total += getattr(sub, "weight", 1)
        cum.append(total)
    weighted = WeightedGroup(first + last)
    weighted.cum = cum
    return weighted


class _Node:
    """A trie node: the subscriptions whose subject ends here, and the next level's children.

    `psubs` maps id(sub) -> sub and `qsubs` queue name -> {id(sub): sub}; keying by id keeps
    identity semantics even for subscription classes that define __eq__ or are unhashable.
    """

    __slots__ = ("children", "pwc", "fwc", "psubs", "qsubs", "result")

    def __init__(self) -> None:
        self.children: dict[bytes, _Node] = {}
        self.pwc: _Node | None = None
        self.fwc: _Node | None = None
        self.psubs: dict[int, Any] | None = None
        self.qsubs: dict[bytes, dict[int, Any]] | None = None
        self.result: SublistResult | None = None  # the match of this node alone, once made

    def is_empty(self) -> bool:
        return (
            not self.psubs
            and not self.qsubs
            and not self.children
            and self.pwc is None
            and self.fwc is None
        )


class Sublist:
    """A token trie of subscriptions with a bounded match cache.

    The cache maps a publish subject to its `SublistResult`. A change to a literal subscription
    can only affect the cache entry for that very subject, so only that entry is dropped; a
    change to a wildcard subscription clears the whole cache.
    """

    __slots__ = (
        "_root",
        "_cache",
        "_cache_enabled",
        "_count",
        "_num_inserts",
        "_num_removes",
        "_num_matches",
        "_num_misses",
        "on_change",
    )

    def __init__(self, cache: bool = True) -> None:
        self._root = _Node()
        self._cache: dict[bytes, SublistResult] = {}
        self._cache_enabled = cache
        self._count = 0
        self._num_inserts = 0
        self._num_removes = 0
        self._num_matches = 0
        self._num_misses = 0
        self.on_change = None  # see the module docstring: interest listeners

    # -- matching -------------------------------------------------------------------------

    def match(self, subject: bytes) -> SublistResult:
        """All subscriptions that `subject` (a literal publish subject) reaches."""
        self._num_matches += 1
        # .get(): a hit costs about 9 ns more than a bare subscript, a miss 140 ns less than its
        # KeyError; and misses are common: every JetStream ack and every reply to an inbox.
        result = self._cache.get(subject)
        if result is not None:
            return result
        return self._match_miss(subject)

    def match_once(self, subject: bytes) -> SublistResult:
        """match() for a subject unlikely to be published to again (a request's reply inbox): the
        cached result when there is one, else the walk, not cached, so that one-off subjects do
        not push out the ones that repeat."""
        self._num_matches += 1
        result = self._cache.get(subject)
        if result is not None:
            return result
        return self._match_miss(subject, False)

    def _match_miss(self, subject: bytes, cache: bool = True) -> SublistResult:
        self._num_misses += 1
        if _has_empty_token(subject):
            return EMPTY_RESULT  # not cached, as in nats-server

        matched: list[_Node] = []
        _collect_nodes(self._root, subject, matched)
        if not matched:
            result = EMPTY_RESULT
        else:
            result = matched[0].result if len(matched) == 1 else None
            if result is None:
                if len(matched) == 1:
                    node = matched[0]
                    plain = tuple(node.psubs.values()) if node.psubs else ()
                    queues = (
                        tuple([g for m in node.qsubs.values() if (g := queue_group(m.values()))])
                        if node.qsubs else ()
                    )
                else:
                    plain, queues = _merge_nodes(matched)
                if plain or queues:
                    result = SublistResult(plain, queues)
                else:
                    result = EMPTY_RESULT  # nodes kept only as a path to deeper ones
                if len(matched) == 1:
                    # Every subject reaching this node alone (a wildcard's: inboxes, acks)
                    # shares it, cached or not, until the node's subscriptions change.
                    matched[0].result = result

        # A JetStream ack subject names one delivery (sequences, a timestamp): never again.
        if cache and self._cache_enabled and not subject.startswith(_JS_ACK):
            entries = self._cache
            entries[subject] = result
            if len(entries) > CACHE_MAX:
                # Keep the newest entries (dicts iterate in insertion order).
                self._cache = dict(islice(entries.items(), len(entries) - CACHE_SWEEP, None))
        return result

    # -- changes --------------------------------------------------------------------------

    def insert(self, sub: Any) -> None:
        """Add `sub`; inserting a subscription that is already present does nothing."""
        if self._insert(sub) and self.on_change is not None:
            self.on_change(sub, interest_weight(sub))

    def _insert(self, sub: Any) -> bool:
        subject = sub.subject
        tokens = subject.split(_SEP)
        node = self._root
        for token in tokens:
            if token == _PWC:
                child = node.pwc
                if child is None:
                    child = node.pwc = _Node()
            elif token == _FWC:
                child = node.fwc
                if child is None:
                    child = node.fwc = _Node()
            else:
                child = node.children.get(token)
                if child is None:
                    child = node.children[token] = _Node()
            node = child

        key = id(sub)
        queue = sub.queue
        if queue:
            if node.qsubs is None:
                node.qsubs = {}
            members = node.qsubs.get(queue)
            if members is None:
                members = node.qsubs[queue] = {}
        else:
            if node.psubs is None:
                node.psubs = {}
            members = node.psubs
        if key in members:
            return False
        members[key] = sub
        node.result = None

        self._count += 1
        self._num_inserts += 1
        self._changed(subject, tokens)
        return True

    def remove(self, sub: Any) -> bool:
        """Remove `sub`, pruning nodes left empty; False when it was not present."""
        tokens = self._remove(sub)
        if tokens is None:
            return False
        self._changed(sub.subject, tokens)
        if self.on_change is not None:
            self.on_change(sub, -interest_weight(sub))
        return True

    def remove_many(self, subs: Iterable[Any]) -> int:
        """Remove several subscriptions (a closing connection's), invalidating the cache once;
        returns how many were present."""
        removed = 0
        on_change = self.on_change
        for sub in subs:
            if self._remove(sub) is not None:
                removed += 1
                if on_change is not None:
                    on_change(sub, -interest_weight(sub))
        if removed:
            self._cache.clear()
        return removed

    def reweigh(self, sub: Any, weight: int) -> None:
        """Gives a present queue member (a peer's, see subscription.PeerSub) a new weight. Cached
        matches, which carry the weights, are dropped; listeners hear the difference once."""
        before = interest_weight(sub)
        tokens = self._remove(sub)
        if tokens is not None:
            self._changed(sub.subject, tokens)
        sub.weight = weight
        self._insert(sub)
        delta = interest_weight(sub) - before
        if delta and self.on_change is not None:
            self.on_change(sub, delta)

    def _remove(self, sub: Any) -> list[bytes] | None:
        """Unlink `sub` and prune; its subject's tokens, or None when it was not present."""
        tokens = sub.subject.split(_SEP)
        path: list[tuple[_Node, bytes, _Node]] = []
        node = self._root
        for token in tokens:
            if token == _PWC:
                child = node.pwc
            elif token == _FWC:
                child = node.fwc
            else:
                child = node.children.get(token)
            if child is None:
                return None
            path.append((node, token, child))
            node = child

        key = id(sub)
        queue = sub.queue
        if queue:
            groups = node.qsubs
            members = groups.get(queue) if groups else None
            if members is None or key not in members:
                return None
            del members[key]
            if not members:
                del groups[queue]
        else:
            members = node.psubs
            if not members or key not in members:
                return None
            del members[key]
        node.result = None

        for parent, token, child in reversed(path):
            if not child.is_empty():
                break
            if token == _PWC:
                parent.pwc = None
            elif token == _FWC:
                parent.fwc = None
            else:
                del parent.children[token]

        self._count -= 1
        self._num_removes += 1
        return tokens

    def _changed(self, subject: bytes, tokens: list[bytes]) -> None:
        if _PWC in tokens or _FWC in tokens:
            self._cache.clear()
        else:
            # A literal subscription is reached by exactly one publish subject: itself.
            self._cache.pop(subject, None)

    # -- inspection -----------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Number of subscriptions."""
        return self._count

    def __len__(self) -> int:
        return self._count

    def subscriptions(self) -> Iterator[Any]:
        """Every subscription, in no particular order."""
        stack = [self._root]
        while stack:
            node = stack.pop()
            if node.psubs:
                yield from node.psubs.values()
            if node.qsubs:
                for members in node.qsubs.values():
                    yield from members.values()
            stack.extend(node.children.values())
            if node.pwc is not None:
                stack.append(node.pwc)
            if node.fwc is not None:
                stack.append(node.fwc)

    def stats(self) -> dict[str, int | float]:
        """Statistics under nats-server's /subsz field names. Fanout (plain subscriptions plus
        queue groups per result) is taken over the cached results, as nats-server does."""
        matches = self._num_matches
        hits = matches - self._num_misses
        cache = self._cache
        fanouts = [len(r.plain) + len(r.queues) for r in cache.values()]
        total = sum(fanouts)
        return {
            "num_subscriptions": self._count,
            "num_cache": len(cache),
            "num_inserts": self._num_inserts,
            "num_removes": self._num_removes,
            "num_matches": matches,
            "cache_hit_rate": hits / matches if matches else 0.0,
            "max_fanout": max(fanouts, default=0),
            "avg_fanout": total / len(fanouts) if total else 0.0,
        }


def _collect_nodes(root: _Node, subject: bytes, matched: list[_Node]) -> None:
    """Append to `matched` every node whose subscriptions match all tokens of `subject` (no
    empty token), in nats-server's order: at each level `>` first, then what lies under `*`,
    then the literal token; at the last token the literal node before the `*` node. (A
    connection with several matching subscriptions gets a message for each in that order.)

    Iterative, so that no subject is too deep to match (a subject may have thousands of
    tokens): where a level has both a `*` and a literal branch, the walk goes down the `*` one
    and leaves the literal one on `deferred`, taken up last-in first-out, which visits the
    branches in the order a recursion would. Tokens are cut as the walk reaches them: a walk
    that ends early (a JetStream ack's, at its consumer's `>`) makes no bytes of the rest.
    """
    node = root
    start = 0
    size = len(subject)
    deferred: list | None = None
    while True:
        while True:
            end = _token_end(subject, start, size)
            token = _token(subject, start, end)
            start = end + 1
            if node.fwc is not None:
                matched.append(node.fwc)  # `>` takes this token and all the rest
            pwc = node.pwc
            child = node.children.get(token)
            if end == size:
                if child is not None:
                    matched.append(child)
                if pwc is not None:
                    matched.append(pwc)
                break
            if pwc is not None:
                if child is not None:
                    if deferred is None:
                        deferred = [(child, start)]
                    else:
                        deferred.append((child, start))
                node = pwc
            elif child is not None:
                node = child
            else:
                break
        if not deferred:
            return
        node, start = deferred.pop()


# The tokens of a publish subject, for the walk. Compiled, they are C (sublist.pxd): memchr, and
# a bytes made from the span, where Python's find, slice and `in` are generic calls.

def _token_end(subject: bytes, start: int, size: int) -> int:
    """Where the token of `subject` that starts at `start` ends: at the next `.`, or `size`."""
    if COMPILED:
        return _dot_or_end(subject, start, size)  # noqa: F821 (memchr)
    end = subject.find(_SEP, start)
    return size if end < 0 else end


def _token(subject: bytes, start: int, end: int) -> bytes:
    if COMPILED:
        return _span(subject, start, end)  # noqa: F821 (PyBytes_FromStringAndSize)
    return subject[start:end]


def _has_empty_token(subject: bytes) -> bool:
    """Whether `subject` is empty, starts or ends with `.`, or has `..`."""
    if COMPILED:
        return _empty_token(subject)  # noqa: F821
    return not subject or subject[0] == _DOT or subject[-1] == _DOT or _EMPTY_TOKEN in subject


def _merge_nodes(nodes: list[_Node]) -> tuple[tuple, tuple]:
    """Plain subscriptions and queue groups of several nodes; groups merge by queue name."""
    plain: list = []
    queues: dict[bytes, list] = {}
    for node in nodes:
        if node.psubs:
            plain.extend(node.psubs.values())
        if node.qsubs:
            for name, members in node.qsubs.items():
                group = queues.get(name)
                if group is None:
                    queues[name] = list(members.values())
                else:
                    group.extend(members.values())
    return tuple(plain), tuple([g for m in queues.values() if (g := queue_group(m))])
