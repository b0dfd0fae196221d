"""Listening sockets for the broker's ports (client, route, leafnode, monitor, websocket), and the error that
says which of them could not be bound, in nats-server's words (its fatal line, with the reason
as Go's net package words it)."""

from __future__ import annotations

import socket

from .log import go_strerror
from .urls import join_host_port


class ListenError(OSError):
    """A port could not be bound; str() is the fatal log line nats-server prints for it."""


# nats-server's fatal line per listener (server.go, route.go, leafnode.go, monitor).
_MESSAGES = {
    "client": 'Error listening on port: {addr}, "{err}"',
    "route": "Error listening on router port: {port} - {err}",
    "leafnode": "Error listening on leafnode port: {port} - {err}",
    "monitor": "Can't start monitoring: can't listen to the monitor port: {err}",
    "websocket": "Unable to listen for websocket connections: {err}",
}


def _fatal(what: str, host: str, port: int, reason: str) -> ListenError:
    return ListenError(_MESSAGES[what].format(addr=join_host_port(host or "0.0.0.0", port), port=port,
                                              err=reason))


def listen_error(what: str, host: str, port: int, exc: OSError) -> ListenError:
    """The fatal error for a failed bind or listen, as Go reports it: `listen tcp
    HOST:PORT: bind: address already in use`."""
    # (asyncio rewrites strerror into a sentence of its own; the errno still says it plainly.)
    return _fatal(what, host, port,
                  f"listen tcp {join_host_port(host or '0.0.0.0', port)}: bind: {go_strerror(exc)}")


def resolve(what: str, host: str, port: int) -> tuple:
    """(family, socktype, proto, address) to bind `host:port`. Raises ListenError, in Go's
    words, for a port outside 0-65535 (never wrapped around) or a host that does not resolve."""
    if not 0 <= port <= 65535:
        raise _fatal(what, host, port, f"listen tcp: address {port}: invalid port")
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        reason = "no such host" if exc.errno in (socket.EAI_NONAME, socket.EAI_NODATA) else exc.strerror
        raise _fatal(what, host, port, f"listen tcp: lookup {host}: {reason}") from None
    family, socktype, proto, _, addr = infos[0]
    return family, socktype, proto, addr


def listen(what: str, host: str, port: int, backlog: int = 4096) -> socket.socket:
    """A bound, listening, non-blocking socket with SO_REUSEADDR (a restarted server rebinds its
    port at once) and TCP_NODELAY. Raises ListenError naming `what` on failure."""
    family, socktype, proto, addr = resolve(what, host, port)
    try:
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
