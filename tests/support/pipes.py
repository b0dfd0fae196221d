"""Clients that reach an in-process Broker through Broker.connect_in_process instead of a
socket. `in_process(broker)` makes the running loop's create_connection (what zats.client and
nats-py call to connect) open in-process connections to `broker`, so their unchanged code speaks
to it over the in-process transport. `RawPeer` is a raw client protocol for what a library
would not do (stop reading, look at the bytes)."""

from __future__ import annotations

import asyncio
import contextlib
import re


@contextlib.contextmanager
def in_process(broker):
    """While active, every create_connection on the running loop goes to `broker` in-process
    (whatever host and port it names)."""
    loop = asyncio.get_running_loop()

    async def create_connection(protocol_factory, host=None, port=None, **kwargs):
        protocol = protocol_factory()
        return broker.connect_in_process(protocol), protocol

    loop.create_connection = create_connection
    try:
        yield
    finally:
        del loop.create_connection


class RawPeer(asyncio.Protocol):
    """A client protocol that keeps what it reads: `await expect(pattern)` consumes up to the
    match; `lost` is done when the transport is gone."""

    def __init__(self):
        self.transport = None
        self.buf = b""
        self.lost: asyncio.Future = asyncio.get_running_loop().create_future()
        self._more = asyncio.Event()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._more.set()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        self._more.set()

    def send(self, data: bytes) -> None:
        self.transport.write(data)

    async def expect(self, pattern: bytes, timeout: float = 5.0) -> re.Match:
        rx = re.compile(pattern, re.S)
        async with asyncio.timeout(timeout):
            while True:
                m = rx.match(self.buf)
                if m:
                    self.buf = self.buf[m.end():]
                    return m
                if self.lost.done():
                    raise AssertionError(f"closed; have {self.buf[:300]!r}")
                self._more.clear()
                await self._more.wait()
