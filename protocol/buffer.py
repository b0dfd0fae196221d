"""The receive buffer a connection owns: `recv_into` writes into it (via BufferedProtocol's
get_buffer), a parser reads frames straight out of it, and only the unfinished tail of a frame
split across reads is moved to the front. Its size adapts: small while a connection is idle,
doubling up to `max_size` (64 KiB) while reads fill it, up to LARGE_MAX_SIZE while large frames
flow, as large as one frame needs (growing with what has arrived of it), and back to small after
a run of short reads."""

from __future__ import annotations

MIN_SIZE = 512
MAX_SIZE = 65536
# While frames of LARGE_FRAME bytes or more arrive, reads may grow to LARGE_MAX_SIZE: fewer
# read and write system calls per large message (PubSub16K: 0.61x -> 0.71x of nats-server's
# messages per CPU-second in `zats-bench compare`).
LARGE_FRAME = 8192
LARGE_MAX_SIZE = 262144
_SHORT_READS_BEFORE_SHRINK = 2


class ReceiveBuffer:
    __slots__ = ("buf", "view", "filled", "min_size", "max_size", "_short_reads", "_large")

    def __init__(self, min_size: int = MIN_SIZE, max_size: int = MAX_SIZE):
        self.min_size = min_size
        self.max_size = max_size
        self.buf = bytearray(min_size)
        self.view = memoryview(self.buf)
        self.filled = 0
        self._short_reads = 0
        self._large = False  # large frames seen since the buffer last shrank

    def get_buffer(self) -> memoryview:
        """The free space after the unconsumed bytes, for `recv_into`."""
        filled = self.filled
        if not filled:  # the usual case: every byte was parsed. The whole view, no slice.
            return self.view
        if filled == len(self.buf):
            self._resize(len(self.buf) * 2)
        return self.view[self.filled :]

    def received(self, nbytes: int) -> None:
        """Records that `nbytes` were written into the space from `get_buffer`; adapts the size."""
        size = len(self.buf)
        free = size - self.filled
        self.filled += nbytes
        cap = LARGE_MAX_SIZE if self._large and self.max_size < LARGE_MAX_SIZE else self.max_size
        if nbytes == free and size < cap:
            self._resize(min(size * 2, cap))
            self._short_reads = 0
        elif nbytes < size // 2:
            self._short_reads += 1
        else:
            self._short_reads = 0

    def consume(self, upto: int, need: int = 0) -> None:
        """Drops `buf[:upto]` (parsed frames) and keeps the tail. `need` is the total size of the
        unfinished frame at the tail, when known, so that one read can complete it."""
        filled = self.filled
        rest = filled - upto
        if rest == 0:
            self.filled = 0
            if self._short_reads >= _SHORT_READS_BEFORE_SHRINK and len(self.buf) > self.min_size:
                self._replace(self.min_size, 0)
                self._short_reads = 0
                self._large = False
            return
        if upto:
            # Only the unfinished tail is copied. Slice assignment copies with memcpy, so a tail
            # that overlaps its destination goes through a bytes copy first.
            if rest <= upto:
                self.buf[:rest] = self.view[upto:filled]
            else:
                self.buf[:rest] = bytes(self.view[upto:filled])
            self.filled = rest
        if need >= LARGE_FRAME:
            self._large = True
        if need > len(self.buf):
            # Room for the whole frame, but not far ahead of what has arrived of it: a client
            # that declares a large payload and sends a few bytes must not cost megabytes.
            size = min(need, max(rest * 4, MAX_SIZE))
            if size > len(self.buf):
                self._resize(size)

    def _resize(self, size: int) -> None:
        self._replace(size, self.filled)

    def _replace(self, size: int, keep: int) -> None:
        # A new bytearray, never an in-place resize: a memoryview handed to recv_into may still be
        # alive, and resizing an exported bytearray raises BufferError.
        new = bytearray(size)
        if keep:
            new[:keep] = self.view[:keep]
        self.buf = new
        self.view = memoryview(new)
