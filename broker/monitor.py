"""The monitoring HTTP endpoint (`-m/--http_port`): /varz, /connz, /subsz, /routez, /healthz
with nats-server's field names and meanings for the fields zats fills. A small HTTP/1.1 server on
asyncio streams; monitoring requests are not client connections."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import resource
import time
from urllib.parse import parse_qs, urlsplit

_NS = 1_000_000_000


def _rfc3339(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat().replace("+00:00", "Z")


def _go_duration(seconds: float) -> str:
    """A duration as Go prints it in nats-server's uptime/idle fields (`1d2h3m4s`)."""
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    out = ""
    if days:
        out += f"{days}d"
    if days or hours:
        out += f"{hours}h"
    if days or hours or minutes:
        out += f"{minutes}m"
    return out + f"{s}s"


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _CPU:
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


def _int_arg(query: dict, name: str, default: int) -> int:
    try:
        return int(query.get(name, [default])[0])
    except (TypeError, ValueError):
        return default


def _flag(query: dict, name: str) -> bool:
    value = query.get(name, [""])[0].lower()
    return value in ("1", "true", "t", "yes", "detail")


_CONNZ_SORT = {
    "cid": (lambda c: c.cid, False),
    "start": (lambda c: c.start, False),
    "subs": (lambda c: len(c.subs), True),
    "pending": (lambda c: c.pending_bytes(), True),
    "msgs_to": (lambda c: c.out_msgs, True),
    "msgs_from": (lambda c: c.in_msgs, True),
    "bytes_to": (lambda c: c.out_bytes, True),
    "bytes_from": (lambda c: c.in_bytes, True),
    "last": (lambda c: c.last_activity, True),
    "idle": (lambda c: c.last_activity, False),
    "uptime": (lambda c: c.start, False),
}


class MonitorServer:
    def __init__(self, broker):
        self.broker = broker
        self.cpu = _CPU()
        self._server: asyncio.base_events.Server | None = None
        self.routes = {
            "/varz": self.varz,
            "/connz": self.connz,
            "/subsz": self.subsz,
            "/subscriptionsz": self.subsz,
            "/routez": self.routez,
            "/leafz": self.leafz,
            "/healthz": self.healthz,
            "/": self.index,
        }

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, reuse_address=True)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                parts = request_line.split()
                if len(parts) != 3:
                    writer.write(_response(400, {"error": "bad request"}, close=True))
                    return
                method, target, _ = parts
                keep_alive = not any(h.lower().startswith("connection:") and "close" in h.lower()
                                     for h in header_lines)
                url = urlsplit(target)
                handler = self.routes.get(url.path.rstrip("/") or "/")
                if method not in ("GET", "HEAD"):
                    body, status = {"error": "method not allowed"}, 405
                elif handler is None:
                    body, status = {"error": "not found"}, 404
                else:
                    body, status = handler(parse_qs(url.query)), 200
                writer.write(_response(status, body, close=not keep_alive, head=method == "HEAD"))
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()

    # -- endpoints -----------------------------------------------------------------------

    def index(self, query) -> dict:
        return {"endpoints": sorted(p for p in self.routes if p != "/")}

    def healthz(self, query) -> dict:
        return {"status": "ok"}

    def varz(self, query) -> dict:
        b = self.broker
        o = b.options
        now = time.time()
        in_msgs, in_bytes, out_msgs, out_bytes = b.totals()
        return {
            "server_id": b.server_id,
            "server_name": b.server_name,
            "version": _version(),
            "proto": 1,
            "go": "python-zats",
            "host": o.host,
            "port": b.port,
            "max_connections": o.max_connections,
            "ping_interval": int(o.ping_interval * _NS),
            "ping_max": o.ping_max,
            "http_host": o.http_host or o.host,
            "http_port": b.http_port,
            "https_port": 0,
            "auth_timeout": 0,
            "max_control_line": o.max_control_line,
            "max_payload": o.max_payload,
            "max_pending": o.max_pending,
            "max_subscriptions": o.max_subscriptions,
            "write_deadline": int(o.write_deadline * _NS),
            "lame_duck_duration": int(o.lame_duck_duration * _NS),
            "lame_duck_grace_period": int(o.lame_duck_grace_period * _NS),
            "cluster": _cluster_varz(b),
            **({"connect_urls": urls} if (urls := b.cluster and b.cluster.client_urls()) else {}),
            "gateway": {},
            "leaf": _leaf_varz(b),
            "start": _rfc3339(b.start_time),
            "now": _rfc3339(now),
            "uptime": _go_duration(now - b.start_time),
            "mem": _rss_bytes(),
            "cores": os.cpu_count() or 1,
            "cpu": self.cpu.percent(),
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
        }

    def connz(self, query) -> dict:
        b = self.broker
        now = time.time()
        mono = time.monotonic()
        offset = max(0, _int_arg(query, "offset", 0))
        limit = _int_arg(query, "limit", 1024)
        if limit <= 0:
            limit = 1024
        with_subs = _flag(query, "subs")
        with_auth = _flag(query, "auth")
        key, reverse = _CONNZ_SORT.get(query.get("sort", ["cid"])[0], _CONNZ_SORT["cid"])
        conns = sorted((c for c in b.connections.values() if not c.closed), key=key, reverse=reverse)
        page = conns[offset : offset + limit]
        out = []
        for c in page:
            idle = mono - c.last_activity
            info = {
                "cid": c.cid,
                "kind": "Client",
                "type": "nats",
                "ip": c.ip,
                "port": c.port,
                "start": _rfc3339(c.start),
                "last_activity": _rfc3339(now - idle),
                "uptime": _go_duration(now - c.start),
                "idle": _go_duration(idle),
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
            if with_auth:  # ?auth=1, as nats-server: who the client is, never its secret
                if c.identity is not None and c.identity.name:
                    info["authorized_user"] = c.identity.name
                info["account"] = c.account.name
            if with_subs:
                info["subscriptions_list"] = [s.subject.decode(errors="replace") for s in c.subs.values()]
            out.append(info)
        return {
            "server_id": b.server_id,
            "now": _rfc3339(now),
            "num_connections": len(out),
            "total": len(conns),
            "offset": offset,
            "limit": limit,
            "connections": out,
        }

    def subsz(self, query) -> dict:
        b = self.broker
        stats = b.global_account.sublist.stats()
        body = {"server_id": b.server_id, "now": _rfc3339(time.time()), **stats}
        if _flag(query, "subs"):
            offset = max(0, _int_arg(query, "offset", 0))
            limit = _int_arg(query, "limit", 1024)
            subs = [s for a in b.accounts.values() for s in a.sublist.subscriptions()]
            body.update(total=len(subs), offset=offset, limit=limit, subscriptions_list=[
                {"account": s.conn.account.name, "subject": s.subject.decode(errors="replace"),
                 "sid": s.sid.decode(errors="replace"), "msgs": s.delivered, "cid": s.conn.cid,
                 **({"qgroup": s.queue.decode(errors="replace")} if s.queue else {}),
                 **({"max": s.max} if s.max else {})}
                for s in subs[offset : offset + limit]])
        return body

    def routez(self, query) -> dict:
        b = self.broker
        now = time.time()
        routes = []
        if b.cluster is not None:
            from .route import route_info

            with_subs = _flag(query, "subs")
            for conn in sorted(b.cluster.routes.values(), key=lambda c: c.cid):
                info = route_info(conn, now, with_subs)
                for key in ("start", "last_activity"):
                    info[key] = _rfc3339(info[key])
                info["uptime"] = _go_duration(info["uptime"])
                info["idle"] = _go_duration(info["idle"])
                routes.append(info)
        return {"server_id": b.server_id, "server_name": b.server_name,
                "now": _rfc3339(now), "num_routes": len(routes), "routes": routes}

    def leafz(self, query) -> dict:
        b = self.broker
        now = time.time()
        leafs = []
        if b.leafnodes is not None:
            from .leafnode import leaf_info

            with_subs = _flag(query, "subs")
            leafs = [leaf_info(conn, now, with_subs) for conn in b.leafnodes.registered()]
        return {"server_id": b.server_id, "now": _rfc3339(now), "leafnodes": len(leafs),
                "leafs": leafs}


def _leaf_varz(b) -> dict:
    """/varz `leaf`, as nats-server fills it when a leafnode listener is configured."""
    leafs = b.leafnodes
    if leafs is None or not leafs.port:
        return {}
    cfg = leafs.config
    return {"host": cfg.host, "port": leafs.port, "auth_timeout": cfg.auth_timeout}


def _cluster_varz(b) -> dict:
    """/varz `cluster`, as nats-server fills it when a cluster listener is configured."""
    cluster = b.cluster
    if cluster is None:
        return {}
    cfg = cluster.config
    body = {"name": cluster.name, "addr": cfg.host, "cluster_port": cluster.port,
            "auth_timeout": cfg.auth_timeout}
    urls = cluster.configured_urls()
    if urls:
        body["urls"] = urls
    body["tls_timeout"] = 2
    return body


def _version() -> str:
    from .server import VERSION

    return VERSION


def _response(status: int, body: dict, *, close: bool, head: bool = False) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
    data = json.dumps(body, indent=2).encode()
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        f"Connection: {'close' if close else 'keep-alive'}",
        "",
        "",
    ]
    return "\r\n".join(lines).encode() + (b"" if head else data)
