"""The exceptions zats.client raises or reports to `error_cb`.

Every one derives from `ZatsError`; the names follow nats-py's (`nats.errors`) so that code written
for nats-py catches the same conditions under the same names. Timeouts also derive from the
built-in `TimeoutError` (which `asyncio.TimeoutError` is, from Python 3.11 on)."""

from __future__ import annotations

import builtins


class ZatsError(Exception):
    """Base class of every zats.client error."""


Error = ZatsError


class TimeoutError(ZatsError, builtins.TimeoutError):  # noqa: A001 - same name as nats-py
    """An operation did not complete in time (request, next_msg, flush, connect)."""


class FlushTimeoutError(TimeoutError):
    """`flush()` got no PONG in time."""


class DrainTimeoutError(TimeoutError):
    """`drain()` did not finish in `drain_timeout`; the connection was closed anyway."""


class NoRespondersError(ZatsError):
    """The server answered a request with status 503: nobody is subscribed to the subject."""

    def __init__(self, subject: str = ""):
        super().__init__(f"no responders for {subject!r}" if subject else "no responders")
        self.subject = subject


class ConnectionClosedError(ZatsError):
    """The connection is closed (by `close()`, `drain()` or after giving up reconnecting)."""


class ConnectionDrainingError(ZatsError):
    """The connection is draining: no new subscriptions, and no publishes once subscriptions
    have drained."""


class ConnectionLostError(ZatsError):
    """The connection to the server broke before the operation completed (for example a flush
    whose PING was sent before the break). The client reconnects on its own when allowed."""


class StaleConnectionError(ZatsError):
    """The server did not answer `max_outstanding_pings` PINGs, or sent 'Stale Connection'."""


class NoServersError(ZatsError):
    """No server in the pool could be reached (initial connect, or reconnect attempts ran out)."""


class AuthorizationError(ZatsError):
    """The server refused the credentials ('Authorization Violation')."""


class InvalidUserCredentialsError(ZatsError):
    """A `.creds` file or nkey seed could not be read."""


class SecureConnRequiredError(ZatsError):
    """The server requires TLS and no way to set it up was given."""


class SecureConnFailedError(ZatsError):
    """The TLS handshake with the server failed."""


class MaxPayloadError(ZatsError):
    """A payload is larger than the server's `max_payload`."""


class BadSubjectError(ZatsError):
    """A subject (or queue name) is empty or contains whitespace."""


class BadHeaderError(ZatsError):
    """A header name or value cannot be carried in a NATS/1.0 header block."""


class OutboundBufferFullError(ZatsError):
    """The outbound buffer is past its limit (`max_outbound_bytes` while connected,
    `reconnect_buffer_size` while reconnecting): the server or the network does not keep up.
    Await `wait_writable()` (or use `apublish()`, which does) and publish again."""


SlowProducerError = OutboundBufferFullError


class SlowConsumerError(ZatsError):
    """A subscription's pending limit was reached and messages were dropped. Reported to
    `error_cb` (once per run of drops), never raised to the publisher."""

    def __init__(self, subject: str, sid: int, dropped: int):
        super().__init__(f"slow consumer on {subject!r} (sid {sid}): {dropped} message(s) dropped")
        self.subject = subject
        self.sid = sid
        self.dropped = dropped


class MsgDecodeError(ZatsError):
    """A message for a typed subscription (`subscribe(type=...)`) could not be decoded; it is
    reported to `error_cb` and skipped."""

    def __init__(self, subject: str, cause: Exception):
        super().__init__(f"cannot decode message on {subject!r}: {cause}")
        self.subject = subject
        self.__cause__ = cause


class BadSubscriptionError(ZatsError):
    """The subscription is closed or the operation does not apply to it (for example
    `next_msg()` on a callback subscription)."""


class ServerError(ZatsError):
    """An `-ERR` the server sent that has no more specific class (for example a permissions
    violation); `text` is the server's text."""

    def __init__(self, text: str):
        super().__init__(f"server error: {text}")
        self.text = text


class ProtocolError(ZatsError):
    """The server sent bytes that are not the NATS protocol; the connection is dropped."""


def error_from_server(text: str) -> ZatsError:
    """The exception for an `-ERR` text."""
    low = text.lower()
    if "authorization violation" in low or "authentication" in low or "user authentication" in low:
        return AuthorizationError(text)
    if "stale connection" in low:
        return StaleConnectionError(text)
    if "maximum payload" in low:
        return MaxPayloadError(text)
    if "secure connection" in low:
        return SecureConnRequiredError(text)
    return ServerError(text)
