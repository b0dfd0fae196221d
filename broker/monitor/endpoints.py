"""The monitoring endpoints' answers (/varz, /connz, /subsz, /routez, /leafz, /healthz) with
nats-server's field names and meanings for the fields zats fills, and its parameters, checked in
its order with its error texts (BadParam). Lists that grow with the load are built and encoded a
slice at a time (render.Pacer), so a request for 100,000 subscriptions does not stall delivery.
Every builder returns the JSON body."""

from __future__ import annotations

import os
import resource
import time

from ..account import GLOBAL_ACCOUNT
from ..leafnode import leaf_info
from ..route import route_info
from ..subscription import Subscription
from ..version import IMPLEMENTATION, VERSION, ZATS_VERSION, build_mode
from .jsz import jetstream_varz
from .params import BadParam, get_bool, get_int, get_state, get_subs, get_uint
from .render import SLICE, Pacer, pretty, pretty_paced, seconds, uptime, utc

DEFAULT_LIST_SIZE = 1024  # nats-server's default (and only) page size for /connz and /subsz
_NS = 1_000_000_000

# sort option: (key on a connection, largest first), as nats-server orders /connz
_CONNZ_SORT = {
    "cid": (lambda c: c.cid, False),
    "start": (lambda c: c.cid, False),
    "subs": (lambda c: len(c.subs), True),
    "pending": (lambda c: c.pending_bytes(), True),
    "msgs_to": (lambda c: c.out_msgs, True),
    "msgs_from": (lambda c: c.in_msgs, True),
    "bytes_to": (lambda c: c.out_bytes, True),
    "bytes_from": (lambda c: c.in_bytes, True),
    "last": (lambda c: c.last_activity, True),
    "idle": (lambda c: c.last_activity, False),
    "uptime": (lambda c: c.start, True),
    "rtt": (lambda c: c.cid, False),  # zats measures no round-trip time yet
}
_CLOSED_ONLY_SORT = ("stop", "reason")


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class CPU:
    """CPU percentage between two /varz calls, as nats-server reports it."""

    def __init__(self):
        self.last_wall = time.monotonic()
        self.last_cpu = time.process_time()

    def percent(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        dw = wall - self.last_wall
        pct = (cpu - self.last_cpu) / dw * 100 if dw > 0 else 0.0
        self.last_wall, self.last_cpu = wall, cpu
        return round(pct, 2)


_HEALTHZ_FLAGS = ("js-enabled", "js-enabled-only", "js-server-only", "js-meta-only", "details")


def healthz(broker, query) -> bytes:
    for flag in _HEALTHZ_FLAGS:  # JetStream's health options: checked, nothing to report
        get_bool(query, flag)
    return b'{"status":"ok"}'


def varz(broker, query, cpu: CPU) -> bytes:
    return pretty(varz_data(broker, cpu))


def varz_data(broker, cpu: CPU) -> dict:
    """/varz as a dict (also what /metrics exports as gnatsd_varz_*)."""
    b = broker
    o = b.options
    now = time.time()
    in_msgs, in_bytes, out_msgs, out_bytes = b.totals()
    return {
        "server_id": b.server_id,
        "server_name": b.server_name,
        "version": ZATS_VERSION,
        "nats_server_version": VERSION,  # the nats-server protocol level zats matches
        "zats_build": build_mode(),  # compiled or not (zats.compiled)
        "proto": 1,
        "go": IMPLEMENTATION,
        "host": o.host,
        "port": b.port,
        "max_connections": o.max_connections,
        "ping_interval": int(o.ping_interval * _NS),
        "ping_max": o.ping_max,
        "http_host": o.http_host or o.host,
        "http_port": b.http_port,
        "https_port": 0,
        "auth_timeout": seconds(b.auth.timeout),
        "max_control_line": o.max_control_line,
        "max_payload": o.max_payload,
        "max_pending": o.max_pending,
        "max_subscriptions": o.max_subscriptions,
        "cluster": _cluster_varz(b),
        **({"connect_urls": urls} if (urls := b.cluster and b.cluster.client_urls()) else {}),
        **({"ws_connect_urls": urls} if (urls := b.cluster and b.cluster.client_urls(True)) else {}),
        "gateway": {},
        "leaf": _leaf_varz(b),
        "websocket": _websocket_varz(b),
        "tls_timeout": seconds(o.tls.timeout if o.tls else 2.0),
        "write_deadline": int(o.write_deadline * _NS),
        "lame_duck_duration": int(o.lame_duck_duration * _NS),
        "lame_duck_grace_period": int(o.lame_duck_grace_period * _NS),
        "start": utc(b.start_time),
        "now": utc(now),
        "uptime": uptime(now - b.start_time),
        "mem": _rss_bytes(),
        "cores": os.cpu_count() or 1,
        "cpu": cpu.percent(),
        "connections": len(b.connections),
        "total_connections": b.total_connections,
        "routes": len(b.cluster.routes) if b.cluster else 0,
        "remotes": len(b.cluster.routes) if b.cluster else 0,
        "leafnodes": len(b.leafnodes.registered()) if b.leafnodes else 0,
        "in_msgs": in_msgs,
        "out_msgs": out_msgs,
        "in_bytes": in_bytes,
        "out_bytes": out_bytes,
        "slow_consumers": b.slow_consumers,
        "subscriptions": sum(len(a.sublist) for a in b.accounts.values()),
        **jetstream_varz(b),
    }


def _websocket_varz(b) -> dict:
    """/varz `websocket`: the websocket block as nats-server shows it (empty fields left out)."""
    ws = b.options.websocket
    if ws is None or not ws.port:
        return {}
    listener = b.websocket
    auth = ws.authorization
    fields = {
        "host": ws.host,
        "port": listener.port if listener is not None and listener.port else ws.port,
        "advertise": ws.advertise,
        "no_auth_user": ws.no_auth_user,
        "jwt_cookie": ws.jwt_cookie,
        "handshake_timeout": int(ws.handshake_timeout * _NS),
        "auth_timeout": auth.timeout if auth is not None and (auth.user or auth.token) else 0,
        "no_tls": ws.no_tls,
        "same_origin": ws.same_origin,
        "allowed_origins": ws.allowed_origins,
        "compression": ws.compression,
    }
    return {k: v for k, v in fields.items() if v}


def _leaf_varz(b) -> dict:
    """/varz `leaf`, as nats-server fills it when a leafnode listener is configured."""
    leafs = b.leafnodes
    if leafs is None or not leafs.port:
        return {}
    cfg = leafs.config
    return {"host": cfg.host, "port": leafs.port, "auth_timeout": seconds(cfg.auth_timeout)}


def _cluster_varz(b) -> dict:
    """/varz `cluster`, as nats-server fills it when a cluster listener is configured."""
    cluster = b.cluster
    if cluster is None:
        return {}
    cfg = cluster.config
    body = {"name": cluster.name, "addr": cfg.host, "cluster_port": cluster.port,
            "auth_timeout": seconds(cfg.auth_timeout)}
    urls = cluster.configured_urls()
    if urls:
        body["urls"] = urls
    body["tls_timeout"] = 2
    return body


def _sub_detail(sub) -> dict:
    """One subscription as nats-server details it under a connection."""
    detail = {"subject": sub.subject.decode(errors="replace")}
    if sub.queue:
        detail["qgroup"] = sub.queue.decode(errors="replace")
    detail["sid"] = sub.sid.decode(errors="replace")
    detail["msgs"] = sub.delivered
    if sub.max:
        detail["max"] = sub.max
    detail["cid"] = sub.conn.cid
    return detail


def _account_sub_detail(sub) -> dict:
    """One subscription as nats-server details it in /subsz."""
    name = sub.conn.account.name
    return {"account": name, "account_tag": name, **_sub_detail(sub)}


def _page(offset: int, limit: int, total: int) -> slice:
    start = min(max(offset, 0), total)
    return slice(start, start + min(limit, total - start))


async def connz(broker, query) -> bytes:
    sort = query.get("sort", "")
    with_auth = get_bool(query, "auth")
    with_subs, detail = get_subs(query)
    offset = max(get_int(query, "offset"), 0)
    limit = get_int(query, "limit")
    cid = get_uint(query, "cid")
    state = get_state(query)
    if sort and sort not in _CONNZ_SORT and sort not in _CLOSED_ONLY_SORT:
        raise BadParam(f"invalid sorting option: {sort}")
    if sort in _CLOSED_ONLY_SORT and state != "closed":
        raise BadParam(f"sort by {sort} only valid on closed connections")
    if limit <= 0:
        limit = DEFAULT_LIST_SIZE
    if cid:
        limit = 1
    user, acc, mqtt = query.get("user", ""), query.get("acc", ""), query.get("mqtt_client", "")
    now = time.time()
    mono = time.monotonic()
    body = {"server_id": broker.server_id, "now": utc(now), "num_connections": 0, "total": 0,
            "offset": offset, "limit": limit}
    if acc and acc not in broker.accounts:
        return pretty({**body, "connections": None})
    # zats keeps no record of closed connections: only open ones are listed.
    conns = []
    if state != "closed":
        conns = [c for c in broker.connections.values()
                 if not c.closed and (not acc or c.account.name == acc)]
    body["total"] = len(conns)
    if cid:
        found = broker.connections.get(cid)
        conns = [found] if found is not None and found in conns else []
    else:
        if user:
            conns = [c for c in conns if c.identity is not None and c.identity.name == user]
        if mqtt:
            conns = []  # no MQTT clients in zats
        key, reverse = _CONNZ_SORT.get(sort or "cid", _CONNZ_SORT["cid"])
        conns.sort(key=key, reverse=reverse)
    conns = conns[_page(offset, limit, len(conns))]
    body["num_connections"] = len(conns)
    body["connections"] = conns
    pacer = Pacer()
    return await pretty_paced(
        body, "connections", conns,
        lambda c: _conn_info(c, now, mono, with_auth, with_subs, detail, pacer),
        (lambda c: 1 + len(c.subs)) if with_subs else None)


async def _conn_info(c, now: float, mono: float, with_auth: bool, with_subs: bool, detail: bool,
                     pacer: Pacer) -> dict:
    idle = mono - c.last_activity
    info = {
        "cid": c.cid,
        "kind": "Client",
        "type": "websocket" if getattr(c, "websocket", None) is not None else "nats",
        "ip": c.ip,
        "port": c.port,
        "start": utc(c.start),
        "last_activity": utc(now - idle),
        "uptime": uptime(now - c.start),
        "idle": uptime(idle),
        "pending_bytes": c.pending_bytes(),
        "in_msgs": c.in_msgs,
        "out_msgs": c.out_msgs,
        "in_bytes": c.in_bytes,
        "out_bytes": c.out_bytes,
        "subscriptions": len(c.subs),
    }
    if c.name:
        info["name"] = c.name
    if c.lang:
        info["lang"] = c.lang
    if c.version:
        info["version"] = c.version
    if with_subs and c.subs:
        subs = list(c.subs.values())
        made = []
        for start in range(0, len(subs), SLICE):
            batch = subs[start:start + SLICE]
            if detail:
                made += [_sub_detail(s) for s in batch]
            else:
                made += [s.subject.decode(errors="replace") for s in batch]
            await pacer.spend(len(batch))
        info["subscriptions_list_detail" if detail else "subscriptions_list"] = made
    if with_auth:  # ?auth=1, as nats-server: who the client is, never its secret
        if c.identity is not None and c.identity.name:
            info["authorized_user"] = c.identity.name
        if c.account.name != GLOBAL_ACCOUNT:
            info["account"] = c.account.name
    return info


def _valid_test_subject(subject: str) -> bool:
    """As nats-server's IsValidLiteralSubject: no empty token and no wildcard token."""
    return all(t and t not in ("*", ">") for t in subject.split("."))


def _reaches(literal: list[str], subject: bytes) -> bool:
    """Whether a message published to `literal` (its tokens) reaches a subscription on
    `subject` (wildcards allowed)."""
    tokens = subject.decode(errors="replace").split(".")
    for i, token in enumerate(tokens):
        if token == ">":
            return len(literal) > i
        if i >= len(literal) or (token != "*" and token != literal[i]):
            return False
    return len(tokens) == len(literal)


def sublist_stats(sublists) -> dict:
    """nats-server's sublist statistics summed over the given sublists."""
    stats = [s.stats() for s in sublists]
    if len(stats) == 1:
        return stats[0]
    matches = sum(s["num_matches"] for s in stats)
    hits = sum(s["cache_hit_rate"] * s["num_matches"] for s in stats)
    cached = sum(s["num_cache"] for s in stats)
    fanout = sum(s["avg_fanout"] * s["num_cache"] for s in stats)
    return {
        "num_subscriptions": sum(s["num_subscriptions"] for s in stats),
        "num_cache": cached,
        "num_inserts": sum(s["num_inserts"] for s in stats),
        "num_removes": sum(s["num_removes"] for s in stats),
        "num_matches": matches,
        "cache_hit_rate": hits / matches if matches else 0.0,
        "max_fanout": max((s["max_fanout"] for s in stats), default=0),
        "avg_fanout": fanout / cached if fanout else 0.0,
    }


async def subsz(broker, query) -> bytes:
    with_subs = get_bool(query, "subs")
    offset = max(get_int(query, "offset"), 0)
    limit = get_int(query, "limit")
    test = query.get("test", "")
    acc = query.get("acc", "")
    if limit <= 0:
        limit = DEFAULT_LIST_SIZE
    if test and not _valid_test_subject(test):
        raise BadParam(f"invalid test subject, must be valid publish subject: {test}")
    accounts = [a for name, a in broker.accounts.items() if not acc or name == acc]
    body = {"server_id": broker.server_id, "now": utc(time.time()),
            **sublist_stats([a.sublist for a in accounts]), "total": 0, "offset": offset,
            "limit": limit}
    if not with_subs:
        return pretty(body)
    pacer = Pacer()
    # A client's subscriptions are the local ones nats-server lists (not route or leaf interest).
    subs: list[Subscription] = []
    for c in list(broker.connections.values()):
        if not c.closed and (not acc or c.account.name == acc):
            subs.extend(c.subs.values())
            await pacer.spend(1 + len(c.subs))
    if test:
        literal = test.split(".")
        matched = []
        for start in range(0, len(subs), 500):
            matched.extend(s for s in subs[start:start + 500] if _reaches(literal, s.subject))
            await pacer.spend(500)
        subs = matched
    body["total"] = len(subs)
    page = subs[_page(offset, limit, len(subs))]
    if not page:
        return pretty(body)
    body["subscriptions_list"] = page
    return await pretty_paced(body, "subscriptions_list", page, _account_sub_detail)


async def routez(broker, query) -> bytes:
    with_subs, _ = get_subs(query)
    now = time.time()
    routes = []
    if broker.cluster is not None:
        for conn in sorted(broker.cluster.routes.values(), key=lambda c: c.cid):
            info = route_info(conn, now, with_subs)
            for key in ("start", "last_activity"):
                info[key] = utc(info[key])
            info["uptime"] = uptime(info["uptime"])
            info["idle"] = uptime(info["idle"])
            routes.append(info)
    return pretty({"server_id": broker.server_id, "server_name": broker.server_name,
                   "now": utc(now), "num_routes": len(routes), "routes": routes})


async def leafz(broker, query) -> bytes:
    with_subs = get_bool(query, "subs")
    now = time.time()
    leafs = []
    if broker.leafnodes is not None:
        leafs = [leaf_info(conn, now, with_subs) for conn in broker.leafnodes.registered()]
    return pretty({"server_id": broker.server_id, "now": utc(now), "leafnodes": len(leafs),
                   "leafs": leafs})
