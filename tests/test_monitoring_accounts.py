"""/accountz, /accstatz and /gatewayz against zats and nats-server configured alike: the same
accounts, the same keys where zats has the feature (no imports, exports or JWTs in zats), the
same counts, and the same answers to bad parameters."""

from __future__ import annotations

import pytest
from test_monitoring import both, get, wait_for

from support.http import status_and_body
from support.servers import KINDS, free_port, start_server, write_config
from support.wire import Wire

ACCOUNTS = """accounts {
  A: { users: [ { user: a, password: a } ] }
  B: { users: [ { user: b, password: b } ] }
  C: { users: [ { user: c, password: c } ] }
  D: { users: [ { user: d, password: d } ] }
}
"""
# What nats-server lists and zats has no counterpart for.
NOT_IN_ZATS = {"imports", "exports", "mappings", "responses"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """zats and nats-server with the same accounts, shared by the module's tests (which use
    accounts of their own where they count)."""
    conf = write_config(tmp_path_factory.mktemp("accounts"), ACCOUNTS)
    servers = {kind: start_server(kind, "-c", conf, http_port=free_port()) for kind in KINDS}
    yield servers
    for srv in servers.values():
        srv.stop()


@pytest.fixture
def accounts_server(pair, kind):
    return pair[kind]


def _user(srv, name: str) -> Wire:
    wire = Wire(srv.host, srv.port)
    wire.connect(b'{"verbose":false,"user":"%s","pass":"%s"}' % (name.encode(), name.encode()))
    return wire


def test_accountz_lists_every_account_and_the_system_one(accounts_server):
    body = get(accounts_server, "/accountz")
    assert set(body) == {"server_id", "now", "system_account", "accounts"}
    assert body["system_account"] == "$SYS"
    assert sorted(body["accounts"]) == ["$G", "$SYS", "A", "B", "C", "D"]


def test_accountz_detail_counts_clients_and_subscriptions(accounts_server):
    with _user(accounts_server, "a") as a1, _user(accounts_server, "a") as a2:
        a1.send(b"SUB x 1\r\nSUB y 2\r\nPING\r\n")
        a1.expect(rb"PONG\r\n")
        body = get(accounts_server, "/accountz?acc=A")
        assert set(body) == {"server_id", "now", "system_account", "account_detail"}
        detail = body["account_detail"]
        assert set(detail) - NOT_IN_ZATS == {
            "account_name", "update_time", "expired", "complete", "jetstream_enabled",
            "leafnode_connections", "client_connections", "subscriptions", "name_tag", "sublist_stats"}
        assert detail["account_name"] == detail["name_tag"] == "A"
        assert (detail["expired"], detail["complete"], detail["jetstream_enabled"]) == (False, True, False)
        assert (detail["client_connections"], detail["leafnode_connections"]) == (2, 0)
        # nats-server adds its system imports' subscriptions: at least the client's two.
        assert detail["subscriptions"] >= 2
        assert detail["sublist_stats"]["num_subscriptions"] == detail["subscriptions"]
        a2.send(b"PING\r\n")
        a2.expect(rb"PONG\r\n")
    system = get(accounts_server, "/accountz?acc=$SYS")["account_detail"]
    assert system["is_system"] is True
    assert "is_system" not in get(accounts_server, "/accountz?acc=B")["account_detail"]


def test_accstatz_counts_what_an_accounts_clients_send_and_receive(accounts_server):
    with _user(accounts_server, "c") as sub, _user(accounts_server, "c") as pub, \
            _user(accounts_server, "d") as other:
        sub.send(b"SUB x 1\r\nSUB x 2\r\nPING\r\n")
        sub.expect(rb"PONG\r\n")
        pub.send(b"PUB x 5\r\nhello\r\nPUB x 3\r\nabc\r\nPUB nobody 2\r\nzz\r\nPING\r\n")
        pub.expect(rb"PONG\r\n")
        sub.expect(rb"(MSG x [12] 5\r\nhello\r\n){2}(MSG x [12] 3\r\nabc\r\n){2}")
        other.send(b"PING\r\n")
        other.expect(rb"PONG\r\n")
        stats = {s["acc"]: s for s in get(accounts_server, "/accstatz")["account_statz"]}
        assert "C" in stats and "D" in stats
        assert "$G" not in stats and "$SYS" not in stats  # accounts with clients only
        a = stats["C"]
        assert set(a) == {"acc", "name", "conns", "leafnodes", "total_conns", "num_subscriptions",
                          "sent", "received", "slow_consumers"}
        assert (a["conns"], a["leafnodes"], a["total_conns"], a["slow_consumers"]) == (2, 0, 2, 0)
        assert (a["received"]["msgs"], a["received"]["bytes"]) == (3, 10)
        assert (a["sent"]["msgs"], a["sent"]["bytes"]) == (4, 16)
        for way in ("sent", "received"):
            assert set(a[way]) == {"msgs", "bytes", "gateways", "routes", "leafs"}
            assert a[way]["gateways"] == {"msgs": 0, "bytes": 0}
        assert (stats["D"]["conns"], stats["D"]["received"]["msgs"]) == (1, 0)
    # A closed connection's messages still count in its account's totals (total_conns, as in
    # nats-server, counts the open client and leaf connections).
    after = wait_for(lambda: [s for s in get(accounts_server, "/accstatz?unused=1")["account_statz"]
                              if s["acc"] == "C" and s["conns"] == 0])
    assert after and (after[0]["total_conns"], after[0]["received"]["msgs"]) == (0, 3)
    everything = get(accounts_server, "/accstatz?unused=true")["account_statz"]
    assert sorted(s["acc"] for s in everything) == ["$G", "$SYS", "A", "B", "C", "D"]


def test_gatewayz_is_empty(accounts_server):
    srv = accounts_server
    body = get(srv, "/gatewayz")
    assert set(body) == {"server_id", "now", "outbound_gateways", "inbound_gateways"}
    assert (body["outbound_gateways"], body["inbound_gateways"]) == ({}, {})
    assert get(srv, "/gatewayz?accs=1&subs=detail")["outbound_gateways"] == {}


@pytest.mark.parametrize("path", ["/accountz?acc=nope", "/accstatz?unused=maybe", "/gatewayz?accs=2",
                                  "/gatewayz?subs=x"])
def test_bad_parameters_answered_as_nats_server(pair, path):
    answers = both(pair, f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
    assert answers["zats"] == answers["nats-server"]
    assert status_and_body(answers["zats"][0])[0].startswith(b"HTTP/1.1 400")
