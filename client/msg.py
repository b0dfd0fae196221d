"""`Msg`, one received message, and which of its parts are views into the receive buffer.

Ownership of `msg.data`:

* Messages delivered to an `async def` callback, to `async for`/`next_msg()` and as `request()`
  replies are owned: `data` is `bytes` (or the decoded object for a typed subscription) and the
  message may be kept for as long as wanted.
* Messages delivered to a plain (non-async) callback are zero-copy: `data` is a `memoryview`
  into the connection's receive buffer, and the header block too, valid only until the callback
  returns. Keep `bytes(msg.data)` or `msg.copy()` to hold on to it. Decoding a typed
  subscription's payload (`subscribe(type=...)`) reads straight from that view in every mode.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import msgspec

from zats.protocol.headers import Headers, HeadersLike, decode_headers

from .errors import ZatsError


class Msg(msgspec.Struct, dict=False, weakref=False):
    """A message received on a subscription (or a request's reply).

    `subject` and `reply` are str (`reply` is "" when there is none); `data` is the payload, see
    the module docstring for when it is a view; `headers` is a `Headers` (ordered, multi-valued,
    with `status` and `description`) or None. The last three fields are filled in by the
    subscription that delivers it (subscription.py, mux.py): the header block, the subscription,
    and the payload size it counts in `pending_bytes`."""

    subject: str
    reply: str
    data: Any
    _hdr: Any = None
    _sub: Any = None
    _size: int = 0

    @property
    def headers(self) -> Headers | None:
        """The message headers (decoded on first access), or None when it had none."""
        hdr = self._hdr
        if hdr is None or type(hdr) is Headers:
            return hdr
        hdr = self._hdr = decode_headers(hdr)
        return hdr

    @property
    def header(self) -> Headers | None:
        """Alias of `headers` (nats-py has both)."""
        return self.headers

    @property
    def status(self) -> int | None:
        """The status code of the header line (503, 408, ...), or None."""
        h = self.headers
        return None if h is None else h.status

    @property
    def sid(self) -> int:
        """The subscription id the server delivered this message to (0 for a reply)."""
        return self._sub.sid if self._sub is not None else 0

    @property
    def subscription(self) -> Any:
        """The `Subscription` the message was delivered to (not imported here: subscription.py
        imports this module)."""
        return self._sub

    def respond(self, data: Any = b"", headers: HeadersLike | None = None) -> _Done:
        """Publishes `data` to this message's reply subject. A plain call (the returned object
        may be awaited, for code written for nats-py, and completes at once)."""
        if not self.reply:
            raise ZatsError("message has no reply subject")
        if self._sub is None:
            raise ZatsError("message is not bound to a connection")
        done: _Done = self._sub.client.publish(self.reply, data, headers=headers)
        return done

    def copy(self) -> Msg:
        """An owned copy: `data` and the header block as bytes, safe to keep after a callback."""
        data = self.data
        if isinstance(data, (memoryview, bytearray)):
            data = bytes(data)
        hdr = self._hdr
        if isinstance(hdr, (memoryview, bytearray)):
            hdr = bytes(hdr)
        return Msg(self.subject, self.reply, data, hdr, self._sub, self._size)

    def __repr__(self) -> str:
        data = self.data
        if isinstance(data, memoryview):
            data = bytes(data[:64])
        elif isinstance(data, (bytes, bytearray)):
            data = data[:64]
        return f"<Msg subject={self.subject!r} reply={self.reply!r} data={data!r}>"


class _Done:
    """What `publish()` returns: nothing to wait for, but awaitable so that nats-py code
    (`await nc.publish(...)`) keeps working."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]  # an empty iterator: done at once

    def __repr__(self) -> str:
        return "<published>"


DONE = _Done()

MsgCallback = Callable[[Msg], object]
"""A subscription callback: an `async def cb(msg)` or a plain `def cb(msg)` (see
`Client.subscribe`)."""
