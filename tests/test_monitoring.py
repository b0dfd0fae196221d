"""The monitoring endpoints (-m) against zats and the real nats-server started with the same
flags: the fields zats fills carry nats-server's names and meanings."""

from __future__ import annotations

import importlib.metadata
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from support.http import exchange, read_until_closed, status_and_body, without_date
from support.peers import LeafPeer, RoutePeer, leaf_config, leaf_handshake, route_handshake
from support.servers import KINDS, free_port, start_server, write_config
from support.wire import Wire


def get(srv, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}{path}", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/json")
        return json.loads(resp.read())


@pytest.fixture
def monitored(kind, spawn):
    return spawn(kind, http_port=free_port())


def wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def test_healthz(monitored):
    assert get(monitored, "/healthz") == {"status": "ok"}


def test_varz_fields_and_payload_counters(monitored):
    with Wire(monitored.host, monitored.port) as sub, Wire(monitored.host, monitored.port) as pub:
        sub.connect()
        sub.send(b"SUB a 1\r\nSUB a 2\r\nPING\r\n")
        sub.expect(rb"PONG\r\n")
        pub.connect()
        pub.send(b"PUB a 5\r\nhello\r\nPUB b 3\r\nxyz\r\nPING\r\n")
        pub.expect(rb"PONG\r\n")
        sub.expect(rb"MSG a [12] 5\r\nhello\r\nMSG a [12] 5\r\nhello\r\n")
        varz = get(monitored, "/varz")
    for field in ("server_id", "server_name", "version", "host", "port", "max_payload",
                  "max_connections", "ping_interval", "max_control_line", "start", "now",
                  "uptime", "mem", "cpu", "connections", "total_connections", "subscriptions",
                  "slow_consumers", "in_msgs", "out_msgs", "in_bytes", "out_bytes"):
        assert field in varz, field
    assert varz["port"] == monitored.port
    assert varz["max_payload"] == 1048576
    assert varz["in_msgs"] == 2 and varz["in_bytes"] == 8  # payload bytes only
    assert varz["out_msgs"] == 2 and varz["out_bytes"] == 10
    assert varz["connections"] == 2
    assert varz["subscriptions"] >= 2


def test_connz_lists_open_connections_with_counters(monitored):
    with Wire(monitored.host, monitored.port) as a, Wire(monitored.host, monitored.port) as b:
        a.connect(b'{"verbose":false,"name":"alpha","lang":"raw","version":"1.2.3"}')
        a.send(b"SUB x.* 1\r\nSUB y 2\r\nPUB x.1 4\r\nabcd\r\nPING\r\n")
        a.expect(rb"MSG x.1 1 4\r\nabcd\r\nPONG\r\n")
        b.connect()
        connz = get(monitored, "/connz?subs=1")
        assert connz["num_connections"] == 2 and connz["total"] == 2
        alpha = next(c for c in connz["connections"] if c.get("name") == "alpha")
        assert alpha["lang"] == "raw" and alpha["version"] == "1.2.3"
        assert alpha["subscriptions"] == 2
        assert sorted(alpha["subscriptions_list"]) == ["x.*", "y"]
        assert (alpha["in_msgs"], alpha["in_bytes"], alpha["out_msgs"], alpha["out_bytes"]) == (1, 4, 1, 4)
        for field in ("cid", "ip", "port", "start", "last_activity", "uptime", "idle", "pending_bytes"):
            assert field in alpha, field
        assert "subscriptions_list" not in get(monitored, "/connz")["connections"][0]
        page = get(monitored, "/connz?limit=1&offset=1")
        assert page["limit"] == 1 and page["offset"] == 1 and page["num_connections"] == 1
        assert page["connections"][0]["cid"] == max(c["cid"] for c in connz["connections"])
        b.close()
        # A closed connection leaves the list at once.
        assert wait_for(lambda: get(monitored, "/connz")["num_connections"] == 1)
        assert get(monitored, "/connz")["connections"][0]["name"] == "alpha"


def test_monitoring_requests_are_not_client_connections(monitored):
    for _ in range(3):
        get(monitored, "/varz")
    assert get(monitored, "/varz")["connections"] == 0
    assert get(monitored, "/connz")["num_connections"] == 0


def test_subsz_and_routez(monitored):
    with Wire(monitored.host, monitored.port) as w:
        w.connect()
        w.send(b"SUB a 1\r\nSUB b q 2\r\nPUB a 1\r\nx\r\nPING\r\n")
        w.expect(rb"MSG a 1 1\r\nx\r\nPONG\r\n")
        subsz = get(monitored, "/subsz")
        # nats-server also counts its system account's internal subscriptions.
        assert subsz["num_subscriptions"] >= 2
        for field in ("num_cache", "num_inserts", "num_removes", "num_matches", "cache_hit_rate",
                      "max_fanout", "avg_fanout"):
            assert field in subsz, field
        detail = get(monitored, "/subsz?subs=1&limit=10000")
        mine = [s for s in detail["subscriptions_list"]
                if s.get("account") == "$G" and not s["subject"].startswith("$SYS.")]
        assert sorted(s["subject"] for s in mine) == ["a", "b"]
        assert next(s for s in mine if s["subject"] == "b")["qgroup"] == "q"
    routez = get(monitored, "/routez")
    assert routez["num_routes"] == 0 and routez["routes"] == []


def _counters(srv) -> dict:
    """The message counters of /varz, of the one client in /connz, of the route and the leaf."""
    varz = get(srv, "/varz")
    client = next(c for c in get(srv, "/connz")["connections"] if c.get("name") == "counted")
    route = get(srv, "/routez")["routes"][0]
    leafs = get(srv, "/leafz")["leafs"]
    fields = ("in_msgs", "in_bytes", "out_msgs", "out_bytes")
    counters = {"varz": [varz[f] for f in fields], "client": [client[f] for f in fields],
                "route": [route[f] for f in fields]}
    if leafs:
        counters["leaf"] = [leafs[0][f] for f in fields]
    return counters


def test_counters_with_a_route_and_a_leaf(kind, spawn, tmp_path):
    """nats-server counts a message once per local subscriber and once per route or leaf it is
    forwarded to, with headers or without, and counts messages from routes and leaves in /varz
    in_msgs."""
    cport, lport = free_port(), free_port()
    conf = f"cluster {{ listen: 127.0.0.1:{cport}, name: C1 }}\n" + leaf_config(lport)
    srv = spawn(kind, "-c", write_config(tmp_path, conf), http_port=free_port())
    with RoutePeer("127.0.0.1", cport) as route, Wire(srv.host, srv.port) as client:
        route_handshake(route)
        client.connect(b'{"verbose":false,"pedantic":false,"headers":true,"name":"counted"}')
        client.send(b"SUB foo 1\r\nPING\r\n")
        client.expect(rb"PONG\r\n")
        route.send(b"RS+ $G foo\r\nRS+ $G qq g 1\r\n")
        route.barrier()
        # To the client and the route: a message, one with headers, a run of identical frames.
        client.send(b"PUB foo 2\r\nhi\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" +
                    b"PUB foo 3\r\nabc\r\n" * 3 + b"PING\r\n")
        client.expect(rb"MSG foo 1 2\r\nhi\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n" +
                      rb"(MSG foo 1 3\r\nabc\r\n){3}PONG\r\n")
        # To the route's queue member only, without headers and with.
        client.send(b"PUB qq 2\r\nhi\r\nHPUB qq 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")
        client.expect(rb"PONG\r\n")
        # From the route to the client.
        route.send(b"RMSG $G foo 3\r\nabc\r\n")
        client.expect(rb"MSG foo 1 3\r\nabc\r\n")
        assert wait_for(lambda: _counters(srv)["route"][2] == 7)
        assert _counters(srv) == {"varz": [8, 44, 13, 69], "client": [7, 41, 6, 28],
                                  "route": [1, 3, 7, 41]}
        with LeafPeer("127.0.0.1", lport) as leaf:
            leaf_handshake(leaf)
            leaf.send(b"LS+ foo\r\n")
            leaf.barrier()
            # From the leaf to the client and the route; from the route to the leaf too.
            leaf.send(b"LMSG foo 4\r\nabcd\r\n")
            client.expect(rb"MSG foo 1 4\r\nabcd\r\n")
            route.send(b"RMSG $G foo 1\r\nz\r\n")
            client.expect(rb"MSG foo 1 1\r\nz\r\n")
            assert wait_for(lambda: _counters(srv)["leaf"][2] == 1)
            assert _counters(srv) == {"varz": [10, 49, 17, 79], "client": [7, 41, 8, 33],
                                      "route": [2, 4, 8, 45], "leaf": [1, 4, 1, 1]}


def test_unknown_path_is_404(monitored):
    with pytest.raises(urllib.error.HTTPError) as info:
        get(monitored, "/nope")
    assert info.value.code == 404


# -- the answers of nats-server, compared byte for byte --------------------------------------


@pytest.fixture(scope="module")
def pair():
    """zats and nats-server with monitoring, started once for the tests that only read."""
    servers = {kind: start_server(kind, http_port=free_port()) for kind in KINDS}
    yield servers
    for srv in servers.values():
        srv.stop()


def both(pair, data: bytes, **kw) -> dict[str, tuple[bytes, bool]]:
    return {kind: (without_date(got), closed)
            for kind, srv in pair.items()
            for got, closed in [exchange(srv.http_port, data, **kw)]}


def _get(path: str, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.1\r\nHost: a\r\n{extra}\r\n".encode()


BAD_REQUEST = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
               b"Connection: close\r\n\r\n400 Bad Request")

# name: (request bytes, status line nats-server answers)
MALFORMED = {
    "no Host header": (b"GET /varz HTTP/1.1\r\n\r\n",
                       b"HTTP/1.1 400 Bad Request: missing required Host header"),
    "HTTP/9.9": (b"GET /varz HTTP/9.9\r\nHost: a\r\n\r\n",
                 b"HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version"),
    "HTTP/0.9": (b"GET /varz HTTP/0.9\r\nHost: a\r\n\r\n",
                 b"HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version"),
    "HTTP/1.10": (b"GET /varz HTTP/1.10\r\nHost: a\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    "lower-case protocol": (b"GET /varz http/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    "header without colon": (b"GET /varz HTTP/1.1\r\nHost: a\r\nbadheader\r\n\r\n",
                             b"HTTP/1.1 400 Bad Request"),
    "space in header name": (b"GET /varz HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
                             b"HTTP/1.1 400 Bad Request: invalid header name"),
    "control byte in header value": (b"GET /varz HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
                                     b"HTTP/1.1 400 Bad Request"),
    "malformed Host": (b"GET /varz HTTP/1.1\r\nHost: a b\r\n\r\n",
                       b"HTTP/1.1 400 Bad Request: malformed Host header"),
    "two Host headers": (b"GET /varz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                         b"HTTP/1.1 400 Bad Request"),
    "double space": (b"GET  /varz HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    "relative target": (b"GET varz HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    "bad method": (b"G@T /varz HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    "bad escape in path": (b"GET /va%zzrz HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    "empty line first": (b"\r\n", b"HTTP/1.1 400 Bad Request"),
    "unknown transfer coding": (b"GET /varz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
                                b"HTTP/1.1 501 Not Implemented"),
    "bad content length": (b"GET /varz HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
                           b"HTTP/1.1 400 Bad Request"),
    "GET *": (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    "space before header colon": (b"GET /varz HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n",
                                  b"HTTP/1.1 400 Bad Request: invalid header name"),
    "empty header name": (b"GET /varz HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    "continuation first": (b"GET /varz HTTP/1.1\r\n Host: a\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    "two content lengths": (b"GET /varz HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                            b"HTTP/1.1 400 Bad Request"),
    "unknown expectation": (b"GET /healthz HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n",
                            b"HTTP/1.1 417 Expectation Failed"),
    "request line over 1 MiB": (b"GET /varz?x=" + b"a" * (2 << 20) + b" HTTP/1.1\r\n",
                                b"HTTP/1.1 431 Request Header Fields Too Large"),
    "headers over 1 MiB": (b"GET /varz HTTP/1.1\r\nHost: a\r\n"
                           + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 1000) for i in range(1100)),
                           b"HTTP/1.1 431 Request Header Fields Too Large"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_gets_net_http_answer(pair, case):
    data, status = MALFORMED[case]
    answers = both(pair, data)
    got, closed = answers["nats-server"]
    assert got.startswith(status + b"\r\n") and closed, got[:200]
    assert answers["zats"] == answers["nats-server"]


# name: (request, status line, body) as nats-server answers
ANSWERED = {
    "unknown path": (_get("/nope"), b"HTTP/1.1 404 Not Found", b"404 page not found\n"),
    "trailing slash": (_get("/varz/"), b"HTTP/1.1 404 Not Found", b"404 page not found\n"),
    "unclean path": (_get("/a/../healthz?x=1"), b"HTTP/1.1 307 Temporary Redirect",
                     b'<a href="/healthz?x=1">Temporary Redirect</a>.\n\n'),
    "double slash": (_get("//healthz"), b"HTTP/1.1 307 Temporary Redirect",
                     b'<a href="/healthz">Temporary Redirect</a>.\n\n'),
    "escaped path": (_get("/health%7A"), b"HTTP/1.1 200 OK", b'{"status":"ok"}'),
    "absolute target": (_get("http://x/healthz"), b"HTTP/1.1 200 OK", b'{"status":"ok"}'),
    "OPTIONS *": (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK", b""),
    "folded header": (b"GET /healthz HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", b"HTTP/1.1 200 OK",
                      b'{"status":"ok"}'),
    "bare line feeds": (b"GET /healthz HTTP/1.1\nHost: a\n\n", b"HTTP/1.1 200 OK", b'{"status":"ok"}'),
    "any method": (b"POST /healthz HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK",
                   b'{"status":"ok"}'),
    "HEAD": (b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n", b"HTTP/1.1 200 OK", b""),
    "bad escape in query": (_get("/healthz?a=%zz"), b"HTTP/1.1 200 OK", b'{"status":"ok"}'),
    "sort=bogus": (_get("/connz?sort=bogus"), b"HTTP/1.1 400 Bad Request",
                   b"invalid sorting option: bogus"),
    "sort=stop on open": (_get("/connz?sort=stop"), b"HTTP/1.1 400 Bad Request",
                          b"sort by stop only valid on closed connections"),
    "limit=abc": (_get("/connz?limit=abc"), b"HTTP/1.1 400 Bad Request",
                  b"Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax"),
    "limit out of range": (_get("/connz?limit=99999999999999999999"), b"HTTP/1.1 400 Bad Request",
                           b"Error decoding int for 'limit': strconv.Atoi: parsing "
                           b"\"99999999999999999999\": value out of range"),
    "offset=1.5": (_get("/subsz?offset=1.5"), b"HTTP/1.1 400 Bad Request",
                   b"Error decoding int for 'offset': strconv.Atoi: parsing \"1.5\": invalid syntax"),
    "state=bogus": (_get("/connz?state=bogus"), b"HTTP/1.1 400 Bad Request",
                    b"Error decoding state for bogus"),
    "cid=abc": (_get("/connz?cid=abc"), b"HTTP/1.1 400 Bad Request",
                b"Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"abc\": invalid syntax"),
    "cid=-1": (_get("/connz?cid=-1"), b"HTTP/1.1 400 Bad Request",
               b"Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax"),
    "subs=x": (_get("/connz?subs=x"), b"HTTP/1.1 400 Bad Request",
               b"Error decoding boolean for 'subs': strconv.ParseBool: parsing \"x\": invalid syntax"),
    "auth=yes": (_get("/connz?auth=yes"), b"HTTP/1.1 400 Bad Request",
                 b"Error decoding boolean for 'auth': strconv.ParseBool: parsing \"yes\": invalid syntax"),
    "quoted value": (_get("/connz?subs=%22%0A"), b"HTTP/1.1 400 Bad Request",
                     b"Error decoding boolean for 'subs': strconv.ParseBool: parsing "
                     b"\"\\\"\\n\": invalid syntax"),
    "subsz subs=detail": (_get("/subsz?subs=detail"), b"HTTP/1.1 400 Bad Request",
                          b"Error decoding boolean for 'subs': strconv.ParseBool: parsing "
                          b"\"detail\": invalid syntax"),
    "subsz test wildcard": (_get("/subsz?test=foo.*"), b"HTTP/1.1 400 Bad Request",
                            b"invalid test subject, must be valid publish subject: foo.*"),
    "subsz test empty token": (_get("/subsz?subs=1&test=foo..bar"), b"HTTP/1.1 400 Bad Request",
                               b"invalid test subject, must be valid publish subject: foo..bar"),
    "leafz subs=detail": (_get("/leafz?subs=detail"), b"HTTP/1.1 400 Bad Request",
                          b"Error decoding boolean for 'subs': strconv.ParseBool: parsing "
                          b"\"detail\": invalid syntax"),
    "healthz details=x": (_get("/healthz?details=x"), b"HTTP/1.1 400 Bad Request",
                          b"Error decoding boolean for 'details': strconv.ParseBool: parsing "
                          b"\"x\": invalid syntax"),
}


@pytest.mark.parametrize("case", sorted(ANSWERED))
def test_answer_and_connection_as_nats_server(pair, case):
    """Answers that keep the connection: the same bytes, and the connection stays open."""
    data, status, body = ANSWERED[case]
    answers = both(pair, data, timeout=0.5)
    got, closed = answers["nats-server"]
    assert status_and_body(got) == (status, body) and not closed, got[:300]
    assert answers["zats"] == answers["nats-server"]


def test_http10_and_connection_close(pair):
    for data in (b"GET /healthz HTTP/1.0\r\n\r\n",
                 b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                 _get("/healthz", "Connection: close"),
                 _get("/nope", "Connection: close"),
                 _get("/connz?limit=x", "Connection: close")):
        answers = both(pair, data, timeout=0.5)
        assert answers["zats"] == answers["nats-server"], data


def test_pipelined_requests_answered_in_order(pair):
    data = (_get("/healthz") + _get("/nope") + b"GET /healthz HTTP/1.1\r\nHost: a\r\n"
            b"Content-Length: 3\r\n\r\nabc" + _get("/connz?cid=x") + _get("/healthz", "Connection: close")
            + _get("/healthz"))
    answers = both(pair, data)
    got, closed = answers["nats-server"]
    assert closed and got.count(b"HTTP/1.1 200 OK") == 3 and b"404" in got and b"uint64" in got
    assert answers["zats"] == answers["nats-server"]


@pytest.mark.parametrize("data", [b"GET /hea", b"GET /healthz HTTP/1.1", b"GET /healthz HTTP/1.1\r\nHo",
                                  b"GET /healthz HTTP/1.1\r\nHost: a\r\n", b"G", b""])
def test_request_cut_short_by_eof(pair, data):
    """A half-closed request: net/http takes the partial line as a whole one, then answers 400
    for a head that ended early; a connection closed before sending anything gets nothing."""
    answers = both(pair, data, shut=True)
    got, closed = answers["nats-server"]
    assert closed and got == (BAD_REQUEST if data else b"")
    assert answers["zats"] == answers["nats-server"]


def test_silent_connections_close_after_5s_and_kept_alive_ones_stay(pair):
    """nats-server gives a request head 5 s (ReadHeaderTimeout), counted from the connection or,
    on a kept-alive connection, from the next request's first byte; a partial request line is
    then answered 400, a partial head is closed silently. Between requests there is no limit."""
    probes = {
        "idle": b"",
        "half request line": b"GET /hea",
        "half head": b"GET /healthz HTTP/1.1\r\nHost: a\r\n",
        "kept alive": _get("/healthz"),
    }
    socks = {(kind, name): socket.create_connection((srv.host, srv.http_port))
             for kind, srv in pair.items() for name in probes}
    start = time.monotonic()
    try:
        for (_, name), sock in socks.items():
            sock.sendall(probes[name])
        time.sleep(3.5)
        for (kind, name), sock in socks.items():  # nothing closed before the deadline
            sock.settimeout(0)
            try:
                assert sock.recv(65536, socket.MSG_PEEK) != b"", (kind, name)
            except BlockingIOError:
                pass
        # The kept-alive connections last: they are read until the deadline.
        got = {key: read_until_closed(sock, max(start + 7.5 - time.monotonic(), 0.2))
               for key, sock in sorted(socks.items(), key=lambda item: item[0][1] == "kept alive")}
    finally:
        for sock in socks.values():
            sock.close()
    for kind in pair:
        assert got[kind, "idle"] == (b"", True), kind
        assert got[kind, "half request line"] == (BAD_REQUEST, True), kind
        assert got[kind, "half head"] == (b"", True), kind
        answer, closed = got[kind, "kept alive"]
        assert answer.startswith(b"HTTP/1.1 200 OK") and not closed, kind


# -- what the endpoints report ----------------------------------------------------------------


def test_varz_reports_zats_version_and_protocol_level_apart(monitored):
    varz = get(monitored, "/varz")
    if monitored.kind == "zats":
        assert varz["version"] == importlib.metadata.version("zats")
        assert varz["nats_server_version"].split(".")[0] == "2"
    else:
        assert varz["version"].split(".")[0] == "2"


@pytest.mark.parametrize("conf, expected", [("", 2), ("authorization { user: a, password: b, timeout: 3 }\n", 3),
                                            ("authorization { timeout: 0.5 }\n", 0.5)])
def test_varz_auth_timeout_is_the_configured_one(kind, spawn, tmp_path, conf, expected):
    srv = spawn(kind, "-c", write_config(tmp_path, conf), http_port=free_port())
    assert get(srv, "/varz")["auth_timeout"] == expected


def test_index_is_an_html_page_linking_the_endpoints(monitored):
    with urllib.request.urlopen(f"http://127.0.0.1:{monitored.http_port}/", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        page = resp.read().decode()
    assert page.lstrip().lower().startswith(("<!doctype html", "<html"))
    for path in ("/varz", "/connz", "/subsz", "/routez", "/leafz", "/healthz"):
        assert f"href=.{path}>" in page.replace('"', "") or f'href=".{path}"' in page, path


def test_subs_detail_lists_subscription_objects(monitored):
    with Wire(monitored.host, monitored.port) as w:
        w.connect(b'{"verbose":false,"name":"d"}')
        w.send(b"SUB foo.bar 1\r\nSUB foo.* q 2\r\nUNSUB 2 5\r\nPUB foo.bar 2\r\nhi\r\nPING\r\n")
        w.expect(rb"MSG foo.bar [12] 2\r\nhi\r\nMSG foo.bar [12] 2\r\nhi\r\nPONG\r\n")
        conn = get(monitored, "/connz?subs=detail")["connections"][0]
        assert "subscriptions_list" not in conn
        cid = conn["cid"]
        assert sorted(conn["subscriptions_list_detail"], key=lambda s: s["sid"]) == [
            {"subject": "foo.bar", "sid": "1", "msgs": 1, "cid": cid},
            {"subject": "foo.*", "qgroup": "q", "sid": "2", "msgs": 1, "max": 5, "cid": cid},
        ]
        assert sorted(get(monitored, "/connz?subs=1")["connections"][0]["subscriptions_list"]) == [
            "foo.*", "foo.bar"]


def test_subsz_pages_and_test_subject(monitored):
    with Wire(monitored.host, monitored.port) as w:
        w.connect()
        w.send(b"SUB t.a 1\r\nSUB t.* 2\r\nSUB t.> 3\r\nSUB t.b 4\r\nSUB u.a 5\r\nPING\r\n")
        w.expect(rb"PONG\r\n")
        plain = get(monitored, "/subsz?offset=3&limit=7")
        assert (plain["total"], plain["offset"], plain["limit"]) == (0, 3, 7)
        assert "subscriptions_list" not in plain
        tested = get(monitored, "/subsz?subs=1&test=t.a")
        assert tested["total"] == 3
        assert sorted(s["subject"] for s in tested["subscriptions_list"]) == ["t.*", "t.>", "t.a"]
        assert all(s["account"] == s["account_tag"] == "$G" for s in tested["subscriptions_list"])
        assert get(monitored, "/subsz?subs=1&test=t.a.b")["total"] == 1
        page = get(monitored, "/subsz?subs=1&test=t.a&offset=1&limit=1")
        assert (page["total"], len(page["subscriptions_list"])) == (3, 1)
        assert "subscriptions_list" not in get(monitored, "/subsz?subs=1&test=nothing.here")


def test_connz_by_cid_and_account_filter(monitored):
    with Wire(monitored.host, monitored.port) as a, Wire(monitored.host, monitored.port) as b:
        a.connect()
        b.connect()
        cids = sorted(c["cid"] for c in get(monitored, "/connz")["connections"])
        one = get(monitored, f"/connz?cid={cids[1]}")
        assert [c["cid"] for c in one["connections"]] == [cids[1]]
        assert (one["limit"], one["total"]) == (1, 2)
        assert get(monitored, "/connz?cid=999999")["connections"] == []
        assert get(monitored, "/connz?acc=nope")["connections"] is None
        assert get(monitored, "/connz?acc=$G")["total"] == 2
        assert get(monitored, "/connz?state=closed&sort=stop")["limit"] == 1024


def test_stop_closes_kept_alive_monitoring_connections():
    """There is no idle limit between requests, so stopping the broker closes them."""
    from support.inprocess import ThreadedBroker

    broker = ThreadedBroker(http_port=-1).start()
    try:
        with socket.create_connection((broker.host, broker.http_port)) as sock:
            sock.sendall(_get("/healthz"))
            got, closed = read_until_closed(sock, 0.5)
            assert got.endswith(b'{"status":"ok"}') and not closed
            broker.stop()
            assert read_until_closed(sock, 5) == (b"", True)
    finally:
        broker.stop()


def test_connz_sort_by_uptime_start_and_cid(monitored):
    with Wire(monitored.host, monitored.port) as old, Wire(monitored.host, monitored.port) as new:
        old.connect()
        time.sleep(1.1)  # uptimes a whole second apart
        new.connect()
        cids = [c["cid"] for c in get(monitored, "/connz")["connections"]]
        assert cids == sorted(cids)

        def order(sort):
            return [c["cid"] for c in get(monitored, f"/connz?sort={sort}")["connections"]]

        if monitored.kind == "zats":
            # The newest first, as nats-server's SortByUptime orders them; nats-server itself
            # once listed them oldest first in a loaded full run, so it is not asserted there.
            assert order("uptime") == cids[::-1]
        assert order("start") == order("cid") == cids
