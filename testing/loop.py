"""The event loop the in-process test brokers run on: one asyncio loop in a daemon thread, shared
by every broker `zats.testing` starts in the process.

Why a thread of its own rather than the test's loop: a broker must keep serving while the test
runs, whatever the test runs on. pytest-asyncio runs each test (and each loop scope) on a loop
that turns only while that test runs, anyio has its own runner per backend, sync tests have no
loop at all, and a session-scoped broker outlives every test's loop. A broker on its own loop in
a thread serves all of them the same way; the cost is a thread hop when the test calls into the
broker (`run()`), never on the traffic itself, which goes over loopback sockets."""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()


def _shutdown() -> None:
    loop = _loop
    if loop is not None and loop.is_running():
        loop.call_soon_threadsafe(loop.stop)


def background_loop() -> asyncio.AbstractEventLoop:
    """The shared loop, started on first use (its thread is a daemon, stopped at exit)."""
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            threading.Thread(target=_serve, args=(loop, ready), name="zats-testing-loop",
                             daemon=True).start()
            ready.wait()
            _loop = loop
            atexit.register(_shutdown)
        return _loop


def run(coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
    """Runs `coro` on the shared loop and returns its result (or raises its exception). Called
    from the loop's own thread it would wait for itself, so that is refused."""
    loop = background_loop()
    if threading.current_thread().name == "zats-testing-loop":
        coro.close()
        raise RuntimeError("zats.testing: run() called from the broker loop itself; await instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def call(fn: Callable[..., T], *args: Any) -> T:
    """Calls `fn(*args)` on the shared loop (to read or change broker state safely)."""

    async def _call() -> T:
        return fn(*args)

    return run(_call())
