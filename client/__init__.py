"""zats.client: an asyncio NATS client built for throughput, for zats and any nats-server.

Quick start::

    import zats.client

    async with zats.client.connect("nats://127.0.0.1:4222") as nc:
        sub = await nc.subscribe("greet.*")
        nc.publish("greet.joe", b"hello")          # a plain call, batched per loop iteration
        await nc.flush()                           # PING/PONG: the server has it
        msg = await sub.next_msg(timeout=1)

        async def handler(msg):                    # async callbacks get owned messages
            msg.respond(b"hi " + msg.data)
        await nc.subscribe("svc.hello", cb=handler)
        reply = await nc.request("svc.hello", b"joe", timeout=1)

Typed payloads (msgspec): `nc.publish("orders", Order(...))` encodes straight into the
outbound buffer; `await nc.subscribe("orders", type=Order)` gives `msg.data` as an `Order`,
decoded straight from the receive buffer.

Which payloads are views: see `zats.client.msg` (plain-function callbacks get zero-copy views
valid only during the call; everything else gets owned bytes).
"""

from __future__ import annotations

from collections.abc import Generator
from types import TracebackType
from typing import Any, Unpack

from zats.protocol.headers import Headers

from . import errors
from .client import Client
from .errors import (
    AuthorizationError,
    ConnectionClosedError,
    ConnectionDrainingError,
    ConnectionLostError,
    DrainTimeoutError,
    FlushTimeoutError,
    MaxPayloadError,
    MsgDecodeError,
    NoRespondersError,
    NoServersError,
    OutboundBufferFullError,
    SlowConsumerError,
    StaleConnectionError,
    TimeoutError,
    ZatsError,
)
from .msg import Msg
from .options import ConnectOptions, Options, make_options
from .status import CLOSED, CONNECTED, CONNECTING, DISCONNECTED, DRAINING_PUBS, DRAINING_SUBS, RECONNECTING
from .subscription import Subscription
from .version import __version__ as __version__  # re-exported


class _Connecting:
    """What `connect()` returns: await it for a `Client`, or use it with `async with` (the
    client is closed on exit)."""

    __slots__ = ("_client",)

    def __init__(self, client: Client):
        self._client = client

    def __await__(self) -> Generator[Any, None, Client]:
        return self._client.connect().__await__()

    async def __aenter__(self) -> Client:
        return await self._client.connect()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._client.close()


def connect(servers: str | list[str] = "nats://127.0.0.1:4222", **options: Unpack[ConnectOptions]) -> _Connecting:
    """Connects to a NATS server: `nc = await connect(...)` or `async with connect(...) as nc`.

    `servers`: one URL or a list ("nats://host:port", "tls://host:port", "host:port";
    "nats://user:pass@host" and "nats://token@host" carry credentials). Options (nats-py's names
    and defaults where it has them):

    - identity and protocol: `name`, `verbose`, `pedantic`, `echo` (False: do not receive own
      messages; `no_echo=True` is accepted too), `codec` ("json" or "msgpack", for typed
      payloads), `inbox_prefix`.
    - auth: `user`/`password`, `token`, `nkeys_seed` (path of a seed file), `nkeys_seed_str`,
      `user_credentials` (path of a `.creds` file), `signature_cb`/`user_jwt_cb`.
    - TLS: `tls` (an `ssl.SSLContext`; a tls:// URL or a server requiring TLS uses the default
      context), `tls_hostname`, `tls_handshake_first` (TLS before INFO, for servers configured
      with `handshake_first`).
    - timing: `connect_timeout` (2 s), `ping_interval` (120 s), `max_outstanding_pings` (2),
      `drain_timeout` (30 s).
    - reconnect: `allow_reconnect` (True), `max_reconnect_attempts` (60 per server, -1: no
      limit), `reconnect_time_wait` (2 s), `reconnect_max_wait` (exponential backoff up to it),
      `reconnect_jitter` (0.1 s) and `reconnect_jitter_tls` (1 s), `dont_randomize`,
      `reconnect_buffer_size` (8 MiB of publishes kept while disconnected),
      `lame_duck_reconnect` (move to another known server when the current one enters lame
      duck mode).
    - memory: `max_outbound_bytes` (64 MiB), `flush_threshold` (64 KiB), `pending_msgs_limit`
      and `pending_bytes_limit` (defaults for subscriptions).
    - events: `error_cb(exc)`, `disconnected_cb()`, `reconnected_cb()`, `closed_cb()`,
      `discovered_server_cb()`, `lame_duck_mode_cb()`; plain or async functions.
    """
    return _Connecting(Client(make_options(servers, **options)))


__all__ = [
    "AuthorizationError", "Client", "ConnectOptions", "ConnectionClosedError", "ConnectionDrainingError",
    "ConnectionLostError", "DrainTimeoutError", "FlushTimeoutError", "Headers", "MaxPayloadError",
    "Msg", "MsgDecodeError", "NoRespondersError", "NoServersError", "Options",
    "OutboundBufferFullError", "SlowConsumerError", "StaleConnectionError", "Subscription",
    "TimeoutError", "ZatsError", "connect", "errors", "CLOSED", "CONNECTED", "CONNECTING",
    "DISCONNECTED", "DRAINING_PUBS", "DRAINING_SUBS", "RECONNECTING",
]
