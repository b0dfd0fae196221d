"""The broker's CPU per message over the WebSocket transport against a plain one, in-process:
one publisher and one subscriber (1 -> 1, 128 B payloads, one subject) on each transport, fed
from memory, so that neither sockets nor a load generator sharing the machine blur the figure.

    python benchmarks/bench_ws_transport.py              # 21 rounds of each, interleaved
    python benchmarks/bench_ws_transport.py -n 41 --frame 16384

The WebSocket publisher's bytes arrive as masked binary frames of --frame bytes, in socket reads
of --read bytes (default 256 KiB, uvloop's read size: a saturated broker), through
broker/ws_transport.py's WebSocketTransport; the plain publisher's arrive in reads of as many
bytes (at most 64 KiB) straight into the connection's receive buffer, as from asyncio's socket
transport. Small reads (`--frame 4096 --read 4104`) are a broker that keeps up with its
publisher. What the subscribers are sent is counted and dropped. Figures are
messages per CPU-second of this process (medians, and the best round), and ws/plain.
`zats-bench compare --scenarios WsPubSub128B,PubSub128B` measures the same against nats-server
over real sockets."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from websockets.frames import Frame, Opcode

from zats.broker.connection import ClientConnection
from zats.broker.options import ServerOptions, WebSocketConfig
from zats.broker.server import Broker
from zats.broker.websocket import Upgrade
from zats.broker.ws_transport import WebSocketTransport

READ = 256 * 1024
PLAIN_READ = 64 * 1024
CONNECT = b'CONNECT {"verbose":false,"pedantic":false}\r\n'


class Sink:
    """A socket transport that counts what is written to it."""

    def __init__(self):
        self.bytes = self.writes = 0

    def write(self, data) -> None:
        self.bytes += len(data)
        self.writes += 1

    def writelines(self, chunks) -> None:
        self.bytes += sum(len(c) for c in chunks)
        self.writes += 1

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 1) if name == "peername" else default

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def ws_reads(data: bytes, frame: int, read: int) -> list[bytes]:
    frames = b"".join(Frame(Opcode.BINARY, data[i:i + frame]).serialize(mask=True)
                      for i in range(0, len(data), frame))
    return [frames[i:i + read] for i in range(0, len(frames), read)]


def ws_client(broker: Broker):
    sink = Sink()
    transport = WebSocketTransport(sink, extensions=[], browser=False,
                                   peername=("127.0.0.1", 1), max_frame=8 << 20)
    transport.attach(ClientConnection(broker, broker._new_cid(), websocket=Upgrade()))

    def send(reads: list[bytes]) -> None:
        for data in reads:
            transport.data_received(data)
    return sink, send


def plain_client(broker: Broker, read: int):
    sink = Sink()
    conn = ClientConnection(broker, broker._new_cid())
    conn.connection_made(sink)

    def send(data: bytes) -> None:
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            buf = conn.get_buffer(-1)
            n = min(len(buf), len(view) - pos, read)
            buf[:n] = view[pos:pos + n]
            pos += n
            conn.buffer_updated(n)
    return sink, send


async def run(rounds: int, msgs: int, frame: int, read: int) -> None:
    broker = Broker(ServerOptions(port=0, host="127.0.0.1", websocket=WebSocketConfig(
        port=-1, host="127.0.0.1", no_tls=True)))
    await broker.start()
    try:
        kinds = {}
        for name, make, encode in (
                ("ws", ws_client, lambda d: ws_reads(d, frame, read)),
                ("plain", lambda b: plain_client(b, min(read, PLAIN_READ)), lambda d: d)):
            sub_sink, sub_send = make(broker)
            sub_send(encode(CONNECT + b"SUB ws.%s 1\r\n" % name.encode()))
            _, pub_send = make(broker)
            pub_send(encode(CONNECT))
            pubs = (b"PUB ws.%s 128\r\n%s\r\n" % (name.encode(), b"x" * 128)) * msgs
            kinds[name] = (pub_send, encode(pubs), sub_sink)
        times: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(rounds):
            for name, (send, data, _) in kinds.items():
                start = time.process_time()
                send(data)
                times[name].append(time.process_time() - start)
        rates = {}
        for name, (_, _, sink) in kinds.items():
            rates[name] = msgs / statistics.median(times[name])
            print(f"{name:6} {rates[name] / 1e6:6.3f}M msgs/CPU-s median, "
                  f"{msgs / min(times[name]) / 1e6:6.3f}M best; "
                  f"{sink.writes / rounds:.0f} writes to the subscriber per round")
        print(f"ws/plain {rates['ws'] / rates['plain']:.2f}x")
    finally:
        await broker.stop(quiet=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--rounds", type=int, default=21)
    ap.add_argument("--msgs", type=int, default=100_000, help="messages per round")
    ap.add_argument("--frame", type=int, default=65536, help="payload bytes per client frame")
    ap.add_argument("--read", type=int, default=READ,
                    help="bytes per socket read (the plain one: at most 64 KiB)")
    args = ap.parse_args()
    asyncio.run(run(args.rounds, args.msgs, args.frame, args.read))


if __name__ == "__main__":
    main()
