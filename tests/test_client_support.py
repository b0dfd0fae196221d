"""Helpers shared by the zats.client tests (tests/test_client_*.py); no tests here."""

from __future__ import annotations

import asyncio

import zats.client as zc

TIMEOUT = 5.0


class Recorder:
    """Collects client events and asynchronous errors."""

    def __init__(self):
        self.errors: list[BaseException] = []
        self.events: list[str] = []
        self._conds: dict[str, asyncio.Event] = {}

    def _event(self, name: str) -> asyncio.Event:
        ev = self._conds.get(name)
        if ev is None:
            ev = self._conds[name] = asyncio.Event()
        return ev

    def callbacks(self) -> dict:
        def mk(name):
            def cb():
                self.events.append(name)
                self._event(name).set()
            return cb

        def on_error(exc):
            self.errors.append(exc)
            self._event("error").set()

        return dict(error_cb=on_error, disconnected_cb=mk("disconnected"),
                    reconnected_cb=mk("reconnected"), closed_cb=mk("closed"),
                    lame_duck_mode_cb=mk("lame_duck"), discovered_server_cb=mk("discovered"))

    async def wait(self, name: str, timeout: float = TIMEOUT) -> None:
        ev = self._event(name)
        await asyncio.wait_for(ev.wait(), timeout)
        ev.clear()


async def take_pending(sub: zc.Subscription) -> list[zc.Msg]:
    out = []
    while sub.pending_msgs:
        out.append(await sub.next_msg(timeout=TIMEOUT))
    return out


async def eventually(predicate, timeout: float = TIMEOUT, interval: float = 0.01) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)
