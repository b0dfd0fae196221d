"""The Broker: listeners, the registry of client connections and accounts, server-wide counters,
the INFO it sends, and its lifecycle (start, graceful stop). Usable in-process:

    async with Broker(port=0) as broker:
        ...  # clients connect to broker.client_url
"""

from __future__ import annotations

import asyncio
import os
import time
from types import TracebackType
from typing import TYPE_CHECKING, Unpack

from zats.protocol.structs import Info, encode_info

from .account import GLOBAL_ACCOUNT, Account
from .auth import Authenticator, ws_authenticator
from .cluster import Cluster
from .connection import ClientConnection
from .endpoint import DeliveryState
from .ids import server_id
from .leafnode import Leafnodes
from .listeners import ListenError, listen, listen_error, resolve
from .log import Logger
from .monitor import MonitorServer
from .options import (
    RANDOM_PORT,
    OptionsError,
    ServerOptions,
    ServerOverrides,
    client_advertise_address,
    validate,
)
from .outbound import NOT_FLUSHING, HeldOutput, flush_touched
from .system import SystemService, system_account_name
from .tls import server_context
from .transport import PipeEnd, pipe
from .version import IMPLEMENTATION, VERSION, ZATS_VERSION, build_mode
from .websocket import WebSocketListener

if TYPE_CHECKING:  # imported when a server enables it: a server without JetStream starts faster
    from .jetstream.service import JetStream



class Broker(DeliveryState):
    """A single-node NATS broker."""

    def __init__(self, options: ServerOptions | None = None, *, log: Logger | None = None,
                 **overrides: Unpack[ServerOverrides]):
        """`options`, or keyword options (`Broker(port=0, host="127.0.0.1")`), or both: the
        keywords override the fields of `options`."""
        if options is None:
            options = ServerOptions(**overrides)
        elif overrides:
            options = ServerOptions(**{**{f: getattr(options, f) for f in options.__struct_fields__},
                                       **overrides})
        validate(options)
        DeliveryState.__init__(self)
        self.options = options
        self.log = log or Logger(debug=options.debug, trace=options.trace, logtime=options.logtime,
                                 utc=options.logtime_utc,
                                 path=options.log_file or None)
        self.server_id = server_id()
        self.server_name = options.server_name or self.server_id
        self.auth = Authenticator(options)
        self.ws_auth = ws_authenticator(options)
        self.tls_context = server_context(options.tls) if options.tls else None
        self.global_account = Account()
        self.accounts = {self.global_account.name: self.global_account}
        for name in sorted(self.auth.accounts - {GLOBAL_ACCOUNT}):
            self.accounts[name] = Account(name)
        self.system_account = system_account_name(options)
        if self.system_account is not None and self.system_account not in self.accounts:
            self.accounts[self.system_account] = Account(self.system_account)
        self.system: SystemService | None = None
        self.jetstream: JetStream | None = None
        self.origin: ClientConnection | None = NOT_FLUSHING  # see flush_touched
        self.held = HeldOutput()  # receivers' output held while messages stream in
        self.connections: dict[int, ClientConnection] = {}
        self.next_cid = 1
        self.total_connections = 0
        # Messages from routes and leaf connections (see RouteConnection.received).
        self.peer_in_msgs = self.peer_in_bytes = 0
        self.slow_consumers = 0
        self.lame_duck_mode = False
        self.start_time = time.time()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        # (host, port) clients are told to connect to, when client_advertise is set.
        self.advertised: tuple[str, int] | None = None
        self.http_port = 0
        self._servers: list[asyncio.base_events.Server] = []
        self._monitor: MonitorServer | None = None
        self._stopped: asyncio.Event | None = None
        # Inbound counters live on each connection (one attribute bump per message); these keep
        # the counts of connections that have closed.
        self._closed_in_msgs = self._closed_in_bytes = 0
        self.cluster: Cluster | None = None
        if options.cluster is not None and options.cluster.port:
            self.cluster = Cluster(self)
        self.leafnodes: Leafnodes | None = None
        leaf = options.leafnodes
        if leaf is not None and (leaf.port or leaf.remotes):
            self.leafnodes = Leafnodes(self)
        self.websocket: WebSocketListener | None = None
        if options.websocket is not None and options.websocket.port:
            self.websocket = WebSocketListener(self)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> Broker:
        self.loop = self.held.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        opts = self.options
        log = self.log
        log.notice("Starting zats-server")
        log.notice("  Version:  %s (nats-server protocol %s)", ZATS_VERSION, VERSION)
        log.notice("  Build:    %s", build_mode())
        log.notice("  Name:     %s", self.server_name)
        log.notice("  ID:       %s", self.server_id)
        if opts.pid_file:
            with open(opts.pid_file, "w") as f:
                f.write(str(os.getpid()))
        if self.system_account is not None:
            self.system = SystemService(self, self.accounts[self.system_account])
            self.system.start()
        if opts.jetstream is not None:
            from .jetstream.service import JetStream

            self.jetstream = JetStream(self)
            self.jetstream.start()
        try:
            await self._listen_all()
        except ListenError:
            # A later port failed: release the ones already bound, so an in-process caller can
            # retry and a daemon exits without half a server.
            await self.stop(quiet=True)
            raise
        log.notice("Server is ready")
        return self

    async def _listen_all(self) -> None:
        opts = self.options
        log = self.log
        port = 0 if opts.port in (0, RANDOM_PORT) else opts.port
        sock = listen("client", opts.host, port)
        # handshake_first: TLS before INFO, so the listener itself wraps every connection.
        first = self.tls_context if self.options.tls and self.options.tls.handshake_first else None
        server = await self.loop.create_server(
            lambda: ClientConnection(self, self._new_cid()), sock=sock, backlog=4096, ssl=first,
            ssl_handshake_timeout=self.options.tls.timeout if first else None)
        self._servers.append(server)
        self.port = sock.getsockname()[1]
        self.advertised = client_advertise_address(opts, self.port)
        # The client port accepts before the monitoring port answers: clients that wait for
        # /varz then connect at once must find the client listener ready.
        if opts.http_port:
            self._monitor = MonitorServer(self)
            http_host = opts.http_host or opts.host
            http_port = 0 if opts.http_port == RANDOM_PORT else opts.http_port
            resolve("monitor", http_host, http_port)
            try:
                self.http_port = await self._monitor.start(http_host, http_port)
            except OSError as exc:
                raise listen_error("monitor", http_host, http_port, exc) from exc
            log.notice("Starting http monitor on %s:%d", opts.http_host or opts.host, self.http_port)
        if self.websocket is not None:
            await self.websocket.start()
            self._servers.append(self.websocket.server)  # closed in lame duck mode and at stop
        log.notice("Listening for client connections on %s:%d", opts.host, self.port)
        if self.cluster is not None:
            await self.cluster.start()
        if self.leafnodes is not None:
            await self.leafnodes.start()

    async def stop(self, quiet: bool = False) -> None:
        """Stops accepting, flushes what is queued to every client (waiting for slow readers up
        to the write deadline), closes them."""
        if self._stopped is None or self._stopped.is_set():
            return
        for server in self._servers:
            server.close()
        if self.system is not None:
            self.system.stop()
        if self.jetstream is not None:
            self.jetstream.stop()
        if self._monitor is not None:
            await self._monitor.stop()
        if self.cluster is not None:
            self.cluster.stop()
        if self.leafnodes is not None:
            self.leafnodes.stop()
        if self.websocket is not None:
            self.websocket.stop()
        conns = list(self.connections.values())
        for conn in conns:
            conn.flush()
            # Not twice: a second close() of asyncio's TLS transport drops its TLS layer.
            if conn.transport is not None and not conn.transport.is_closing():
                conn.transport.close()
        await self._drain(conns)
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2)
            except (TimeoutError, Exception):
                pass
        if self.options.pid_file:
            try:
                os.unlink(self.options.pid_file)
            except OSError:
                pass
        if not quiet:
            self.log.notice("Server Exiting..")
        self._stopped.set()

    async def _drain(self, conns: list[ClientConnection]) -> None:
        """Waits until the closing connections have written what they had queued, at most the
        write deadline (nats-server's bound on its last flush of each connection); one still
        writing then is a slow consumer, as there: its rest is dropped, and logged."""
        deadline = time.monotonic() + self.options.write_deadline
        while time.monotonic() < deadline:
            left = [c for c in conns if c.cid in self.connections]
            if not left:
                return
            await asyncio.sleep(0.01)
            for conn in left:
                if conn.tls_close_sent():
                    conn.transport.abort()
        wd = self.options.write_deadline
        for conn in conns:
            if conn.cid in self.connections and conn.transport is not None:
                conn.slow_consumer(f"WriteDeadline of {wd:g}s exceeded at shutdown with "
                                   f"{conn.pending_bytes()} bytes not flushed")

    def reload(self, new: ServerOptions) -> None:
        """Applies a reloaded configuration (SIGHUP): authorization, accounts, permissions,
        limits and logging take effect; connections that no longer authorise are closed.
        Raises OptionsError, leaving the running configuration as it was, for settings that
        cannot change while running."""
        old = self.options
        validate(new)
        for name in ("host", "port", "http_port", "http_host"):
            if getattr(new, name) != getattr(old, name) and not (name == "port" and old.port in (0, RANDOM_PORT)):
                raise OptionsError(f"config reload not supported for {name}: old={getattr(old, name)}, "
                                   f"new={getattr(new, name)}")
        if (new.tls is None) != (old.tls is None):
            raise OptionsError("config reload not supported for enabling or disabling TLS")
        if new.cluster != old.cluster:
            raise OptionsError("config reload not supported for cluster")
        if system_account_name(new) != self.system_account:
            raise OptionsError("config reload not supported for system_account")
        if new.leafnodes != old.leafnodes:
            raise OptionsError("config reload not supported for leafnodes")
        if new.jetstream != old.jetstream or new.store_dir != old.store_dir:
            raise OptionsError("config reload not supported for jetstream")
        if new.websocket != old.websocket:
            raise OptionsError("config reload not supported for websocket")
        auth = Authenticator(new)
        self.ws_auth = ws_authenticator(new)
        tls_context = server_context(new.tls) if new.tls else None
        new.port = old.port
        self.options, self.auth = new, auth
        advertised = client_advertise_address(new, self.port)
        if advertised != self.advertised:
            self.advertised = advertised
            if self.cluster is not None:
                self.cluster.own_client_urls_changed()
        if tls_context is not None:
            self.tls_context = tls_context
        for name in sorted(auth.accounts - set(self.accounts)):
            self.accounts[name] = Account(name)
        if self.cluster is not None:
            self.cluster.adopt_accounts()
        if self.leafnodes is not None:
            self.leafnodes.adopt_accounts()
        self.log.configure(debug=new.debug, trace=new.trace, logtime=new.logtime)
        for conn in list(self.connections.values()):
            conn.reconfigure()
        self.flush_touched()
        self.log.notice("Reloaded server configuration")

    async def lame_duck(self) -> None:
        """Lame duck mode (SIGUSR2), as nats-server: stop accepting, tell every client with an
        INFO carrying `ldm: true`, wait the grace period, then close the clients spread over
        lame_duck_duration, and stop."""
        if self.lame_duck_mode or self._stopped is None or self._stopped.is_set():
            return
        self.lame_duck_mode = True
        opts = self.options
        log = self.log
        log.notice("Entering lame duck mode, stop accepting new clients")
        for server in self._servers:
            server.close()
        if self.cluster is not None:
            self.cluster.lame_duck()
        for conn in list(self.connections.values()):
            # Asynchronous INFO goes only to clients that announced protocol 1 (as nats-server).
            if not conn.closed and conn.connect_opts is not None and conn.connect_opts.protocol >= 1:
                conn.queue(self.info_frame(conn))
        self.flush_touched()
        await asyncio.sleep(opts.lame_duck_grace_period)
        conns = [c for c in self.connections.values() if not c.closed]
        if conns:
            log.notice("Closing existing clients")
            pause = max(opts.lame_duck_duration - opts.lame_duck_grace_period, 0.0) / len(conns)
            for i, conn in enumerate(conns):
                if i and pause:
                    await asyncio.sleep(pause)
                if not conn.closed:
                    conn.flush()
                    conn.transport.close()
        log.notice("Initiating Shutdown...")
        await self.stop()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def __aenter__(self) -> Broker:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    @property
    def client_url(self) -> str:
        host = self.options.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"nats://{host}:{self.port}"

    # -- connections -----------------------------------------------------------------------

    def connect_in_process(self, protocol) -> PipeEnd:
        """Connects `protocol` (an asyncio protocol: a client library's, a test's) to this
        broker as a client, over an in-process pipe instead of a socket (transport.py); returns
        the transport of `protocol`'s end, as loop.create_connection would. As nats-server's
        in-process connections: no TLS (INFO says it is available, not required), no address."""
        if self._stopped is None or self._stopped.is_set() or self.lame_duck_mode:
            raise ConnectionRefusedError("the broker is not accepting connections")
        ours, theirs = pipe(self.loop)
        ours.connect(ClientConnection(self, self._new_cid(), in_process=True))
        theirs.connect(protocol)
        return theirs

    def _new_cid(self) -> int:
        cid = self.next_cid
        self.next_cid += 1
        return cid

    def register(self, conn: ClientConnection) -> bool:
        """Adds a new connection; False when max_connections is reached."""
        if len(self.connections) >= self.options.max_connections:
            self.log.error("%s - Maximum connections exceeded", conn.ip)
            return False
        self.connections[conn.cid] = conn
        self.total_connections += 1
        return True

    def unregister(self, conn: ClientConnection) -> None:
        """Drops a closed connection and its subscriptions (idempotent)."""
        if self.connections.pop(conn.cid, None) is None:
            return
        subs = list(conn.subs.values())
        conn.subs.clear()
        for sub in subs:
            conn.sublist.remove(sub)
        self._closed_in_msgs += conn.in_msgs
        self._closed_in_bytes += conn.in_bytes
        conn.account.stats.closed(conn)

    def flush_touched(self, origin: ClientConnection | None = None,
                      hold: bool = False) -> list[ClientConnection] | None:
        """Flushes every connection that got outbound bytes during the current read; returns
        those whose transport is now over its high-water mark (for backpressure), if any.
        `origin` is the client whose read it was: internal subscriptions' handlers see it as
        `self.origin` (who published what they receive) while they run. `hold`: the read was
        large (a stream is flowing), and a connection's output under HOLD_MAX bytes is held for
        a later write instead (outbound.HeldOutput). A call made while flushing (an internal
        handler publishing) does nothing: the running loop also flushes the connections touched
        meanwhile."""
        return flush_touched(self, origin, hold)

    def info_frame(self, conn: ClientConnection) -> bytes:
        opts = self.options
        cluster = self.cluster
        host, port = self.advertised or (opts.host, self.port)
        auth = self.auth
        tls = self.tls_context is not None
        tls_required, tls_available = tls and not conn.in_process, tls and conn.in_process
        websocket = conn.websocket is not None
        connect_urls = cluster.client_urls(websocket) if cluster is not None else None
        if websocket:  # as nats-server: the websocket listener's address and TLS
            ws = self.websocket
            host, port = ws.opts.host, ws.port
            tls_required = tls_available = ws.tls
            auth = conn.auth
        return encode_info(Info(
            server_id=self.server_id,
            server_name=self.server_name,
            version=VERSION,
            proto=1,
            go=IMPLEMENTATION,
            host=host,
            port=port,
            headers=True,
            max_payload=opts.max_payload,
            client_id=conn.cid,
            client_ip=conn.ip,
            auth_required=auth.required,
            tls_required=tls_required,
            tls_available=tls_available,
            tls_verify=bool(opts.tls and opts.tls.verify),
            nonce=conn.nonce,
            ldm=self.lame_duck_mode,
            jetstream=self.jetstream is not None,
            cluster=cluster.name if cluster is not None else None,
            connect_urls=connect_urls,
        ))

    # -- counters --------------------------------------------------------------------------

    def totals(self) -> tuple[int, int, int, int]:
        """in_msgs, in_bytes, out_msgs, out_bytes over the server's life (payloads, every kind
        of connection)."""
        conns = self.connections.values()
        in_msgs = self._closed_in_msgs + self.peer_in_msgs + sum(c.in_msgs for c in conns)
        in_bytes = self._closed_in_bytes + self.peer_in_bytes + sum(c.in_bytes for c in conns)
        return in_msgs, in_bytes, self.out_msgs, self.out_bytes


