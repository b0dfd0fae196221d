"""Delivery of one published message to the subscriptions that match it: every plain
subscription, and one member of each queue group (random start, first member that accepts).
The MSG/HMSG frame goes straight into each receiver's outbound buffer, which is the one copy of
the payload; the receiver is marked touched so the broker flushes it at the end of the read.

A receiver whose permissions armed a delivery filter (see permissions.ConnectionPermissions)
is asked before each delivery; a queue group then tries its next member. Receivers without
permissions cost one attribute test for it."""

from __future__ import annotations

from random import random as _random

from .forward import forward as _forward
from .forward import forward_run as _forward_run
from .permissions import delivery_denied

_CRLF = b"\r\n"

# b" <size>\r\n", the end of a MSG line without reply, by payload size (bounded).
_SIZE_TAILS: dict[int, bytes] = {}
_SIZE_TAILS_MAX = 4096


def _size_tail(size: int) -> bytes:
    tail = b" %d\r\n" % size
    if len(_SIZE_TAILS) >= _SIZE_TAILS_MAX:
        _SIZE_TAILS.clear()
    _SIZE_TAILS[size] = tail
    return tail


def _accepts(sub, publisher, subject: bytes) -> bool:
    conn = sub.conn
    if conn.closed:
        return False
    if conn is publisher and not publisher.echo:
        return False
    if sub.max and sub.delivered >= sub.max:
        return False
    return not delivery_denied(conn, subject, sub.queue)


def _delivered(sub) -> None:
    """Counts a delivery; removes a subscription that reached its UNSUB max."""
    sub.delivered += 1
    if sub.max and sub.delivered >= sub.max:
        sub.conn.remove_sub(sub)


def _pick(group, publisher, subject: bytes):
    """One member of a queue group that accepts the message, from a random start (weighted
    when route or leaf members weigh other than 1: see sublist.WeightedGroup)."""
    n = len(group)
    start = int(_random() * n) if group.__class__ is tuple else group.start()
    sub = group[start]
    conn = sub.conn
    # The common case: the randomly chosen member accepts.
    if not conn.closed and not (conn is publisher and not publisher.echo) and \
            not (sub.max and sub.delivered >= sub.max) and \
            (conn.perms is None or not delivery_denied(conn, subject, sub.queue)):
        return sub
    for i in range(1, n):
        sub = group[(start + i) % n]
        if _accepts(sub, publisher, subject):
            return sub
    return None


def _one_per_connection(plain: tuple) -> bool:
    """Whether no connection holds two of these subscriptions. A run is delivered receiver by
    receiver; a connection with two matching subscriptions must instead get each message for
    both in turn, as nats-server delivers (message by message)."""
    return len(plain) < 2 or len({sub.conn for sub in plain}) == len(plain)


def _note_request(perms, reply: bytes) -> None:
    """A receiver with allow_responses may answer on this reply subject."""
    if perms.replies is not None:
        perms.saw_request(reply)


def _receivers(result, publisher, subject: bytes) -> tuple:
    """Every plain subscription, then the picked member of each queue group."""
    queues = result.queues
    if len(queues) == 1:
        sub = _pick(queues[0], publisher, subject)
        if sub is None:
            return result.plain
        return result.plain + (sub,) if result.plain else (sub,)
    picked = tuple(sub for sub in (_pick(group, publisher, subject) for group in queues) if sub)
    return result.plain + picked


def _count(sub) -> bool:
    """Counts a delivery to `sub`; False when it is past its UNSUB max (nothing delivered)."""
    if sub.max:
        if sub.delivered >= sub.max:
            return False
        _delivered(sub)
    else:
        sub.delivered += 1  # UNSUB <max> compares against it
    return True


def deliver(publisher, result, subject: bytes, reply: bytes | None, payload: memoryview) -> int:
    """Delivers a message without headers; returns how many subscriptions received it."""
    subs = result.plain if not result.queues else _receivers(result, publisher, subject)
    if not subs:
        return 0
    size = len(payload)
    # The MSG line around each sid; a burst repeating one PUB line (the parser then passes the
    # same subject and reply objects) reuses the previous message's pieces.
    if subject is publisher.msg_subject and reply is publisher.msg_reply and size == publisher.msg_size:
        head = publisher.msg_head
        tail = publisher.msg_tail
    else:
        # A publisher mostly keeps its subject while sizes vary: keep the head by subject.
        if subject == publisher.msg_subject:
            head = publisher.msg_head
        else:
            head = b"MSG " + subject + b" "
        if reply:
            tail = b" " + reply + b" %d\r\n" % size
        else:
            tail = _SIZE_TAILS.get(size)
            if tail is None:
                tail = _size_tail(size)
        publisher.msg_subject, publisher.msg_reply, publisher.msg_size = subject, reply, size
        publisher.msg_head, publisher.msg_tail = head, tail
    touched = publisher.broker.touched
    no_echo = not publisher.echo
    count = 0
    routed = None
    for sub in subs:
        conn = sub.conn
        if conn.closed or no_echo and conn is publisher:
            continue
        if conn.is_route:  # another server's interest: one RMSG per route, after the loop
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
            sub.delivered += 1  # inline _count: this is the per-message path
        if reply is not None and perms is not None:
            _note_request(perms, reply)
        # The whole MSG line, kept on the subscription while the head and tail objects stay
        # the same (a burst of one PUB line): one append instead of three. The subscription
        # holds both, so identity stands for equal content.
        if sub.line_tail is tail and sub.line_head is head:
            line = sub.line
        else:
            line = sub.line = head + sub.sid + tail
            sub.line_head = head
            sub.line_tail = tail
        out = conn.out
        out += line
        out += payload
        out += _CRLF
        conn.out_msgs += 1
        conn.out_bytes += size
        if not conn.touched:
            conn.touched = True
            touched.append(conn)
        count += 1
    if routed is not None:
        count += _forward(routed, subject, reply, 0, payload)
    if count:
        broker = publisher.broker
        broker.out_msgs += count
        broker.out_bytes += count * size
    return count


def deliver_run(publisher, result, subject: bytes, view: memoryview, first: int, stride: int,
                count: int, size: int) -> None:
    """Delivers a run of messages without reply or headers that share one subject and size
    (see ClientOpsParser.on_pub_run): payload i is view[first + i * stride:][:size] and is
    followed by its CRLF in the input, which is copied along with it. Queue groups pick a
    member per message: a single local group without plain subscribers is served here too,
    anything else with queues goes message by message."""
    plain = result.plain
    queues = result.queues
    if queues and not plain and len(queues) == 1 and \
            not any(sub.conn.is_route or sub.max for sub in queues[0]):
        _deliver_run_to_group(publisher, queues[0], subject, view, first, stride, count, size)
        return
    if queues or not _one_per_connection(plain):
        for a in range(first, first + count * stride, stride):
            deliver(publisher, result, subject, None, view[a:a + size])
        return
    if not plain:
        return
    head, tail = _run_line_pieces(publisher, subject, size)
    touched = publisher.broker.touched
    no_echo = not publisher.echo
    chunk = size + 2  # payload and its CRLF
    total = 0
    routed = None
    for sub in plain:
        conn = sub.conn
        if conn.closed or no_echo and conn is publisher:
            continue
        if conn.is_route:
            if routed is None:
                routed = [sub]
            else:
                routed.append(sub)
            continue
        perms = conn.perms
        if perms is not None and perms.deny is not None and perms.denies(subject, sub.queue):
            continue
        n = count
        if sub.max:
            n = min(n, sub.max - sub.delivered)
            if n <= 0:
                continue
        sub.delivered += n
        if sub.line_tail is tail and sub.line_head is head:
            line = sub.line
        else:
            line = sub.line = head + sub.sid + tail
            sub.line_head = head
            sub.line_tail = tail
        out = conn.out
        for a in range(first, first + n * stride, stride):
            out += line
            out += view[a:a + chunk]
        conn.out_msgs += n
        conn.out_bytes += n * size
        if not conn.touched:
            conn.touched = True
            touched.append(conn)
        if sub.max and sub.delivered >= sub.max:
            conn.remove_sub(sub)
        total += n
    if routed is not None:
        total += _forward_run(routed, subject, view, first, stride, count, size)
    if total:
        broker = publisher.broker
        broker.out_msgs += total
        broker.out_bytes += total * size


def _run_line_pieces(publisher, subject: bytes, size: int) -> tuple[bytes, bytes]:
    """The MSG line around the sid for a run without reply, kept on the publisher."""
    if subject is publisher.msg_subject and publisher.msg_reply is None and size == publisher.msg_size:
        return publisher.msg_head, publisher.msg_tail
    head = b"MSG " + subject + b" "
    tail = _SIZE_TAILS.get(size) or _size_tail(size)
    publisher.msg_subject, publisher.msg_reply, publisher.msg_size = subject, None, size
    publisher.msg_head, publisher.msg_tail = head, tail
    return head, tail


def _deliver_run_to_group(publisher, group, subject: bytes, view: memoryview, first: int,
                          stride: int, count: int, size: int) -> None:
    """A run for one queue group of local members without UNSUB max: a member picked per
    message (as `deliver` picks), its MSG line reused while the run lasts."""
    head, tail = _run_line_pieces(publisher, subject, size)
    touched = publisher.broker.touched
    chunk = size + 2  # payload and its CRLF
    total = 0
    for a in range(first, first + count * stride, stride):
        sub = _pick(group, publisher, subject)
        if sub is None:
            continue
        conn = sub.conn
        if sub.line_tail is tail and sub.line_head is head:
            line = sub.line
        else:
            line = sub.line = head + sub.sid + tail
            sub.line_head = head
            sub.line_tail = tail
        out = conn.out
        out += line
        out += view[a:a + chunk]
        sub.delivered += 1
        conn.out_msgs += 1
        conn.out_bytes += size
        if not conn.touched:
            conn.touched = True
            touched.append(conn)
        total += 1
    if total:
        broker = publisher.broker
        broker.out_msgs += total
        broker.out_bytes += total * size


def deliver_sizes(publisher, result, subject: bytes, view: memoryview, bounds: list) -> None:
    """Delivers messages without reply or headers for one subject whose sizes vary (see
    ClientOpsParser.on_pub_sizes): payload i is view[bounds[2*i]:bounds[2*i+1]], followed by
    its CRLF in the input, which is copied along with it. The match and the head of the MSG
    line are shared; per message and receiver it is the size's line tail and three appends.
    Queue groups, routes, UNSUB maxes and a connection with several matching subscriptions
    take the per-message path."""
    plain = result.plain
    if result.queues or any(sub.max or sub.conn.is_route for sub in plain) or \
            not _one_per_connection(plain):
        for i in range(0, len(bounds), 2):
            deliver(publisher, result, subject, None, view[bounds[i]:bounds[i + 1]])
        return
    if not plain:
        return
    if subject == publisher.msg_subject:
        head = publisher.msg_head
    else:
        head = b"MSG " + subject + b" "
        publisher.msg_subject, publisher.msg_reply, publisher.msg_size = subject, None, -1
        publisher.msg_head, publisher.msg_tail = head, None
    starts = bounds[::2]
    ends = bounds[1::2]
    count = len(starts)
    sizes = sum(ends) - sum(starts)
    get_tail = _SIZE_TAILS.get
    tails = [get_tail(end - start) or _size_tail(end - start)
             for start, end in zip(starts, ends, strict=True)]
    touched = publisher.broker.touched
    no_echo = not publisher.echo
    total = 0
    for sub in plain:
        conn = sub.conn
        if conn.closed or no_echo and conn is publisher:
            continue
        perms = conn.perms
        if perms is not None and perms.deny is not None and perms.denies(subject, sub.queue):
            continue
        sub.delivered += count
        line_head = head + sub.sid
        out = conn.out
        for tail, start, end in zip(tails, starts, ends, strict=True):
            out += line_head
            out += tail
            out += view[start:end + 2]
        conn.out_msgs += count
        conn.out_bytes += sizes
        if not conn.touched:
            conn.touched = True
            touched.append(conn)
        total += 1
    if total:
        broker = publisher.broker
        broker.out_msgs += total * count
        broker.out_bytes += total * sizes


def deliver_with_headers(publisher, result, subject: bytes, reply: bytes | None,
                         header_len: int, message: memoryview) -> int:
    """Delivers a message with headers: HMSG to receivers that negotiated headers, MSG with the
    headers stripped to those that did not. Returns how many subscriptions received it."""
    subs = _receivers(result, publisher, subject)
    if not subs:
        return 0
    total = len(message)
    payload = message[header_len:]
    psize = total - header_len
    reply_part = b" " + reply if reply else b""
    hhead = b"HMSG " + subject + b" "
    htail = reply_part + b" %d %d\r\n" % (header_len, total)
    mhead = b"MSG " + subject + b" "
    mtail = reply_part + b" %d\r\n" % psize
    touched = publisher.broker.touched
    no_echo = not publisher.echo
    count = 0
    out_bytes = 0
    routed = None
    for sub in subs:
        conn = sub.conn
        if conn.closed or no_echo and conn is publisher:
            continue
        perms = conn.perms
        if perms is not None and perms.deny is not None and perms.denies(subject, sub.queue):
            continue
        if not _count(sub):
            continue
        if conn.is_route:  # another server's interest: one HMSG per route, after the loop
            if routed is None:
                routed = [sub]
            else:
                routed.append(sub)
            continue
        if reply is not None and perms is not None:
            _note_request(perms, reply)
        out = conn.out
        if conn.headers:
            out += hhead
            out += sub.sid
            out += htail
            out += message
            n = total
        else:
            out += mhead
            out += sub.sid
            out += mtail
            out += payload
            n = psize
        out += _CRLF
        conn.out_msgs += 1
        conn.out_bytes += n
        out_bytes += n
        if not conn.touched:
            conn.touched = True
            touched.append(conn)
        count += 1
    if routed is not None:
        n = _forward(routed, subject, reply, header_len, message)
        count += n
        out_bytes += n * total
    if count:
        broker = publisher.broker
        broker.out_msgs += count
        broker.out_bytes += out_bytes
    return count
