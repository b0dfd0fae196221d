"""`Events`: how a client reports to its user. Owns the client's event loop reference, error
reporting (`error_cb`, or the log when there is none; `last_error`), calling the event callbacks
(plain or async functions; an exception they raise is logged) and the background tasks that run
async callbacks.

Shared by the client, its connection, its subscriptions, the request mux and the reconnect loop,
so that none of them needs the client for that."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .options import Options

log = logging.getLogger("zats.client")


class Events:
    """Event reporting of one client (see the module docstring). `loop` is set when the client
    connects."""

    __slots__ = ("loop", "last_error", "_options", "_bg")

    def __init__(self, options: Options):
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.last_error: BaseException | None = None
        self._options = options
        self._bg: set[asyncio.Task[Any]] = set()

    def report(self, exc: BaseException) -> None:
        """Sends an asynchronous error to `error_cb` (or the log)."""
        self.last_error = exc
        cb = self._options.error_cb
        if cb is None:
            log.warning("zats.client: %s: %s", type(exc).__name__, exc)
            return
        self.fire(cb, exc)

    def fire(self, cb: Any, *args: Any) -> None:
        """Calls `cb(*args)` when `cb` is set; an awaitable result runs as a background task."""
        if cb is None:
            return
        try:
            result = cb(*args)
        except Exception:
            log.exception("zats.client: callback %r raised", cb)
            return
        if inspect.isawaitable(result):
            self.spawn(result)  # type: ignore[arg-type]  # what an async def callback returns

    async def fire_and_wait(self, cb: Any, *args: Any) -> None:
        """Calls `cb(*args)` when `cb` is set and awaits an awaitable result."""
        if cb is None:
            return
        try:
            result = cb(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("zats.client: callback %r raised", cb)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Runs `coro` as a task, kept referenced until it is done."""
        task = self.loop.create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)
