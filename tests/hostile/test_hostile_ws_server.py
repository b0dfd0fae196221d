"""Hostile probes against zats.client's WebSocket transport: a server on a ws:// URL that refuses
the upgrade, answers it with a bad accept key, sends frames RFC 6455 forbids a server to send
(masked, reserved opcode, a length past any limit), sends bytes that are not the NATS protocol,
or closes in the middle of the session. The offender's connection fails with a clear error
(`NoServersError` with its cause, or a closed client with the reason), never a hang or a
traceback out of the event loop; a bystander client on the same event loop, connected over
ws:// to a real server, keeps working throughout.

The peer is a plain asyncio server writing bytes by hand: the frames it sends are the hostile
part, so no WebSocket library may tidy them up."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct

import pytest
from test_client_support import TIMEOUT

import zats.client as zc
from support.websocket import masked_frame, start_ws_server

pytestmark = pytest.mark.timeout(60)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
INFO = b'INFO {"server_id":"hostile","version":"2.15.1","proto":1,"headers":true,"max_payload":1048576}\r\n'


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """The payload of the client's next frame, unmasked (a client masks every frame)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    assert b1 & 0x80, "a client frame must be masked"
    mask = await reader.readexactly(4)
    data = await reader.readexactly(n)
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def frame(payload: bytes, opcode: int = 2, **kw) -> bytes:
    """A server frame (unmasked), built by hand."""
    return masked_frame(payload, opcode, mask=False, **kw)


class HostilePeer:
    """Accepts connections; answers the HTTP upgrade per `upgrade` ("ok", "404", "bad-key") and
    then plays `script`: an async function of (reader, writer)."""

    def __init__(self, script=None, upgrade: str = "ok"):
        self.script = script
        self.upgrade = upgrade
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> HostilePeer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()  # ends the handler's read
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            if self.upgrade == "404":
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            else:
                if self.upgrade == "bad-key":
                    accept = base64.b64encode(b"x" * 20)
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
                if self.script is not None:
                    await self.script(reader, writer)
            await writer.drain()
            await reader.read()  # until the client goes
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def send_then_wait(data: bytes):
    async def script(reader, writer):
        writer.write(data)
    return script


@pytest.fixture
async def bystander(tmp_path):
    """A client over ws:// to a real nats-server, answering requests on its own subject."""
    srv = start_ws_server("nats-server", tmp_path)
    nc = await zc.connect(srv.ws_url, allow_reconnect=False)
    await nc.subscribe("bystander.svc", cb=lambda m: m.respond(b"ok:" + m.data))
    await nc.flush()

    async def check() -> None:
        for n in range(10):
            reply = await nc.request("bystander.svc", b"%d" % n, timeout=TIMEOUT)
            assert reply.data == b"ok:%d" % n
        assert nc.is_connected

    yield check
    await nc.close()
    srv.proc.stop()


async def _connect_fails(url: str) -> BaseException:
    with pytest.raises(zc.NoServersError) as info:
        await zc.connect(url, allow_reconnect=False, connect_timeout=2)
    return info.value.__cause__


async def test_refused_upgrade(bystander):
    async with HostilePeer(upgrade="404") as peer:
        cause = await _connect_fails(peer.url)
    assert isinstance(cause, zc.errors.ProtocolError) and "upgrade" in str(cause)
    await bystander()


async def test_bad_accept_key(bystander):
    async with HostilePeer(upgrade="bad-key") as peer:
        cause = await _connect_fails(peer.url)
    assert isinstance(cause, zc.errors.ProtocolError) and "upgrade" in str(cause)
    await bystander()


@pytest.mark.parametrize("bad", [
    pytest.param(masked_frame(INFO), id="masked-server-frame"),
    pytest.param(frame(INFO, opcode=3), id="reserved-opcode"),
    pytest.param(frame(b"", length=1 << 62), id="huge-length"),
    pytest.param(frame(b"HELLO THERE\r\n"), id="not-nats"),
    pytest.param(frame(b"\x00" * 64), id="zeros"),
])
async def test_bad_frames_before_info(bad, bystander):
    async with HostilePeer(send_then_wait(bad)) as peer:
        cause = await _connect_fails(peer.url)
    assert isinstance(cause, (zc.errors.ProtocolError, zc.errors.ConnectionLostError)), repr(cause)
    assert "upgrade" not in str(cause)  # the upgrade went through; the frames were the problem
    await bystander()


async def test_close_frame_in_the_middle_of_a_session(bystander):
    """After a good handshake the server sends half a MSG and a close frame: the client (no
    reconnect) ends closed, its subscription ends, nothing escapes."""
    async def script(reader, writer):
        writer.write(frame(INFO))
        while b"PING\r\n" not in await read_frame(reader):
            pass
        writer.write(frame(b"PONG\r\n"))
        await asyncio.sleep(0.2)
        writer.write(frame(b"MSG half 1 10\r\nhel") + frame(struct.pack("!H", 1000), opcode=8))

    errors: list[BaseException] = []
    closed = asyncio.Event()
    async with HostilePeer(script) as peer:
        nc = await zc.connect(peer.url, allow_reconnect=False, connect_timeout=2,
                              error_cb=errors.append, closed_cb=closed.set)
        sub = await nc.subscribe("half")
        await asyncio.wait_for(closed.wait(), TIMEOUT)
        assert not nc.is_connected
        with pytest.raises(zc.ConnectionClosedError):
            await sub.next_msg(TIMEOUT)
    assert not any(isinstance(e, (TypeError, AttributeError, AssertionError)) for e in errors), errors
    await bystander()


@pytest.mark.parametrize("sent, answer", [(b"", b"\x03\xe8"), (b"\x03\xe9bye", b"\x03\xe9")],
                         ids=["no-code", "going-away"])
async def test_close_frame_is_answered(sent, answer, bystander):
    """RFC 6455: the client answers a close frame with one of its own, echoing the code (1000
    when the server gave none; never an invalid code)."""
    answers: list[bytes] = []

    async def script(reader, writer):
        writer.write(frame(INFO))
        while b"PING\r\n" not in await read_frame(reader):
            pass
        writer.write(frame(b"PONG\r\n"))
        await asyncio.sleep(0.1)
        writer.write(frame(sent, opcode=8))
        answers.append(await read_frame(reader))

    closed = asyncio.Event()
    async with HostilePeer(script) as peer:
        await zc.connect(peer.url, allow_reconnect=False, connect_timeout=2, closed_cb=closed.set)
        await asyncio.wait_for(closed.wait(), TIMEOUT)
        for _ in range(100):
            if answers:
                break
            await asyncio.sleep(0.02)
    assert answers == [answer]
    await bystander()
