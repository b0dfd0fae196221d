"""The entries of an account's subject index: a client's (or an internal client's)
Subscription, and PeerSub, interest another server told us about over a route or a leafnode.

Every entry has a `kind` saying where the subscriber is, which is all that delivery and
interest propagation need to know about it:
- CLIENT_SUB: a connection of this server (a client, or an internal subscriber);
- ROUTE_SUB: a server of our cluster, behind a route;
- LEAF_SUB: a leaf server we are the hub for (local interest as far as our routes are concerned);
- HUB_SUB: the hub we are a leaf of;
- INTERNAL_SUB: an internal client's (internal.py): local interest, like CLIENT_SUB, but
  delivery hands it the message itself instead of a MSG frame (see delivery._forward).
A message that came over a route or from our hub goes one hop only: to ONE_HOP kinds."""

from __future__ import annotations

CLIENT_SUB, ROUTE_SUB, LEAF_SUB, HUB_SUB, INTERNAL_SUB = 0, 1, 2, 3, 4
# What a message from a route or from our hub may still reach; also the local interest that is
# told to routes (cluster.py) and to a hub (leafnode.py).
ONE_HOP = (CLIENT_SUB, LEAF_SUB, INTERNAL_SUB)
_KIND_NAMES = ("client", "route", "leaf", "hub", "internal")


class Interest:
    """What delivery reads of every entry of the index: who gets it (`conn`, `kind`), what for
    (`subject`, `queue`, `sid`), and its UNSUB max with the deliveries counted against it.
    Compiled, this is a C struct (subscription.pxd), so that delivery reads these directly."""

    __slots__ = ("conn", "kind", "subject", "queue", "sid", "max", "delivered")

    def __init__(self, conn, kind: int, subject: bytes, queue: bytes | None, sid: bytes):
        self.conn = conn
        self.kind = kind
        self.subject = subject
        self.queue = queue
        self.sid = sid
        self.max = 0  # 0: no limit
        self.delivered = 0


class Subscription(Interest):
    """A client's subscription (kind CLIENT_SUB: falsy, delivery tests `if sub.kind` for
    "forwarded to a peer")."""

    __slots__ = ("line", "line_head", "line_tail")

    def __init__(self, conn, subject: bytes, queue: bytes | None, sid: bytes):
        Interest.__init__(self, conn, CLIENT_SUB, subject, queue, sid)
        # The last MSG line written for this subscription and the pieces it was made of.
        self.line = self.line_head = self.line_tail = None

    def __repr__(self) -> str:
        q = f" queue={self.queue!r}" if self.queue else ""
        return f"<Subscription {self.subject!r}{q} sid={self.sid!r} cid={self.conn.cid}>"


class InternalSub(Subscription):
    """An internal client's subscription. Not falsy like a client's: delivery takes it out of
    the per-receiver loop, as it does peers' interest, and queues the message on the internal
    client (`_forward`), which saves writing a frame and parsing it back."""

    __slots__ = ()

    def __init__(self, conn, subject: bytes, queue: bytes | None, sid: bytes):
        Subscription.__init__(self, conn, subject, queue, sid)
        self.kind = INTERNAL_SUB


class PeerSub(Interest):
    """Interest of a peer server: one per (connection, account, subject, queue), owned by the
    route or leaf connection it came over. A queue entry stands for `weight` members behind it
    (as the peer says); a leaf's or hub's member is a `last_resort`, picked only when its group
    has no other (see sublist.queue_group)."""

    __slots__ = ("account", "weight", "last_resort")

    def __init__(self, conn, kind: int, account: bytes, subject: bytes, queue: bytes | None,
                 weight: int = 1):
        Interest.__init__(self, conn, kind, subject, queue, b"")
        self.account = account
        self.weight = weight if queue is not None else 1
        self.last_resort = kind == LEAF_SUB or kind == HUB_SUB

    def __repr__(self) -> str:
        q = f" queue={self.queue!r}" if self.queue else ""
        return f"<PeerSub {_KIND_NAMES[self.kind]} {self.subject!r}{q} id={self.conn.cid}>"
