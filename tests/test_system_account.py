"""The system account (`system_account`, or a configured `$SYS`) and its server requests
($SYS.REQ.SERVER.PING[.Z], $SYS.REQ.SERVER.<id>.Z) in nats-server's envelope, zats and
nats-server started with the same configuration file and asked by nats-py; who may ask; bad
request bodies; a zats cluster answering a request from every node (the internal subscriptions'
interest crosses routes)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import nats
import nats.errors
import pytest
from test_cluster import start, wait_mesh

from support.servers import write_config

CONF = """
accounts {
  SYS { users [ {user: admin, password: pw} ] }
  A { users [ {user: a, password: pw} ] }
}
system_account: SYS
"""
SERVER_FIELDS = {"name": str, "host": str, "id": str, "ver": str, "jetstream": bool, "flags": int,
                 "seq": int, "time": str}


@pytest.fixture
def sys_server(kind, spawn, tmp_path):
    return spawn(kind, "-c", write_config(tmp_path, CONF))


async def ask(srv, subject: str, body: bytes = b"", user: str = "admin") -> dict:
    nc = await nats.connect(srv.url, user=user, password="pw", allow_reconnect=False)
    try:
        msg = await nc.request(subject, body, timeout=2)
    finally:
        await nc.close()
    return json.loads(msg.data)


def check_server(answer: dict) -> None:
    server = answer["server"]
    for name, typ in SERVER_FIELDS.items():
        assert isinstance(server[name], typ), (name, server)
    assert server["time"].endswith("Z")


async def test_server_ping_answers_statsz(sys_server):
    answer = await ask(sys_server, "$SYS.REQ.SERVER.PING")
    check_server(answer)
    statsz = answer["statsz"]
    for name in ("mem", "cores", "connections", "total_connections", "active_accounts",
                 "subscriptions", "slow_consumers", "active_servers"):
        assert isinstance(statsz[name], int), name
    assert statsz["connections"] == 1
    assert set(statsz["sent"]) == set(statsz["received"]) == {"msgs", "bytes"}
    assert isinstance(statsz["start"], str)
    again = await ask(sys_server, "$SYS.REQ.SERVER.PING.STATSZ")
    assert again["server"]["seq"] > answer["server"]["seq"]
    assert "statsz" in again


@pytest.mark.parametrize(("z", "fields"), [
    ("VARZ", {"server_id": str, "version": str, "port": int, "connections": int, "in_msgs": int,
              "out_msgs": int, "subscriptions": int, "max_payload": int, "start": str}),
    ("CONNZ", {"server_id": str, "num_connections": int, "total": int, "connections": list}),
    ("SUBSZ", {"server_id": str, "num_subscriptions": int, "num_matches": int}),
    ("HEALTHZ", {"status": str, "status_code": int}),
])
async def test_ping_z_answers_the_endpoint_data(sys_server, z, fields):
    answer = await ask(sys_server, f"$SYS.REQ.SERVER.PING.{z}")
    check_server(answer)
    data = answer["data"]
    for name, typ in fields.items():
        assert isinstance(data[name], typ), (name, data)
    if z == "HEALTHZ":
        assert data == {"status": "ok", "status_code": 200}
    if z == "CONNZ":
        assert data["num_connections"] == 1 and data["connections"][0]["kind"] == "Client"
    if z == "VARZ":
        assert data["port"] == sys_server.port


async def test_one_server_by_its_id(sys_server):
    idz = await ask(sys_server, "$SYS.REQ.SERVER.PING.IDZ")
    assert set(idz) == {"name", "host", "id"}
    varz = await ask(sys_server, f"$SYS.REQ.SERVER.{idz['id']}.VARZ")
    assert varz["server"]["id"] == varz["data"]["server_id"] == idz["id"]
    healthz = await ask(sys_server, f"$SYS.REQ.SERVER.{idz['id']}.HEALTHZ")
    assert healthz["data"]["status"] == "ok"


@pytest.mark.parametrize("subject", ["$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.VARZ",
                                     "$SYS.REQ.SERVER.PING.SUBSZ"])
async def test_users_of_other_accounts_get_no_responders(sys_server, subject):
    with pytest.raises(nats.errors.NoRespondersError):
        await ask(sys_server, subject, user="a")


@pytest.mark.parametrize("subject", ["$SYS.REQ.SERVER.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.CONNZ"])
async def test_other_accounts_see_their_own_connections(sys_server, subject):
    admin = await nats.connect(sys_server.url, user="admin", password="pw", allow_reconnect=False)
    try:
        answer = await ask(sys_server, subject, user="a")
    finally:
        await admin.close()
    check_server(answer)
    assert answer["data"]["num_connections"] == 1  # the asker; not the system user


async def test_unknown_request_gets_no_responders(sys_server):
    with pytest.raises(nats.errors.NoRespondersError):
        await ask(sys_server, "$SYS.REQ.SERVER.PING.BOGUS")


@pytest.mark.parametrize("body", [b"garbage", b"{]", b"[1, 2]", b'"text"', b'{"server_name": 5}'])
async def test_bad_request_body_gets_a_400_error(sys_server, body):
    for subject in ("$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.VARZ"):
        answer = await ask(sys_server, subject, body)
        check_server(answer)
        assert "data" not in answer and "statsz" not in answer
        assert answer["error"]["code"] == 400
        assert isinstance(answer["error"]["description"], str) and answer["error"]["description"]


async def test_filters_pick_servers(sys_server):
    answer = await ask(sys_server, "$SYS.REQ.SERVER.PING.VARZ", b'{"unknown": 1, "host": "127."}')
    assert "data" in answer
    for body in (b'{"server_name": "no-such-server"}', b'{"host": "127.", "exact_match": true}',
                 b'{"tags": ["t"]}'):
        with pytest.raises(nats.errors.TimeoutError):
            await ask(sys_server, "$SYS.REQ.SERVER.PING.VARZ", body)


async def test_default_sys_account_by_name(kind, spawn, tmp_path):
    srv = spawn(kind, "-c", write_config(tmp_path, "accounts { $SYS { users [ {user: admin, password: pw} ] } }"))
    answer = await ask(srv, "$SYS.REQ.SERVER.PING.HEALTHZ")
    assert answer["data"]["status"] == "ok"


@pytest.mark.parametrize("command", [["nats-server"], [sys.executable, "-m", "zats.broker"]],
                         ids=["nats-server", "zats"])
def test_system_account_must_exist(tmp_path, command):
    path = write_config(tmp_path, "listen: 127.0.0.1:-1\nsystem_account: NOPE\n")
    done = subprocess.run([*command, "-c", path], capture_output=True, timeout=20, text=True)
    assert done.returncode != 0
    assert "error resolving system account: account missing" in done.stdout + done.stderr


async def test_every_node_of_a_zats_cluster_answers_a_ping(spawn, tmp_path):
    """The system service's subscriptions are interest the routes carry: a request on one node
    reaches the other node's internal subscription and its answer comes back."""
    conf = write_config(tmp_path, CONF)
    a = start(spawn, "zats", extra=("-c", conf))
    b = start(spawn, "zats", routes=[a], extra=("-c", conf))
    await wait_mesh([a, b])
    nc = await nats.connect(b.url, user="admin", password="pw", allow_reconnect=False)
    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        ids = set()
        for _ in range(50):  # the route may learn the interest a moment after the mesh forms
            await nc.publish("$SYS.REQ.SERVER.PING.IDZ", b"", reply=inbox)
            try:
                while True:
                    ids.add(json.loads((await sub.next_msg(timeout=0.2)).data)["id"])
            except nats.errors.TimeoutError:
                pass
            if len(ids) == 2:
                break
        assert ids == {a.server_id, b.server_id}
        answer = json.loads((await nc.request(f"$SYS.REQ.SERVER.{a.server_id}.VARZ", b"",
                                              timeout=2)).data)
        assert answer["data"]["server_id"] == a.server_id
    finally:
        await nc.close()
    await asyncio.sleep(0)


USER_INFO_CONF = """
accounts {
  SYS { users [ {user: admin, password: pw} ] }
  A { users [ {user: a, password: pw, permissions: {
        publish: {allow: ["foo.>", "$SYS.REQ.USER.INFO", "_INBOX.>"]}, subscribe: {deny: "bar"},
        allow_responses: true}} ] }
}
authorization { users [ {user: g, password: pw} ] }
system_account: SYS
"""


@pytest.mark.parametrize(("user", "data"), [
    ("a", {"user": "a", "account": "A", "account_name": "A", "permissions": {
        "publish": {"allow": ["$SYS.REQ.USER.INFO", "_INBOX.>", "foo.>"]},
        "subscribe": {"deny": ["bar"]}, "responses": {"max": 1, "ttl": 120_000_000_000}}}),
    ("g", {"user": "g", "account": "$G", "account_name": "$G"}),
    ("admin", {"user": "admin", "account": "SYS", "account_name": "SYS"}),
])
async def test_user_info_answers_any_user_about_itself(kind, spawn, tmp_path, user, data):
    srv = spawn(kind, "-c", write_config(tmp_path, USER_INFO_CONF))
    answer = await ask(srv, "$SYS.REQ.USER.INFO", b"ignored body", user=user)
    check_server(answer)
    got = answer["data"]
    # nats-server lists permission subjects in no fixed order (zats sorts them).
    for part in got.get("permissions", {}).values():
        for name in ("allow", "deny"):
            if name in part:
                part[name] = sorted(part[name])
    assert got == data


async def test_user_info_in_a_cluster_comes_from_the_requesters_server(spawn, tmp_path):
    conf = write_config(tmp_path, USER_INFO_CONF)
    a = start(spawn, "zats", extra=("-c", conf))
    b = start(spawn, "zats", routes=[a], extra=("-c", conf))
    await wait_mesh([a, b])
    nc = await nats.connect(b.url, user="g", password="pw", allow_reconnect=False)
    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await asyncio.sleep(0.5)  # the routes have exchanged the interest
        await nc.publish("$SYS.REQ.USER.INFO", b"", reply=inbox)
        answers = []
        with pytest.raises(nats.errors.TimeoutError):
            while True:
                answers.append(json.loads((await sub.next_msg(timeout=0.5)).data))
    finally:
        await nc.close()
    assert [(x["server"]["id"], x["data"]["user"]) for x in answers] == [(b.server_id, "g")]


async def test_the_default_system_account_answers_user_info(server):
    """Without configuration nats-server still has its `$SYS` account and system imports."""
    nc = await nats.connect(server.url, allow_reconnect=False)
    try:
        answer = json.loads((await nc.request("$SYS.REQ.USER.INFO", b"", timeout=2)).data)
        with pytest.raises(nats.errors.NoRespondersError):
            await nc.request("$SYS.REQ.SERVER.PING", b"", timeout=2)
    finally:
        await nc.close()
    check_server(answer)
    assert answer["data"] == {"user": "", "account": "$G", "account_name": "$G"}


async def test_no_system_account(kind, spawn, tmp_path):
    srv = spawn(kind, "-c", write_config(tmp_path, "no_system_account: true\n"))
    nc = await nats.connect(srv.url, allow_reconnect=False)
    try:
        for subject in ("$SYS.REQ.USER.INFO", "$SYS.REQ.SERVER.PING.CONNZ"):
            with pytest.raises(nats.errors.NoRespondersError):
                await nc.request(subject, b"", timeout=2)
    finally:
        await nc.close()
