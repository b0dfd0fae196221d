"""Feeds bytes to a protocol parser the way a connection does: through a ReceiveBuffer, as
successive reads, each parsed at once and the unfinished tail kept for the next."""

from __future__ import annotations

from zats.protocol.buffer import ReceiveBuffer
from zats.protocol.errors import ProtocolError


def feed_reads(parser, rb: ReceiveBuffer, chunks) -> None:
    """Each chunk arrives as one read, or several where the buffer offers less room."""
    for chunk in chunks:
        i = 0
        while i < len(chunk):
            space = rb.get_buffer()
            n = min(len(space), len(chunk) - i)
            space[:n] = chunk[i : i + n]
            rb.received(n)
            i += n
            rb.consume(parser.parse(rb.buf, rb.view, rb.filled), parser.need)


def outcome(parser, rb: ReceiveBuffer, chunks, events: list) -> tuple[list, tuple | None]:
    """(the handler's `events`, the error as (-ERR text, detail) or None) after the reads."""
    try:
        feed_reads(parser, rb, chunks)
    except ProtocolError as exc:
        return events, (exc.text, str(exc))
    return events, None


def split_at(data: bytes, cuts) -> list[bytes]:
    """`data` cut at the given offsets (taken modulo its length + 1), in order."""
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {len(data)})
    pieces, start = [], 0
    for stop in bounds:
        pieces.append(data[start:stop])
        start = stop
    return pieces
