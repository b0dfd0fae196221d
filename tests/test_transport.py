"""The transport seam (broker/transport.py): a client connection over the in-process transport
(Broker.connect_in_process) speaks the same protocol as one over a socket, with parsing and
delivery untouched: real traffic from zats.client and nats-py (pub/sub, request/reply across
transports, headers), a slow consumer, closing from either side, TLS as nats-server treats
in-process clients, and the pipe's own ordering and flow control. zats only: nats-server has
no in-process connections for a Python client."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest

import zats.client as zc
from support.pipes import RawPeer, in_process
from zats.broker import Broker
from zats.broker.options import TLSConfig
from zats.broker.transport import pipe

pytestmark = pytest.mark.timeout(30)


async def _until(condition, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_pub_sub_with_zats_client():
    async with Broker(port=0, host="127.0.0.1") as broker:
        with in_process(broker):
            nc = await zc.connect(broker.client_url, allow_reconnect=False)
        try:
            sub = await nc.subscribe("greet.*")
            nc.publish("greet.joe", b"hi")
            for i in range(1000):  # a burst: many reads' worth through the pipe, in order
                nc.publish("greet.many", b"%d" % i)
            msg = await sub.next_msg(timeout=2)
            assert (msg.subject, msg.data) == ("greet.joe", b"hi")
            got = [(await sub.next_msg(timeout=2)).data for _ in range(1000)]
            assert got == [b"%d" % i for i in range(1000)]
            [conn] = broker.connections.values()
            assert conn.in_process and (conn.ip, conn.port) == ("", 0) and len(conn.subs) == 1
        finally:
            await nc.close()


async def test_request_reply_across_transports():
    """A responder over the pipe answers a requester on a socket, and the other way round."""
    async with Broker(port=0, host="127.0.0.1") as broker:
        with in_process(broker):
            inner = await zc.connect(broker.client_url, allow_reconnect=False)
        outer = await zc.connect(broker.client_url, allow_reconnect=False)
        try:
            async def echo(msg):
                msg.respond(b"echo " + msg.data)

            await inner.subscribe("svc.inner", cb=echo)
            await outer.subscribe("svc.outer", cb=echo)
            await inner.flush()
            await outer.flush()
            assert (await outer.request("svc.inner", b"a", timeout=2)).data == b"echo a"
            assert (await inner.request("svc.outer", b"b", timeout=2)).data == b"echo b"
            assert sorted(c.in_process for c in broker.connections.values()) == [False, True]
        finally:
            await inner.close()
            await outer.close()


async def test_headers_across_transports():
    async with Broker(port=0, host="127.0.0.1") as broker:
        with in_process(broker):
            inner = await zc.connect(broker.client_url, allow_reconnect=False)
        outer = await zc.connect(broker.client_url, allow_reconnect=False)
        try:
            to_inner = await inner.subscribe("h.in")
            to_outer = await outer.subscribe("h.out")
            await inner.flush()
            await outer.flush()
            outer.publish("h.in", b"one", headers={"X-Id": "1"})
            inner.publish("h.out", b"two", headers={"X-Id": "2"})
            m1 = await to_inner.next_msg(timeout=2)
            m2 = await to_outer.next_msg(timeout=2)
            assert (m1.data, m1.headers["X-Id"]) == (b"one", "1")
            assert (m2.data, m2.headers["X-Id"]) == (b"two", "2")
        finally:
            await inner.close()
            await outer.close()


async def test_nats_py_over_the_pipe():
    """nats-py reads with a stream protocol (data_received), not a buffered one."""
    async with Broker(port=0, host="127.0.0.1") as broker:
        with in_process(broker):
            nc = await nats.connect(broker.client_url, allow_reconnect=False)
        try:
            sub = await nc.subscribe("n.*")
            await nc.publish("n.1", b"x" * 300_000)  # more than one read of the pipe
            msg = await sub.next_msg(timeout=2)
            assert (msg.subject, len(msg.data)) == ("n.1", 300_000)
        finally:
            await nc.close()


async def test_a_slow_consumer_over_the_pipe_is_cut_off():
    """A client that stops reading: the broker's writes wait in the pipe until they pass
    max_pending, then the client is closed as a slow consumer; the publisher goes on."""
    async with Broker(port=0, host="127.0.0.1", max_pending=256 * 1024,
                      max_payload=64 * 1024) as broker:
        slow = RawPeer()
        broker.connect_in_process(slow)
        await slow.expect(rb"INFO \{.*?\} \r\n")
        slow.send(b'CONNECT {"verbose":false}\r\nSUB big 1\r\nPING\r\n')
        await slow.expect(rb"PONG\r\n")
        slow.transport.pause_reading()
        async with zc.connect(broker.client_url, allow_reconnect=False) as pub:
            for _ in range(64):
                pub.publish("big", b"x" * 16384)
            await pub.flush()
            await asyncio.wait_for(slow.lost, 5)
            assert broker.slow_consumers == 1
            assert [c.in_process for c in broker.connections.values()] == [False]
            await pub.flush()  # the publisher is unharmed


async def test_closing_from_either_side():
    async with Broker(port=0, host="127.0.0.1") as broker:
        # The client closes: the broker drops the connection and its subscriptions.
        with in_process(broker):
            nc = await zc.connect(broker.client_url, allow_reconnect=False)
        await nc.subscribe("x")
        await nc.flush()
        assert len(broker.connections) == 1
        await nc.close()
        await _until(lambda: not broker.connections)
        assert not broker.global_account.sublist.match(b"x").plain
        # The broker closes: an -ERR, then end of file.
        bad = RawPeer()
        broker.connect_in_process(bad)
        bad.send(b"FOO\r\n")
        await bad.expect(rb"INFO \{.*?\} \r\n-ERR 'Unknown Protocol Operation'\r\n")
        await asyncio.wait_for(bad.lost, 2)
        await _until(lambda: not broker.connections)
        # The broker stops: its in-process clients see the connection end.
        with in_process(broker):
            last = await zc.connect(broker.client_url, allow_reconnect=False)
    await _until(lambda: last.is_closed)
    with pytest.raises(ConnectionRefusedError):
        broker.connect_in_process(RawPeer())


async def test_tls_is_available_not_required_in_process(tmp_path):
    """As nats-server: a broker that requires TLS on its port lets in-process clients in
    without it (INFO says tls_available)."""
    trustme = pytest.importorskip("trustme")
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    tls = TLSConfig(cert_file=str(cert_file), key_file=str(key_file))
    async with Broker(port=0, host="127.0.0.1", tls=tls) as broker:
        peer = RawPeer()
        broker.connect_in_process(peer)
        info = json.loads((await peer.expect(rb"INFO (\{.*?\}) \r\n")).group(1))
        assert info.get("tls_available") is True and "tls_required" not in info
        peer.send(b'CONNECT {"verbose":false}\r\nSUB t 1\r\nPUB t 2\r\nok\r\nPING\r\n')
        await peer.expect(rb"MSG t 1 2\r\nok\r\nPONG\r\n")
        # Over the socket TLS is still required.
        reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
        info = json.loads((await reader.readline())[5:])
        assert info["tls_required"] is True and "tls_available" not in info
        writer.close()


async def test_the_pipe_keeps_order_and_flow_control():
    """Bytes written while the reader is paused wait in the writer's buffer (pause_writing past
    the high-water mark), arrive in order when it resumes, and close brings end of file."""

    class Writer(asyncio.Protocol):
        def __init__(self):
            self.events = []
            self.lost = asyncio.get_running_loop().create_future()

        def pause_writing(self):
            self.events.append("pause")

        def resume_writing(self):
            self.events.append("resume")

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    a, b = pipe(asyncio.get_running_loop())
    writer, reader = Writer(), RawPeer()
    a.connect(writer)
    b.connect(reader)
    b.pause_reading()
    a.set_write_buffer_limits(high=1000)
    a.write(b"x" * 600)
    a.write(bytearray(b"y" * 600))
    for _ in range(3):
        await asyncio.sleep(0)
    assert (reader.buf, a.get_write_buffer_size(), writer.events) == (b"", 1200, ["pause"])
    b.resume_reading()
    await reader.expect(b"x" * 600 + b"y" * 600)
    assert (a.get_write_buffer_size(), writer.events) == (0, ["pause", "resume"])
    a.close()
    assert await asyncio.wait_for(reader.lost, 2) is None
    assert await asyncio.wait_for(writer.lost, 2) is None
