"""WebSocket test helpers: a `websocket { }` block in one configuration file that zats and
nats-server both start from, waiting for its port, raw upgrade requests, and a raw RFC 6455
client (the `websockets` library) for tests that look at frames. `start_ws_server` starts a
server with such a listener for the client tests (Python, node, browser) as a `WsServer`."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from .servers import ServerProcess, free_port, start_server, wait_for_port, write_config

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key


def ws_block(port: int, *, tls: dict | None = None, **fields) -> str:
    """`websocket { port, no_tls or tls {}, ... }`; values are written as given (quote strings)."""
    lines = [f"port: {port}"]
    if tls is None:
        lines.append("no_tls: true")
    else:
        lines.append("tls { " + ", ".join(f'{k}: "{v}"' for k, v in tls.items()) + " }")
    lines += [f"{k}: {v}" for k, v in fields.items()]
    return "websocket {\n  " + "\n  ".join(lines) + "\n}\n"


def spawn_ws(spawn, kind: str, tmp_path, *, extra: str = "", http_port: int | None = None,
             tls: dict | None = None, **fields):
    """Starts `kind` from a configuration with a websocket block; returns (server, ws port)."""
    port = free_port()
    conf = write_config(tmp_path, extra + ws_block(port, tls=tls, **fields))
    kw = {"http_port": http_port} if http_port else {}
    srv = spawn(kind, "-c", conf, **kw)
    wait_for_port(srv.host, port, srv.proc)
    return srv, port


def upgrade_request(*, host: str = "127.0.0.1", path: str = "/", method: str = "GET",
                    key: str | None = KEY,
                    version: str | None = "13", headers: dict | None = None,
                    omit: tuple = ()) -> bytes:
    """An HTTP/1.1 upgrade request; `omit` drops standard headers by name."""
    fields = {"Host": host, "Upgrade": "websocket", "Connection": "Upgrade",
              "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": version}
    fields.update(headers or {})
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in fields.items() if v is not None and k not in omit]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def masked_frame(payload: bytes, opcode: int = 2, *, fin: bool = True, mask: bool = True,
                 length: int | None = None) -> bytes:
    """One client frame, built by hand for the hostile tests (a real client cannot send an
    unmasked frame or a lying length)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([bit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def random_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


@dataclass
class WsServer:
    """A running server and the port of its websocket listener."""

    proc: ServerProcess
    ws_port: int
    secure: bool = False

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.secure else 'ws'}://127.0.0.1:{self.ws_port}"

    @property
    def url(self) -> str:
        """The plain NATS (TCP) URL of the same server."""
        return self.proc.url


def start_ws_server(kind: str, tmp_path: Path, *, cert: str | None = None, key: str | None = None,
                    extra: str = "") -> WsServer:
    """Starts `kind` with a websocket listener on 127.0.0.1 (TLS with `cert`/`key`) and `extra`
    configuration; the caller stops `.proc`. Each server gets a file of its own, which a
    restart reads again."""
    ws_port = free_port()
    tls = {"cert_file": cert, "key_file": key} if cert else None
    path = tmp_path / f"ws-{ws_port}.conf"
    path.write_text(extra + "\n" + ws_block(ws_port, tls=tls, host="127.0.0.1"))
    proc = start_server(kind, "-c", str(path))
    try:
        wait_for_port(proc.host, ws_port, proc.proc)
    except Exception:
        proc.stop()
        raise
    return WsServer(proc, ws_port, secure=bool(cert))
