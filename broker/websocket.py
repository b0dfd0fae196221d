"""The WebSocket listener (`websocket { }`): accepts connections (TLS when the block has `tls`),
answers the HTTP upgrade as nats-server does (websocket.go wsUpgrade: its checks in its order,
its error answers from Go's net/http, the origin checks, permessage-deflate), then hands the
socket to a WebSocketTransport (ws_transport.py) carrying an ordinary ClientConnection.

A refused upgrade gets net/http's `http.Error` answer and the connection stays open for the next
request, as there; a request head that does not arrive within `handshake_timeout` (nats-server's
http.Server ReadTimeout) closes the connection. What the upgrade tells the connection (cookies,
X-Forwarded-For, browser or not) is kept in an Upgrade."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import ipaddress
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

import msgspec
from websockets.extensions.permessage_deflate import PerMessageDeflate

from .connection import ClientConnection
from .interfaces import listener_urls
from .listeners import listen
from .monitor.http import Connection, Refused, Request
from .options import websocket_advertise_address
from .tls import server_context
from .ws_transport import WebSocketTransport

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_PMC_RESPONSE = ("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                 "client_no_context_takeover\r\n")
_STATUS_TEXT = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}


class Upgrade:
    """What the upgrade request told about a WebSocket client."""

    __slots__ = ("client_ip", "browser", "cookie_jwt", "cookie_user", "cookie_password",
                 "cookie_token")

    def __init__(self):
        self.client_ip = ""  # from X-Forwarded-For, when it holds one IP address
        self.browser = False
        self.cookie_jwt = self.cookie_user = self.cookie_password = self.cookie_token = ""

    def with_cookies(self, connect):
        """The CONNECT options with what the cookies give where the CONNECT gives nothing (as
        nats-server's processConnect)."""
        changes = {}
        for field, value in (("jwt", self.cookie_jwt), ("user", self.cookie_user),
                             ("password", self.cookie_password), ("auth_token", self.cookie_token)):
            if value and not getattr(connect, field):
                changes[field] = value
        return msgspec.structs.replace(connect, **changes) if changes else connect


class HandshakeError(Exception):
    """An upgrade nats-server refuses: its HTTP status and its log reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def error_answer(req: Request, status: int) -> bytes:
    """Go's http.Error as nats-server's wsReturnHTTPError calls it."""
    text = _STATUS_TEXT[status]
    head = (f"HTTP/1.{req.minor} {status} {text}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Sec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\n"
            f"Date: {email.utils.formatdate(usegmt=True)}\r\nContent-Length: {len(text) + 1}\r\n")
    if req.close and req.minor >= 1:
        head += "Connection: close\r\n"
    return (head + "\r\n" + text + "\n").encode("latin-1")


def _has_token(req: Request, name: str, value: str) -> bool:
    """Whether header `name` lists `value` (case-insensitive), as wsHeaderContains."""
    value = value.lower()
    return any(t.strip(" \t").lower() == value
               for v in req.headers.get(name, ()) for t in v.split(","))


def _offers_deflate(req: Request) -> bool:
    return any(p.strip(" \t").lower() == "permessage-deflate"
               for v in req.headers.get("sec-websocket-extensions", ())
               for ext in v.split(",") for p in ext.split(";"))


def _host_port(tls: bool, hostport: str) -> tuple[str, str]:
    """Go's net.SplitHostPort with the scheme's port when it is missing (wsGetHostAndPort)."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError(f"address {hostport}: missing ']' in address")
        host, rest = hostport[1:end], hostport[end + 1:]
        if not rest:
            return host.lower(), "443" if tls else "80"
        if not rest.startswith(":"):
            raise ValueError(f"address {hostport}: missing port in address")
        return host.lower(), rest[1:]
    if ":" not in hostport:
        return hostport.lower(), "443" if tls else "80"
    host, _, port = hostport.rpartition(":")
    if ":" in host:
        raise ValueError(f"address {hostport}: too many colons in address")
    return host.lower(), port


class OriginCheck:
    """same_origin and allowed_origins (nats-server's checkOrigin)."""

    def __init__(self, same_origin: bool, allowed: list[str]):
        self.same_origin = same_origin
        self.allowed: dict[str, list[tuple[str, str]]] = {}
        for origin in allowed:
            u = urlsplit(origin)
            host, port = _host_port(u.scheme == "https", u.netloc)
            self.allowed.setdefault(host, []).append((u.scheme, port))

    def refusal(self, req: Request, tls: bool) -> str | None:
        """Why the request's Origin is refused, or None."""
        if not self.same_origin and not self.allowed:
            return None
        origin = req.header("origin") or req.header("sec-websocket-origin")
        if not origin:
            return None
        u = urlsplit(origin)
        if not u.scheme or not u.netloc and not origin.startswith("/"):
            return f'parse "{origin}": invalid URI for request'
        try:
            host, port = _host_port(u.scheme == "https", u.netloc)
            if self.same_origin:
                rhost, rport = _host_port(tls, req.header("host"))
                if host != rhost or port != rport or u.scheme.lower() != ("https" if tls else "http"):
                    return "not same origin"
        except ValueError as exc:
            return str(exc)
        if self.allowed and (u.scheme, port) not in self.allowed.get(host, ()):
            return "not in the allowed list"
        return None


def check_upgrade(req: Request, opts, origins: OriginCheck, tls: bool) -> tuple[str, bool]:
    """nats-server's checks of an upgrade request, in its order; returns the
    Sec-WebSocket-Accept value and whether to compress. Raises HandshakeError."""
    if req.target.partition("?")[0].endswith("/mqtt"):  # zats has no MQTT
        raise HandshakeError(404, "mqtt websocket endpoint not enabled")
    if req.method != "GET":
        raise HandshakeError(405, "request method must be GET")
    if not req.header("host"):
        raise HandshakeError(400, "'Host' missing in request")
    if not _has_token(req, "upgrade", "websocket"):
        raise HandshakeError(400, "invalid value for header 'Upgrade'")
    if not _has_token(req, "connection", "Upgrade"):
        raise HandshakeError(400, "invalid value for header 'Connection'")
    key = req.header("sec-websocket-key")
    if not key:
        raise HandshakeError(400, "key missing")
    try:
        decoded = base64.b64decode(key, validate=True)
    except ValueError:
        decoded = b""
    if len(decoded) != 16:
        raise HandshakeError(400, "invalid websocket key")
    if not _has_token(req, "sec-websocket-version", "13"):
        raise HandshakeError(400, "invalid version")
    why = origins.refusal(req, tls)
    if why is not None:
        raise HandshakeError(403, f"origin not allowed: {why}")
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    return accept, opts.compression and _offers_deflate(req)


def describe_upgrade(req: Request, opts) -> Upgrade:
    """The client's address behind a proxy, whether it is a browser, its auth cookies."""
    up = Upgrade()
    forwarded = req.headers.get("x-forwarded-for")
    if forwarded:
        try:
            up.client_ip = str(ipaddress.ip_address(forwarded[0]))
        except ValueError:
            pass
    up.browser = req.header("user-agent").startswith("Mozilla/")
    cookies = SimpleCookie()
    for value in req.headers.get("cookie", ()):
        try:
            cookies.load(value)
        except CookieError:
            continue
    names = ((opts.jwt_cookie, "cookie_jwt"), (opts.username_cookie, "cookie_user"),
             (opts.password_cookie, "cookie_password"), (opts.token_cookie, "cookie_token"))
    for name, attr in names:
        if name and name in cookies:
            setattr(up, attr, cookies[name].value)
    return up


def max_frame(opts) -> int:
    """The largest frame a client may send: room for a maximal message and then some, and at
    least max_pending and 8 MiB (clients send a whole write buffer in one frame). nats-server
    streams any frame into its parser; here a frame is decoded whole, so its size is bounded."""
    return max(8 << 20, opts.max_pending, 2 * (opts.max_payload + opts.max_control_line))


class WebSocketListener:
    """The `websocket { }` port."""

    def __init__(self, broker):
        self.broker = broker
        self.opts = broker.options.websocket
        self.tls_context = server_context(self.opts.tls) if self.opts.tls else None
        self.origins = OriginCheck(self.opts.same_origin, self.opts.allowed_origins)
        self.port = 0
        self.server: asyncio.base_events.Server | None = None
        self._handshakes: set[asyncio.StreamWriter] = set()

    @property
    def tls(self) -> bool:
        return self.tls_context is not None

    async def start(self) -> None:
        opts = self.opts
        sock = listen("websocket", opts.host, 0 if opts.port == -1 else opts.port)
        tls = self.tls_context
        self.server = await asyncio.start_server(
            self._serve, sock=sock, ssl=tls,
            ssl_handshake_timeout=(opts.tls.timeout if tls else None))
        self.port = sock.getsockname()[1]
        log = self.broker.log
        log.notice("Listening for websocket clients on %s://%s:%d", "wss" if tls else "ws",
                   opts.host, self.port)
        if not tls:
            log.warn("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!")

    def connect_urls(self) -> list[str]:
        """This server's ws_connect_urls: the advertise address, else the listener's address on
        each interface it is bound to."""
        opts = self.opts
        return listener_urls(opts.host, self.port, websocket_advertise_address(opts, self.port))

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self._handshakes):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        conn = Connection(reader)
        timeout = self.opts.handshake_timeout
        self._handshakes.add(writer)
        handed_over = False
        try:
            while True:
                deadline = loop.time() + timeout if timeout > 0 else None
                try:
                    req = await conn.next_request(deadline)
                except Refused as refused:
                    writer.write(refused.answer)
                    return
                if req is None:
                    return
                try:
                    accept, compress = check_upgrade(req, self.opts, self.origins, self.tls)
                except HandshakeError as exc:
                    peer = writer.get_extra_info("peername") or ("", 0)
                    self.broker.log.error("%s:%d - websocket handshake error: %s", peer[0], peer[1],
                                          exc)
                    writer.write(error_answer(req, exc.status))
                    if req.close:
                        return
                    continue
                if conn.buf or reader._buffer:  # noqa: SLF001 - bytes read past the head
                    return  # nats-server closes: data before the handshake completed
                self._upgrade(req, writer, accept, compress)
                handed_over = True
                return
        except (ConnectionError, OSError):
            return
        finally:
            self._handshakes.discard(writer)
            if not handed_over:
                writer.close()

    def _upgrade(self, req: Request, writer: asyncio.StreamWriter, accept: str,
                 compress: bool) -> None:
        broker = self.broker
        up = describe_upgrade(req, self.opts)
        answer = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept}\r\n")
        if compress:
            answer += _PMC_RESPONSE
        sock = writer.transport
        sock.write((answer + "\r\n").encode())
        extensions = []
        if compress:
            extensions.append(PerMessageDeflate(remote_no_context_takeover=True,
                                                local_no_context_takeover=True,
                                                remote_max_window_bits=15,
                                                local_max_window_bits=15))
        peer = sock.get_extra_info("peername")
        if up.client_ip and peer:
            # nats-server names the forwarded address in its log lines only: /connz and INFO
            # keep the socket's.
            broker.log.debug("%s:%d - websocket client forwarded for %s", peer[0], peer[1],
                             up.client_ip)
        transport = WebSocketTransport(sock, extensions=extensions, browser=up.browser,
                                       peername=peer, max_frame=max_frame(broker.options))
        # The StreamWriter closes its transport when collected (Python 3.11.5+): it lives as long
        # as the WebSocketTransport.
        transport.keep = writer
        sock.set_protocol(transport)
        transport.attach(ClientConnection(broker, broker._new_cid(), websocket=up))
        sock.resume_reading()
