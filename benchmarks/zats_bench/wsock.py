"""A blocking socket that speaks WebSocket, for the load generator's `ws://` URLs: it offers the
few socket calls the workers make (sendall, recv, recv_into, settimeout, fileno, close), sends
each sendall as one masked binary frame and hands back the payload bytes of the frames it
receives, so the NATS traffic is the same as over a plain socket.

Frames are encoded and decoded by `websockets` (the broker's library); a publisher that sends
the same pre-encoded batch again and again reuses its masked frame (the broker unmasks every
frame all the same; only the client saves the work)."""

from __future__ import annotations

import base64
import os
import socket

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State


class WsSocket:
    def __init__(self, host: str, port: int, timeout: float):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the WebSocket upgrade")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101 "):
            raise ConnectionError(f"WebSocket upgrade refused: {head[:80]!r}")
        self.frames = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
        self.pending = bytearray()  # payload bytes decoded, not yet handed out
        self.eof = False
        self._last: object = None  # the last data sent, and its frame
        self._last_frame = b""
        if rest:
            self._decode(rest)

    # -- sending ---------------------------------------------------------------------------

    def sendall(self, data) -> None:
        if data is not self._last:
            self._last = data
            self._last_frame = Frame(Opcode.BINARY, bytes(data)).serialize(mask=True)
        self.sock.sendall(self._last_frame)

    # -- receiving -------------------------------------------------------------------------

    def _decode(self, raw: bytes) -> None:
        frames = self.frames
        frames.receive_data(raw)
        for frame in frames.events_received():
            if frame.opcode in (Opcode.BINARY, Opcode.TEXT, Opcode.CONT):
                self.pending += frame.data
            elif frame.opcode is Opcode.CLOSE:
                self.eof = True
        for out in frames.data_to_send():  # pongs
            if out:
                self.sock.sendall(out)
        if frames.parser_exc is not None:
            self.eof = True

    def _fill(self, size: int) -> None:
        while not self.pending and not self.eof:
            raw = self.sock.recv(max(size, 65536))
            if not raw:
                self.eof = True
                return
            self._decode(raw)

    def recv_into(self, view, nbytes: int = 0) -> int:
        want = nbytes or len(view)
        self._fill(want)
        n = min(want, len(self.pending))
        view[:n] = self.pending[:n]
        del self.pending[:n]
        return n

    def recv(self, size: int) -> bytes:
        self._fill(size)
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    # -- the rest of the socket ------------------------------------------------------------

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def setsockopt(self, *args) -> None:
        self.sock.setsockopt(*args)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()
