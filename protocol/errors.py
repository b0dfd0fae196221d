"""Every `-ERR` text nats-server sends to clients, as named constants, and the frame that carries
one. Whether an error closes the connection is the sender's decision; `CLOSING` lists the texts
after which nats-server closes."""

from __future__ import annotations

UNKNOWN_PROTOCOL = "Unknown Protocol Operation"
AUTH_VIOLATION = "Authorization Violation"
AUTH_TIMEOUT = "Authentication Timeout"
MAX_PAYLOAD = "Maximum Payload Violation"
MAX_CONTROL_LINE = "maximum control line exceeded"
STALE_CONNECTION = "Stale Connection"
MAX_CONNECTIONS = "maximum connections exceeded"
MAX_SUBSCRIPTIONS = "maximum subscriptions exceeded"
INVALID_CLIENT_PROTOCOL = "invalid client protocol"
NO_RESPONDERS_REQUIRES_HEADERS = "no responders requires headers support"
INVALID_SUBJECT = "Invalid Subject"
INVALID_PUBLISH_SUBJECT = "Invalid Publish Subject"
SECURE_CONNECTION_REQUIRED = "Secure Connection - TLS Required"


def permissions_publish(subject: str) -> str:
    return f'Permissions Violation for Publish to "{subject}"'


def permissions_subscribe(subject: str) -> str:
    return f'Permissions Violation for Subscription to "{subject}"'


def permissions_reply(subject: str) -> str:
    return f'Permissions Violation for Publish with Reply of "{subject}"'


CLOSING = frozenset(
    {
        UNKNOWN_PROTOCOL,
        AUTH_VIOLATION,
        AUTH_TIMEOUT,
        MAX_PAYLOAD,
        MAX_CONTROL_LINE,
        STALE_CONNECTION,
        MAX_CONNECTIONS,
        INVALID_CLIENT_PROTOCOL,
        NO_RESPONDERS_REQUIRES_HEADERS,
        SECURE_CONNECTION_REQUIRED,
    }
)


def err_frame(text: str) -> bytes:
    """`-ERR '<text>'\\r\\n`, exactly as nats-server writes it."""
    return b"-ERR '" + text.encode() + b"'\r\n"


class ProtocolError(Exception):
    """Raised by a parser on input that ends the connection.

    `text` is the -ERR text to send before closing, or None where nats-server closes silently
    (for example a PUB with a non-numeric size)."""

    def __init__(self, text: str | None, detail: str = ""):
        super().__init__(detail or text or "protocol error")
        self.text = text
