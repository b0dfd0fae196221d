"""One route: a connection to another server of the cluster, speaking nats-server's route
protocol (see protocol/peer_parser.py and docs/routes-and-leafnodes.md).

The handshake, as nats-server does it:
- the accepting side sends its INFO at once and takes CONNECT as the first op (anything else is
  an Authorization Violation), then waits for the peer's INFO;
- the soliciting side reads the acceptor's INFO first (adopting its cluster name if ours is
  dynamic), then sends CONNECT followed by its own INFO;
- the route is registered with the Cluster when the peer's INFO is processed; both sides then
  send their whole local interest as RS+ lines.

Interest the peer announces (RS+/RS-) becomes PeerSub entries of kind ROUTE_SUB in the account's
Sublist, whose `conn` is this route: one match serves local and remote delivery. A queue
subscription is one entry carrying its weight (the number of members behind it, as the peer
says); the Sublist makes queue groups with weighted members pick by weight, as nats-server's
shadow entries do, and a member of weight 0 or less (nats-server's reading of a weight that is
not a number) is never picked. A subject that is not valid gets `-ERR 'Invalid Subscription'`,
the route stays up. When a client's message matches route subscriptions, the fan-out
(delivery.py) sends one RMSG/HMSG per route naming the queue groups picked on it; a message that
arrives from a route goes one hop (`one_hop`): to local subscribers and leaves we are the hub
for, to queue members only of the groups it names.

Outbound bytes go through `out` and the broker's `touched` list, like a client's, so that the
broker flushes every connection once at the end of each read.
"""

from __future__ import annotations

import random
import time

import msgspec

from zats.protocol import errors
from zats.protocol.errors import INVALID_SUBSCRIPTION, ProtocolError, err_frame
from zats.protocol.peer_parser import ROUTE, PeerOpsParser
from zats.protocol.route_structs import (
    RouteConnect,
    decode_route_connect,
    decode_route_info,
    encode_route_connect,
)
from zats.protocol.subjects import is_valid_subject

from .delivery import deliver_from_peer, deliver_run, plain_from_peer
from .durations import format_duration
from .subscription import ROUTE_SUB, PeerSub
from .wire import HEAVY_FANOUT, WireConnection

# First PING on a route about a second after it comes up (as nats-server), then this interval
# at most.
_FIRST_PING = 1.0
_MAX_PING_INTERVAL = 30.0


class RouteConnection(WireConnection):
    is_route = True
    trace_kind = "rid"
    msg_op = b"RMSG"  # the op of a message without headers to this peer
    peer_kind = ROUTE  # what the parser reads
    decode_connect = staticmethod(decode_route_connect)
    gateway_refusal = "Rejecting connection from gateway {!r} on the Route port"
    sub_kind = ROUTE_SUB  # the kind of the interest the peer announces
    one_hop = True  # a routed message goes to local subscribers and hub leaves only

    __slots__ = (
        "cluster", "solicited", "url", "explicit", "implicit", "gossip_mode", "retry",
        "no_reconnect", "registered", "info_received", "pinned", "remote_id", "remote_name",
        "info", "route_url", "rsubs", "accounts",
    )

    def __init__(self, cluster, *, solicited: bool, url: str = "", explicit: bool = False,
                 implicit: bool = False, gossip_mode: int = 0, cid: int | None = None):
        super().__init__(cluster.broker, cluster.new_rid() if cid is None else cid)
        self.cluster = cluster
        self.room_as_arrives = True  # a routed message's size has no limit
        opts = self.broker.options
        # The accepting side expects CONNECT before anything else.
        self.parser = PeerOpsParser(self, self.peer_kind, expect_connect=not solicited,
                                    max_control_line=opts.max_control_line,
                                    max_payload=opts.max_payload)
        self.solicited = solicited  # we dialled it
        self.url = url  # the URL dialled (with credentials), when solicited
        self.explicit = explicit  # from the configuration: redialled for ever
        self.implicit = implicit  # dialled because a peer told us about the server
        self.gossip_mode = gossip_mode
        self.retry = False  # a duplicate was closed in its favour: redial if it drops
        self.no_reconnect = False
        self.registered = False
        self.info_received = False
        self.pinned = False  # nats-server's per-account connection, which we do not take
        self.remote_id = ""
        self.remote_name = ""
        self.info = None
        self.route_url = ""  # nats-route://host:port/ others dial to reach the peer
        self.headers = True
        # (account, subject, queue) -> its PeerSub
        self.rsubs: dict[tuple, PeerSub] = {}
        self.accounts: dict[bytes, object] = {}  # account name on the wire -> Account

    def __repr__(self) -> str:
        return f"<RouteConnection rid={self.cid} {self.ip}:{self.port} remote={self.remote_name!r}>"

    # -- the handshake and closing -------------------------------------------------------------

    def _opened(self) -> None:
        cluster = self.cluster
        broker = self.broker
        cluster.conns.add(self)
        timeout = max(cluster.config.auth_timeout, 2.0)
        if self.solicited:
            broker.log.debug("%s:%d - rid:%d - Route connect msg sent", self.ip, self.port, self.cid)
        else:
            # The accepting side speaks first.
            self.transport.write(cluster.info_frame(self))
            timeout = cluster.config.auth_timeout
        self.handshake_timer = broker.loop.call_later(timeout, self._handshake_timeout)

    def _release(self) -> None:
        self.cluster.route_closed(self)

    def line_prefix(self, op: bytes, account: bytes, subject: bytes) -> bytes:
        """The start of a message line to this peer: `RMSG <account> <subject> ` (routes name
        the account; LeafConnection overrides this)."""
        return op + b" " + account + b" " + subject + b" "


    def _handshake_timeout(self) -> None:
        self.handshake_timer = None
        if self.closed or self.registered:
            return
        if self.parser.expect_connect:
            self.close(errors.AUTH_TIMEOUT, "Authentication Timeout")
        elif not self.pinned:
            self.close(None, "Stale Connection", f"no {self.peer_kind.name} INFO in time")

    # -- keepalive ------------------------------------------------------------------------

    def start_pinging(self) -> None:
        self._schedule_ping(_FIRST_PING * (1 + random.random() * 0.2))

    def _ping_interval(self) -> float:
        return min(self.broker.options.ping_interval, _MAX_PING_INTERVAL)

    # -- route ops (called by PeerOpsParser) --------------------------------------------

    def on_err(self, text: str) -> None:
        # nats-server refuses its per-account ("pinned") connection to a server without pooling
        # with an -ERR: expected, so not an error here.
        log = self.broker.log.debug if self.pinned else self.broker.log.error
        log("%s:%d - rid:%d - Router Error %r", self.ip, self.port, self.cid, text)
        # nats-server closes a route that sent -ERR, without a word, once it has read the rest
        # of that read: its messages are still delivered, interest and PINGs are not taken.
        self._heard_err()

    def on_connect(self, arg: bytes) -> None:
        """The peer's CONNECT, on a route we accepted: checks, then wait for its INFO."""
        cluster = self.cluster
        log = self.broker.log
        connect = self._decode_connect(arg)
        if not cluster.authorized(connect):
            log.error("%s:%d - rid:%d - authentication error - User %r", self.ip, self.port,
                      self.cid, connect.user or "")
            raise ProtocolError(errors.AUTH_VIOLATION, "route authorization violation")
        if self.handshake_timer is not None:  # the auth timer: CONNECT came in time
            self.handshake_timer.cancel()
            self.handshake_timer = self.broker.loop.call_later(10.0, self._handshake_timeout)
        # A CONNECT without a cluster name is a mismatch, unless our name is dynamic.
        if not (connect.cluster or cluster.dynamic) or not cluster.check_name(
                connect.cluster, connect.cluster_dynamic, connect.name, static_if_adopted=True):
            text = f'Rejecting connection, cluster name "{connect.cluster}" does not match "{cluster.name}"'
            log.error("%s:%d - rid:%d - %s", self.ip, self.port, self.cid, text)
            self.close(text, "Cluster Name Conflict")
            return
        self.remote_id = connect.name
        self.headers = connect.headers

    def _decode_connect(self, arg: bytes):
        """The peer's CONNECT; a client's or a gateway's on this port is refused as nats-server
        refuses it."""
        port = self.peer_kind.name
        try:
            connect = self.decode_connect(arg)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolError(None, f"malformed {port} CONNECT: {exc}") from None
        if connect.lang:
            raise ProtocolError(f"attempted to connect to {port} port", f"client on the {port} port")
        if connect.gateway:
            raise ProtocolError(self.gateway_refusal.format(connect.gateway),
                                f"gateway on the {port} port")
        return connect

    def on_info(self, arg: bytes) -> None:
        try:
            info = decode_route_info(arg)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolError(None, f"malformed route INFO: {exc}") from None
        if self.info_received:
            self._async_info(info)
            return
        if info.route_account or info.route_pool_idx:
            # nats-server's extra connection for a pinned account (or a pool member): we keep
            # one connection for everything, and the peer closes this one itself.
            self.pinned = True
            self.broker.log.debug("%s:%d - rid:%d - ignoring route for pinned account %r",
                                  self.ip, self.port, self.cid, info.route_account)
            return
        self.info_received = True
        self.cluster.first_info(self, info)

    def _async_info(self, info) -> None:
        if self.pinned:
            return
        if info.server_id != self.remote_id:
            self.cluster.implicit_route(info)  # gossip about another server
        elif info.ldm:
            self.cluster.remote_lame_duck(self)
        else:
            self.cluster.remote_client_urls(self, info)

    def send_connect(self, user: str | None, password: str | None) -> None:
        """CONNECT, then our INFO (on a route we dialled, after the acceptor's INFO)."""
        cluster = self.cluster
        connect = RouteConnect(headers=True, name=self.broker.server_id, cluster=cluster.name,
                               cluster_dynamic=cluster.dynamic, user=user, password=password)
        self.queue(encode_route_connect(connect))
        self.queue(cluster.info_frame(self))

    # -- interest -------------------------------------------------------------------------

    def _account(self, name: bytes):
        account = self.accounts.get(name)
        if account is None:
            account = self.broker.accounts.get(name.decode(errors="replace"))
            if account is None:
                return None
            self.accounts[name] = account
        return account

    def on_rsub(self, account: bytes, subject: bytes, queue: bytes | None, weight: int) -> None:
        if self.closing:
            return
        acc = self._account(account)
        if not is_valid_subject(subject):
            # nats-server checks the subject once it has found the account, and it always
            # has its system account (which zats does not keep).
            if acc is not None or account == b"$SYS":
                self.invalid_subscription(subject)
            return
        if acc is None:
            return  # nats-server ignores interest in accounts it does not have
        self.add_interest(acc, account, subject, queue, weight)

    def add_interest(self, acc, account: bytes, subject: bytes, queue: bytes | None,
                     weight: int) -> None:
        """The peer's interest in `acc` (named `account` on the wire): a new entry, or a queue
        entry's new weight."""
        key = (account, subject, queue)
        sub = self.rsubs.get(key)
        if sub is None:
            sub = self.rsubs[key] = PeerSub(self, self.sub_kind, account, subject, queue, weight)
            acc.sublist.insert(sub)
        elif queue is not None and sub.weight != weight:
            acc.sublist.reweigh(sub, weight)

    def invalid_subscription(self, subject: bytes) -> None:
        """Interest in a subject that is not valid: nats-server's answer, the connection stays."""
        self.broker.log.error("%s:%d - rid:%d - Could not insert subscription: invalid subject %r",
                              self.ip, self.port, self.cid, subject[:64])
        self.queue(err_frame(INVALID_SUBSCRIPTION))

    def on_runsub(self, account: bytes, subject: bytes, queue: bytes | None) -> None:
        if self.closing:
            return
        sub = self.rsubs.pop((account, subject, queue), None)
        if sub is not None:
            self._account(account).sublist.remove(sub)

    def remove_interest(self) -> None:
        """Drops everything learned from this route (it closed)."""
        rsubs, self.rsubs = self.rsubs, {}
        for (account, _, _), sub in rsubs.items():
            self._account(account).sublist.remove(sub)

    # -- routed messages ------------------------------------------------------------------

    def received(self, msgs: int, nbytes: int) -> None:
        """Counts messages from the peer, on the connection and the server (nats-server's
        /varz in_msgs counts every kind of connection)."""
        self.in_msgs += msgs
        self.in_bytes += nbytes
        broker = self.broker
        broker.peer_in_msgs += msgs
        broker.peer_in_bytes += nbytes

    def on_rmsg(self, account: bytes, subject: bytes, reply: bytes | None, queues,
                header_len: int, message: memoryview) -> bool:
        """A routed message; True when the parser is to stop after it (see wire._fanned_out)."""
        self.received(1, len(message))
        acc = self.accounts.get(account) or self._account(account)
        if acc is None:
            self.broker.log.debug("Unknown account %r for routed message", account)
            return False
        n = deliver_from_peer(self, acc.sublist.match(subject), subject, reply, queues, header_len,
                              message)
        return n > HEAVY_FANOUT and self._fanned_out(n)

    def on_rmsg_run(self, account: bytes, subject: bytes, view: memoryview, first: int,
                    stride: int, count: int, size: int) -> bool:
        """A run of plain routed messages with one control line (see PeerOpsParser): matched
        once and delivered like a client's run, to what a routed message reaches. True when the
        parser is to stop after it."""
        self.received(count, count * size)
        acc = self.accounts.get(account) or self._account(account)
        if acc is None:
            self.broker.log.debug("Unknown account %r for routed message", account)
            return False
        result = plain_from_peer(self, acc.sublist.match(subject))
        if result.plain:
            before = self.broker.out_msgs
            deliver_run(self, result, subject, view, first, stride, count, size)
            n = self.broker.out_msgs - before
            return n > HEAVY_FANOUT and self._fanned_out(n)
        return False


def route_info(conn: RouteConnection, now: float, with_subs: bool) -> dict:
    """One route as nats-server's /routez lists it (times as numbers; the monitor formats)."""
    info = {
        "rid": conn.cid,
        "remote_id": conn.remote_id,
        "remote_name": conn.remote_name,
        "did_solicit": conn.solicited,
        "is_configured": conn.explicit,
        "ip": conn.ip,
        "port": conn.port,
        "start": conn.start,
        "last_activity": now - (time.monotonic() - conn.last_activity),
        "rtt": format_duration(conn.rtt),
        "uptime": now - conn.start,
        "idle": time.monotonic() - conn.last_activity,
        "pending_size": conn.pending_bytes(),
    }
    traffic(conn, info, with_subs)
    info["compression"] = "off"
    return info


def traffic(conn: RouteConnection, info: dict, with_subs: bool) -> None:
    """Adds a route's or leaf's message counts and subscriptions to its monitoring entry."""
    info["in_msgs"] = conn.in_msgs
    info["out_msgs"] = conn.out_msgs
    info["in_bytes"] = conn.in_bytes
    info["out_bytes"] = conn.out_bytes
    info["subscriptions"] = len(conn.rsubs)
    if with_subs:
        info["subscriptions_list"] = sorted({subject.decode(errors="replace")
                                             for (_, subject, _) in conn.rsubs})
