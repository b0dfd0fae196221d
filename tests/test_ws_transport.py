"""broker/ws_transport.py's WebSocketTransport on its own, between a recording socket and a
connection that reads through a real ReceiveBuffer: frames cut into reads of every size (one
byte, across headers and payloads, many frames a read) give the connection exactly the
payloads, in order, with pings answered; what the connection writes reaches a client as
binary frames of exactly those bytes, whatever their length; the payloads of one read reach the connection in one
buffer when they fit (one parse and one flush per read); a connection that pauses reading gets
the rest only after it resumes. zats only: what a client sees over a real socket, against
nats-server, is in test_websocket.py and hostile/test_hostile_websocket.py."""

from __future__ import annotations

import random

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from zats.broker.ws_transport import WebSocketTransport
from zats.protocol.buffer import ReceiveBuffer


class Socket:
    """The socket transport under the WebSocketTransport: records what is written."""

    def __init__(self):
        self.written = bytearray()
        self.reading = True

    def write(self, data) -> None:
        self.written += data

    def writelines(self, chunks) -> None:
        for chunk in chunks:
            self.written += chunk

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class Reader:
    """A connection reading through a ReceiveBuffer, as WireConnection does; records each
    buffer handed over, and pauses reading after `pause_after` of them."""

    def __init__(self, pause_after: int | None = None):
        self.rbuf = ReceiveBuffer()
        self.closed = False
        self.chunks: list[bytes] = []
        self.pause_after = pause_after
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def get_buffer(self, hint: int) -> memoryview:
        return self.rbuf.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        rbuf = self.rbuf
        rbuf.received(nbytes)
        self.chunks.append(bytes(rbuf.view[:rbuf.filled]))
        rbuf.consume(rbuf.filled)
        if self.pause_after is not None and len(self.chunks) >= self.pause_after:
            self.transport.pause_reading()


def transport(conn: Reader) -> tuple[WebSocketTransport, Socket]:
    sock = Socket()
    ws = WebSocketTransport(sock, extensions=[], browser=False, peername=None,
                            max_frame=8 << 20)
    ws.attach(conn)
    return ws, sock


def client_frame(opcode: Opcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=True)


def test_payloads_arrive_whole_whatever_the_reads():
    rng = random.Random(7)
    payloads = [bytes(rng.randrange(256) for _ in range(n))
                for n in (0, 1, 125, 126, 127, 65535, 65536, 70000, 3, 200_000)]
    stream = b"".join(client_frame(Opcode.BINARY, p) for p in payloads[:5])
    stream += client_frame(Opcode.PING, b"are you there")
    stream += b"".join(client_frame(Opcode.BINARY, p) for p in payloads[5:])
    for sizes in ([1], [2, 3, 5, 7], [1000, 1], [65536], [262144], [len(stream)]):
        conn = Reader()
        ws, sock = transport(conn)
        pos = 0
        while pos < len(stream):
            n = rng.choice(sizes)
            ws.data_received(stream[pos:pos + n])
            pos += n
        assert b"".join(conn.chunks) == b"".join(payloads), sizes
        assert bytes(sock.written) == Frame(Opcode.PONG, b"are you there").serialize(mask=False)
        assert not conn.closed


def test_writes_reach_a_client_as_binary_frames():
    sizes = (1, 125, 126, 127, 65535, 65536, 70000)
    ws, sock = transport(Reader())
    for n in sizes:
        ws.write(bytearray(bytes([n % 251]) * n))
    ws.write(b"")  # nothing to send: no empty frame
    client = Protocol(Side.CLIENT, state=State.OPEN)
    client.receive_data(bytes(sock.written))
    frames = client.events_received()
    assert [(f.opcode, f.fin, f.data) for f in frames] == [
        (Opcode.BINARY, True, bytes([n % 251]) * n) for n in sizes]


def test_writes_to_a_browser_go_in_frames_of_4096_bytes():
    sock = Socket()
    ws = WebSocketTransport(sock, extensions=[], browser=True, peername=None, max_frame=1 << 20)
    ws.attach(Reader())
    data = bytes(range(256)) * 40  # 10,240 bytes
    ws.write(bytearray(data))
    client = Protocol(Side.CLIENT, state=State.OPEN)
    client.receive_data(bytes(sock.written))
    frames = client.events_received()
    assert [len(f.data) for f in frames] == [4096, 4096, 2048]
    assert b"".join(f.data for f in frames) == data


def test_the_payloads_of_one_read_go_over_in_one_buffer():
    payloads = [b"PUB a 1\r\nx\r\n" * 1000] * 8  # 8 frames of 12,000 bytes, 96 KB in all
    read = b"".join(client_frame(Opcode.BINARY, p) for p in payloads)
    conn = Reader()
    ws, _ = transport(conn)
    for _ in range(12):
        ws.data_received(read)
    # The buffer grows (doubling) to what a read brings; from then on, one buffer per read.
    assert conn.chunks[-3:] == [b"".join(payloads)] * 3
    assert b"".join(conn.chunks) == b"".join(payloads) * 12


def test_a_paused_connection_gets_the_rest_when_it_resumes():
    payloads = [bytes([n]) * 100_000 for n in range(4)]
    read = b"".join(client_frame(Opcode.BINARY, p) for p in payloads)
    conn = Reader(pause_after=1)
    ws, sock = transport(conn)
    ws.data_received(read)
    assert len(conn.chunks) == 1 and not sock.reading
    received = len(conn.chunks[0])
    assert received < len(read)
    conn.pause_after = None
    ws.resume_reading()
    assert sock.reading
    assert b"".join(conn.chunks) == b"".join(payloads)
