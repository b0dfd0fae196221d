"""The request/reply multiplexer: one wildcard subscription `<inbox>.<random>.*` shared by every
`request()` of a connection, each request waiting on a future keyed by the last token of its
reply subject. A reply whose header block says status 503 (sent by the server when nobody is
subscribed to the request subject) fails the request with `NoRespondersError`."""

from __future__ import annotations

import asyncio
import os
from base64 import b32encode
from typing import TYPE_CHECKING, Any

from .errors import NoRespondersError
from .msg import Msg

if TYPE_CHECKING:
    from .events import Events
    from .subscription import Subscription

_STATUS_503 = b"503"


def random_token(nbytes: int = 12) -> str:
    """A random subject token (base32, upper case and digits)."""
    return b32encode(os.urandom(nbytes)).decode().rstrip("=")


class RequestMux:
    """Pending requests of one connection, keyed by reply token (bytes)."""

    __slots__ = ("_events", "prefix", "_prefix_b", "_plen", "_waiting", "_counter", "sub")

    def __init__(self, events: Events, inbox_prefix: str):
        self._events = events
        self.prefix = f"{inbox_prefix}.{random_token()}."
        self._prefix_b = self.prefix.encode()
        self._plen = len(self._prefix_b)
        self._waiting: dict[bytes, tuple[asyncio.Future[Msg], Any, str]] = {}
        self._counter = 0
        self.sub: Subscription | None = None

    @property
    def subject(self) -> str:
        """The wildcard subject the mux subscribes to."""
        return self.prefix + "*"

    def new_request(self, decode: Any, subject: str) -> tuple[bytes, bytes, asyncio.Future[Msg]]:
        """(reply subject, token, future) for a new request to `subject`."""
        self._counter += 1
        token = b"%x" % self._counter
        fut = self._events.loop.create_future()
        self._waiting[token] = (fut, decode, subject)
        return self._prefix_b + token, token, fut

    def forget(self, token: bytes) -> None:
        self._waiting.pop(token, None)

    def deliver(self, subject: bytes, reply: bytes | None, view: memoryview, hview: memoryview | None) -> None:
        """Dispatch entry of the mux subscription: completes the matching request."""
        entry = self._waiting.pop(subject[self._plen:], None)
        if entry is None:
            return
        fut, decode, req_subject = entry
        if fut.done():
            return
        if hview is not None and len(view) == 0 and hview[9:12] == _STATUS_503:
            fut.set_exception(NoRespondersError(req_subject))
            return
        if decode is None:
            data = bytes(view)
        else:
            try:
                data = decode(view)
            except Exception as exc:
                fut.set_exception(exc)
                return
        fut.set_result(Msg(subject.decode(), "" if reply is None else reply.decode(), data,
                           None if hview is None else bytes(hview), self.sub, len(view)))

    def fail_all(self, exc: BaseException) -> None:
        waiting = self._waiting
        self._waiting = {}
        for fut, _, _ in waiting.values():
            if not fut.done():
                fut.set_exception(exc)

    def __len__(self) -> int:
        return len(self._waiting)
