"""Raw route and leafnode peers for black-box wire tests: a socket that dials a server's cluster
or leafnode port, does the handshake as a nats-server peer would (no pooling, no compression),
and reads protocol ops back, answering the server's PINGs."""

from __future__ import annotations

import itertools
import json
import re
import time

from .servers import free_port
from .wire import Wire

ROUTE_PEER_ID = "NPEERZATSTESTROUTE0000000000000000000000000000000000000"
LEAF_PEER_ID = "NPEERZATSTESTLEAF00000000000000000000000000000000000000"

# Ops of the server that no test is about: nats-server's system-account interest and gossip.
_NOISE = (b"INFO ", b"A+", b"A-")


def cluster_flags(port: int, name: str = "C1", auth: str = "") -> list[str]:
    return ["--cluster", f"nats://{auth}127.0.0.1:{port}", "--cluster_name", name]


def leaf_config(port: int, extra: str = "") -> str:
    """A configuration with a leafnode listener on `port` (no authorization)."""
    return f"leafnodes {{ listen: 127.0.0.1:{port} }}\n{extra}"


class Peer(Wire):
    """A raw route or leaf connection. `op()` returns the next protocol op the server sent,
    answering its PINGs and skipping what is not about the test."""

    msg_ops = (b"RMSG", b"HMSG", b"LMSG")

    def __init__(self, host: str, port: int, timeout: float = 3.0):
        # A server listens on its client port first: its cluster or leaf port may be a moment
        # later.
        deadline = time.monotonic() + 5
        while True:
            try:
                super().__init__(host, port, timeout)
                return
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def op(self, timeout: float = 5.0) -> tuple[bytes, bytes | None]:
        deadline = time.monotonic() + timeout
        while True:
            eol = self.buf.find(b"\r\n")
            if eol < 0:
                if not self._fill(deadline):
                    raise AssertionError(f"no op in time; have {self.buf[:300]!r}")
                continue
            line = self.buf[:eol]
            args = line.split()
            payload = None
            end = eol + 2
            if args and args[0] in self.msg_ops:
                size = int(args[-1])
                if len(self.buf) < end + size + 2:
                    if not self._fill(deadline):
                        raise AssertionError(f"payload not in time; have {self.buf[:300]!r}")
                    continue
                payload = self.buf[end:end + size]
                end += size + 2
            self.buf = self.buf[end:]
            if line == b"PING":
                self.send(b"PONG\r\n")
                continue
            if line == b"PONG" or b"$SYS" in line or b"$LDS." in line or line.startswith(_NOISE):
                continue
            return line, payload

    def expect_op(self, pattern: bytes, timeout: float = 5.0) -> tuple[re.Match, bytes | None]:
        line, payload = self.op(timeout)
        m = re.fullmatch(pattern, line)
        assert m, f"expected {pattern!r}, got {line!r}"
        return m, payload

    def barrier(self) -> None:
        """Everything the peer sent before has been processed by the server."""
        self.send(b"PING\r\n")
        deadline = time.monotonic() + 5
        while True:
            eol = self.buf.find(b"PONG\r\n")
            if eol >= 0:
                self.buf = self.buf[:eol] + self.buf[eol + 6:]
                return
            if not self._fill(deadline):
                raise AssertionError(f"no PONG; have {self.buf[:300]!r}")


RoutePeer = Peer
LeafPeer = Peer


def route_connect(cluster: str = "C1", user: str = "", password: str = "",
                  peer_id: str = ROUTE_PEER_ID) -> bytes:
    connect = {"echo": True, "verbose": False, "pedantic": False, "tls_required": False,
               "headers": True, "name": peer_id, "cluster": cluster}
    if user:
        connect.update(user=user, **{"pass": password})
    return b"CONNECT " + json.dumps(connect).encode() + b"\r\n"


def route_info(cluster: str = "C1", peer_id: str = ROUTE_PEER_ID, name: str = "peer",
               **fields) -> bytes:
    ours = {"server_id": peer_id, "server_name": name, "version": "2.10.0", "proto": 2,
            "host": "127.0.0.1", "port": 1, "headers": True, "max_payload": 1048576,
            "cluster": cluster, **fields}
    return b"INFO " + json.dumps(ours).encode() + b"\r\n"


def route_handshake(peer: Peer, *, cluster: str = "C1", user: str = "", password: str = "",
                    info: dict | None = None, peer_id: str = ROUTE_PEER_ID) -> dict:
    """As nats-server's accept side expects it: read INFO, send CONNECT then INFO. A peer that
    reconnects at once needs a new `peer_id`: the server may still hold the old route."""
    if info is None:
        info = json.loads(peer.read_info()[5:])
    peer.send(route_connect(cluster, user, password, peer_id) +
              route_info(cluster, peer_id, "peer-" + peer_id[-6:]))
    peer.barrier()
    return info


def leaf_connect(name: str = "SPOKE", peer_id: str = LEAF_PEER_ID) -> bytes:
    connect = {"server_id": peer_id, "name": name, "headers": True, "cluster": name,
               "proto": 1}
    return b"CONNECT " + json.dumps(connect).encode() + b"\r\n"


def leaf_handshake(peer: Peer, name: str = "SPOKE", peer_id: str = LEAF_PEER_ID) -> dict:
    """A spoke's side: read the hub's INFO, send CONNECT, wait until the hub answers a PING."""
    info = json.loads(peer.read_info()[5:])
    peer.send(leaf_connect(name, peer_id))
    peer.barrier()
    return info


_ids = itertools.count()


def fresh_id(prefix: str = "NPEERFRESH") -> str:
    """A server id no earlier peer of this test run used (56 characters, as nats-server's)."""
    n = next(_ids)
    return f"{prefix}{n:0{56 - len(prefix)}d}"


def route_node(spawn, kind: str, *flags: str):
    """A server with a cluster port (`.cluster_port`) and nothing else configured."""
    cport = free_port()
    srv = spawn(kind, *cluster_flags(cport), *flags)
    srv.cluster_port = cport
    return srv


def leaf_hub(spawn, kind: str, tmp_path, extra: str = ""):
    """A server with a leafnode port (`.leaf_port`) and no authorization."""
    from .servers import write_config

    lport = free_port()
    srv = spawn(kind, "-c", write_config(tmp_path, leaf_config(lport, extra)))
    srv.leaf_port = lport
    return srv
