"""What the route and leafnode managers (cluster.Cluster, leafnode.Leafnodes) share: shutting
down their listener, dial tasks and connections, and flushing soon what they queue outside a
read."""

from __future__ import annotations


class PeerManager:
    """A base for a manager with `broker`, `stopping`, `conns` (its open connections), `_server`
    (its listener or None), `_tasks` (its dial tasks) and `_flush_scheduled`."""

    __slots__ = ()

    def stop(self) -> None:
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self.conns):
            conn.flush()
            conn.close(None, "Server Shutdown")

    def schedule_flush(self) -> None:
        """Flushes what was queued outside a read (a closing client's RS-, a timer) soon."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.broker.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self.broker.flush_touched()
