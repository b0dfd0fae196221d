"""What slows a consumer's deliveries down, as nats-server paces them: the push flow-control
window (`flow_control: true`), the `rate_limit_bps` token bucket and the `replay_policy:
original` clock. Pure bookkeeping: the consumer asks and arms its own timers."""

from __future__ import annotations

import random
import time

# nats-server's JsFlowControlMaxPending: the window grows from 1/16 of it, doubling per answer.
FLOW_CONTROL_MAX_PENDING = 32 * 1024 * 1024
_FC_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class FlowControl:
    """Bytes delivered and not yet confirmed by an answer to a `100 FlowControl Request`.
    Delivery stops while more than `window` bytes are unconfirmed; a request goes out once half
    the window is used, and its answer releases what was delivered up to it."""

    __slots__ = ("prefix", "window", "limit", "unconfirmed", "asked_at", "request_id")

    def __init__(self, prefix: str, limit: int = FLOW_CONTROL_MAX_PENDING):
        self.prefix = prefix  # "$JS.FC.<stream>.<consumer>."
        self.limit = limit
        self.window = max(limit // 16, 1)
        self.unconfirmed = 0
        self.asked_at = 0  # unconfirmed bytes when the outstanding request went out
        self.request_id = ""  # reply subject of the outstanding request, "" for none

    def stalled(self) -> bool:
        return self.unconfirmed > self.window

    def delivered(self, size: int) -> str | None:
        """Counts a delivery; returns the reply subject of a flow-control request to send now."""
        self.unconfirmed += size
        if not self.request_id and self.unconfirmed > self.window // 2:
            self.asked_at = self.unconfirmed
            self.request_id = self.prefix + "".join(random.choices(_FC_ALPHABET, k=4))
            return self.request_id
        if self.request_id and self.unconfirmed - self.asked_at >= self.window:
            self.asked_at += size
        return None

    def answered(self, subject: str) -> bool:
        """An answer arrived on `subject`; True when it releases bytes (only the newest counts)."""
        if not self.request_id or subject != self.request_id:
            return False
        self.window = min(self.window * 2, self.limit)
        self.unconfirmed = max(self.unconfirmed - self.asked_at, 0)
        self.request_id, self.asked_at = "", 0
        return True


class RateLimiter:
    """A token bucket of `bps / 8` bytes a second, full at the start, holding at most `burst`
    bytes (nats-server: the stream's max_msg_size, else the server's max_payload)."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, bps: int, burst: int):
        self.rate = max(bps // 8, 1)
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def delay(self) -> float:
        """Seconds to wait before the next delivery may go (0: now)."""
        self._refill()
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def take(self, size: int) -> None:
        self._refill()
        self.tokens -= size
