"""`Connection`: one TCP (or TLS) connection to a server, as an `asyncio.BufferedProtocol`.

The event loop reads straight into the connection's `ReceiveBuffer` (`get_buffer` /
`buffer_updated`), and each read is parsed at once by `ServerOpsParser`; MSG frames go from the
parser straight to the subscriptions through the `subtable.SubTable`'s dispatch and run tables,
HMSG frames through its `on_hmsg`, so every message of a read is delivered before the next read,
with no task or queue per message.

Until the handshake is over (`INFO` received, `CONNECT` + `PING` sent, `PONG` received) the
connection answers to `info_fut` and `pong_fut`; afterwards async INFO, PONG, -ERR, the loss of
the connection and the transport's flow control go to the client through the callables it
passes in (see `Connection`). PINGs are answered here. Writes are the client's job (it owns the
outbound buffer, which outlives a connection): after each read the connection calls its
`write_pending` so that what the read's callbacks published goes out in one write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import msgspec

from zats.protocol.buffer import ReceiveBuffer
from zats.protocol.errors import ProtocolError as WireProtocolError
from zats.protocol.frames import PONG
from zats.protocol.parser import ServerOpsParser
from zats.protocol.structs import Info, decode_info

from .errors import ConnectionLostError, ProtocolError, error_from_server

if TYPE_CHECKING:
    from .subtable import SubTable

RECEIVE_MIN = 4096
RECEIVE_MAX = 256 * 1024
# Bytes parsed in one event-loop iteration before reading pauses until the next one. uvloop (like
# libuv) reads a socket up to 32 times per readiness event; without a cap one iteration can queue
# tens of thousands of messages before any consumer task runs, which costs more than it saves.
READ_BURST = 256 * 1024

_INFO_REQUIRED_DEFAULTS = {
    "server_id": "", "server_name": "", "version": "0.0.0", "proto": 1, "go": "", "host": "",
    "port": 0, "headers": False, "max_payload": 1024 * 1024,
}


def parse_info(arg: bytes) -> Info:
    """The INFO argument as an `Info`; fields nats-server always sends but another server may
    not are filled with defaults."""
    try:
        return decode_info(arg)
    except msgspec.ValidationError:
        raw = msgspec.json.decode(arg)
        if not isinstance(raw, dict):
            raise
        for key, value in _INFO_REQUIRED_DEFAULTS.items():
            raw.setdefault(key, value)
        return msgspec.convert(raw, Info)


def _noop() -> None:
    pass


class Connection(asyncio.BufferedProtocol):
    """The protocol object of one connection attempt (see the module docstring).

    What it calls once the handshake is over and the client made it the active connection
    (`active`): `on_info(conn, info)` (async INFO), `on_err(conn, text)` (-ERR), `on_pong()`,
    `on_lost(conn, exc)`, `on_pause()` / `on_resume()` (the transport's flow control);
    `report(exc)` for bad data (the connection is then dropped) and `write_pending()` after each
    read."""

    def __init__(self, loop: asyncio.AbstractEventLoop, subs: SubTable, *,
                 report: Callable[[BaseException], None], write_pending: Callable[[], None],
                 on_info: Callable[[Connection, Info], None], on_err: Callable[[Connection, str], None],
                 on_pong: Callable[[], None], on_lost: Callable[[Connection, Any], None],
                 on_pause: Callable[[], None], on_resume: Callable[[], None]):
        self._loop = loop
        self._subs = subs
        self._report = report
        self._write_pending = write_pending
        self._info_cb = on_info
        self._err_cb = on_err
        self._pong_cb = on_pong
        self._lost_cb = on_lost
        self._pause_cb = on_pause
        self._resume_cb = on_resume
        self.transport: asyncio.Transport | None = None
        self.rb = ReceiveBuffer(RECEIVE_MIN, RECEIVE_MAX)
        self.info: Info | None = None
        self.info_fut: asyncio.Future[Info] = loop.create_future()
        self.pong_fut: asyncio.Future[None] = loop.create_future()
        self.closed_fut: asyncio.Future[None] = loop.create_future()
        self.handshaking = True
        self.active = False
        self.paused = False
        self.closed = False
        self.tls = False
        self._burst = 0
        self._throttled = False
        # With a dispatch table the parser never calls on_msg.
        self.parser = ServerOpsParser(SimpleNamespace(
            on_msg=None, on_hmsg=subs.on_hmsg, on_info=self._on_info, on_ok=_noop,
            on_err=self._on_err, on_ping=self._on_ping, on_pong=self._on_pong),
            dispatch=subs.dispatch, runs=subs.runs)

    # ---- asyncio.BufferedProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a socket transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.rb.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        rb = self.rb
        rb.received(nbytes)
        parser = self.parser
        try:
            consumed = parser.parse(rb.buf, rb.view, rb.filled)
        except WireProtocolError as exc:
            self._fail(ProtocolError(f"bad data from the server: {exc}"))
            return
        except Exception as exc:  # a bug: report it and drop the connection
            self._fail(exc)
            return
        finally:
            if parser.msgs:
                subs = self._subs
                subs.in_msgs += parser.msgs
                subs.in_bytes += parser.bytes
                parser.msgs = parser.bytes = 0
        rb.consume(consumed, parser.need)
        # What callbacks of this read published (replies, typically) goes now, one write for the
        # whole read, rather than on the next loop iteration.
        self._write_pending()
        burst = self._burst
        if not burst:
            self._loop.call_soon(self._end_burst)
        burst += nbytes
        self._burst = burst
        if burst > READ_BURST and not self._throttled and not self.closed:
            self._throttled = True
            self.transport.pause_reading()  # type: ignore[union-attr]  # connected

    def _end_burst(self) -> None:
        self._burst = 0
        if self._throttled:
            self._throttled = False
            if not self.closed:
                self.transport.resume_reading()  # type: ignore[union-attr]  # connected

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        lost = ConnectionLostError(f"connection lost: {exc}" if exc else "connection closed")
        for fut in (self.info_fut, self.pong_fut):
            if not fut.done():
                fut.set_exception(lost)
                fut.exception()  # mark retrieved: nobody may be waiting any more
        if not self.closed_fut.done():
            self.closed_fut.set_result(None)
        if self.active:
            self._lost_cb(self, exc)

    def pause_writing(self) -> None:
        self.paused = True
        if self.active:
            self._pause_cb()

    def resume_writing(self) -> None:
        self.paused = False
        if self.active:
            self._resume_cb()

    # ---- parser handler (MSG/HMSG go to the subscription table)

    def _on_info(self, arg: bytes) -> None:
        info = parse_info(arg)
        self.info = info
        if not self.info_fut.done():
            self.info_fut.set_result(info)
        else:
            self._info_cb(self, info)

    def _on_err(self, text: str) -> None:
        if self.handshaking:
            err = error_from_server(text)
            for fut in (self.info_fut, self.pong_fut):
                if not fut.done():
                    fut.set_exception(err)
                    fut.exception()
        else:
            self._err_cb(self, text)

    def _on_ping(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(PONG)

    def _on_pong(self) -> None:
        if self.handshaking:
            self.handshaking = False
            if not self.pong_fut.done():
                self.pong_fut.set_result(None)
        else:
            self._pong_cb()

    # ---- control

    def _fail(self, exc: Exception) -> None:
        self._report(exc)
        self.abort()

    def abort(self) -> None:
        """Drops the connection at once (unsent data is lost)."""
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def close(self) -> None:
        """Closes after writing what the transport holds."""
        if self.transport is not None and not self.closed:
            self.transport.close()

    async def wait_closed(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self.closed_fut)
        except TimeoutError:
            self.abort()
