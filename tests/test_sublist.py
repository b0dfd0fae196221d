"""zats.broker.sublist: subject matching, queue grouping, removal, the match cache, stats."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from zats.broker.sublist import CACHE_MAX, EMPTY_RESULT, Sublist


@dataclass(eq=True)  # eq=True makes it unhashable: the sublist must go by identity
class Sub:
    subject: bytes
    queue: bytes | None = None


def reference_matches(pattern: bytes, subject: bytes) -> bool:
    """Obviously-correct matcher: `*` is one token, `>` one or more trailing tokens, and a
    publish subject with an empty token matches nothing."""
    ptoks, stoks = pattern.split(b"."), subject.split(b".")
    if b"" in stoks:
        return False
    for i, ptok in enumerate(ptoks):
        if ptok == b">":
            return len(stoks) > i
        if i >= len(stoks) or (ptok != b"*" and ptok != stoks[i]):
            return False
    return len(ptoks) == len(stoks)


def ids(subs) -> set[int]:
    return {id(s) for s in subs}


def shape(result) -> tuple[set[int], set[frozenset[int]]]:
    """A result as comparable sets: plain sub ids, and one frozenset of ids per queue group."""
    return ids(result.plain), {frozenset(ids(group)) for group in result.queues}


def reference_shape(subs, subject: bytes):
    matched = [s for s in subs if reference_matches(s.subject, subject)]
    groups: dict[bytes, set[int]] = {}
    for s in matched:
        if s.queue:
            groups.setdefault(s.queue, set()).add(id(s))
    return ids(s for s in matched if not s.queue), {frozenset(g) for g in groups.values()}


def check(sl: Sublist, subs, subject: bytes) -> None:
    assert shape(sl.match(subject)) == reference_shape(subs, subject), subject


def test_reference_matcher_itself():
    assert reference_matches(b"a.*.c", b"a.b.c")
    assert not reference_matches(b"a.*", b"a.b.c")
    assert reference_matches(b"a.>", b"a.b.c")
    assert not reference_matches(b"a.>", b"a")
    assert not reference_matches(b">", b"a..b")


def test_literal():
    sl = Sublist()
    a, b = Sub(b"foo.bar"), Sub(b"foo.baz")
    sl.insert(a)
    sl.insert(b)
    assert sl.match(b"foo.bar").plain == (a,)
    assert sl.match(b"foo.baz").plain == (b,)
    assert sl.match(b"foo") is EMPTY_RESULT
    assert sl.match(b"foo.bar.baz") is EMPTY_RESULT
    assert sl.match(b"foo.ba") is EMPTY_RESULT


def test_star_matches_exactly_one_token():
    sl = Sublist()
    s = Sub(b"foo.*.baz")
    sl.insert(s)
    assert sl.match(b"foo.bar.baz").plain == (s,)
    assert sl.match(b"foo.x.baz").plain == (s,)
    assert sl.match(b"foo.baz") is EMPTY_RESULT
    assert sl.match(b"foo.a.b.baz") is EMPTY_RESULT
    t = Sub(b"*")
    sl.insert(t)
    assert sl.match(b"anything").plain == (t,)
    assert sl.match(b"two.tokens") is EMPTY_RESULT


def test_gt_matches_one_or_more_trailing_tokens():
    sl = Sublist()
    s = Sub(b"foo.>")
    sl.insert(s)
    assert sl.match(b"foo.bar").plain == (s,)
    assert sl.match(b"foo.bar.baz.qux").plain == (s,)
    assert sl.match(b"foo") is EMPTY_RESULT
    assert sl.match(b"bar.foo") is EMPTY_RESULT
    everything = Sub(b">")
    sl.insert(everything)
    assert ids(sl.match(b"x").plain) == {id(everything)}
    assert ids(sl.match(b"foo.x").plain) == {id(s), id(everything)}


def test_mixed_patterns_each_sub_once():
    sl = Sublist()
    patterns = (b"a.b.c", b"a.*.c", b"*.b.c", b"*.*.*", b"a.>", b">", b"*.b.>", b"a.b", b"a.*.c.d")
    subs = [Sub(p) for p in patterns]
    for s in subs:
        sl.insert(s)
    res = sl.match(b"a.b.c")
    assert len(res.plain) == 7
    assert ids(res.plain) == ids(subs[:7])
    for subject in (b"a.b", b"a.b.c.d", b"x.b.c", b"a.x.c", b"a", b"q.r.s.t"):
        check(sl, subs, subject)


def test_wildcard_tokens_in_publish_subject_are_plain_tokens():
    # nats-server does not validate publish subjects: b"foo.*" looks up a literal "*" child,
    # which no subscription has, so only wildcard subscriptions in that position match it.
    sl = Sublist()
    literal, star, gt = Sub(b"foo.bar"), Sub(b"foo.*"), Sub(b"foo.>")
    for s in (literal, star, gt):
        sl.insert(s)
    assert ids(sl.match(b"foo.*").plain) == {id(star), id(gt)}
    assert ids(sl.match(b"foo.>").plain) == {id(star), id(gt)}
    assert ids(sl.match(b"foo.>.x").plain) == {id(gt)}


def test_empty_tokens_match_nothing_and_are_not_cached():
    sl = Sublist()
    sl.insert(Sub(b">"))
    sl.insert(Sub(b"*.*"))
    sl.insert(Sub(b"foo.>"))
    for subject in (b"", b".", b"foo.", b".foo", b"foo..bar", b"foo.bar.", b".."):
        assert sl.match(subject) is EMPTY_RESULT, subject
    assert sl.stats()["num_cache"] == 0


def test_queue_grouping():
    sl = Sublist()
    q1a, q1b = Sub(b"foo.bar", b"q1"), Sub(b"foo.*", b"q1")
    q2 = Sub(b"foo.>", b"q2")
    plain = Sub(b"foo.bar")
    plain_same_conn = Sub(b"foo.bar")
    for s in (q1a, q1b, q2, plain, plain_same_conn):
        sl.insert(s)
    res = sl.match(b"foo.bar")
    assert ids(res.plain) == {id(plain), id(plain_same_conn)}
    assert isinstance(res.plain, tuple) and isinstance(res.queues, tuple)
    assert all(isinstance(g, tuple) for g in res.queues)
    # One inner tuple per queue name, even when members come from different subjects.
    assert {frozenset(ids(g)) for g in res.queues} == {
        frozenset({id(q1a), id(q1b)}),
        frozenset({id(q2)}),
    }
    res = sl.match(b"foo.baz")
    assert res.plain == ()
    assert {frozenset(ids(g)) for g in res.queues} == {frozenset({id(q1b)}), frozenset({id(q2)})}


def test_empty_queue_name_is_plain():
    sl = Sublist()
    s = Sub(b"foo", b"")
    sl.insert(s)
    assert sl.match(b"foo").plain == (s,)
    assert sl.remove(s)


def test_identity_not_equality():
    sl = Sublist()
    a, b = Sub(b"foo"), Sub(b"foo")
    assert a == b and a is not b
    sl.insert(a)
    sl.insert(b)
    assert sl.count == 2
    assert sl.remove(a)
    assert sl.match(b"foo").plain == (b,)
    assert not sl.remove(a)


def test_duplicate_insert_is_a_no_op():
    sl = Sublist()
    s = Sub(b"foo.*", b"q")
    sl.insert(s)
    sl.insert(s)
    assert sl.count == 1
    assert sl.match(b"foo.x").queues == ((s,),)


def test_remove_and_prune():
    sl = Sublist()
    subs = [Sub(b"a.b.c"), Sub(b"a.b"), Sub(b"a.*.c"), Sub(b"a.>"), Sub(b"a.b.c", b"q"), Sub(b">")]
    for s in subs:
        sl.insert(s)
    assert len(sl) == 6
    assert not sl.remove(Sub(b"a.b.c"))  # equal but not the same object
    assert not sl.remove(Sub(b"x.y"))
    assert not sl.remove(Sub(b"a.b.c", b"other"))
    assert not sl.remove(Sub(b"a.b.c.d"))
    random.Random(1).shuffle(subs)
    for i, s in enumerate(subs):
        assert sl.remove(s)
        assert not sl.remove(s)
        assert len(sl) == len(subs) - i - 1
        for subject in (b"a.b.c", b"a.b", b"a.x.c", b"z"):
            check(sl, subs[i + 1 :], subject)
    assert sl._root.is_empty()
    assert sl.match(b"a.b.c") is EMPTY_RESULT


def test_prune_keeps_shared_prefixes():
    sl = Sublist()
    deep, shallow = Sub(b"a.b.c.d"), Sub(b"a.b")
    sl.insert(deep)
    sl.insert(shallow)
    sl.remove(deep)
    assert sl.match(b"a.b").plain == (shallow,)
    assert b"c" not in sl._root.children[b"a"].children[b"b"].children
    sl.remove(shallow)
    assert sl._root.is_empty()


def test_cache_never_stale():
    sl = Sublist()
    first = Sub(b"foo.bar")
    sl.insert(first)
    assert sl.match(b"foo.bar").plain == (first,)
    assert sl.match(b"foo.bar").plain == (first,)  # cached
    assert sl.match(b"foo.baz") is EMPTY_RESULT  # cached empty

    literal = Sub(b"foo.baz")
    sl.insert(literal)
    assert sl.match(b"foo.baz").plain == (literal,)

    star = Sub(b"foo.*")
    sl.insert(star)
    assert ids(sl.match(b"foo.bar").plain) == {id(first), id(star)}
    assert ids(sl.match(b"foo.baz").plain) == {id(literal), id(star)}

    queued = Sub(b">", b"q")
    sl.insert(queued)
    assert sl.match(b"foo.bar").queues == ((queued,),)

    sl.remove(star)
    assert sl.match(b"foo.bar").plain == (first,)
    sl.remove(first)
    assert sl.match(b"foo.bar").plain == ()
    assert sl.match(b"foo.bar").queues == ((queued,),)
    sl.remove(queued)
    assert sl.match(b"foo.bar") is EMPTY_RESULT
    assert sl.match(b"foo.baz").plain == (literal,)


def test_literal_change_keeps_other_cache_entries():
    sl = Sublist()
    sl.insert(Sub(b"a"))
    sl.match(b"a")
    sl.match(b"b")
    sl.insert(Sub(b"c"))
    assert sl.stats()["num_cache"] == 2
    sl.insert(Sub(b"b"))
    assert sl.stats()["num_cache"] == 1
    sl.insert(Sub(b"*"))
    assert sl.stats()["num_cache"] == 0


def test_cache_bound():
    sl = Sublist()
    s = Sub(b"x.>")
    sl.insert(s)
    for i in range(5 * CACHE_MAX):
        assert sl.match(b"x.%d" % i).plain == (s,)
        assert sl.stats()["num_cache"] <= CACHE_MAX
    # The newest entries survive an eviction.
    assert b"x.%d" % (5 * CACHE_MAX - 1) in sl._cache


def test_cache_disabled():
    sl = Sublist(cache=False)
    s = Sub(b"foo.*")
    sl.insert(s)
    assert sl.match(b"foo.bar").plain == (s,)
    assert sl.match(b"foo.bar").plain == (s,)
    assert sl.stats()["num_cache"] == 0


def test_remove_many():
    sl = Sublist()
    subs = [Sub(b"a.%d" % i) for i in range(10)] + [Sub(b"a.*", b"q")]
    for s in subs:
        sl.insert(s)
    sl.match(b"a.1")
    assert sl.remove_many(subs[:5] + [Sub(b"a.1")]) == 5
    check(sl, subs[5:], b"a.1")
    check(sl, subs[5:], b"a.7")
    assert sl.remove_many(subs) == 6
    assert sl.count == 0 and sl._root.is_empty()


def test_subscriptions_and_stats():
    sl = Sublist()
    subs = [Sub(b"a"), Sub(b"a.b"), Sub(b"a.*", b"q"), Sub(b"a.*", b"q"), Sub(b">"), Sub(b"a.>")]
    for s in subs:
        sl.insert(s)
    assert ids(sl.subscriptions()) == ids(subs)
    assert sum(1 for _ in sl.subscriptions()) == len(subs)
    sl.match(b"a.b")  # miss: plain a.b, >, a.> and one queue group -> fanout 4
    sl.match(b"a.b")  # hit
    sl.match(b"zzz")  # miss: > -> fanout 1
    sl.remove(subs[0])
    st_ = sl.stats()
    assert set(st_) == {
        "num_subscriptions",
        "num_cache",
        "num_inserts",
        "num_removes",
        "num_matches",
        "cache_hit_rate",
        "max_fanout",
        "avg_fanout",
    }
    assert st_["num_subscriptions"] == 5
    assert st_["num_inserts"] == 6
    assert st_["num_removes"] == 1
    assert st_["num_matches"] == 3
    assert st_["cache_hit_rate"] == 1 / 3
    assert st_["num_cache"] == 2  # literal "a" removed: other entries stay
    assert st_["max_fanout"] == 4
    assert st_["avg_fanout"] == 2.5
    assert Sublist().stats()["cache_hit_rate"] == 0.0


def test_ten_thousand_subscriptions():
    rng = random.Random(7)
    sl = Sublist()
    words = [b"w%d" % i for i in range(20)]
    subs = []
    for _ in range(10_000):
        toks = [rng.choice(words) for _ in range(rng.randint(1, 4))]
        roll = rng.random()
        if roll < 0.1:
            toks[rng.randrange(len(toks))] = b"*"
        elif roll < 0.15:
            toks[-1] = b">"
        queue = rng.choice((None, None, None, b"q1", b"q2"))
        subs.append(Sub(b".".join(toks), queue))
    for s in subs:
        sl.insert(s)
    assert sl.count == 10_000
    subjects = [b".".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(200)]
    for subject in subjects:
        check(sl, subs, subject)
        check(sl, subs, subject)  # cached
    rng.shuffle(subs)
    for s in subs[:5000]:
        assert sl.remove(s)
    for subject in subjects[:50]:
        check(sl, subs[5000:], subject)
    for s in subs[5000:]:
        assert sl.remove(s)
    assert sl.count == 0 and sl._root.is_empty()


# -- property test against the reference matcher -------------------------------------------

_token = st.sampled_from([b"a", b"b", b"c"])
_pattern = st.builds(
    lambda toks, tail: b".".join(toks + tail),
    st.lists(st.one_of(_token, st.just(b"*")), min_size=1, max_size=4),
    st.sampled_from([[], [], [b">"]]),
) | st.just(b">")
_publish = st.lists(
    st.sampled_from([b"a", b"b", b"c", b"", b"*", b">"]), min_size=1, max_size=5
).map(b".".join)
_queue = st.sampled_from([None, b"q1", b"q2"])

_ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), _pattern, _queue),
        st.tuples(st.just("remove"), st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("match"), _publish),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(_ops, st.booleans())
def test_matches_reference_under_random_changes(ops, cache):
    sl = Sublist(cache=cache)
    live: list[Sub] = []
    for op in ops:
        if op[0] == "insert":
            sub = Sub(op[1], op[2])
            sl.insert(sub)
            live.append(sub)
        elif op[0] == "remove":
            if live:
                sub = live.pop(op[1] % len(live))
                assert sl.remove(sub)
        else:
            check(sl, live, op[1])
            check(sl, live, op[1])
        assert sl.count == len(live)
    assert ids(sl.subscriptions()) == ids(live)
    for sub in live:
        assert sl.remove(sub)
    assert sl._root.is_empty()


def test_match_order_is_nats_servers():
    """At each level `>` first, then what lies under `*`, then the literal token; at the last
    token the literal node before the `*` node."""
    sl = Sublist()
    subs = {s: Sub(s) for s in (b"a.*", b"a.b", b"a.>", b"*.*", b"*.b", b">")}
    for sub in subs.values():
        sl.insert(sub)
    order = [sub.subject for sub in sl.match(b"a.b").plain]
    assert order == [b">", b"*.b", b"*.*", b"a.>", b"a.b", b"a.*"]


def test_subjects_of_thousands_of_tokens():
    """Matching, insertion and removal do not recurse by token depth: a subscription of 5,000
    `*` tokens and a subject of 5,000 tokens match (they raised RecursionError), in order."""
    n = 5000
    star = Sub(b".".join([b"*"] * n))
    literal = Sub(b".".join([b"x"] * n))
    tail = Sub(b".".join([b"x"] * (n - 1)) + b".>")
    queued = Sub(star.subject, b"q")
    sl = Sublist()
    for sub in (star, literal, tail, queued):
        sl.insert(sub)
    result = sl.match(literal.subject)
    assert result.plain == (star, tail, literal)
    assert result.queues == ((queued,),)
    assert sl.match(b".".join([b"x"] * (n - 10))) is EMPTY_RESULT
    for sub in (star, literal, tail, queued):
        assert sl.remove(sub)
    assert sl.count == 0 and sl.match(literal.subject) is EMPTY_RESULT


def test_subjects_collide_and_subset_match():
    """The subject rules the permission checks use: whether two subjects can match one
    literal subject, and whether one subject's matches are all matched by another."""
    from zats.protocol.subjects import is_subset_match, subjects_collide

    collide = [(b"secret.>", b">"), (b"secret.>", b"*.x"), (b"payroll", b"*"), (b"a.b", b"a.b"),
               (b"a.*", b"*.b"), (b"a.>", b"*.*.c"), (b"foo", b">"), (b"a.*.c", b"a.b.*")]
    apart = [(b"secret.>", b"foo.*"), (b"payroll", b"*.*"), (b"a.b", b"a.c"), (b"a.*", b"*.*.*"),
             (b"a.*", b"b.>"), (b"a.b.c", b"a.*"), (b"secret.>", b"secret")]
    for a, b in collide:
        assert subjects_collide(a, b) and subjects_collide(b, a), (a, b)
    for a, b in apart:
        assert not subjects_collide(a, b) and not subjects_collide(b, a), (a, b)
    assert is_subset_match(b"foo.*", b">") and is_subset_match(b"foo.*", b"*.*")
    assert is_subset_match(b"foo.*", b"foo.*") and is_subset_match(b"q.a", b"q.*")
    assert not is_subset_match(b"foo.*", b"foo.bar") and not is_subset_match(b">", b"foo.>")
    assert not is_subset_match(b"q", b"q.*") and not is_subset_match(b"q.a.b", b"q.*")
    deep = b".".join([b"*"] * 5000)
    assert subjects_collide(deep, b">") and is_subset_match(deep, deep)


@dataclass(eq=True)
class WeightedSub:
    subject: bytes
    queue: bytes | None = None
    weight: int = 1


def test_account_listeners_hear_every_interest_change():
    from zats.broker.account import Account

    account = Account("A")
    heard: list = []
    account.listen(lambda acc, sub, delta: heard.append((acc.name, sub.subject, delta)))
    account.listen(lambda acc, sub, delta: heard.append(("second", sub.subject, delta)))
    sublist = account.sublist
    plain, member, again = Sub(b"a"), WeightedSub(b"q", b"g", 3), Sub(b"c")
    sublist.insert(plain)
    sublist.insert(plain)  # already present: no change
    sublist.insert(member)
    sublist.reweigh(member, 5)
    sublist.reweigh(member, 5)  # the same weight: no change
    sublist.reweigh(member, 0)  # counted as at least 1, as nats-server counts a member
    sublist.insert(again)
    assert sublist.remove(plain) and not sublist.remove(plain)
    assert sublist.remove_many([member, again, Sub(b"never")]) == 2
    assert [h for h in heard if h[0] == "A"] == [
        ("A", b"a", 1), ("A", b"q", 3), ("A", b"q", 2), ("A", b"q", -4), ("A", b"c", 1),
        ("A", b"a", -1), ("A", b"q", -1), ("A", b"c", -1)]
    assert len(heard) == 16  # the second listener heard the same, right after the first
    assert len(sublist) == 0 and sublist.match(b"q").queues == ()
