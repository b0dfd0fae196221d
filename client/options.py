"""`Options`: every setting of a connection, with nats-py's names and defaults where nats-py has
the setting, and the URL parsing for the server list."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable
from typing import Any, TypedDict, Unpack
from urllib.parse import ParseResult, urlparse

from .errors import ZatsError

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_PORT = 4222
_DEFAULT_PORTS = {"nats": DEFAULT_PORT, "tls": DEFAULT_PORT, "ws": 80, "wss": 443}
DEFAULT_INBOX_PREFIX = "_INBOX"
DEFAULT_PENDING_MSGS_LIMIT = 512 * 1024
DEFAULT_PENDING_BYTES_LIMIT = 128 * 1024 * 1024


@dataclasses.dataclass(kw_only=True)
class Options:
    """Connection settings; see `zats.client.connect` for their meaning."""

    servers: list[str] = dataclasses.field(default_factory=lambda: [DEFAULT_URL])
    name: str | None = None
    verbose: bool = False
    pedantic: bool = False
    echo: bool = True
    user: str | None = None
    password: str | None = None
    token: str | None = None
    nkeys_seed: str | None = None
    nkeys_seed_str: str | None = None
    user_credentials: str | None = None
    user_jwt_cb: Callable[[], str | bytes] | None = None
    signature_cb: Callable[[str], bytes] | None = None
    tls: ssl.SSLContext | None = None
    tls_hostname: str | None = None
    tls_handshake_first: bool = False
    connect_timeout: float = 2.0
    ping_interval: float = 120.0
    max_outstanding_pings: int = 2
    allow_reconnect: bool = True
    max_reconnect_attempts: int = 60
    reconnect_time_wait: float = 2.0
    reconnect_max_wait: float | None = None
    reconnect_jitter: float = 0.1
    reconnect_jitter_tls: float = 1.0
    dont_randomize: bool = False
    reconnect_buffer_size: int = 8 * 1024 * 1024
    max_outbound_bytes: int = 64 * 1024 * 1024
    flush_threshold: int = 64 * 1024
    drain_timeout: float = 30.0
    inbox_prefix: str = DEFAULT_INBOX_PREFIX
    pending_msgs_limit: int = DEFAULT_PENDING_MSGS_LIMIT
    pending_bytes_limit: int = DEFAULT_PENDING_BYTES_LIMIT
    codec: str = "json"
    error_cb: Callable[[Exception], Any] | None = None
    disconnected_cb: Callable[[], Any] | None = None
    reconnected_cb: Callable[[], Any] | None = None
    closed_cb: Callable[[], Any] | None = None
    discovered_server_cb: Callable[[], Any] | None = None
    lame_duck_mode_cb: Callable[[], Any] | None = None
    lame_duck_reconnect: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.servers, str):
            self.servers = [s for s in self.servers.split(",") if s.strip()] or [DEFAULT_URL]
        if not self.servers:
            self.servers = [DEFAULT_URL]
        if self.codec not in ("json", "msgpack"):
            raise ValueError("codec must be 'json' or 'msgpack'")
        if self.flush_threshold <= 0:
            raise ValueError("flush_threshold must be positive")
        if self.max_outbound_bytes < self.flush_threshold:
            raise ValueError("max_outbound_bytes must be at least flush_threshold")


class ConnectOptions(TypedDict, total=False):
    """The keyword options of `connect()` (and `Client(...)`): the fields of `Options` but
    `servers`, and `no_echo` (nats-py's name for `echo=False`). Typed so that editors complete
    them and type checkers check them; `tests/test_typing.py` keeps it in step with `Options`."""

    name: str | None
    verbose: bool
    pedantic: bool
    echo: bool
    no_echo: bool
    user: str | None
    password: str | None
    token: str | None
    nkeys_seed: str | None
    nkeys_seed_str: str | None
    user_credentials: str | None
    user_jwt_cb: Callable[[], str | bytes] | None
    signature_cb: Callable[[str], bytes] | None
    tls: ssl.SSLContext | None
    tls_hostname: str | None
    tls_handshake_first: bool
    connect_timeout: float
    ping_interval: float
    max_outstanding_pings: int
    allow_reconnect: bool
    max_reconnect_attempts: int
    reconnect_time_wait: float
    reconnect_max_wait: float | None
    reconnect_jitter: float
    reconnect_jitter_tls: float
    dont_randomize: bool
    reconnect_buffer_size: int
    max_outbound_bytes: int
    flush_threshold: int
    drain_timeout: float
    inbox_prefix: str
    pending_msgs_limit: int
    pending_bytes_limit: int
    codec: str
    error_cb: Callable[[Exception], Any] | None
    disconnected_cb: Callable[[], Any] | None
    reconnected_cb: Callable[[], Any] | None
    closed_cb: Callable[[], Any] | None
    discovered_server_cb: Callable[[], Any] | None
    lame_duck_mode_cb: Callable[[], Any] | None
    lame_duck_reconnect: bool


def make_options(servers: str | list[str] | None = None, **options: Unpack[ConnectOptions]) -> Options:
    """`Options` from `connect()`'s arguments (a comma-separated string of URLs is split)."""
    if "no_echo" in options:
        options["echo"] = not options.pop("no_echo")
    if servers is None:
        return Options(**options)  # type: ignore[misc]  # no_echo was popped
    if isinstance(servers, str):
        servers = [s for s in servers.split(",") if s.strip()]
    return Options(servers=list(servers), **options)  # type: ignore[misc]


def parse_url(url: str) -> ParseResult:
    """A server URL as a `urllib.parse.ParseResult` with a scheme (nats, tls, ws or wss) and a
    port; "host", "host:port" and "nats://user:pass@host:port" are accepted. ws:// and wss://
    default to ports 80 and 443, as in nats.go."""
    url = url.strip()
    if "://" not in url:
        url = "nats://" + url
    try:
        uri = urlparse(url)
        port = uri.port
    except ValueError as exc:
        raise ZatsError(f"invalid server URL {url!r}: {exc}") from None
    if uri.scheme not in _DEFAULT_PORTS:
        raise ZatsError(f"unsupported scheme in server URL {url!r} (nats://, tls://, ws:// or wss://)")
    if not uri.hostname:
        raise ZatsError(f"no host in server URL {url!r}")
    if port is None:
        uri = uri._replace(netloc=f"{uri.netloc.rstrip(':')}:{_DEFAULT_PORTS[uri.scheme]}")
    return uri
