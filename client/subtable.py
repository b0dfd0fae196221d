"""`SubTable`: the subscription bookkeeping of one client.

Owns sid numbering, the sid table (sid -> `Subscription`) and the two tables the parser delivers
MSG frames through without a call into the client: `dispatch` (sid as bytes -> the subscription's
`deliver`, one message) and `runs` (sid as bytes -> its `deliver_run`, a run of identical frames;
see protocol.parser.ServerOpsParser). HMSG frames come in through `on_hmsg`. It counts what was
received (`in_msgs`, `in_bytes`: the connection adds the parser's counts after each read) and
builds the SUB/UNSUB frames, including those that restore every subscription after a reconnect.

It is what a subscription holds on to (the `subscription.SubOwner` interface): `events`,
`remove(sub)`, `unsub(sub, limit)` and `write_pending()`. Sending is the client's business: it
passes in `send_unsub` and `write_pending`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zats.protocol import frames

if TYPE_CHECKING:
    from .events import Events
    from .subscription import Subscription


def sub_frame(sub: Subscription) -> bytes:
    """The SUB frame of `sub`."""
    return frames.sub(sub.subject, sub.sid, sub.queue)


class SubTable:
    """The subscriptions of one client, by sid (see the module docstring)."""

    __slots__ = ("events", "by_sid", "dispatch", "runs", "in_msgs", "in_bytes", "_last_sid",
                 "_send_unsub", "write_pending")

    def __init__(self, events: Events, *, send_unsub: Callable[[Subscription, int], None],
                 write_pending: Callable[[], None]):
        self.events = events
        self.by_sid: dict[int, Subscription] = {}
        self.dispatch: dict[bytes, Any] = {}  # sid -> sub.deliver (one message)
        self.runs: dict[bytes, Any] = {}  # sid -> sub.deliver_run (a run of messages)
        self.in_msgs = 0
        self.in_bytes = 0
        self._last_sid = 0
        self._send_unsub = send_unsub
        self.write_pending = write_pending  # writes now what waits for the next loop iteration

    def new_sid(self) -> int:
        self._last_sid += 1
        return self._last_sid

    def add(self, sub: Subscription) -> None:
        self.by_sid[sub.sid] = sub
        sid = b"%d" % sub.sid
        self.dispatch[sid] = sub.deliver
        if sub.deliver_run is not None:
            self.runs[sid] = sub.deliver_run

    def remove(self, sub: Subscription) -> None:
        """Stops delivery to `sub` (no-op when it is not in the table)."""
        if self.by_sid.pop(sub.sid, None) is not None:
            sid = b"%d" % sub.sid
            self.dispatch.pop(sid, None)
            self.runs.pop(sid, None)

    def unsub(self, sub: Subscription, limit: int = 0) -> None:
        """Sends UNSUB for `sub` (with a message limit when `limit`)."""
        self._send_unsub(sub, limit)

    def on_hmsg(self, subject: bytes, sid: bytes, reply: bytes | None, header_len: int,
                message: memoryview) -> None:
        """The parser's handler for HMSG: counts it and delivers it by sid."""
        self.in_msgs += 1
        self.in_bytes += len(message)
        deliver = self.dispatch.get(sid)
        if deliver is not None:
            deliver(subject, reply, message[header_len:], message[:header_len])

    def restore_frames(self) -> bytearray:
        """SUB frames for every subscription, each followed by UNSUB with the remaining count
        when it has a message limit (those that reached it are left out)."""
        out = bytearray()
        for sub in self.by_sid.values():
            limit = sub.max_msgs
            if limit:
                remaining = limit - sub.delivered
                if remaining <= 0:
                    continue
                out += sub_frame(sub)
                out += frames.unsub(sub.sid, remaining)
            else:
                out += sub_frame(sub)
        return out
