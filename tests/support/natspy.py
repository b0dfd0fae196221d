"""Helpers for tests that drive the official client nats-py."""

from __future__ import annotations


async def barrier(nc, timeout: float = 5.0) -> None:
    """`nc.flush()` made strict: returns once the server processed everything sent before.

    nats-py 2.16's `flush()` writes its PING straight to the socket while commands issued in the
    same event-loop step may still sit in the client's pending buffer, so the PONG can come back
    before the server has seen them. Handing that buffer to the socket first restores the
    barrier."""
    await nc._flush_pending(force_flush=True)
    await nc.flush(timeout=timeout)
