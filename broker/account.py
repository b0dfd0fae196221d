"""An account: an isolated subject space with its own subject index. Connections publish and
subscribe within their account only; a single global account exists by default."""

from __future__ import annotations

from .sublist import Sublist

GLOBAL_ACCOUNT = "$G"
SYSTEM_ACCOUNT = "$SYS"  # nats-server's default name for the system account


class Account:
    __slots__ = ("name", "sublist")

    def __init__(self, name: str = GLOBAL_ACCOUNT):
        self.name = name
        self.sublist = Sublist()
