"""Listening sockets for the broker's ports (client, route, leafnode), and the error that says
which of them could not be bound, in nats-server's words."""

from __future__ import annotations

import os
import socket


class ListenError(OSError):
    """A port could not be bound; str() is the fatal log line nats-server prints for it."""


# nats-server's fatal line per listener (server.go / route.go / leafnode.go / monitor).
_MESSAGES = {
    "client": "Error listening on port: {addr}, {err!r}",
    "route": "Error listening on router: {addr}, {err!r}",
    "leafnode": "Error listening on leafnode port: {port} - {err}",
    "monitor": "Can't listen to the monitor port: {addr}, {err!r}",
}


def listen_error(what: str, host: str, port: int, exc: OSError) -> ListenError:
    return ListenError(_MESSAGES[what].format(
        addr=f"{host or '0.0.0.0'}:{port}", port=port, err=_reason(exc)))


def _reason(exc: OSError) -> str:
    # asyncio rewrites strerror into a sentence of its own; the errno still says it plainly.
    return os.strerror(exc.errno) if exc.errno else str(exc)


def listen(what: str, host: str, port: int, backlog: int = 4096) -> socket.socket:
    """A bound, listening, non-blocking socket with SO_REUSEADDR (a restarted server rebinds its
    port at once) and TCP_NODELAY. Raises ListenError naming `what` on failure."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
        family, socktype, proto, _, addr = infos[0]
        sock = socket.socket(family, socktype, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(addr)
            sock.listen(backlog)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        raise listen_error(what, host, port, exc) from exc
    sock.setblocking(False)
    return sock
