"""Forwarding a client's message to the peer servers that want it: one RMSG/LMSG/HMSG per route
or leaf connection among the matched subscriptions, naming the queue groups picked on it."""

from __future__ import annotations


def forward(routed: list, subject: bytes, reply: bytes | None, header_len: int,
            message: memoryview) -> int:
    """Sends a client's message to the routes among the matched subscriptions `routed` (route
    subscriptions, at most one picked member per queue group): one RMSG/HMSG per route, naming
    the queue groups picked on that route. Returns the number of routes sent to."""
    if len(routed) == 1:
        sub = routed[0]
        sub.conn.send_msg(sub.account, subject, reply, (sub.queue,) if sub.queue else None,
                          header_len, message)
        return 1
    per_route: dict = {}  # connection -> the queue groups picked on it
    for sub in routed:
        queues = per_route.get(sub.conn)
        if queues is None:
            queues = per_route[sub.conn] = []
        if sub.queue:
            queues.append(sub.queue)
    account = routed[0].account
    for conn, queues in per_route.items():
        conn.send_msg(account, subject, reply, queues or None, header_len, message)
    return len(per_route)


def forward_run(routed: list, subject: bytes, view: memoryview, first: int, stride: int,
                count: int, size: int) -> int:
    """A run of messages without reply or headers that share one subject and size (payload i
    is view[first + i * stride:][:size], followed by its CRLF in the input), to each route among
    the plain route subscriptions `routed`: the RMSG line is made once. Returns the number of
    messages sent."""
    conns = (routed[0].conn,) if len(routed) == 1 else {sub.conn: None for sub in routed}
    account = routed[0].account
    for conn in conns:
        conn.send_run(account, subject, view, first, stride, count, size)
    return count * len(conns)
