"""The broker embedded in an application: `async with Broker(port=0)` on the caller's own event
loop, used by the official client nats-py."""

from __future__ import annotations

import asyncio

import nats
import pytest

from support.natspy import barrier
from zats.broker import Broker, ServerOptions
from zats.broker.options import OptionsError


async def test_async_with_broker_serves_nats_py():
    async with Broker(port=0, host="127.0.0.1") as broker:
        assert broker.port > 0
        assert broker.client_url == f"nats://127.0.0.1:{broker.port}"
        nc = await nats.connect(broker.client_url)
        sub = await nc.subscribe("greet.*")
        await nc.publish("greet.joe", b"hi")
        msg = await sub.next_msg(timeout=2)
        assert (msg.subject, msg.data) == ("greet.joe", b"hi")
        assert len(broker.connections) == 1
        await nc.close()
    # After the block the port is closed.
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", broker.port), 2)


async def test_stop_flushes_and_closes_clients():
    broker = await Broker(ServerOptions(host="127.0.0.1", port=0)).start()
    closed = asyncio.Event()

    async def on_closed():
        closed.set()

    nc = await nats.connect(broker.client_url, allow_reconnect=False, closed_cb=on_closed)
    got = []

    async def on_msg(msg):
        got.append(msg.data)

    # (A callback: stop() waits until the client has read everything and seen the close, and
    # nats-py's next_msg() refuses to hand out messages once its connection is closed.)
    await nc.subscribe("x", cb=on_msg)
    await barrier(nc)
    # Published by a raw connection in the same read as the stop: queued, then flushed.
    reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
    await reader.readline()
    writer.write(b'CONNECT {"verbose":false}\r\nPUB x 2\r\nok\r\nPING\r\n')
    assert await reader.readline() == b"PONG\r\n"
    await broker.stop()
    await asyncio.wait_for(closed.wait(), 5)
    assert got == [b"ok"]
    writer.close()


def test_inconsistent_options_are_refused_like_nats_server():
    with pytest.raises(OptionsError, match=r"max_payload \(2000000\) cannot be higher than max_pending"):
        Broker(ServerOptions(max_payload=2_000_000, max_pending=1_000_000))


async def test_a_busy_port_raises_and_releases_the_ports_already_bound():
    """The client port binds before the monitoring port: when the second fails, start() raises
    (an OSError, as a failed bind always was) and the first port is free again."""
    import socket

    from support.servers import free_port

    client_port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        broker = Broker(host="127.0.0.1", port=client_port, http_port=busy.getsockname()[1])
        with pytest.raises(OSError, match="can't listen to the monitor port"):
            await broker.start()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", client_port))
        s.listen()
    async with Broker(host="127.0.0.1", port=client_port) as again:
        assert again.port == client_port
