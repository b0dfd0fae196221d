"""The server pool and the reconnect backoff policy.

The pool holds the configured servers and those discovered from INFO `connect_urls`, in the
order they are tried (shuffled unless `dont_randomize`). Each server counts its failed attempts
since it was last connected to; one past `max_reconnect_attempts` leaves the pool. Before trying
a server that was attempted recently the client waits `reconnect_time_wait` (doubling per
failure up to `reconnect_max_wait` when that is larger) plus a random jitter, so that a fleet of
clients does not reconnect in lockstep. A server that announced lame duck mode goes last."""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import ParseResult

from .errors import ZatsError
from .options import parse_url

# The URL schemes that connect over WebSocket (websocket.py; imported only when one is used).
WS_SCHEMES = ("ws", "wss")


@dataclass(eq=False)
class Server:
    """One pool entry. `uri` is a parsed URL with scheme and port."""

    uri: ParseResult
    discovered: bool = False
    reconnects: int = 0
    last_attempt: float | None = None
    lame_duck: bool = False
    tls_name: str | None = None

    @property
    def host(self) -> str:
        return self.uri.hostname or ""

    @property
    def port(self) -> int:
        return self.uri.port or 0

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.uri.scheme}://{self.netloc}"

    def __repr__(self) -> str:
        return f"<Server {self.url} reconnects={self.reconnects}>"


def _is_ip(host: str | None) -> bool:
    try:
        ipaddress.ip_address(host or "")
        return True
    except ValueError:
        return False


class ServerPool:
    """Ordered server pool with per-server attempt counts."""

    def __init__(self, urls: list[str], *, randomize: bool = True, rng: random.Random | None = None):
        self._rng = rng or random.Random()
        self.randomize = randomize
        self.servers: list[Server] = [Server(parse_url(u)) for u in urls]
        if len({s.uri.scheme in WS_SCHEMES for s in self.servers}) > 1:
            # As nats.go and nats.py: one client speaks WebSocket to all its servers or to none.
            raise ZatsError("mixing of websocket and non websocket URLs is not allowed")
        if randomize:
            self._rng.shuffle(self.servers)

    def __len__(self) -> int:
        return len(self.servers)

    def __iter__(self) -> Iterator[Server]:
        return iter(list(self.servers))

    def find(self, netloc: str) -> Server | None:
        for s in self.servers:
            if s.netloc == netloc:
                return s
        return None

    def add_discovered(self, urls: list[str], *, current: Server | None, tls: bool) -> list[Server]:
        """Adds INFO `connect_urls` entries ("host:port") not in the pool yet; returns the new
        ones. They use the current server's scheme (ws/wss too: nats-server sends a WebSocket
        client its `ws_connect_urls` as `connect_urls`, and nats.go dials them so); when TLS is on and the URL is an IP
        address, the current server's host name is kept for certificate checks."""
        scheme = current.uri.scheme if current is not None else "nats"
        added = []
        for raw in urls:
            try:
                uri = parse_url(raw if "://" in raw else f"{scheme}://{raw}")
            except Exception:
                continue
            srv = Server(uri, discovered=True)
            if self.find(srv.netloc) is not None:
                continue
            if tls and current is not None and _is_ip(uri.hostname):
                srv.tls_name = current.tls_name or current.host
            added.append(srv)
        if self.randomize:
            self._rng.shuffle(added)
        self.servers.extend(added)
        return added

    def next(self, max_attempts: int) -> Server | None:
        """The next server to try, rotated to the back of the pool; None when no server has
        attempts left. `max_attempts < 0` means no limit. Lame duck servers come last."""
        while self.servers:
            candidates = [s for s in self.servers if not s.lame_duck] or self.servers
            s = candidates[0]
            self.servers.remove(s)
            if max_attempts >= 0 and s.reconnects > max_attempts:
                continue
            self.servers.append(s)
            return s
        return None


def backoff_delay(server: Server, *, now: float, wait: float, max_wait: float | None,
                  jitter: float, rng: random.Random = random) -> float:  # type: ignore[assignment]
    """Seconds to sleep before trying `server`: 0 when it was not attempted within the wait
    period, else the rest of that period plus jitter. The period doubles with each consecutive
    failure up to `max_wait` (when it is larger than `wait`)."""
    if server.last_attempt is None:
        return 0.0
    period = wait
    if max_wait is not None and max_wait > wait and server.reconnects > 1:
        period = min(wait * (2 ** (server.reconnects - 1)), max_wait)
    remaining = server.last_attempt + period - now
    if remaining <= 0:
        return 0.0
    return remaining + (rng.uniform(0, jitter) if jitter > 0 else 0.0)


def monotonic() -> float:
    return time.monotonic()
