"""The URLs a listener is advertised at (nats-server's getConnectURLs: the client port's
connect_urls, the websocket port's ws_connect_urls, the leafnode port's leafnode_urls), and the
host's own addresses they are made of when the listener is bound to every interface (0.0.0.0 or
::): each interface's global unicast addresses, IPv4 then IPv6, in interface order, as
nats-server lists them. Read from the kernel (an ioctl per interface for IPv4, /proc for IPv6),
never by resolving the host name, which on many hosts names a loopback address."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

from .urls import join_host_port

_SIOCGIFADDR = 0x8915
_PROC_INET6 = "/proc/net/if_inet6"


def _usable(ip) -> bool:
    """Go's IsGlobalUnicast: not loopback, link-local, multicast or unspecified."""
    return not (ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified)


def _ipv4(sock: socket.socket, name: str) -> str | None:
    try:
        packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return None  # no IPv4 address on this interface
    return socket.inet_ntoa(packed[20:24])


def _ipv6_by_interface() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    try:
        with open(_PROC_INET6) as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) != 6:
            continue
        text = ":".join(fields[0][i:i + 4] for i in range(0, 32, 4))
        found.setdefault(fields[5], []).append(str(ipaddress.IPv6Address(text)))
    return found


def local_ips() -> list[str]:
    """Every interface's global unicast addresses (empty when the kernel tells us none)."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return []
    ipv6 = _ipv6_by_interface()
    ips: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in names:
            candidates = []
            v4 = _ipv4(sock, name)
            if v4 is not None:
                candidates.append(v4)
            candidates.extend(ipv6.get(name, ()))
            for text in candidates:
                if _usable(ipaddress.ip_address(text)) and text not in ips:
                    ips.append(text)
    return ips


def advertise_hosts(host: str) -> list[str]:
    """The hosts a listener bound to `host` is reached at: every interface's address when bound
    to all of them (loopback when there is none), else `host` itself."""
    if host in ("0.0.0.0", "::", ""):
        return local_ips() or ["127.0.0.1"]
    return [host]


def listener_urls(host: str, port: int, advertised: tuple[str, int] | None = None) -> list[str]:
    """`host:port` for each address a listener bound to `host` is reached at, or the one
    advertised (host, port) when it is configured."""
    if advertised is not None:
        return [join_host_port(*advertised)]
    return [join_host_port(h, port) for h in advertise_hosts(host)]
