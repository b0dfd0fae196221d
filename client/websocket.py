"""The WebSocket byte transport under a `Connection`: what ws:// and wss:// server URLs use.

A NATS connection over WebSocket is the same byte stream as over TCP, cut into binary frames.
picows does the HTTP upgrade and the frame codec (client frames masked, as RFC 6455 requires;
PINGs answered); this module is only the seam between picows and the connection, so that the
parser and the outbound buffer do not know which transport they have:

* `_FrameReader` (a picows listener) copies each data frame's payload into the connection's
  receive buffer through the connection's own `asyncio.BufferedProtocol` methods (`get_buffer` /
  `buffer_updated`), and forwards the transport's flow control and loss;
* `WebSocketTransport` looks like the `asyncio.WriteTransport` the connection and the client
  already write to: `write(data)` sends `data` as one binary frame (the client writes its
  whole outbound buffer at once, so that is one frame per loop iteration), and `pause_reading`,
  `close`, `abort` act on the socket under it.

`open_websocket` connects one `Connection` this way."""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

import picows

from .errors import ProtocolError

if TYPE_CHECKING:
    from .connection import Connection

# The largest frame written: a flush longer than this goes out as several frames.
_MAX_SENT_FRAME = 4 << 20
# nats-server caps a frame it reads at max_payload plus headers; a server may send a whole
# flush (many messages) in one frame, so the cap here is only against a runaway peer.
MAX_FRAME = 64 * 1024 * 1024
_DATA_FRAMES = (picows.WSMsgType.BINARY, picows.WSMsgType.TEXT, picows.WSMsgType.CONTINUATION)


class WebSocketTransport(asyncio.WriteTransport):
    """The write side of one WebSocket connection, as the connection and client see it."""

    def __init__(self, ws: picows.WSTransport):
        super().__init__()
        self._ws = ws
        self._sock = ws.underlying_transport

    def write(self, data: Any) -> None:
        if self._sock.is_closing():
            return
        if len(data) <= _MAX_SENT_FRAME:
            self._ws.send(picows.WSMsgType.BINARY, data)
            return
        # Protocol ops need not align with frames; a server that decodes frames whole (zats)
        # bounds their size, so a large flush goes out in several.
        view = memoryview(data)
        for start in range(0, len(view), _MAX_SENT_FRAME):
            self._ws.send(picows.WSMsgType.BINARY, view[start:start + _MAX_SENT_FRAME])

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def is_closing(self) -> bool:
        return self._sock.is_closing()

    def pause_reading(self) -> None:
        self._sock.pause_reading()

    def resume_reading(self) -> None:
        self._sock.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self._sock.get_write_buffer_size()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._sock.get_extra_info(name, default)

    def close(self) -> None:
        """A close frame, then the socket is closed once what it holds is written."""
        if not self._sock.is_closing():
            self._ws.send_close(picows.WSCloseCode.OK)
            self._ws.disconnect(graceful=True)

    def abort(self) -> None:
        self._sock.abort()


class _FrameReader(picows.WSListener):
    """Feeds the payload of each data frame to the connection as if read from a socket."""

    def __init__(self, conn: Connection):
        self._conn = conn

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self._conn.connection_made(WebSocketTransport(transport))

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type in _DATA_FRAMES:
            conn = self._conn
            payload = frame.get_payload_as_memoryview()
            offset, size = 0, len(payload)
            # A frame larger than the buffer's free space goes in several "reads"; the parser
            # consumes what it can after each, so the buffer grows only for a large message.
            while offset < size and not conn.closed:
                space = conn.get_buffer(size - offset)
                n = min(len(space), size - offset)
                space[:n] = payload[offset:offset + n]
                offset += n
                conn.buffer_updated(n)
        elif frame.msg_type == picows.WSMsgType.CLOSE:
            # The server ends the connection: answer its close frame with its code, as RFC 6455
            # asks. A frame without a code reads as NO_INFO (0), which picows would send as
            # code 0, not a valid code: answer 1000 then.
            code = frame.get_close_code()
            transport.send_close(picows.WSCloseCode.OK if code == picows.WSCloseCode.NO_INFO else code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self._conn.connection_lost(None)

    def pause_writing(self) -> None:
        self._conn.pause_writing()

    def resume_writing(self) -> None:
        self._conn.resume_writing()


def websocket_url(uri: Any) -> str:
    """The URL to upgrade at: scheme, host, port and path of `uri`, without credentials (those
    go in CONNECT)."""
    host = uri.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{uri.scheme}://{host}:{uri.port}{uri.path or '/'}"


async def open_websocket(conn: Connection, uri: Any, ssl_context: ssl.SSLContext | None,
                         server_hostname: str | None, timeout: float) -> None:
    """Connects `conn` to the ws:// or wss:// URL `uri` (TLS with `ssl_context` for wss);
    returns once the upgrade is done and `conn` has its transport. A refused upgrade (an HTTP
    answer other than 101, a bad one) raises `ProtocolError`; TLS and socket errors pass."""
    kwargs: dict[str, Any] = {}
    if uri.scheme == "wss":
        kwargs["ssl_context"] = ssl_context or ssl.create_default_context()
        if server_hostname:
            kwargs["server_hostname"] = server_hostname
    url = websocket_url(uri)
    try:
        # picows's own upgrade timeout closes the socket it opened; the caller's timeout (the
        # same length) would only cancel the wait.
        await picows.ws_connect(lambda: _FrameReader(conn), url, websocket_handshake_timeout=timeout,
                                max_frame_size=MAX_FRAME, enable_auto_pong=True, **kwargs)
    except picows.WSError as exc:
        raise ProtocolError(f"WebSocket upgrade with {url} failed: {exc}") from exc
