"""The system account's server requests, answered as nats-server answers them:

    $SYS.REQ.SERVER.PING                   statsz of every server that hears it
    $SYS.REQ.SERVER.PING.<Z>               Z in STATSZ, VARZ, CONNZ, SUBSZ, ROUTEZ, LEAFZ, HEALTHZ, IDZ
    $SYS.REQ.SERVER.<server id>.<Z>        the same, for one server

Each answer is nats-server's envelope, `{"server": {name, host, id, ver, jetstream, flags, seq,
time}, "data": ...}` (`"statsz": ...` for statsz, the bare {name, host, id} for IDZ), with the
data built by the monitoring endpoints (one implementation of each). A request body, when there
is one, must be a JSON object (else a 400 `error` in place of the data, as nats-server); its
filters (`server_name`, `host`, `cluster`: substrings, or equal with `exact_match`; `tags`,
`domain`) make servers that do not match stay silent, as nats-server; the endpoints' own options
are not read from it. IDZ ignores the body. A request without a reply subject gets nothing.

The subscriptions are internal ones (see internal.py) in the system account, so only its users
reach them and routes carry the interest like a client's. Every other account gets its own
internal client answering `$SYS.REQ.SERVER.PING.CONNZ` and `$SYS.REQ.ACCOUNT.PING.CONNZ` with
that account's connections only, and every account (the system account too) answers
`$SYS.REQ.USER.INFO` with the requester's user, account and permissions, as nats-server's
system imports do. The requester is the client whose read delivered the request
(`Broker.origin`); a request that came over a route is left to the requester's own server.
Answers that page through many connections or subscriptions are built by one task, a bounded
queue of requests ahead of it; requests over the bound are dropped.

As in nats-server the system account always exists (`$SYS` unless `system_account` names
another) unless `no_system_account` is set; accounts a reload adds get no internal clients."""

from __future__ import annotations

import asyncio
import collections
import datetime

import msgspec

from .account import SYSTEM_ACCOUNT
from .internal import InternalClient
from .monitor import endpoints
from .monitor.params import BadParam
from .version import ZATS_VERSION

_NS = 1_000_000_000

_PREFIX = b"$SYS.REQ.SERVER."
_PING = b"$SYS.REQ.SERVER.PING"
_USER_INFO = b"$SYS.REQ.USER.INFO"
_DEFAULT_RESPONSE_TTL = 120 * _NS  # nats-server's allow_responses expiry when none is set
_MAX_QUEUED = 1024  # paced requests (CONNZ, SUBSZ...) waiting for the builder

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


def _compact(body: bytes) -> bytes:
    return msgspec.json.format(body, indent=0)


def _now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


class SystemService:
    """The server request handlers of the system account."""

    def __init__(self, broker, account):
        self.broker = broker
        self.client = InternalClient(broker, account, broker._new_cid(), name="system")
        # Every other account's own internal client (nats-server's system service imports).
        self.account_clients = [InternalClient(broker, acc, broker._new_cid(), name="account")
                                for acc in broker.accounts.values() if acc is not account]
        self.cpu = endpoints.CPU()
        self.seq = 0
        self._queue: collections.deque = collections.deque()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task | None = None
        b = broker
        self._sync = {
            b"STATSZ": lambda q: self._statsz(),
            b"VARZ": lambda q: endpoints.varz(b, q, self.cpu),
            b"HEALTHZ": lambda q: self._healthz(q),
        }
        self._paced = {
            b"CONNZ": lambda q: endpoints.connz(b, q),
            b"SUBSZ": lambda q: endpoints.subsz(b, q),
            b"ROUTEZ": lambda q: endpoints.routez(b, q),
            b"LEAFZ": lambda q: endpoints.leafz(b, q),
        }

    def start(self) -> None:
        sub = self.client.subscribe
        sub(_PING, self._on_ping)
        own = _PREFIX + self.broker.server_id.encode() + b"."
        for name in (*self._sync, *self._paced, b"IDZ"):
            sub(_PING + b"." + name, self._on_request)
            sub(own + name, self._on_request)
        for client in (self.client, *self.account_clients):
            client.subscribe(_USER_INFO, self._user_info(client))
        for client in self.account_clients:
            # An account's users may ask for their account's connections (nats-server maps both
            # subjects to that account's CONNZ).
            on_connz = self._account_connz(client)
            client.subscribe(_PING + b".CONNZ", on_connz)
            client.subscribe(b"$SYS.REQ.ACCOUNT.PING.CONNZ", on_connz)
        self._worker = asyncio.get_running_loop().create_task(self._build_paced())

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
        self.client.close()
        for client in self.account_clients:
            client.close()

    # -- the envelope ------------------------------------------------------------------------------

    def _server_info(self) -> bytes:
        b = self.broker
        self.seq += 1
        return _encode({"name": b.server_name, "host": b.options.host, "id": b.server_id,
                        "ver": ZATS_VERSION, "jetstream": b.jetstream is not None, "flags": 0, "seq": self.seq,
                        "time": _now_rfc3339()})

    def _answer(self, client, reply: bytes, key: bytes, body: bytes) -> None:
        client.publish(reply, None, b'{"server":%s,"%s":%s}' % (self._server_info(), key, body))

    def _error(self, client, reply: bytes, code: int, description: str) -> None:
        self._answer(client, reply, b"error", _encode({"code": code, "description": description}))

    # -- requests -----------------------------------------------------------------------------------

    def _on_ping(self, subject: bytes, reply: bytes | None, headers, payload: memoryview) -> None:
        self._handle(self.client, b"STATSZ", reply, payload, {})

    def _on_request(self, subject: bytes, reply: bytes | None, headers, payload: memoryview) -> None:
        self._handle(self.client, subject.rpartition(b".")[2], reply, payload, {})

    def _account_connz(self, client):
        query = {"acc": client.account.name}

        def on_connz(subject: bytes, reply: bytes | None, headers, payload: memoryview) -> None:
            self._handle(client, b"CONNZ", reply, payload, query)

        return on_connz

    def _user_info(self, client):
        def on_user_info(subject: bytes, reply: bytes | None, headers, payload: memoryview) -> None:
            # Only the requester's own server answers: one that got the request over a route
            # (no client origin) stays silent.
            identity = getattr(self.broker.origin, "identity", None)
            if not reply or identity is None:
                return
            data = {"user": identity.name, "account": identity.account,
                    "account_name": identity.account}
            if identity.permissions is not None:
                data["permissions"] = _public_permissions(identity.permissions.config)
            self._answer(client, reply, b"data", _encode(data))

        return on_user_info

    def _handle(self, client, name: bytes, reply: bytes | None, payload: memoryview,
                query: dict) -> None:
        """Answers request `name` through `client` (the account the answer is published in),
        with `query` the endpoint's parameters."""
        if not reply:
            return
        if name == b"IDZ":
            b = self.broker
            client.publish(reply, None, _encode({"name": b.server_name, "host": b.options.host,
                                                      "id": b.server_id}))
            return
        if len(payload):
            try:
                options = _decode(payload)
            except (msgspec.DecodeError, RecursionError) as exc:  # nesting too deep: 400 too
                self._error(client, reply, 400, str(exc))
                return
            if not isinstance(options, dict):
                self._error(client, reply, 400, f"cannot read a {type(options).__name__} as request options")
                return
            selected = self._selected(options)
            if selected is not True:
                if selected:
                    self._error(client, reply, 400, selected)
                return
        build = self._sync.get(name)
        if build is not None:
            self._reply_with(client, reply, name, build(query))
        elif len(self._queue) < _MAX_QUEUED:
            self._queue.append((client, reply, name, query))
            self._wake.set()

    def _selected(self, options: dict) -> bool | str:
        """Whether the request's filters (nats-server's EventFilterOptions) pick this server: a
        server without tags or JetStream domain is left out by any asked for. A filter of the
        wrong type is an error text instead."""
        b = self.broker
        cluster = b.cluster.name if b.cluster is not None else ""
        exact = options.get("exact_match", False)
        if not isinstance(exact, bool):
            return "exact_match must be a boolean"
        for key, value in (("server_name", b.server_name), ("host", b.options.host),
                           ("cluster", cluster), ("domain", "")):
            wanted = options.get(key)
            if wanted is None:
                continue
            if not isinstance(wanted, str):
                return f"{key} must be a string"
            if wanted and (wanted != value if exact or key == "domain" else wanted not in value):
                return False
        return not options.get("tags")

    def _reply_with(self, client, reply: bytes, name: bytes, body: bytes) -> None:
        self._answer(client, reply, b"statsz" if name == b"STATSZ" else b"data", _compact(body))

    async def _build_paced(self) -> None:
        queue = self._queue
        while True:
            await self._wake.wait()
            self._wake.clear()
            while queue:
                client, reply, name, query = queue.popleft()
                try:
                    body = await self._paced[name](query)
                except BadParam as exc:
                    self._error(client, reply, 400, str(exc))
                    continue
                self._reply_with(client, reply, name, body)

    # -- data nats-server has and /varz does not give as such ----------------------------------------

    def _statsz(self) -> bytes:
        """nats-server's statsz, from the /varz figures."""
        b = self.broker
        v = _decode(endpoints.varz(b, {}, self.cpu))
        accounts = {c.account.name for c in b.connections.values()}
        return _encode({
            "start": v["start"], "mem": v["mem"], "cores": v["cores"], "cpu": v["cpu"],
            "connections": v["connections"], "total_connections": v["total_connections"],
            "active_accounts": len(accounts), "subscriptions": v["subscriptions"],
            "sent": {"msgs": v["out_msgs"], "bytes": v["out_bytes"]},
            "received": {"msgs": v["in_msgs"], "bytes": v["in_bytes"]},
            "slow_consumers": v["slow_consumers"],
            "active_servers": 1 + (len(b.cluster.routes) if b.cluster is not None else 0),
        })

    def _healthz(self, query) -> bytes:
        """/healthz's answer with the status code nats-server adds over the system account."""
        return _encode({**_decode(endpoints.healthz(self.broker, query)), "status_code": 200})


def _public_permissions(config) -> dict:
    """A user's permissions as nats-server shows them: empty parts left out, allow_responses
    as `responses` with its expiry in nanoseconds; the lists sorted (nats-server's follow no
    fixed order)."""
    out = {}
    for key, perm in (("publish", config.publish), ("subscribe", config.subscribe)):
        if perm is not None:
            lists = {name: sorted(subjects) for name, subjects in (("allow", perm.allow),
                                                                    ("deny", perm.deny)) if subjects}
            if lists:
                out[key] = lists
    resp = config.allow_responses
    if resp is not None:
        out["responses"] = {"max": resp.max,
                            "ttl": int(resp.expires * _NS) if resp.expires else _DEFAULT_RESPONSE_TTL}
    return out


def system_account_name(options) -> str | None:
    """The system account: `system_account`, else nats-server's default `$SYS` (made when no
    account of that name is configured), unless `no_system_account` says none."""
    if options.system_account:
        return options.system_account
    return None if options.no_system_account else SYSTEM_ACCOUNT
