"""Leafnodes: nats-server's leafnode protocol, both roles (see protocol/peer_parser.py and
docs/routes-and-leafnodes.md, "Leafnodes").

- As a hub (`leafnodes { listen, authorization }`): we accept leaf connections, send INFO at
  once (with `client_id`, `leafnode_urls` and a `nonce`, without `compression` nor
  `info_on_connect`, so a nats-server spoke stays uncompressed and needs no second INFO), take
  CONNECT first, bind the leaf to an account, then send it all interest of that account (local
  clients, routes, other leaves) and take its interest (kind LEAF_SUB) like a client's: the
  cluster's interest listener tells it to routes as RS+. Its messages go to local clients,
  routes and other leaves; routed messages reach it too.
- As a spoke (`leafnodes { remotes [...] }`): we dial a hub, read its INFO, send CONNECT
  (without `compress_mode`), and advertise only local interest (clients, and leaves we are the
  hub for). Hub interest is stored as kind HUB_SUB, which is never re-advertised to our
  routes; hub messages go one hop, to local clients and our own leaves only.
  A dropped hub connection is redialled with back-off (doubling from `reconnect_delay` to 30 s;
  30 s after a loop, cluster-name or permission error).

Loop detection: every leaf connection gets `LS+ $LDS.<nuid>` (ours); seeing our own LDS subject
come back means the leaf topology has a cycle: `-ERR 'Loop detected ...'` and close.

A leaf connection is a RouteConnection as far as delivery is concerned (`line_prefix`, `msg_op`,
`one_hop`): a message that matches a leaf's interest is forwarded once per connection by the
fan-out (delivery.py), as LMSG/HMSG without account. A leaf never gets its own messages back
(`echo` is off, as nats-server's leaf connections).

Interest to the peer follows the account's interest listener (`Leafnodes.interest_changed`,
registered with account.Account.listen), which counts per (subject, queue) what each leaf
connection is told (LS+/LS-).
"""

from __future__ import annotations

import asyncio
import random

import msgspec

from zats.protocol import errors
from zats.protocol.creds import read_creds
from zats.protocol.errors import ProtocolError
from zats.protocol.leaf_structs import (
    LeafConnect,
    LeafInfo,
    decode_leaf_connect,
    decode_leaf_info,
    encode_leaf_connect,
    encode_leaf_info,
)
from zats.protocol.nkeys import KeyPair
from zats.protocol.peer_parser import LEAF
from zats.protocol.subjects import is_valid_subject

from .delivery import deliver_from_peer
from .durations import format_duration
from .ids import nuid
from .interfaces import listener_urls
from .listeners import listen
from .peers import PeerManager
from .route import RouteConnection, traffic
from .sublist import interest_weight
from .subscription import HUB_SUB, LEAF_SUB, ONE_HOP
from .urls import join_host_port, split_url
from .version import IMPLEMENTATION, VERSION
from .wire import HEAVY_FANOUT

_MAX_BACKOFF = 30.0
_LOOP_DELAY = 30.0
_CRLF = b"\r\n"


class LeafConnection(RouteConnection):
    """One leaf connection, either role: a RouteConnection (the message and interest plumbing
    delivery and forwarding use) speaking the leafnode protocol; `cluster` is the Leafnodes
    manager."""

    msg_op = b"LMSG"
    trace_kind = "lid"
    peer_kind = LEAF
    decode_connect = staticmethod(decode_leaf_connect)
    gateway_refusal = "Rejecting connection from gateway on the leafnode port"

    __slots__ = ("remote", "acc", "acc_name", "counts", "loop_error", "nonce")

    def __init__(self, leafs: Leafnodes, *, solicited: bool, remote=None, url: str = ""):
        # The hub expects CONNECT before anything else.
        super().__init__(leafs, solicited=solicited, url=url, explicit=solicited,
                         cid=leafs.new_lid())
        self.echo = False  # a leaf's own messages never go back to it
        self.remote = remote  # the RemoteState dialled, when solicited
        self.acc = None  # the bound Account
        self.acc_name = b""
        self.counts: dict[tuple, int] = {}  # interest advertised: (subject, queue) -> count
        self.loop_error = False
        self.nonce = nuid() if not solicited else ""

    def __repr__(self) -> str:
        return f"<LeafConnection lid={self.cid} {self.ip}:{self.port} remote={self.remote_name!r}>"

    # -- the handshake --------------------------------------------------------------------------

    def _opened(self) -> None:
        leafs = self.cluster
        leafs.conns.add(self)
        if self.solicited:
            timeout = 2.0  # the hub's INFO
        else:
            self.transport.write(leafs.info_frame(self))
            timeout = leafs.config.auth_timeout
        self.handshake_timer = self.broker.loop.call_later(timeout, self._handshake_timeout)

    # -- messages -----------------------------------------------------------------------------

    def line_prefix(self, op: bytes, account: bytes, subject: bytes) -> bytes:
        """`LMSG <subject> ` / `HMSG <subject> `: the connection's account is implied."""
        return op + b" " + subject + b" "

    @property
    def one_hop(self) -> bool:
        """A message from our hub goes to local subscribers and our own leaves only; one from a
        leaf of ours also to routes and other leaves."""
        return self.solicited

    @property
    def sub_kind(self) -> int:
        """The kind of the interest this peer announces: our hub's, or a leaf's of ours."""
        return HUB_SUB if self.solicited else LEAF_SUB

    # -- handshake ----------------------------------------------------------------------------

    def on_err(self, text: str) -> None:
        self.broker.log.error("%s:%d - lid:%d - Leafnode Error %r", self.ip, self.port, self.cid,
                              text)
        lower = text.lower()
        if "loop detected" in lower or "same cluster name" in lower or "permissions violation" in lower:
            self.loop_error = True

    def on_connect(self, arg: bytes) -> None:
        """A spoke's CONNECT (we are the hub)."""
        leafs = self.cluster
        log = self.broker.log
        connect = self._decode_connect(arg)
        cfg = leafs.config
        if cfg.user and (connect.user != cfg.user or connect.password != cfg.password):
            log.error("%s:%d - lid:%d - authentication error - User %r", self.ip, self.port,
                      self.cid, connect.user or "")
            raise ProtocolError(errors.AUTH_VIOLATION, "leafnode authorization violation")
        if " " in connect.cluster:
            self.close("Leafnode cluster name cannot contain spaces", "Cluster Name Conflict")
            return
        if connect.cluster and connect.cluster == leafs.cluster_name():
            self.loop_error = True
            self.close("remote leafnode has same cluster name", "Cluster Name Conflict")
            return
        self.remote_id = connect.server_id
        self.remote_name = connect.name or connect.server_id
        self.headers = connect.headers
        leafs.register(self, cfg.account or self.broker.global_account.name)

    def on_info(self, arg: bytes) -> None:
        try:
            info = decode_leaf_info(arg)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolError(None, f"malformed leafnode INFO: {exc}") from None
        leafs = self.cluster
        if info.leafnode_urls and self.remote is not None:
            self.remote.learn(info.leafnode_urls)
        if not self.solicited or self.info_received:
            return  # the connect_info INFO and later updates: nothing else to do
        self.info_received = True
        if not info.client_id or info.leafnode_urls is None:
            self.broker.log.error("%s:%d - lid:%d - attempted to connect to wrong port", self.ip,
                                  self.port, self.cid)
            self.close(None, "Wrong Port")
            return
        self.remote_id = info.server_id
        self.remote_name = info.server_name or info.server_id
        self.headers = info.headers
        self.queue(leafs.connect_frame(self, info))
        leafs.register(self, self.remote.config.account or self.broker.global_account.name)

    # -- interest from the peer -----------------------------------------------------------------

    def on_rsub(self, account: None, subject: bytes, queue: bytes | None, weight: int) -> None:
        if not self.registered:
            raise ProtocolError(None, "LS+ before CONNECT")
        leafs = self.cluster
        if subject == leafs.lds:
            text = f'Loop detected for leafnode account="{self.acc.name}". Delaying attempt to reconnect for 30s'
            self.broker.log.error("%s:%d - lid:%d - %s", self.ip, self.port, self.cid, text)
            self.loop_error = True
            self.close(text, "Loop Detected")
            return
        if not is_valid_subject(subject):
            self.invalid_subscription(subject)
            return
        self.add_interest(self.acc, self.acc_name, subject, queue, weight)

    def on_runsub(self, account: None, subject: bytes, queue: bytes | None) -> None:
        sub = self.rsubs.pop((self.acc_name, subject, queue), None)
        if sub is not None:
            self.acc.sublist.remove(sub)

    def remove_interest(self) -> None:
        rsubs, self.rsubs = self.rsubs, {}
        if self.acc is not None:
            self.acc.sublist.remove_many(rsubs.values())

    # -- interest to the peer -----------------------------------------------------------------

    def shows(self, sub) -> bool:
        """Whether a subscription is interest this leaf connection is told about: a hub tells
        its spoke everything but the spoke's own; a spoke tells its hub only local interest
        (clients, and leaves it is the hub for)."""
        if sub.conn is self:
            return False
        return not self.solicited or sub.kind in ONE_HOP

    def count(self, subject: bytes, queue: bytes | None, delta: int) -> None:
        key = (subject, queue)
        n = self.counts.get(key, 0) + delta
        if n <= 0:
            if self.counts.pop(key, None) is None:
                return
            self.queue(b"LS- %s %s\r\n" % (subject, queue) if queue else b"LS- %s\r\n" % subject)
            return
        self.counts[key] = n
        if queue:
            self.queue(b"LS+ %s %s %d\r\n" % (subject, queue, n))
        elif n == 1 and delta > 0:
            self.queue(b"LS+ %s\r\n" % subject)

    # -- messages from the peer -----------------------------------------------------------------

    # Leaf messages come one by one (a route's run path is not for them).
    on_rmsg_run = None

    def on_rmsg(self, account: None, subject: bytes, reply: bytes | None, queues, header_len: int,
                message: memoryview) -> bool:
        """A leaf message; True when the parser is to stop after it (see wire._fanned_out)."""
        if not self.registered:
            raise ProtocolError(None, "LMSG before CONNECT")
        self.received(1, len(message))
        n = deliver_from_peer(self, self.acc.sublist.match(subject), subject, reply, queues,
                              header_len, message)
        return n > HEAVY_FANOUT and self._fanned_out(n)


class RemoteState:
    """One configured remote: its URLs (configured and learned) and the redial back-off."""

    def __init__(self, config):
        self.config = config
        self.urls = list(config.urls)
        self.next = 0
        self.failures = 0
        self.conn: LeafConnection | None = None

    def learn(self, urls: list[str]) -> None:
        for url in urls:
            full = url if "://" in url else f"nats-leaf://{url}"
            if full not in self.urls and not any(u.endswith("@" + url) or u.endswith("//" + url)
                                                 for u in self.urls):
                self.urls.append(full)

    def pick(self) -> str:
        url = self.urls[self.next % len(self.urls)]
        self.next += 1
        return url


class Leafnodes(PeerManager):
    def __init__(self, broker):
        self.broker = broker
        self.config = broker.options.leafnodes
        self.port = 0
        self.lds = b"$LDS." + nuid().encode()
        self.conns: set[LeafConnection] = set()
        self.by_account: dict[str, list[LeafConnection]] = {}
        self.remotes = [RemoteState(r) for r in self.config.remotes]
        self.stopping = False
        self._next_lid = 1
        self._server = None
        self._tasks: set[asyncio.Task] = set()
        self._flush_scheduled = False
        self.adopt_accounts()

    def new_lid(self) -> int:
        lid = self._next_lid
        self._next_lid += 1
        return lid

    def cluster_name(self) -> str:
        cluster = self.broker.cluster
        return cluster.name if cluster is not None else self.broker.server_name

    def adopt_accounts(self) -> None:
        """Listens to the interest of every account (at start, and accounts a reload adds)."""
        for account in self.broker.accounts.values():
            account.listen(self.interest_changed)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        log = self.broker.log
        if cfg.port:
            sock = listen("leafnode", cfg.host, 0 if cfg.port == -1 else cfg.port, backlog=1024)
            self._server = await self.broker.loop.create_server(
                lambda: LeafConnection(self, solicited=False), sock=sock, backlog=1024)
            self.port = sock.getsockname()[1]
            log.notice("Listening for leafnode connections on %s", join_host_port(cfg.host, self.port))
        for remote in self.remotes:
            self._dial(remote, 0.0)

    def leafnode_urls(self) -> list[str]:
        return listener_urls(self.config.host, self.port)

    def info_frame(self, conn: LeafConnection) -> bytes:
        b = self.broker
        info = LeafInfo(
            server_id=b.server_id, server_name=b.server_name, version=VERSION, proto=1,
            go=IMPLEMENTATION, host=self.config.host, port=self.port, headers=True,
            auth_required=bool(self.config.user), max_payload=b.options.max_payload,
            client_id=conn.cid, nonce=conn.nonce, cluster=self.cluster_name(),
            leafnode_urls=self.leafnode_urls())
        return encode_leaf_info(info)

    def connect_frame(self, conn: LeafConnection, info: LeafInfo) -> bytes:
        b = self.broker
        remote = conn.remote.config
        connect = LeafConnect(
            version=VERSION, server_id=b.server_id, name=b.server_name,
            cluster=self.cluster_name(), headers=True,
            remote_account=remote.account or b.global_account.name, protocol=1)
        _, _, user, password = split_url(conn.url)
        if user is not None:
            connect.user, connect.password = user, password
        if remote.credentials:
            with open(remote.credentials) as f:
                jwt, seed = read_creds(f.read())
            connect.jwt = jwt
            connect.sig = KeyPair(seed).sign_nonce(info.nonce or "")
        return encode_leaf_connect(connect)

    # -- registration ---------------------------------------------------------------------------

    def register(self, conn: LeafConnection, account_name: str) -> None:
        broker = self.broker
        account = broker.accounts.get(account_name)
        if account is None:
            conn.close(f"Unknown account {account_name!r}", "Bad Account")
            return
        self.adopt_accounts()
        again = conn.registered  # a later CONNECT: nats-server sends all interest anew
        conn.acc = account
        conn.acc_name = account.name.encode()
        conn.registered = True
        if conn.handshake_timer is not None:
            conn.handshake_timer.cancel()
            conn.handshake_timer = None
        if conn.remote is not None:
            conn.remote.failures = 0
        if not again:
            self.by_account.setdefault(account.name, []).append(conn)
            broker.log.notice("%s:%d - lid:%d - Leafnode connection created%s %r", conn.ip,
                              conn.port, conn.cid, " for remote" if conn.solicited else " from",
                              conn.remote_name)
        # Our loop-detection subject, then the interest this connection is told about.
        conn.counts.clear()
        conn.queue(b"LS+ " + self.lds + _CRLF)
        for sub in account.sublist.subscriptions():
            if conn.shows(sub):
                conn.count(sub.subject, sub.queue or None, interest_weight(sub))
        if not again:
            conn.start_pinging()
        self.schedule_flush()

    def interest_changed(self, account, sub, delta: int) -> None:
        """An account's interest changed: each leaf connection bound to it that is told about
        such a subscription (LeafConnection.shows) counts it."""
        conns = self.by_account.get(account.name)
        if not conns:
            return
        for conn in conns:
            if conn.registered and not conn.closed and conn.shows(sub):
                conn.count(sub.subject, sub.queue or None, delta)
        self.schedule_flush()

    def route_closed(self, conn: LeafConnection) -> None:
        """A leaf connection closed (idempotent; the name RouteConnection calls)."""
        self.conns.discard(conn)
        if conn.registered:
            conn.registered = False
            conns = self.by_account.get(conn.acc.name)
            if conns and conn in conns:
                conns.remove(conn)
            conn.remove_interest()
            self.broker.log.notice("%s:%d - lid:%d - Leafnode connection closed: %s", conn.ip,
                                   conn.port, conn.cid, conn.close_reason or "Client Closed")
            self.schedule_flush()
        remote = conn.remote
        if remote is not None and remote.conn is conn:
            remote.conn = None
            if not self.stopping and not self.broker.lame_duck_mode:
                if conn.loop_error:
                    delay = _LOOP_DELAY
                else:
                    delay = min(self.config.reconnect * (2 ** remote.failures), _MAX_BACKOFF)
                    remote.failures += 1
                self._dial(remote, delay * (1 + random.random() * 0.1))

    # -- dialling -------------------------------------------------------------------------------

    def _dial(self, remote: RemoteState, delay: float) -> None:
        if self.stopping:
            return
        task = self.broker.loop.create_task(self._connect(remote, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, remote: RemoteState, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if self.stopping or remote.conn is not None:
            return
        url = remote.pick()
        log = self.broker.log
        try:
            host, port, _, _ = split_url(url)
            conn = LeafConnection(self, solicited=True, remote=remote, url=url)
            remote.conn = conn
            await asyncio.wait_for(self.broker.loop.create_connection(lambda: conn, host, port), 5)
        except (OSError, ValueError, TimeoutError) as exc:
            log.debug("Error trying to connect as leafnode to remote server %r: %s", url, exc)
            remote.conn = None
            delay = min(self.config.reconnect * (2 ** remote.failures), _MAX_BACKOFF)
            remote.failures += 1
            self._dial(remote, delay * (1 + random.random() * 0.1))

    # -- monitoring ---------------------------------------------------------------------------

    def registered(self) -> list[LeafConnection]:
        return sorted((c for conns in self.by_account.values() for c in conns), key=lambda c: c.cid)


def leaf_info(conn: LeafConnection, now: float, with_subs: bool) -> dict:
    """One leaf connection as nats-server's /leafz lists it."""
    info = {
        "name": conn.remote_name,
        "is_spoke": conn.solicited,
        "account": conn.acc.name if conn.acc is not None else "",
        "ip": conn.ip,
        "port": conn.port,
        "rtt": format_duration(conn.rtt),
    }
    traffic(conn, info, with_subs)
    return info
