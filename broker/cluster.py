"""Clustering over nats-server's route protocol: the route listener, the routes dialled from the
configuration and learned by gossip, the registry of routes by remote server id, interest
propagation (RS+/RS-), and the client URLs of the cluster that clients learn from INFO.

Client URLs come in two kinds, as in nats-server: the client ports' (`connect_urls`) for TCP
clients, the websocket ports' (`ws_connect_urls`) for WebSocket clients. Each server's route INFO
carries its own of both; each kind is kept apart (ClientURLs) and, when it changes, only the
clients of that kind get an asynchronous INFO.

A full mesh, as nats-server builds it: every server keeps one route to every other. When a server
registers a new route it tells its other routes about the new peer (an INFO carrying the peer's
`ip`, the URL to dial), and they dial it; so a node given one seed learns all the others. If
both sides dial each other at once, the first route registered wins and the other is closed as a
duplicate; the winner is flagged to be redialled if it drops, because the two sides may have kept
different connections. Explicit routes (from the configuration) are redialled for ever; routes
learned by gossip get one try plus `connect_retries`.

Interest: local subscriptions are counted per (account, subject, queue); plain interest is sent
as `RS+` on the first subscription and `RS-` after the last one; a queue group's interest is sent
on every change with its new total weight (`RS+ acc subj queue weight`, `RS-` at zero). Interest
learned from routes is never re-advertised to routes. The count is kept by the cluster's interest
listener on every account (see account.Account.listen), which sees every insert and removal and
counts those of clients and of leaves we are the hub for.
"""

from __future__ import annotations

import asyncio
import random

from zats.protocol.route_structs import RouteInfo, encode_route_info

from .ids import nuid
from .interfaces import listener_urls
from .listeners import listen
from .peers import PeerManager
from .route import RouteConnection
from .subscription import ONE_HOP
from .urls import join_host_port, split_url
from .version import IMPLEMENTATION, VERSION

_ROUTE_CONNECT_DELAY = 1.0  # nats-server's DEFAULT_ROUTE_CONNECT / DEFAULT_ROUTE_RECONNECT

GOSSIP_DEFAULT, GOSSIP_DISABLED, GOSSIP_OVERRIDE = 0, 1, 2


class ClientURLs:
    """One kind of URL the cluster gives its clients: ours (worked out once by `own_of`, after
    the listeners are up) and every routed server's, as its route INFO gave them. Clients get
    none until another server has given some of this kind (nats-server's INFO holds the list
    only once it has been updated)."""

    __slots__ = ("own_of", "_own", "remote", "announced")

    def __init__(self, own_of):
        self.own_of = own_of
        self._own: list[str] | None = None
        self.remote: dict[str, list[str]] = {}  # remote server id -> its URLs
        self.announced = False

    def own(self) -> list[str]:
        if self._own is None:
            self._own = self.own_of()
        return list(self._own)

    def forget_own(self) -> None:
        self._own = None

    def merged(self, without_own: bool) -> list[str] | None:
        """Ours, unless `without_own` (lame duck mode), then every other server's, once any."""
        if not (self.remote or self.announced):
            return None
        urls = [] if without_own else self.own()
        for remote in self.remote.values():
            for url in remote:
                if url not in urls:
                    urls.append(url)
        return urls or None  # an empty list is left out of INFO, as nats-server's omitempty

    def learn(self, remote_id: str, urls: list[str] | None) -> bool:
        """A newly registered server's URLs; whether it gave any."""
        if not urls:
            return False
        self.remote[remote_id] = list(urls)
        self.announced = True
        return True

    def update(self, remote_id: str, urls: list[str] | None) -> bool:
        """A later INFO of a server already known (a reload there); whether its URLs changed."""
        if urls is None or remote_id not in self.remote or self.remote[remote_id] == list(urls):
            return False
        self.remote[remote_id] = list(urls)
        return True

    def forget(self, remote_id: str) -> bool:
        """A server's route closed or it entered lame duck mode; whether it had given any."""
        return self.remote.pop(remote_id, None) is not None


class Cluster(PeerManager):
    def __init__(self, broker):
        self.broker = broker
        self.config = broker.options.cluster
        self.name = self.config.name or nuid()
        self.dynamic = not self.config.name
        self.port = 0
        self.routes: dict[str, RouteConnection] = {}  # registered, by remote server id
        self.conns: set[RouteConnection] = set()  # every open route connection
        self.tcp_urls = ClientURLs(self._own_tcp_urls)  # connect_urls
        self.ws_urls = ClientURLs(self._own_ws_urls)  # ws_connect_urls
        # account name -> (subject, queue) -> number of local subscriptions
        self.interest: dict[str, dict[tuple, int]] = {}
        self.ignored_urls: set[str] = set()  # routes found to lead to ourselves
        self.stopping = False
        self._next_rid = 1
        self._server: asyncio.base_events.Server | None = None
        self._dialing: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._flush_scheduled = False
        self.adopt_accounts()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        broker = self.broker
        log = broker.log
        cfg = self.config
        sock = listen("route", cfg.host, 0 if cfg.port == -1 else cfg.port, backlog=1024)
        self._server = await broker.loop.create_server(
            lambda: RouteConnection(self, solicited=False), sock=sock, backlog=1024)
        self.port = sock.getsockname()[1]
        log.notice("Cluster name is %s", self.name)
        if self.dynamic:
            log.warn("Cluster name was dynamically generated, consider setting one")
        log.notice("Listening for route connections on %s", join_host_port(cfg.host, self.port))
        for url in cfg.routes:
            self.dial(url, explicit=True)

    def new_rid(self) -> int:
        rid = self._next_rid
        self._next_rid += 1
        return rid

    def adopt_accounts(self) -> None:
        """Listens to the interest of every account (at start, and accounts a reload adds)."""
        for account in self.broker.accounts.values():
            account.listen(self.interest_changed)

    def interest_changed(self, account, sub, delta: int) -> None:
        """An account's interest changed: local interest (clients', and leaves' we are the hub
        for) is told to the routes; what routes and our hub told us is not."""
        if sub.kind in ONE_HOP:
            self.local_interest(account, sub, delta)

    # -- INFO ------------------------------------------------------------------------------

    def _own_tcp_urls(self) -> list[str]:
        """Our client listener as `host:port` (every interface's address when bound to all), or
        the client_advertise address."""
        broker = self.broker
        return listener_urls(broker.options.host, broker.port, broker.advertised)

    def _own_ws_urls(self) -> list[str]:
        ws = self.broker.websocket
        return ws.connect_urls() if ws is not None else []

    def own_client_urls_changed(self) -> None:
        """client_advertise changed on reload: routes get our new INFO, TCP clients theirs."""
        self.tcp_urls.forget_own()
        frame = self.info_frame()
        for conn in self.routes.values():
            conn.queue(frame)
        self.notify_clients(tcp=True, ws=False)

    def info(self, gossip_mode: int = 0) -> RouteInfo:
        broker = self.broker
        cfg = self.config
        info = RouteInfo(
            server_id=broker.server_id, server_name=broker.server_name, version=VERSION,
            proto=2, go=IMPLEMENTATION, host=cfg.host, port=self.port, headers=True,
            max_payload=broker.options.max_payload, auth_required=bool(cfg.user),
            cluster=self.name, cluster_dynamic=self.dynamic, ldm=broker.lame_duck_mode,
            gossip_mode=gossip_mode)
        if cfg.advertise:
            host, port, _, _ = split_url(cfg.advertise)
            info.ip = f"nats-route://{join_host_port(host, port)}/"
        if not cfg.no_advertise:
            info.connect_urls = self.tcp_urls.own()
            info.ws_connect_urls = self.ws_urls.own() or None
        return info

    def info_frame(self, conn: RouteConnection | None = None) -> bytes:
        mode = conn.gossip_mode if conn is not None and conn.implicit else 0
        return encode_route_info(self.info(mode))

    def client_urls(self, websocket: bool = False) -> list[str] | None:
        """`connect_urls` for the INFO of a TCP client (of a WebSocket client: the websocket
        URLs): ours and every other server's, once another server has given some; without ours
        in lame duck mode."""
        if self.config.no_advertise:
            return None
        return (self.ws_urls if websocket else self.tcp_urls).merged(self.broker.lame_duck_mode)

    def notify_clients(self, tcp: bool, ws: bool) -> None:
        """An asynchronous INFO to every client that takes one (protocol 1), after the cluster's
        client URLs of its kind (TCP, WebSocket) changed."""
        if not (tcp or ws):
            return
        broker = self.broker
        for conn in list(broker.connections.values()):
            if (not conn.closed and (ws if conn.websocket is not None else tcp)
                    and conn.connect_opts is not None and conn.connect_opts.protocol >= 1):
                conn.queue(broker.info_frame(conn))
        self.schedule_flush()

    # -- names and auth ------------------------------------------------------------------------

    def check_name(self, remote: str, remote_dynamic: bool, remote_id: str, *,
                   static_if_adopted: bool = False) -> bool:
        """Whether a peer's cluster name is acceptable; a dynamic name of ours is replaced by the
        peer's when the peer's is configured or sorts higher (nats-server's rule), and then
        every other route is closed."""
        if not remote or remote == self.name:
            return True
        if not self.dynamic or (remote_dynamic and self.name >= remote):
            return False
        self.name = remote
        if static_if_adopted and not remote_dynamic:
            self.dynamic = False
        self.broker.log.notice("Cluster name updated to %s", remote)
        for conn in list(self.conns):
            if conn.remote_id != remote_id and conn.registered:
                conn.close(None, "Cluster Name Conflict")
        return True

    def authorized(self, connect) -> bool:
        cfg = self.config
        if not cfg.user:
            return True
        return connect.user == cfg.user and connect.password == cfg.password

    # -- registration ----------------------------------------------------------------------------

    def first_info(self, conn: RouteConnection, info: RouteInfo) -> None:
        """The peer's first INFO: on a route we dialled it comes first (then we send CONNECT and
        our INFO); on one we accepted it follows the peer's CONNECT. Registers the route."""
        broker = self.broker
        log = broker.log
        if info.server_id == broker.server_id:
            if conn.solicited:
                log.notice('Detected route to self, ignoring "%s"', conn.url)
                self.ignored_urls.add(conn.url)
            conn.no_reconnect = True
            conn.close(None, "Duplicate Route")
            return
        if info.cluster and info.cluster != self.name:
            if not self.check_name(info.cluster, info.cluster_dynamic, info.server_id):
                log.error("%s:%d - rid:%d - Rejecting connection, cluster name %r does not match %r",
                          conn.ip, conn.port, conn.cid, info.cluster, self.name)
                conn.close(None, "Cluster Name Conflict")
                return
        if not conn.solicited and info.server_name and info.server_name == broker.server_name:
            log.error("%s:%d - rid:%d - Remote server has a duplicate name: %r", conn.ip, conn.port,
                      conn.cid, info.server_name)
            conn.close(None, "Duplicate Server Name")
            return
        if conn.solicited:
            # Credentials from the URL dialled, else the cluster's own when the peer wants some.
            user = password = None
            if conn.url:
                _, _, user, password = split_url(conn.url)
            if user is None and info.auth_required:
                user, password = self.config.user, self.config.password
            conn.send_connect(user, password)
        conn.info = info
        conn.remote_id = info.server_id
        conn.remote_name = info.server_name
        conn.headers = info.headers
        if not info.ip:
            info.ip = f"nats-route://{join_host_port(conn.ip, info.port)}/"
        conn.route_url = info.ip
        self.register(conn, info)

    def register(self, conn: RouteConnection, info: RouteInfo) -> None:
        log = self.broker.log
        remote_id = info.server_id
        existing = self.routes.get(remote_id)
        if existing is not None:
            # Both sides dialled: keep the first registered, and redial it if it drops (the
            # other side may have kept the other connection).
            if conn.solicited and not existing.solicited:
                existing.solicited = True
                existing.url = conn.url
            if conn.explicit:
                existing.explicit = True
            existing.retry = True
            conn.no_reconnect = True
            log.debug("%s:%d - rid:%d - Detected duplicate remote route %r", conn.ip, conn.port,
                      conn.cid, remote_id)
            conn.close(None, "Duplicate Route")
            return
        self.routes[remote_id] = conn
        conn.registered = True
        if conn.handshake_timer is not None:
            conn.handshake_timer.cancel()
            conn.handshake_timer = None
        log.notice("%s:%d - rid:%d - Route connection created", conn.ip, conn.port, conn.cid)
        self._gossip(conn, info)
        if not self.config.no_advertise and not info.ldm:
            self.notify_clients(self.tcp_urls.learn(remote_id, info.connect_urls),
                                self.ws_urls.learn(remote_id, info.ws_connect_urls))
        self.send_interest(conn)
        conn.start_pinging()

    def _gossip(self, conn: RouteConnection, info: RouteInfo) -> None:
        """Tells our other routes about a newly registered peer, so that they dial it (not when
        we dialled it because of gossip ourselves, nor when the peer asked for no gossip)."""
        if (conn.solicited and conn.implicit) or info.gossip_mode == GOSSIP_DISABLED:
            return
        others = [r for r in self.routes.values() if r is not conn and not r.closed]
        if not others:
            return
        forwarded = RouteInfo(**{f: getattr(info, f) for f in info.__struct_fields__})
        forwarded.nonce = None
        frames: dict[int, bytes] = {}
        for route in others:
            if (not conn.solicited and route.explicit) or (conn.solicited and conn.explicit):
                mode = GOSSIP_OVERRIDE
            elif not conn.solicited:
                mode = GOSSIP_DISABLED
            else:
                mode = GOSSIP_DEFAULT
            frame = frames.get(mode)
            if frame is None:
                forwarded.gossip_mode = mode
                frame = frames[mode] = encode_route_info(forwarded)
            route.queue(frame)

    def route_closed(self, conn: RouteConnection) -> None:
        """A route connection closed (idempotent): its interest and client URLs go; explicit
        routes, and routes kept over a duplicate, are redialled."""
        self.conns.discard(conn)
        if not conn.registered:
            self._maybe_redial(conn)
            return
        conn.registered = False
        log = self.broker.log
        if self.routes.get(conn.remote_id) is conn:
            del self.routes[conn.remote_id]
            conn.remove_interest()
            self._forget_urls(conn)
        log.notice("%s:%d - rid:%d - Router connection closed: %s", conn.ip, conn.port, conn.cid,
                   conn.close_reason or "Client Closed")
        self._maybe_redial(conn)
        self.schedule_flush()

    def _maybe_redial(self, conn: RouteConnection) -> None:
        if self.stopping or conn.no_reconnect or self.broker.lame_duck_mode:
            return
        delay = random.random() * 0.1
        if conn.solicited and conn.explicit and conn.url:
            self.dial(conn.url, explicit=True, delay=delay + _ROUTE_CONNECT_DELAY)
        elif conn.retry and conn.route_url:
            url = conn.url or self._with_credentials(conn.route_url, conn.info)
            self.dial(url, explicit=False, implicit=True, delay=delay)

    def _with_credentials(self, url: str, info: RouteInfo | None) -> str:
        cfg = self.config
        if info is None or not info.auth_required or not cfg.user or "@" in url:
            return url
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{cfg.user}:{cfg.password or ''}@{rest}"

    # -- dialling ---------------------------------------------------------------------------

    def dial(self, url: str, *, explicit: bool, implicit: bool = False, gossip_mode: int = 0,
             delay: float = 0.0) -> None:
        if self.stopping or url in self.ignored_urls:
            return
        try:
            host, port, _, _ = split_url(url)
        except ValueError as exc:
            self.broker.log.error("Error parsing route URL %r: %s", url, exc)
            return
        key = join_host_port(host.lower(), port)
        if key in self._dialing:
            return
        self._dialing.add(key)
        task = self.broker.loop.create_task(
            self._dial(url, key, host, port, explicit, implicit, gossip_mode, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dial(self, url: str, key: str, host: str, port: int, explicit: bool, implicit: bool,
                    gossip_mode: int, delay: float) -> None:
        loop = self.broker.loop
        log = self.broker.log
        attempts = 0
        try:
            if delay:
                await asyncio.sleep(delay)
            while not self.stopping and url not in self.ignored_urls:
                attempts += 1
                log.debug("Trying to connect to route on %s", key)
                try:
                    await loop.create_connection(
                        lambda: RouteConnection(self, solicited=True, url=url, explicit=explicit,
                                                implicit=implicit, gossip_mode=gossip_mode),
                        host, port)
                    return
                except OSError as exc:
                    log.debug("Error trying to connect to route (attempt %d): %s", attempts, exc)
                if not explicit and attempts > self.config.connect_retries:
                    return
                await asyncio.sleep(_ROUTE_CONNECT_DELAY)
        finally:
            self._dialing.discard(key)

    def implicit_route(self, info: RouteInfo) -> None:
        """Gossip: a peer told us about another server; dial it unless we already have a route
        to it or it is one of our configured routes."""
        broker = self.broker
        if info.server_id == broker.server_id or info.route_account or not info.ip:
            return
        if info.server_id in self.routes or self._configured(info):
            return
        url = info.ip
        if info.auth_required and self.config.user:
            url = self._with_credentials(url, info)
        self.dial(url, explicit=False, implicit=True, gossip_mode=info.gossip_mode)

    def _configured(self, info: RouteInfo) -> bool:
        wanted = {join_host_port(info.host.lower(), info.port)}
        try:
            host, port, _, _ = split_url(info.ip)
            wanted.add(join_host_port(host.lower(), port))
        except ValueError:
            pass
        for url in self.config.routes:
            try:
                host, port, _, _ = split_url(url)
            except ValueError:
                continue
            if join_host_port(host.lower(), port) in wanted:
                return True
        return False

    # -- lame duck -------------------------------------------------------------------------------

    def lame_duck(self) -> None:
        """Tells every route we are in lame duck mode (they drop our client URLs)."""
        frame = self.info_frame()
        for conn in self.routes.values():
            conn.queue(frame)
        self.schedule_flush()

    def remote_lame_duck(self, conn: RouteConnection) -> None:
        self._forget_urls(conn)

    def _forget_urls(self, conn: RouteConnection) -> None:
        self.notify_clients(self.tcp_urls.forget(conn.remote_id),
                            self.ws_urls.forget(conn.remote_id))

    def remote_client_urls(self, conn: RouteConnection, info: RouteInfo) -> None:
        """A later INFO of a routed server: its client URLs may have changed (a reload)."""
        if self.config.no_advertise:
            return
        self.notify_clients(self.tcp_urls.update(conn.remote_id, info.connect_urls),
                            self.ws_urls.update(conn.remote_id, info.ws_connect_urls))

    # -- interest ----------------------------------------------------------------------------------

    def local_interest(self, account, sub, delta: int) -> None:
        """A local subscription was added (delta > 0: 1, or a leaf queue member's weight) or
        removed (delta < 0): RS+/RS- to every route as the collapsing and queue-weight rules
        say."""
        rm = self.interest.get(account.name)
        if rm is None:
            rm = self.interest[account.name] = {}
        queue = sub.queue or None
        key = (sub.subject, queue)
        n = rm.get(key, 0) + delta
        if n <= 0:
            if rm.pop(key, None) is None:
                return
            acc = account.name.encode()
            line = b"RS- %s %s %s\r\n" % (acc, sub.subject, queue) if queue else \
                b"RS- %s %s\r\n" % (acc, sub.subject)
        else:
            rm[key] = n
            if queue:
                line = b"RS+ %s %s %s %d\r\n" % (account.name.encode(), sub.subject, queue, n)
            elif n == 1 and delta > 0:
                line = b"RS+ %s %s\r\n" % (account.name.encode(), sub.subject)
            else:
                return
        if self.routes:
            for conn in self.routes.values():
                conn.queue(line)
            self.schedule_flush()

    def send_interest(self, conn: RouteConnection) -> None:
        """The whole local interest, to a route just registered."""
        parts = []
        for account, rm in self.interest.items():
            acc = account.encode()
            for (subject, queue), n in rm.items():
                if queue:
                    parts.append(b"RS+ %s %s %s %d\r\n" % (acc, subject, queue, n))
                else:
                    parts.append(b"RS+ %s %s\r\n" % (acc, subject))
        if parts:
            conn.queue(b"".join(parts))

    # -- monitoring --------------------------------------------------------------------------------

    def configured_urls(self) -> list[str]:
        urls = []
        for url in self.config.routes:
            try:
                host, port, _, _ = split_url(url)
            except ValueError:
                continue
            urls.append(join_host_port(host, port))
        return urls

