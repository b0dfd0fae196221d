"""`Handshake`: opening one connection to one server, up to the point where it can be used.

Owns the client's credentials (read once from the options: a `.creds` file, an nkey seed file or
string) and the steps of the handshake: TCP (or TLS first, with `tls_handshake_first`), or a
WebSocket for ws:// and wss:// URLs (`websocket.open_websocket`; TLS for wss:// is set up before
the upgrade, never after INFO, as nats.go and nats.py do), the server's INFO, the TLS upgrade
when asked for (a tls:// URL or `tls=`) or required by the INFO,
CONNECT with the credentials (user/password or token, from the options or the URL; the nonce
signed with the nkey, with the user JWT of a `.creds` file, or by `signature_cb`/`user_jwt_cb`)
and a first PING answered by PONG. Failures raise; the connection is then dropped."""

from __future__ import annotations

import asyncio
import builtins
import ssl

from zats.protocol.frames import PING
from zats.protocol.structs import Connect, Info, encode_connect

from .connection import Connection
from .errors import (
    AuthorizationError,
    ConnectionLostError,
    SecureConnFailedError,
    SecureConnRequiredError,
    TimeoutError,
)
from .nkeys import KeyPair, load_creds, load_seed
from .options import Options
from .servers import WS_SCHEMES, Server, monotonic
from .version import __version__


class Handshake:
    """Connects and runs the handshake with the servers of one client."""

    def __init__(self, options: Options):
        self.options = options
        self._keypair: KeyPair | None = None
        self._user_jwt: str | None = None
        if options.user_credentials:
            jwt, seed = load_creds(options.user_credentials)
            self._user_jwt = jwt
            self._keypair = KeyPair(seed)
        elif options.nkeys_seed:
            self._keypair = KeyPair(load_seed(options.nkeys_seed))
        elif options.nkeys_seed_str:
            self._keypair = KeyPair(options.nkeys_seed_str.strip())

    def _tls_name(self, srv: Server) -> str:
        return self.options.tls_hostname or srv.tls_name or srv.host

    def _tls_context(self, srv: Server) -> ssl.SSLContext | None:
        """The SSL context to use with `srv`, or None when TLS was not asked for (it may still
        be required by the server's INFO, see `run`)."""
        if self.options.tls is not None:
            return self.options.tls
        if srv.uri.scheme in ("tls", "wss") or self.options.tls_handshake_first:
            return ssl.create_default_context()
        return None

    async def run(self, loop: asyncio.AbstractEventLoop, conn: Connection, srv: Server) -> Connection:
        """Opens `conn` (a new `Connection`) to `srv` and runs the handshake (INFO, optional TLS
        upgrade, CONNECT, PING/PONG). Returns the connection, not yet installed."""
        opts = self.options
        srv.last_attempt = monotonic()
        ctx = self._tls_context(srv)
        try:
            async with asyncio.timeout(opts.connect_timeout):
                if srv.uri.scheme in WS_SCHEMES:
                    from .websocket import open_websocket  # picows is loaded only when used

                    await open_websocket(conn, srv.uri, ctx if srv.uri.scheme == "wss" else None,
                                         self._tls_name(srv), opts.connect_timeout)
                    conn.tls = srv.uri.scheme == "wss"
                elif opts.tls_handshake_first:
                    await loop.create_connection(lambda: conn, srv.host, srv.port, ssl=ctx,
                                                 server_hostname=self._tls_name(srv))
                    conn.tls = True
                else:
                    await loop.create_connection(lambda: conn, srv.host, srv.port)
                info: Info = await conn.info_fut
                if srv.uri.scheme not in WS_SCHEMES and not conn.tls and (ctx is not None or info.tls_required):
                    if ctx is None:
                        ctx = ssl.create_default_context()
                    transport = await loop.start_tls(conn.transport, conn, ctx,  # type: ignore[arg-type]
                                                     server_hostname=self._tls_name(srv))
                    if transport is None:
                        raise SecureConnFailedError("TLS upgrade failed")
                    conn.transport = transport
                    conn.tls = True
                conn.transport.write(self.connect_frame(info, conn.tls, srv) + PING)  # type: ignore[union-attr]
                await conn.pong_fut
        except builtins.TimeoutError:
            conn.abort()
            raise TimeoutError(f"connecting to {srv.url} timed out") from None
        except ssl.SSLError as exc:
            conn.abort()
            raise SecureConnFailedError(f"TLS with {srv.url} failed: {exc}") from exc
        except BaseException:
            conn.abort()
            raise
        if conn.closed:
            raise ConnectionLostError(f"{srv.url} closed the connection after the handshake")
        return conn

    def connect_frame(self, info: Info, tls: bool, srv: Server) -> bytes:
        """The CONNECT frame for `srv`, whose INFO is `info`, over TLS or not."""
        opts = self.options
        c = Connect(
            verbose=opts.verbose, pedantic=opts.pedantic, tls_required=tls, name=opts.name,
            lang="python3-zats", version=__version__, protocol=1, echo=opts.echo,
            headers=bool(info.headers), no_responders=bool(info.headers),
        )
        user, password = opts.user, opts.password
        token = opts.token
        if user is None and token is None and srv.uri.username:
            if srv.uri.password is None:
                token = srv.uri.username
            else:
                user, password = srv.uri.username, srv.uri.password
        if user is not None:
            c.user = user
            c.password = password
        if token is not None:
            c.auth_token = token
        if info.nonce:
            if self._keypair is not None:
                c.sig = self._keypair.sign_nonce(info.nonce)
                if self._user_jwt is not None:
                    c.jwt = self._user_jwt
                else:
                    c.nkey = self._keypair.public_key
            elif opts.signature_cb is not None:
                sig = opts.signature_cb(info.nonce)
                c.sig = sig.decode() if isinstance(sig, bytes) else sig
            if opts.user_jwt_cb is not None:
                jwt = opts.user_jwt_cb()
                c.jwt = jwt.decode() if isinstance(jwt, bytes) else jwt
        elif self._keypair is not None and info.auth_required:
            raise AuthorizationError("server sent no nonce to sign")
        if info.tls_required and not tls and srv.uri.scheme not in WS_SCHEMES:
            raise SecureConnRequiredError("server requires TLS")
        return encode_connect(c)
