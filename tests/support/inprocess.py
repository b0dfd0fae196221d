"""Runs a zats Broker in-process on its own event loop in a background thread, so blocking test
code (raw sockets, subprocesses) can talk to a broker built with any ServerOptions."""

from __future__ import annotations

import asyncio
import threading

from zats.broker import Broker, ServerOptions


class ThreadedBroker:
    def __init__(self, **options):
        options.setdefault("host", "127.0.0.1")
        options.setdefault("port", 0)
        self.broker = Broker(ServerOptions(**options))
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.broker.start())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_until_complete(self.broker.wait_stopped())

    def start(self) -> ThreadedBroker:
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise self._error
        return self

    def call(self, fn, *args):
        """Runs fn(*args) on the broker's loop and returns its result."""
        fut = asyncio.run_coroutine_threadsafe(_call(fn, *args), self.loop)
        return fut.result(10)

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.broker.stop(), self.loop).result(10)
            self._thread.join(10)
        self.loop.close()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self.broker.port

    @property
    def http_port(self) -> int:
        return self.broker.http_port

    @property
    def url(self) -> str:
        return self.broker.client_url


async def _call(fn, *args):
    return fn(*args)
