"""Servers with a `websocket {}` listener for the WebSocket tests (Python, node and browser
clients): the config file both kinds read, and the kinds that have such a listener."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.servers import ServerProcess, free_port, start_server, wait_for_port


def zats_has_websocket() -> bool:
    """True once the zats broker has its websocket listener (branch h-ws)."""
    return importlib.util.find_spec("zats.broker.websocket") is not None


# Each WebSocket test runs against both kinds; zats only once its broker has the listener.
WS_KINDS = [
    pytest.param("zats", marks=pytest.mark.skipif(
        not zats_has_websocket(), reason="the zats broker has no websocket listener yet (h-ws)")),
    "nats-server",
]


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


def ws_config(tmp_path: Path, ws_port: int, *, cert: str | None = None, key: str | None = None,
              extra: str = "") -> str:
    """A config file with a websocket listener on `ws_port`: TLS with `cert`/`key`, else
    `no_tls: true`. `extra` is appended (cluster blocks and the like)."""
    if cert:
        tls = f'tls {{ cert_file: "{cert}", key_file: "{key}" }}'
    else:
        tls = "no_tls: true"
    path = tmp_path / f"ws-{ws_port}.conf"
    path.write_text(f"websocket {{ host: 127.0.0.1, port: {ws_port}, {tls} }}\n{extra}\n")
    return str(path)


def start_ws_server(kind: str, tmp_path: Path, *, ws_port: int | None = None, cert: str | None = None,
                    key: str | None = None, extra: str = "", args: tuple[str, ...] = ()) -> WsServer:
    """Starts `kind` with a websocket listener; the caller stops `.proc`."""
    ws_port = ws_port or free_port()
    conf = ws_config(tmp_path, ws_port, cert=cert, key=key, extra=extra)
    proc = start_server(kind, "-c", conf, *args)
    try:
        wait_for_port(proc.host, ws_port, proc.proc)
    except Exception:
        proc.stop()
        raise
    return WsServer(proc, ws_port, secure=bool(cert))
