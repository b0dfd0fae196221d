"""Running a command's coroutine: one event loop per command, and SIGINT/SIGTERM turned into a
clean stop (the `stopped` event) for the commands that run until interrupted (sub, reply), so
that they close their connection and exit 0 as the nats CLI does."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable


def run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Runs `main(stopped)`; `stopped` is set on SIGINT or SIGTERM."""

    async def wrapper() -> None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        await main(stopped)

    asyncio.run(wrapper())


async def wait_any(stopped: asyncio.Event, *aws: Awaitable, timeout: float | None = None) -> None:
    """Waits until `stopped` is set, one of `aws` completes, or `timeout` passes; cancels the
    rest (re-raising what a completed one raised)."""
    tasks = [asyncio.ensure_future(a) for a in (stopped.wait(), *aws)]
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
    for t in done:
        if not t.cancelled() and t.exception() is not None:
            raise t.exception()
