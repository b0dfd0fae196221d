"""Addresses as text: splitting the URLs of routes and leaf remotes (`scheme://user:pass@host:port`
or `host:port`) and joining a host and port (IPv6 in brackets)."""

from __future__ import annotations

from urllib.parse import unquote


def split_url(text: str) -> tuple[str, int, str | None, str | None]:
    """host, port, user, password of `nats-route://[user:pass@]host:port`, `nats://...` or
    `host:port` (port -1 means a random one). Raises ValueError."""
    rest = text.split("://", 1)[1] if "://" in text else text
    rest = rest.split("/", 1)[0]
    user = password = None
    if "@" in rest:
        cred, rest = rest.rsplit("@", 1)
        user, _, password = cred.partition(":")
        user, password = unquote(user), unquote(password)
    if rest.startswith("["):
        host, sep, port = rest[1:].partition("]:")
    else:
        host, sep, port = rest.rpartition(":")
    if not sep:
        raise ValueError(f"missing port in address {rest!r}")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"invalid port {port!r}") from None
    if not -1 <= number <= 65535:
        raise ValueError(f"invalid port {port!r}")
    return host, number, user, password


def join_host_port(host: str, port: int) -> str:
    """`host:port`, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
