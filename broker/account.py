"""An account: an isolated subject space with its own subject index. Connections publish and
subscribe within their account only; a single global account exists by default.

Whatever must follow an account's interest (routes and leafnodes tell their peers) registers a
listener on it: listener(account, sub, delta) is called after every change of the interest in the
account's Sublist (delta: +weight when a subscription comes, -weight when it goes, the difference
when a peer's queue member is reweighed; see sublist.interest_weight). The listener decides
which kinds of subscription it tells about (see subscription.py)."""

from __future__ import annotations

import time

from .sublist import Sublist

GLOBAL_ACCOUNT = "$G"
SYSTEM_ACCOUNT = "$SYS"  # nats-server's default name for the system account


class AccountStats:
    """What an account's closed client connections counted (the open ones count for themselves)
    and its slow consumers, for /accstatz and /metrics."""

    __slots__ = ("in_msgs", "in_bytes", "out_msgs", "out_bytes", "slow_consumers")

    def __init__(self):
        self.in_msgs = self.in_bytes = self.out_msgs = self.out_bytes = self.slow_consumers = 0

    def closed(self, conn) -> None:
        self.in_msgs += conn.in_msgs
        self.in_bytes += conn.in_bytes
        self.out_msgs += conn.out_msgs
        self.out_bytes += conn.out_bytes


class Account:
    __slots__ = ("name", "sublist", "created", "stats", "listeners")

    def __init__(self, name: str = GLOBAL_ACCOUNT):
        self.name = name
        self.sublist = Sublist()
        self.created = time.time()
        self.stats = AccountStats()
        self.listeners: list = []

    def listen(self, listener) -> None:
        """Registers listener(account, sub, delta) for this account's interest changes (once)."""
        if listener in self.listeners:
            return
        self.listeners.append(listener)
        self.sublist.on_change = self._interest_changed

    def _interest_changed(self, sub, delta: int) -> None:
        for listener in self.listeners:
            listener(self, sub, delta)
