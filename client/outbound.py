"""`Outbound`: the client's outbound buffer, the base class of `Client`.

Owns the one outbound `bytearray` and everything about writing it: `publish()` is a plain call
that appends the frame to it; the first append after a write schedules one write for the next
event-loop iteration (`loop.call_soon`), and a buffer past `flush_threshold` is handed to the
transport at once, so a burst of publishes costs one syscall. The buffer is swapped for a fresh
one on each write, never copied, and it outlives a connection: what is published while
reconnecting is sent after the subscriptions are restored.

Outbound memory is bounded: while the transport is paused (the socket does not drain) the buffer
may grow to `max_outbound_bytes`, while reconnecting to `reconnect_buffer_size`; past that
`publish()` raises `OutboundBufferFullError` and `apublish()` / `wait_writable()` wait for room.
`publish()` checks nothing but the buffer length against `_out_check_at` on the way; the slow
checks (status, limits) happen in `_make_room()` once the buffer reaches it.

It is a base class rather than an object the client holds so that `publish()` costs no attribute
hop more than appending to the buffer does. Its state (the `_out*` attributes, `_can_write`,
`_flush_scheduled`, `_transport`, `_pub_heads`, `_max_payload`, `_pings_unsent`...) is touched
only here; the client drives it through the methods under "interface for the client" below, and
reads the counters `_out_msgs` and `_out_bytes` and `_pings_unsent` (PINGs not written yet:
their flushes survive a broken connection). It reads from the client: `options`, `_codec`,
`_loop` (the running loop, set on connect) and `_status` (see `status.py`), the latter only off
the hot path, to choose a limit and an error."""

from __future__ import annotations

import asyncio
from typing import Any

from zats.protocol.frames import PING
from zats.protocol.headers import HeadersLike, encode_headers

from .codec import Codec
from .errors import (
    BadHeaderError,
    BadSubjectError,
    ConnectionClosedError,
    ConnectionDrainingError,
    MaxPayloadError,
    OutboundBufferFullError,
)
from .msg import DONE, _Done
from .options import Options
from .status import CLOSED, CONNECTED, CONNECTING, DISCONNECTED, DRAINING_PUBS, DRAINING_SUBS, RECONNECTING

_SIZE_LINES = [b"%d\r\n" % i for i in range(4096)]
_CRLF = b"\r\n"
_WHITESPACE = (b" ", b"\t", b"\r", b"\n")
_HEAD_CACHE_MAX = 8192
_BUFFER_TYPES = (bytes, bytearray, memoryview)


def _check_token(value: bytes, what: str) -> bytes:
    if not value:
        raise BadSubjectError(f"empty {what}")
    for ch in _WHITESPACE:
        if ch in value:
            raise BadSubjectError(f"{what} {value!r} contains whitespace")
    return value


def as_token(value: str | bytes, what: str) -> bytes:
    """`value` (a subject, reply subject or queue group) as bytes; raises `BadSubjectError` when
    it is empty or contains whitespace, `TypeError` when it is not str or bytes."""
    if type(value) is str:
        return _check_token(value.encode(), what)
    if isinstance(value, (bytes, bytearray)):
        return _check_token(bytes(value), what)
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


class Outbound:
    """The outbound buffer and publishing (see the module docstring)."""

    options: Options
    _codec: Codec
    _loop: asyncio.AbstractEventLoop
    _status: int

    def _init_outbound(self) -> None:
        self._transport: asyncio.WriteTransport | None = None
        self._max_payload = 1024 * 1024
        self._server_headers = True
        self._out = bytearray()
        self._out_check_at = -1  # publish() calls _make_room() once len(_out) reaches this
        self._can_write = False
        self._flush_scheduled = False
        self._pub_heads: dict[str | bytes, bytes] = {}
        self._typed_size_guess = b"00"
        self._writable_waiters: list[asyncio.Future[None]] = []
        self._pings_unsent = 0  # PINGs appended since the last write
        self._out_msgs = 0
        self._out_bytes = 0

    # ------------------------------------------------------------------ publish

    def publish(self, subject: str | bytes, payload: Any = b"", reply: str | bytes | None = None,
                headers: HeadersLike | None = None) -> _Done:
        """Queues a message for `subject` and returns at once (a plain call: the write happens
        on the next loop iteration, or now when the outbound buffer is past `flush_threshold`).

        `payload` is bytes, bytearray or memoryview (sent as is), or any object msgspec can
        encode (a `msgspec.Struct`, dict, list...), encoded with the connection's codec straight
        into the outbound buffer. `headers` is a `Headers`, a dict (a list value repeats the
        key) or a list of pairs. Raises `MaxPayloadError`, `BadSubjectError`,
        `OutboundBufferFullError` (see `apublish()`), `ConnectionClosedError`. The returned
        object may be awaited (for code written for nats-py); that completes at once."""
        out = self._out
        if len(out) >= self._out_check_at:
            out = self._make_room()
        if reply is None and headers is None and type(payload) is bytes:
            n = len(payload)
            if n > self._max_payload:
                raise MaxPayloadError(f"payload of {n} bytes exceeds max_payload {self._max_payload}")
            head = self._pub_heads.get(subject)
            if head is None:
                head = self._pub_head(subject)
            out += head
            out += _SIZE_LINES[n] if n < 4096 else b"%d\r\n" % n
            out += payload
            out += _CRLF
            self._out_msgs += 1
            self._out_bytes += n
        else:
            self._publish_slow(out, subject, payload, reply, headers)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._write_out)
        return DONE

    def _publish_trusted(self, subject: str | bytes, reply: bytes, payload: bytes) -> None:
        """`publish(subject, payload, reply)` for the package's own frames whose `reply` it
        built or got from the server (a JetStream publish's ack inbox, a message's ack
        subject): no check of `reply`, no header, `payload` bytes."""
        out = self._out
        if len(out) >= self._out_check_at:
            out = self._make_room()
        n = len(payload)
        if n > self._max_payload:
            raise MaxPayloadError(f"payload of {n} bytes exceeds max_payload {self._max_payload}")
        head = self._pub_heads.get(subject)
        if head is None:
            head = self._pub_head(subject)
        out += head
        out += reply
        out += b" "
        out += _SIZE_LINES[n] if n < 4096 else b"%d\r\n" % n
        out += payload
        out += _CRLF
        self._out_msgs += 1
        self._out_bytes += n
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._write_out)

    def _publish_ack(self, subject: bytes, body: bytes) -> None:
        """Publishes `body` to `subject`, an ack subject the server sent (no check, no
        cache of its head: each is used once)."""
        out = self._out
        if len(out) >= self._out_check_at:
            out = self._make_room()
        out += b"PUB "
        out += subject
        out += b" "
        out += _SIZE_LINES[len(body)]
        out += body
        out += _CRLF
        self._out_msgs += 1
        self._out_bytes += len(body)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._write_out)

    async def apublish(self, subject: str | bytes, payload: Any = b"", reply: str | bytes | None = None,
                       headers: HeadersLike | None = None) -> None:
        """`publish()` that waits for room in the outbound buffer instead of raising
        `OutboundBufferFullError`."""
        while True:
            try:
                self.publish(subject, payload, reply, headers)
                return
            except OutboundBufferFullError:
                await self.wait_writable()

    async def wait_writable(self, timeout: float | None = None) -> None:
        """Waits until the outbound buffer has room (below its current limit)."""
        while len(self._out) >= self._current_limit():
            if self._status in (CLOSED, DRAINING_PUBS):
                raise ConnectionClosedError("connection closed")
            fut = self._loop.create_future()
            self._writable_waiters.append(fut)
            async with asyncio.timeout(timeout):
                await fut

    @property
    def pending_data_size(self) -> int:
        """Bytes in the outbound buffer, not yet handed to the transport."""
        return len(self._out)

    @property
    def max_payload(self) -> int:
        """The current server's `max_payload` (1 MiB before the first INFO)."""
        return self._max_payload

    @property
    def outbound_limit(self) -> int:
        """Current bound of the outbound buffer (depends on whether reconnecting)."""
        return self._current_limit()

    def _current_limit(self) -> int:
        if self._status == RECONNECTING:
            return self.options.reconnect_buffer_size
        return self.options.max_outbound_bytes

    def _wake_writable(self) -> None:
        ws = self._writable_waiters
        if ws:
            self._writable_waiters = []
            for w in ws:
                if not w.done():
                    w.set_result(None)

    def _make_room(self) -> bytearray:
        """Called when the outbound buffer reached `_out_check_at`: writes it out when the
        transport takes data, else raises once it is at its limit."""
        st = self._status
        if st == CLOSED or st == DISCONNECTED or st == CONNECTING:
            raise ConnectionClosedError("not connected" if st != CLOSED else "connection closed")
        if st == DRAINING_PUBS:
            raise ConnectionDrainingError("connection draining: no more publishes")
        if self._can_write:
            self._write_out()
            return self._out
        limit = self._current_limit()
        if len(self._out) >= limit:
            what = "reconnect_buffer_size" if st == RECONNECTING else "max_outbound_bytes"
            raise OutboundBufferFullError(
                f"outbound buffer full ({len(self._out)} bytes, {what}={limit}): the server or the "
                f"network is not keeping up; await wait_writable() or use apublish()")
        self._out_check_at = limit
        return self._out

    def _pub_head(self, subject: str | bytes) -> bytes:
        sb = as_token(subject, "subject")
        head = b"PUB " + sb + b" "
        heads = self._pub_heads
        if len(heads) >= _HEAD_CACHE_MAX:
            heads.clear()
        heads[subject] = head
        return head

    def _publish_slow(self, out: bytearray, subject: str | bytes, payload: Any, reply: str | bytes | None,
                      headers: HeadersLike | None) -> None:
        head = self._pub_heads.get(subject)
        if head is None:
            head = self._pub_head(subject)
        sb = head[4:-1]
        rb = b"" if reply is None or reply == "" else as_token(reply, "reply subject") + b" "
        hdr = None
        if headers is not None:
            if not self._server_headers:
                raise BadHeaderError("the server does not support headers")
            try:
                hdr = encode_headers(headers)
            except (ValueError, TypeError) as exc:
                raise BadHeaderError(str(exc)) from None
        if isinstance(payload, _BUFFER_TYPES):
            n = payload.nbytes if type(payload) is memoryview else len(payload)
            if n > self._max_payload:
                raise MaxPayloadError(f"payload of {n} bytes exceeds max_payload {self._max_payload}")
            if hdr is None:
                out += b"PUB %b %b%d\r\n" % (sb, rb, n)
            else:
                hl = len(hdr)
                out += b"HPUB %b %b%d %d\r\n" % (sb, rb, hl, hl + n)
                out += hdr
            out += payload
            out += _CRLF
        else:
            if isinstance(payload, str):
                raise TypeError("payload must be bytes-like or an object for the codec; "
                                "encode str payloads first")
            n = self._encode_payload(out, sb, rb, hdr, payload)
        self._out_msgs += 1
        self._out_bytes += n

    def _encode_payload(self, out: bytearray, sb: bytes, rb: bytes, hdr: bytes | None, obj: Any) -> int:
        """Writes a PUB/HPUB frame whose payload msgspec encodes straight into `out`; the size
        field is written after encoding (a guess of its width is reserved, and corrected by an
        in-place move when wrong)."""
        start = len(out)
        hl = 0 if hdr is None else len(hdr)
        if hdr is None:
            out += b"PUB %b %b" % (sb, rb)
        else:
            out += b"HPUB %b %b%d " % (sb, rb, hl)
        size_at = len(out)
        guess = self._typed_size_guess
        out += guess
        out += _CRLF
        if hdr is not None:
            out += hdr
        body_at = len(out)
        try:
            self._codec.encoder.encode_into(obj, out, -1)
        except Exception:
            del out[start:]
            raise
        n = len(out) - body_at
        if n > self._max_payload:
            del out[start:]
            raise MaxPayloadError(f"payload of {n} bytes exceeds max_payload {self._max_payload}")
        digits = b"%d" % (n + hl)
        out[size_at:size_at + len(guess)] = digits
        if len(digits) != len(guess):
            self._typed_size_guess = b"0" * len(digits)
        out += _CRLF
        return n

    # ------------------------------------------------------------------ writing

    def _write_out(self) -> None:
        """Hands the outbound buffer to the transport (when connected and not paused)."""
        self._flush_scheduled = False
        if not self._can_write:
            return
        out = self._out
        if out:
            self._out = bytearray()
            self._pings_unsent = 0
            self._transport.write(out)  # type: ignore[union-attr]  # _can_write: attached

    def _on_pause_writing(self) -> None:
        self._can_write = False
        self._out_check_at = self.options.max_outbound_bytes

    def _on_resume_writing(self) -> None:
        if self._status in (CONNECTED, DRAINING_SUBS, DRAINING_PUBS, CLOSED) and self._transport is not None:
            self._can_write = True
            if self._status != CLOSED:
                self._out_check_at = self.options.flush_threshold
            self._write_out()
            self._wake_writable()

    # ------------------------------------------------------------------ interface for the client

    def _set_server_limits(self, max_payload: int, headers: bool) -> None:
        """The current server's `max_payload` and whether it takes headers (from its INFO)."""
        self._max_payload = max_payload
        self._server_headers = headers

    def _attach_transport(self, transport: asyncio.WriteTransport, *, paused: bool) -> None:
        """Writes go to `transport` from now on (a connection was installed)."""
        self._transport = transport
        self._can_write = not paused
        self._out_check_at = self.options.flush_threshold if self._can_write else self.options.max_outbound_bytes

    def _detach_transport(self) -> None:
        """The connection is gone: keep buffering, write nothing."""
        self._transport = None
        self._can_write = False

    def _hold_for_reconnect(self) -> None:
        """While reconnecting, publishes are kept up to `reconnect_buffer_size`."""
        self._out_check_at = self.options.reconnect_buffer_size

    def _stop_publishes(self) -> None:
        """From now on every publish() goes to `_make_room()`, which refuses it (by status)."""
        self._out_check_at = -1

    def _prepend(self, frames: bytearray) -> None:
        """Puts `frames` before everything buffered (the subscriptions restored after a
        reconnect go before what was published meanwhile)."""
        frames += self._out
        self._out = frames

    def _append_control(self, frame: bytes) -> None:
        """Appends a protocol frame (SUB, UNSUB) and schedules the write."""
        self._out += frame
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._write_out)

    def _send_ping(self) -> None:
        """Appends a PING and writes it out now."""
        self._out += PING
        self._pings_unsent += 1
        self._write_out()

    def _write_pending(self) -> None:
        """Writes now what is waiting for the scheduled write (after a read whose callbacks
        published, typically replies: one write for the whole read)."""
        if self._flush_scheduled:
            self._write_out()

    def _write_if_writable(self) -> None:
        """Writes now when the transport takes data (a request waiting for its reply)."""
        if self._can_write:
            self._write_out()

    def _write_final(self, transport: asyncio.WriteTransport) -> None:
        """Hands what is buffered to `transport` whether or not it is paused (closing)."""
        out = self._out
        if out:
            self._out = bytearray()
            transport.write(out)
