"""The monitoring endpoints (-m) against zats and the real nats-server started with the same
flags: the fields zats fills carry nats-server's names and meanings."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from support.servers import free_port
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
    assert varz["version"].split(".")[0] == "2"


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


def test_unknown_path_is_404(monitored):
    with pytest.raises(urllib.error.HTTPError) as info:
        get(monitored, "/nope")
    assert info.value.code == 404
