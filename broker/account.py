"""An account: an isolated subject space with its own subject index. Connections publish and
subscribe within their account only; a single global account exists by default.

Whatever must follow an account's interest (routes and leafnodes tell their peers) registers a
listener on it: listener(account, sub, delta) is called after every change of the interest in the
account's Sublist (delta: +weight when a subscription comes, -weight when it goes, the difference
when a peer's queue member is reweighed; see sublist.interest_weight). The listener decides
which kinds of subscription it tells about (see subscription.py)."""

from __future__ import annotations

from .sublist import Sublist

GLOBAL_ACCOUNT = "$G"
SYSTEM_ACCOUNT = "$SYS"  # nats-server's default name for the system account


class Account:
    __slots__ = ("name", "sublist", "listeners")

    def __init__(self, name: str = GLOBAL_ACCOUNT):
        self.name = name
        self.sublist = Sublist()
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
