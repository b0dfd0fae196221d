"""The fan-out: one published message to the subscriptions its subject matches, whatever its
origin (a client, an internal client, a route or a leaf connection), as nats-server's
processMsgResults does it.

- Local subscribers (kind CLIENT_SUB) get a MSG/HMSG frame written straight into their outbound
  buffer, which is the one copy of the payload; they are marked touched so that the broker
  flushes them at the end of the read.
- Every queue group gets the message once: `_pick` is the one picker, by weight across local
  members, routes (a route's member weighs what the peer said) and leaves (a last resort).
- Peer interest (kinds ROUTE_SUB, LEAF_SUB, HUB_SUB) is forwarded once per connection (`_forward`), naming
  the queue groups picked on it: RMSG/HMSG to a route, LMSG/HMSG to a leaf.
- Internal subscriptions (INTERNAL_SUB, JetStream's streams and API among them) leave the
  per-receiver loop with the peers' and get the message itself, queued on their internal
  client (`_hand`): no frame to write and parse back.
- A message from a route, or from our hub, goes one hop: only to ONE_HOP kinds (`_one_hop`); a
  peer's message reaches only the queue groups it names; a leaf connection never gets its own
  message back (it has no echo).

`deliver` is the one fan-out of a message; `deliver_from_peer` narrows the match for a peer's
message and calls it. `deliver_run` and `deliver_sizes` are the same fan-out for a parsed run of
client messages sharing a subject (the speed of repeated traffic comes from them): they share
the picker and the forwarding with it, make their lines with `_pieces` and `_sub_line`, count
with `_wrote` and `_counted`, and hand to it whatever they are not made for. `deliver` itself, the
per-message path, does what those helpers do inline (a call per receiver costs a few per cent
there), with the same rules: the pieces a run left on the origin are reused, a receiver counts
each message and its payload bytes, the server each delivery and each peer connection sent to.

A receiver whose permissions armed a delivery filter (see permissions.ConnectionPermissions)
is asked before each delivery; a queue group then tries its next member. Receivers without
permissions cost one attribute test for it."""

from __future__ import annotations

import os
from random import random as _random

from .permissions import delivery_denied
from .sublist import SublistResult, queue_group
from .subscription import HUB_SUB, INTERNAL_SUB, ONE_HOP, ROUTE_SUB

_CRLF = b"\r\n"

# This module runs compiled (see zats.compiled): _append_frame then takes its C-level branch.
COMPILED = not __file__.endswith(".py")
# Compiled, this and COMPILED are C integers (delivery.pxd): deliver() tests them per message.
_INTERNAL_SUB = INTERNAL_SUB

if COMPILED:
    SEED_PICKER(int.from_bytes(os.urandom(8), "little") | 1)  # noqa: F821 (delivery.pxd)

# b" <size>\r\n", the end of a MSG line without reply, by payload size (bounded).
_SIZE_TAILS: dict[int, bytes] = {}
_SIZE_TAILS_MAX = 4096

# Match result -> what a one-hop message may reach of it (see _one_hop), bounded.
_VIEWS: dict = {}
_VIEWS_MAX = 1024


def _size_tail(size: int) -> bytes:
    tail = b" %d\r\n" % size
    if len(_SIZE_TAILS) >= _SIZE_TAILS_MAX:
        _SIZE_TAILS.clear()
    _SIZE_TAILS[size] = tail
    return tail


# -- the MSG line --------------------------------------------------------------------------------

def _pieces(origin, subject: bytes, reply: bytes | None, size: int) -> tuple[bytes, bytes]:
    """The MSG line around the sid, `MSG <subject> ` and ` [<reply> ]<size>\\r\\n`, kept on the
    origin: a burst repeating one PUB line (the parser then passes the same subject and reply
    objects) reuses them, and a publisher keeping its subject while sizes vary keeps the head."""
    if subject is origin.msg_subject and reply is origin.msg_reply and size == origin.msg_size:
        return origin.msg_head, origin.msg_tail
    head = origin.msg_head if subject == origin.msg_subject else b"MSG " + subject + b" "
    if reply:
        tail = b" " + reply + b" %d\r\n" % size
    else:
        tail = _SIZE_TAILS.get(size) or _size_tail(size)
    origin.msg_subject, origin.msg_reply, origin.msg_size = subject, reply, size
    origin.msg_head, origin.msg_tail = head, tail
    return head, tail


def _sub_line(sub, head: bytes, tail: bytes) -> bytes:
    """The whole MSG line for one subscription in a run, kept on it while the head and tail
    objects stay the same (one PUB line repeated): one append per message instead of three. The
    subscription holds both, so identity stands for equal content."""
    if sub.line_tail is tail and sub.line_head is head:
        return sub.line
    line = sub.line = head + sub.sid + tail
    sub.line_head = head
    sub.line_tail = tail
    return line


def _join3(a: bytes, b: bytes, c: bytes) -> bytes:
    """a + b + c. Compiled, in C with one allocation (delivery.pxd), where two concatenations
    make two bytes objects."""
    if COMPILED:
        if a is None or b is None or c is None:  # the C macros below do not check
            raise TypeError("_join3 takes bytes")
        na = PyBytes_GET_SIZE(a)  # noqa: F821 (C-API names, from delivery.pxd)
        nb = PyBytes_GET_SIZE(b)  # noqa: F821
        nc = PyBytes_GET_SIZE(c)  # noqa: F821
        joined = PyBytes_FromStringAndSize(NO_BYTES, na + nb + nc)  # noqa: F821
        dst = PyBytes_AS_STRING(joined)  # noqa: F821
        memcpy(dst, PyBytes_AS_STRING(a), na)  # noqa: F821
        memcpy(dst + na, PyBytes_AS_STRING(b), nb)  # noqa: F821
        memcpy(dst + na + nb, PyBytes_AS_STRING(c), nc)  # noqa: F821
        return joined
    return a + b + c


def _append_frame(out: bytearray, head: bytes, sid: bytes, tail: bytes, body) -> None:
    """Appends one frame to an outbound buffer: `head`, `sid`, `tail`, `body` (bytes, or any
    buffer of bytes) and CRLF.

    Compiled, this is C (delivery.pxd types its locals and supplies the C-API names): the buffer
    grows once per frame (`_grow`), where five appends would each resize it. Uncompiled, the
    appends are the same bytes."""
    if COMPILED:
        if head is None or sid is None or tail is None:  # the C macros below do not check
            raise TypeError("_append_frame takes bytes")
        body = _flat(body)
        nhead = PyBytes_GET_SIZE(head)  # noqa: F821 (C-API names, from delivery.pxd)
        nsid = PyBytes_GET_SIZE(sid)  # noqa: F821
        ntail = PyBytes_GET_SIZE(tail)  # noqa: F821
        nbody = FLAT_LEN(body)  # noqa: F821
        dst = _grow(out, nhead + nsid + ntail + nbody + 2)
        memcpy(dst, PyBytes_AS_STRING(head), nhead)  # noqa: F821
        dst += nhead
        memcpy(dst, PyBytes_AS_STRING(sid), nsid)  # noqa: F821
        dst += nsid
        memcpy(dst, PyBytes_AS_STRING(tail), ntail)  # noqa: F821
        dst += ntail
        memcpy(dst, FLAT_PTR(body), nbody)  # noqa: F821
        dst[nbody] = 13
        dst[nbody + 1] = 10
    else:
        out += head
        out += sid
        out += tail
        out += body
        out += _CRLF


def _append_msg(out: bytearray, subject: bytes, sid: bytes, reply: bytes | None, body) -> None:
    """Compiled only (delivery.pxd makes it C): appends a whole MSG frame, `MSG <subject> <sid>
    [<reply> ]<size>\r\n<body>\r\n`, its line written in place, the size's digits too: no
    pieces made or looked up per message. Uncompiled, `deliver` appends pieces it made once per
    message (_append_frame)."""
    if subject is None or sid is None:  # the C macros below do not check
        raise TypeError("_append_msg takes bytes")
    body = _flat(body)
    nsubject = PyBytes_GET_SIZE(subject)  # noqa: F821 (C-API names, from delivery.pxd)
    nsid = PyBytes_GET_SIZE(sid)  # noqa: F821
    nreply = 0 if reply is None else PyBytes_GET_SIZE(reply) + 1  # noqa: F821 (and its space)
    nbody = FLAT_LEN(body)  # noqa: F821
    ndigits = 1
    rest = nbody
    while rest >= 10:
        rest //= 10
        ndigits += 1
    dst = _grow(out, 4 + nsubject + 1 + nsid + 1 + nreply + ndigits + 2 + nbody + 2)
    memcpy(dst, b"MSG ", 4)  # noqa: F821
    dst += 4
    memcpy(dst, PyBytes_AS_STRING(subject), nsubject)  # noqa: F821
    dst += nsubject
    dst[0] = 32
    memcpy(dst + 1, PyBytes_AS_STRING(sid), nsid)  # noqa: F821
    dst += 1 + nsid
    dst[0] = 32
    dst += 1
    if nreply:
        memcpy(dst, PyBytes_AS_STRING(reply), nreply - 1)  # noqa: F821
        dst[nreply - 1] = 32
        dst += nreply
    rest = nbody
    i = ndigits
    while i:
        i -= 1
        dst[i] = 48 + rest % 10
        rest //= 10
    dst += ndigits
    dst[0] = 13
    dst[1] = 10
    memcpy(dst + 2, FLAT_PTR(body), nbody)  # noqa: F821
    dst[2 + nbody] = 13
    dst[3 + nbody] = 10


# Outbound buffers written and free again, kept for the next ones to fill (recycle, _grow):
# at most _SPARE_MAX of them, of at most _SPARE_LARGEST bytes each.
_SPARE: list = []
_SPARE_MAX = 16
_SPARE_LARGEST = 1 << 20


def recycle(out: bytearray) -> None:
    """Compiled only (a no-op otherwise): keeps the memory of an outbound buffer its transport
    has written and let go of, for `_grow` to give to the next buffer that starts filling.
    Otherwise every flush starts a new buffer, which grows by reallocation, frame by frame, up
    to what a read or a held stream brings (tens of KiB): more instructions per message than
    the frame's own copy. Kept only while nothing else references or views it (the reference
    count of the caller's one variable, no buffer exports)."""
    if COMPILED and Py_REFCNT(out) == 1 and BYTEARRAY_UNVIEWED(out) and \
            len(_SPARE) < _SPARE_MAX and BYTEARRAY_ALLOC(out) <= _SPARE_LARGEST:  # noqa: F821
        BYTEARRAY_EMPTY(out)  # noqa: F821 (size 0, its memory kept)
        _SPARE.append(out)


def _flat(body):
    """Compiled only: `body` as bytes or a C-contiguous memoryview of bytes, whose memory the C
    writers copy from (FLAT_PTR, FLAT_LEN in delivery.pxd). Any other buffer (a bytearray from
    an internal publisher: rare) is copied to bytes."""
    if type(body) is bytes:
        return body
    if type(body) is memoryview and PyMemoryView_GET_BUFFER(body).itemsize == 1 and \
            PyBuffer_IsContiguous(PyMemoryView_GET_BUFFER(body), b"C"):  # noqa: F821
        return body
    return bytes(body)


def _grow(out: bytearray, extra: int):
    """Compiled only: lengthens `out` by `extra` bytes and returns where they start (a C
    pointer). A buffer that starts filling takes over a recycled one's memory; when the memory
    is short it grows by half its size: a new buffer (one is started after every flush) would
    otherwise be copied over and over as it grows an eighth at a time. The length is then set
    within the memory (PyByteArray_Resize would give back memory beyond twice the length)."""
    start = PyByteArray_GET_SIZE(out)  # noqa: F821
    end = start + extra
    if not BYTEARRAY_ROOM(out, end):  # noqa: F821
        if start == 0 and _SPARE and BYTEARRAY_UNVIEWED(out):  # noqa: F821 (a buffer starting)
            spare = _SPARE.pop()
            if BYTEARRAY_ROOM(spare, end):  # noqa: F821
                BYTEARRAY_SWAP(out, spare)  # noqa: F821 (its memory for out's, both empty)
        if not BYTEARRAY_ROOM(out, end):  # noqa: F821
            PyByteArray_Resize(out, end + (end >> 1))  # noqa: F821
    BYTEARRAY_SET_SIZE(out, end)  # noqa: F821
    return PyByteArray_AS_STRING(out) + start  # noqa: F821


# -- counters ------------------------------------------------------------------------------------

def _wrote(conn, msgs: int, nbytes: int, touched: list) -> None:
    """A receiver's counters after `msgs` messages of `nbytes` payload bytes were written to it;
    touched, it is flushed at the end of the read."""
    conn.out_msgs += msgs
    conn.out_bytes += nbytes
    if not conn.touched:
        conn.touched = True
        touched.append(conn)


def _counted(broker, msgs: int, nbytes: int) -> None:
    """The server's counters, once per fan-out: nats-server counts a message to each local
    subscriber and one to each route or leaf connection it is forwarded to."""
    if msgs:
        broker.out_msgs += msgs
        broker.out_bytes += nbytes


def _count(sub) -> bool:
    """Counts a delivery to `sub`; False when it is past its UNSUB max (nothing delivered).
    The subscription that reaches its max is removed."""
    if sub.delivered >= sub.max:
        return False
    sub.delivered += 1
    if sub.delivered >= sub.max:
        sub.conn.remove_sub(sub)
    return True


def _note_request(perms, reply: bytes) -> None:
    """A receiver with allow_responses may answer on this reply subject."""
    if perms.replies is not None:
        perms.saw_request(reply)


# -- queue groups ----------------------------------------------------------------------------------

def _accepts(sub, origin, subject: bytes) -> bool:
    conn = sub.conn
    if conn.closed:
        return False
    if conn is origin and not origin.echo:
        return False
    if sub.max and sub.delivered >= sub.max:
        return False
    return not delivery_denied(conn, subject, sub.queue)


def _pick(group, origin, subject: bytes):
    """One member of a queue group that accepts the message, from a random start: uniform in a
    plain tuple, by weight in a WeightedGroup (route members weigh what their peer said, leaf
    members only when no other is left; see sublist.queue_group)."""
    n = len(group)
    start = _random_below(n) if type(group) is tuple else group.start()
    sub = group[start]
    conn = sub.conn
    # The common case: the randomly chosen member accepts.
    if not conn.closed and not (conn is origin and not origin.echo) and \
            not (sub.max and sub.delivered >= sub.max) and \
            (conn.perms is None or not delivery_denied(conn, subject, sub.queue)):
        return sub
    for i in range(1, n):
        sub = group[(start + i) % n]
        if _accepts(sub, origin, subject):
            return sub
    return None


def _random_below(n: int) -> int:
    """A random index below `n`, for a queue group's pick. Compiled, from a C xorshift generator
    seeded once from os.urandom (delivery.pxd): a call into `random` costs more than the rest of
    the pick. Its low bits are not used (the top 53 of 64 scaled to `n`, as random() does)."""
    if COMPILED:
        return PICK_BELOW(n)  # noqa: F821 (delivery.pxd)
    return int(_random() * n)


def _receivers(result, origin, subject: bytes) -> tuple:
    """Every plain subscription, then the picked member of each queue group."""
    queues = result.queues
    if len(queues) == 1:
        sub = _pick(queues[0], origin, subject)
        if sub is None:
            return result.plain
        return result.plain + (sub,) if result.plain else (sub,)
    picked = tuple(sub for sub in (_pick(group, origin, subject) for group in queues) if sub)
    return result.plain + picked


def _one_per_connection(plain: tuple) -> bool:
    """Whether no connection holds two of these subscriptions. A run is delivered receiver by
    receiver; a connection with two matching subscriptions must instead get each message for
    both in turn, as nats-server delivers (message by message)."""
    return len(plain) < 2 or len({sub.conn for sub in plain}) == len(plain)


# -- one message -------------------------------------------------------------------------------------

def deliver(origin, result, subject: bytes, reply: bytes | None, message: memoryview,
            header_len: int = 0) -> int:
    """Delivers one message: `message` is the header block (`header_len` bytes, 0 for none) and
    the payload. Receivers that negotiated headers get HMSG, the others MSG with the headers
    stripped. Returns the deliveries: local subscriptions and peer connections."""
    subs = result.plain if not result.queues else _receivers(result, origin, subject)
    if not subs:
        return 0
    if len(subs) == 1:
        sub = subs[0]
        if sub.kind == _INTERNAL_SUB:
            # A stream's subscription alone (a publish to it): no MSG line to make.
            return 0 if sub.conn.closed else _hand(sub, subject, reply, header_len, message)
    total = len(message)
    size = total - header_len  # the payload
    # The MSG line around the sid: compiled, written in place per receiver (_append_msg);
    # otherwise the pieces a run of this line left on the origin (see _pieces), else made here
    # (not kept: one message rarely repeats the previous one's line).
    in_place = COMPILED and not header_len
    if in_place:
        head = tail = None
    elif subject is origin.msg_subject and reply is origin.msg_reply and size == origin.msg_size:
        head = origin.msg_head
        tail = origin.msg_tail
    else:
        head = _join3(b"MSG ", subject, b" ")
        tail = _SIZE_TAILS.get(size) or _size_tail(size)
        if reply:
            tail = _join3(b" ", reply, tail)
    if header_len:  # HMSG to receivers that take headers, MSG without them to the others
        hhead = b"H" + head
        htail = (b" " + reply if reply else b"") + b" %d %d\r\n" % (header_len, total)
        payload = message[header_len:]
        with_headers = 0  # receivers that got the header block
    touched = origin.broker.touched
    no_echo = not origin.echo
    count = 0
    routed = None
    for sub in subs:
        conn = sub.conn
        if conn.closed or no_echo and conn is origin:
            continue
        if sub.kind:  # a peer server's interest: one message per connection, after the loop
            if routed is None:
                routed = [sub]
            else:
                routed.append(sub)
            continue
        perms = conn.perms
        if perms is not None and perms.deny is not None and perms.denies(subject, sub.queue):
            continue
        if sub.max:
            if not _count(sub):
                continue
        else:
            sub.delivered += 1  # UNSUB <max> compares against it
        if reply is not None and perms is not None:
            _note_request(perms, reply)
        if in_place:
            _append_msg(conn.out, subject, sub.sid, reply, message)
            conn.out_bytes += size
        elif not header_len:
            _append_frame(conn.out, head, sub.sid, tail, message)
            conn.out_bytes += size
        elif conn.headers:
            _append_frame(conn.out, hhead, sub.sid, htail, message)
            conn.out_bytes += total
            with_headers += 1
        else:
            _append_frame(conn.out, head, sub.sid, tail, payload)
            conn.out_bytes += size
        conn.out_msgs += 1
        if not conn.touched:
            conn.touched = True
            touched.append(conn)
        count += 1
    nbytes = count * size
    if header_len:
        nbytes += with_headers * header_len
    if routed is not None:
        n = _forward(routed, subject, reply, header_len, message)
        count += n
        nbytes += n * total
    if count:  # _counted, inline: this is the per-message path
        broker = origin.broker
        broker.out_msgs += count
        broker.out_bytes += nbytes
    return count


def deliver_from_peer(origin, result, subject: bytes, reply: bytes | None, queues,
                      header_len: int, message: memoryview) -> int:
    """A message from a route or leaf connection: the plain subscriptions it may reach, and a
    member of each queue group it names (`queues`; none without), then `deliver`."""
    matched = result
    if origin.one_hop:
        result = _one_hop(result)[0]
    subs = result.plain
    if queues and matched.queues:
        picked = [sub for group in result.queues
                  if group[0].queue in queues and (sub := _pick(group, origin, subject)) is not None]
        if origin.sub_kind == ROUTE_SUB:  # from a route (a leaf's message has its own rules)
            picked += _route_fallbacks(matched, queues, picked)
        if picked:
            subs += tuple(picked)
    if not subs:
        return 0
    return deliver(origin, SublistResult(subs, ()), subject, reply, message, header_len)


def _route_fallbacks(matched, queues, picked: list) -> list:
    """For a routed message, a member on another server of each queue group it names that no
    member here took: nats-server then sends it to the first route or leaf member of the group
    (a leaf before a route), which may be the very route it came from, so that a message for a
    group whose last local member just left still reaches a member elsewhere."""
    served = {sub.queue for sub in picked}
    fallbacks = []
    for group in matched.queues:
        if group[0].queue not in queues or group[0].queue in served:
            continue
        remote = [sub for sub in group if sub.kind in (HUB_SUB, ROUTE_SUB) and not sub.conn.closed]
        if remote:  # min keeps the first of equals: the first leaf member, else the first route's
            fallbacks.append(min(remote, key=lambda sub: sub.kind != HUB_SUB))
    return fallbacks


def _one_hop(result) -> tuple[SublistResult, SublistResult]:
    """What a message from a route or from our hub may reach of a match result: subscriptions of
    ONE_HOP kinds (local ones, and leaves we are the hub for: nats-server's isHubLeafNode), with
    their queue groups and without. Cached per result (results are immutable and replaced when
    the interest changes)."""
    views = _VIEWS.get(result)
    if views is None:
        plain = tuple(sub for sub in result.plain if sub.kind in ONE_HOP)
        groups = tuple(g for group in result.queues  # groups left empty go
                       if (g := queue_group(s for s in group if s.kind in ONE_HOP)))
        views = (SublistResult(plain, groups), SublistResult(plain, ()))
        if len(_VIEWS) >= _VIEWS_MAX:
            _VIEWS.clear()
        _VIEWS[result] = views
    return views


def plain_from_peer(origin, result) -> SublistResult:
    """The part of a match result a peer's message without queue names reaches (see
    deliver_from_peer): its plain subscriptions."""
    if origin.one_hop:
        return _one_hop(result)[1]
    return SublistResult(result.plain, ()) if result.queues else result


# -- runs of messages --------------------------------------------------------------------------------

def deliver_run(origin, result, subject: bytes, view: memoryview, first: int, stride: int,
                count: int, size: int) -> None:
    """Delivers a run of messages without reply or headers that share one subject and size
    (see ClientOpsParser.on_pub_run and PeerOpsParser): payload i is view[first + i * stride:]
    [:size] and is followed by its CRLF in the input, which is copied along with it. Queue
    groups pick a member per message: a single group of local members without UNSUB max is
    served here too, anything else with queues goes message by message."""
    plain = result.plain
    queues = result.queues
    if queues and not plain and len(queues) == 1 and \
            not any(sub.kind or sub.max for sub in queues[0]):
        _deliver_run_to_group(origin, queues[0], subject, view, first, stride, count, size)
        return
    if queues or not _one_per_connection(plain):
        for a in range(first, first + count * stride, stride):
            deliver(origin, result, subject, None, view[a:a + size])
        return
    if not plain:
        return
    local, routed = _run_receivers(plain, origin, subject)
    head, tail = _pieces(origin, subject, None, size)
    touched = origin.broker.touched
    chunk = size + 2  # payload and its CRLF
    total = 0
    for sub in local:
        n = count
        if sub.max:
            n = min(n, sub.max - sub.delivered)
            if n <= 0:
                continue
        sub.delivered += n
        line = _sub_line(sub, head, tail)
        conn = sub.conn
        out = conn.out
        for a in range(first, first + n * stride, stride):
            out += line
            out += view[a:a + chunk]
        _wrote(conn, n, n * size, touched)
        if sub.max and sub.delivered >= sub.max:
            conn.remove_sub(sub)
        total += n
    if routed:
        total += _forward_run(routed, subject, view, first, stride, count, size)
    _counted(origin.broker, total, total * size)


def _run_receivers(plain: tuple, origin, subject: bytes) -> tuple[list, list]:
    """The plain subscriptions a run goes to, as `deliver` chooses them message by message: the
    local ones the origin may reach and that take it, and the peers' (forwarded)."""
    no_echo = not origin.echo
    reached = [sub for sub in plain if not sub.conn.closed and not (no_echo and sub.conn is origin)]
    local = [sub for sub in reached
             if not sub.kind and not delivery_denied(sub.conn, subject, sub.queue)]
    return local, [sub for sub in reached if sub.kind]


def _deliver_run_to_group(origin, group, subject: bytes, view: memoryview, first: int,
                          stride: int, count: int, size: int) -> None:
    """A run for one queue group of local members without UNSUB max: a member picked per
    message (by `_pick`, as `deliver` picks), its MSG line reused while the run lasts."""
    head, tail = _pieces(origin, subject, None, size)
    for sub in group:
        _sub_line(sub, head, tail)  # each member's line, once per run
    touched = origin.broker.touched
    chunk = size + 2  # payload and its CRLF
    total = 0
    for a in range(first, first + count * stride, stride):
        sub = _pick(group, origin, subject)
        if sub is None:
            continue
        conn = sub.conn
        out = conn.out
        out += sub.line
        out += view[a:a + chunk]
        sub.delivered += 1
        conn.out_msgs += 1  # _wrote, inline: a member is picked per message
        conn.out_bytes += size
        if not conn.touched:
            conn.touched = True
            touched.append(conn)
        total += 1
    _counted(origin.broker, total, total * size)


def deliver_sizes(origin, result, subject: bytes, view: memoryview, bounds: list) -> None:
    """Delivers messages without reply or headers for one subject whose sizes vary (see
    ClientOpsParser.on_pub_sizes): payload i is view[bounds[2*i]:bounds[2*i+1]], followed by
    its CRLF in the input, which is copied along with it. The match and the head of the MSG
    line are shared; per message and receiver it is the size's line tail and three appends.
    Queue groups, peers, UNSUB maxes and a connection with several matching subscriptions
    take the per-message path."""
    plain = result.plain
    if result.queues or any(sub.max or sub.kind for sub in plain) or \
            not _one_per_connection(plain):
        for i in range(0, len(bounds), 2):
            deliver(origin, result, subject, None, view[bounds[i]:bounds[i + 1]])
        return
    if not plain:
        return
    starts = bounds[::2]
    ends = bounds[1::2]
    count = len(starts)
    sizes = sum(ends) - sum(starts)
    head, _ = _pieces(origin, subject, None, ends[0] - starts[0])
    get_tail = _SIZE_TAILS.get
    tails = [get_tail(end - start) or _size_tail(end - start)
             for start, end in zip(starts, ends, strict=True)]
    local, _ = _run_receivers(plain, origin, subject)
    touched = origin.broker.touched
    for sub in local:
        sub.delivered += count
        line_head = head + sub.sid
        conn = sub.conn
        out = conn.out
        for tail, start, end in zip(tails, starts, ends, strict=True):
            out += line_head
            out += tail
            out += view[start:end + 2]
        _wrote(conn, count, sizes, touched)
    _counted(origin.broker, len(local) * count, len(local) * sizes)


# -- peers ------------------------------------------------------------------------------------------

def _forward(routed: list, subject: bytes, reply: bytes | None, header_len: int,
             message: memoryview) -> int:
    """Sends a message to the peer connections among the matched subscriptions `routed` (peer
    interest, at most one picked member per queue group): one message per connection, naming
    the queue groups picked on it. As nats-server, the first subscription of each connection
    counts the delivery. Internal subscriptions among them get it through `_hand`. Returns the
    number of deliveries: connections sent to, internal subscriptions handed to."""
    if len(routed) == 1:
        sub = routed[0]
        if sub.kind == INTERNAL_SUB:
            return _hand(sub, subject, reply, header_len, message)
        sub.delivered += 1
        _send(sub.conn, sub.account, subject, reply, (sub.queue,) if sub.queue else None,
              header_len, message)
        return 1
    handed = 0
    targets: dict = {}  # connection -> [its first subscription, the queue groups picked on it]
    for sub in routed:
        if sub.kind == INTERNAL_SUB:
            handed += _hand(sub, subject, reply, header_len, message)
            continue
        target = targets.get(sub.conn)
        if target is None:
            target = targets[sub.conn] = [sub]
        if sub.queue:
            target.append(sub.queue)
    for conn, target in targets.items():
        target[0].delivered += 1
        _send(conn, target[0].account, subject, reply, target[1:] or None, header_len, message)
    return handed + len(targets)


def _hand(sub, subject: bytes, reply: bytes | None, header_len: int, message: memoryview) -> int:
    """An internal subscription's delivery (1, or 0 past its UNSUB max): a copy of the message
    queued on its internal client, whose callbacks run when the broker flushes it at the end
    of the read, as a client's frames are written then (InternalClient.flush)."""
    if sub.max:
        if not _count(sub):
            return 0
    else:
        sub.delivered += 1
    conn = sub.conn
    conn.inbox.append((sub.sid, subject, reply, bytes(message), header_len))
    conn.out_msgs += 1
    conn.out_bytes += len(message)
    if not conn.touched:
        conn.touched = True
        conn.broker.touched.append(conn)
    return 1


def _send(conn, account: bytes, subject: bytes, reply: bytes | None, queues, header_len: int,
          message: memoryview) -> None:
    """One RMSG/LMSG to a peer, or HMSG when the message has headers and the peer takes them
    (a peer without headers gets the payload alone)."""
    size = len(message)
    if header_len and conn.headers:
        line = conn.line_prefix(b"HMSG", account, subject)
        sizes = b"%d %d\r\n" % (header_len, size)
    else:
        if header_len:
            message = message[header_len:]
            size -= header_len
        line = conn.line_prefix(conn.msg_op, account, subject)
        sizes = b"%d\r\n" % size
    if queues:
        line += (b"+ " + reply + b" " if reply else b"| ") + b" ".join(queues) + b" "
    elif reply:
        line += reply + b" "
    out = conn.out
    out += line
    out += sizes
    out += message
    out += _CRLF
    _wrote(conn, 1, size, conn.broker.touched)


def _forward_run(routed: list, subject: bytes, view: memoryview, first: int, stride: int,
                 count: int, size: int) -> int:
    """A run of messages without reply or headers that share one subject and size (payload i
    is view[first + i * stride:][:size], followed by its CRLF in the input), to each peer
    connection among the plain peer subscriptions `routed`, its message line made once, and to
    the internal subscriptions among them (`_hand`). Returns the number of messages sent."""
    targets: dict = {}  # connection -> its first subscription
    handed = 0
    for sub in routed:
        if sub.kind == INTERNAL_SUB:
            for a in range(first, first + count * stride, stride):
                handed += _hand(sub, subject, None, 0, view[a:a + size])
        else:
            targets.setdefault(sub.conn, sub)
    chunk = size + 2
    for conn, sub in targets.items():
        sub.delivered += count
        line = conn.line_prefix(conn.msg_op, sub.account, subject) + b"%d\r\n" % size
        out = conn.out
        for a in range(first, first + count * stride, stride):
            out += line
            out += view[a:a + chunk]
        _wrote(conn, count, count * size, conn.broker.touched)
    return handed + count * len(targets)
