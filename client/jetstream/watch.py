"""`Watcher`, what a bucket's `watch()` returns (key/value's `KeyWatcher`, the object store's
`ObjectWatcher`): an ordered consumer's messages turned into entries, first the latest of each
subject (or their history), then `None` once those were delivered, then each change as it
happens. Subclasses say how a message becomes an entry (`_convert`)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from ..errors import BadSubscriptionError
from .msg import JsMsg, Metadata
from .push import PushSubscription

T = TypeVar("T")


def rfc3339(ns: int) -> str:
    """A timestamp in nanoseconds as the API writes times (UTC, nanoseconds, `Z`)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


class Watcher(Generic[T]):
    """`async for entry in watcher` (None marks the end of the initial values);
    `await watcher.updates(timeout)` for one; `await watcher.stop()`. `empty`: there are no
    initial values (the None marker comes first); `marker`: whether to give the marker at all."""

    def __init__(self, sub: PushSubscription, empty: bool, marker: bool = True):
        self._sub = sub
        self._init_done = not marker
        self._marker_due = empty and marker

    def _convert(self, msg: JsMsg, meta: Metadata) -> T | None:
        """The entry of a delivered message, or None to skip it."""
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[T | None]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[T | None]:
        while True:
            try:
                yield await self.updates(timeout=None)
            except BadSubscriptionError:  # stopped
                return

    async def updates(self, timeout: float | None = 5.0) -> T | None:
        """The next entry (or the None marker); `TimeoutError` after `timeout` seconds."""
        while True:
            if self._marker_due:
                self._marker_due = False
                self._init_done = True
                return None
            msg: Any = await self._sub.next_msg(timeout)
            meta = msg.metadata
            if not self._init_done and meta.num_pending == 0:
                self._marker_due = True
            entry = self._convert(msg, meta)
            if entry is not None:
                return entry

    async def stop(self) -> None:
        await self._sub.unsubscribe()
