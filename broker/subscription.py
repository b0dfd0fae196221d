"""A client's subscription as stored in the subject index: its owner, subject, optional queue
group, sid and auto-unsubscribe limit."""

from __future__ import annotations


class Subscription:
    __slots__ = ("conn", "subject", "queue", "sid", "max", "delivered", "line", "line_head",
                 "line_tail")

    def __init__(self, conn, subject: bytes, queue: bytes | None, sid: bytes):
        self.conn = conn
        self.subject = subject
        self.queue = queue
        self.sid = sid
        self.max = 0  # 0: no limit
        self.delivered = 0
        # The last MSG line written for this subscription and the pieces it was made of.
        self.line = self.line_head = self.line_tail = None

    def __repr__(self) -> str:
        q = f" queue={self.queue!r}" if self.queue else ""
        return f"<Subscription {self.subject!r}{q} sid={self.sid!r} cid={self.conn.cid}>"
