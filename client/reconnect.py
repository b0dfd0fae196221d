"""`Reconnector`: where a client connects to, and getting it connected again after a break.

Owns the server pool (configured servers and those discovered from INFO `connect_urls`), the
current server, the reconnect task and its loop, and the reconnect count. When a connection
breaks (unless `allow_reconnect=False`) the loop tries the pool in turn, waiting before a server
that was attempted recently (backoff with jitter, `servers.backoff_delay`), until a handshake
succeeds or every server has used up `max_reconnect_attempts`; then the client is closed with
`NoServersError`. A server that announces lame duck mode is marked (it goes last in the pool) and,
when another server is known, the client moves away from it at once.

What goes out first on the new connection (every subscription restored, then what was published
during the outage and kept by the outbound buffer) is the client's `install` step. The client
passes in what the loop needs from it: `open(srv)` (connect and handshake, raising on failure),
`install(conn, srv)`, `close(reason)`, `force_reconnect(conn)` (drop `conn` so that the loop takes
over) and `is_reconnecting()`."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .errors import NoServersError
from .servers import Server, ServerPool, backoff_delay, monotonic

if TYPE_CHECKING:
    from .events import Events
    from .options import Options


class Reconnector:
    """The server pool and the reconnect loop of one client (see the module docstring)."""

    def __init__(self, options: Options, events: Events, *,
                 open: Callable[[Server], Awaitable[Any]], install: Callable[[Any, Server], None],
                 close: Callable[[BaseException], Awaitable[None]],
                 force_reconnect: Callable[[Any], None], is_reconnecting: Callable[[], bool]):
        self.options = options
        self.events = events
        self.pool = ServerPool(options.servers, randomize=not options.dont_randomize)
        self.current: Server | None = None
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None
        self._open = open
        self._install = install
        self._close = close
        self._force_reconnect = force_reconnect
        self._is_reconnecting = is_reconnecting

    def start(self) -> None:
        """Starts the reconnect loop (the client has just set its status to RECONNECTING)."""
        self._task = self.events.loop.create_task(self._run())

    def stop(self) -> None:
        """Cancels the reconnect loop, unless it is the caller (it closes the client itself)."""
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._task = None

    async def _run(self) -> None:
        opts = self.options
        pool = self.pool
        events = self.events
        try:
            while self._is_reconnecting():
                srv = pool.next(opts.max_reconnect_attempts)
                if srv is None:
                    events.report(NoServersError("reconnect attempts exhausted"))
                    await self._close(NoServersError("reconnect attempts exhausted"))
                    return
                jitter = opts.reconnect_jitter_tls if (opts.tls or srv.uri.scheme in ("tls", "wss")) else opts.reconnect_jitter
                delay = backoff_delay(srv, now=monotonic(), wait=opts.reconnect_time_wait,
                                      max_wait=opts.reconnect_max_wait, jitter=jitter)
                if delay > 0:
                    await asyncio.sleep(delay)
                    if not self._is_reconnecting():
                        return
                try:
                    conn = await self._open(srv)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    srv.reconnects += 1
                    srv.last_attempt = monotonic()
                    events.report(exc)
                    continue
                if not self._is_reconnecting():
                    conn.abort()
                    return
                self.reconnects += 1
                self._install(conn, srv)
                events.fire(opts.reconnected_cb)
                return
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def add_discovered(self, urls: list[str], *, tls: bool, initial: bool) -> None:
        """Adds INFO `connect_urls` to the pool; `discovered_server_cb` runs when that added a
        server after the first INFO of the connection."""
        added = self.pool.add_discovered(urls, current=self.current, tls=tls)
        if added and not initial:
            self.events.fire(self.options.discovered_server_cb)

    def on_lame_duck(self, conn: Any) -> None:
        """The current server (connection `conn`) entered lame duck mode."""
        srv = self.current
        if srv is not None:
            srv.lame_duck = True
        opts = self.options
        self.events.fire(opts.lame_duck_mode_cb)
        if not (opts.allow_reconnect and opts.lame_duck_reconnect):
            return
        if any(s is not srv and not s.lame_duck for s in self.pool):
            # Move to another server before this one starts closing connections; spread the
            # moves of many clients a little.
            self.events.loop.call_later(random.uniform(0, 0.25), self._force_reconnect, conn)
