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
INVALID_SUBSCRIPTION = "Invalid Subscription"  # interest from a route or leaf
INVALID_PUBLISH_SUBJECT = "Invalid Publish Subject"
SECURE_CONNECTION_REQUIRED = "Secure Connection - TLS Required"


def permissions_publish(subject: bytes) -> str:
    return f"Permissions Violation for Publish to {go_quote(subject)}"


def permissions_reply(reply: bytes) -> str:
    return f"Permissions Violation for Publish with Reply of {go_quote(reply)}"


def permissions_subscribe(subject: bytes, queue: bytes | None = None) -> str:
    if queue:
        return (f"Permissions Violation for Subscription to {go_quote(subject)} "
                f"using queue {go_quote(queue)}")
    return f"Permissions Violation for Subscription to {go_quote(subject)}"


_GO_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t",
               0x0B: "\\v", 0x22: '\\"', 0x5C: "\\\\"}


def go_quote(raw: bytes) -> str:
    """`raw` as Go's %q (strconv.Quote) writes it, which nats-server uses for subjects in its
    -ERR texts: double quotes; printable characters as they are; \\n-style escapes; \\xNN for
    bytes that are not UTF-8 and for other control characters; \\uNNNN / \\UNNNNNNNN for other
    unprintable characters."""
    text = raw.decode("utf-8", errors="surrogateescape")
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = ['"']
    for ch in text:
        code = ord(ch)
        if code in _GO_ESCAPES:
            out.append(_GO_ESCAPES[code])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


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
