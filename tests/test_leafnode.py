"""Leafnodes: zats as a leaf of nats-server, nats-server as a leaf of zats, and zats with zats,
every server started from a configuration file that nats-server accepts too. Messages both ways
through nats-py clients: plain, header, queue-group and request/reply; a hub restart (the spoke
redials); a loop of leaf connections detected. No sleeps, no timing assertions: connections are
awaited on /leafz and interest with request barriers. Then a raw leaf peer against each kind's
hub: payload limits, invalid interest, ops of other kinds, queue weights."""

from __future__ import annotations

import json
import urllib.request

import pytest
from test_client_support import eventually
from test_cluster import Inbox, connect, reachable  # noqa: F401  (connect is a fixture)

from support.peers import (
    LeafPeer,
    RoutePeer,
    leaf_config,
    leaf_connect,
    leaf_handshake,
    leaf_hub,
    route_handshake,
)
from support.servers import free_port, write_config
from support.wire import Wire

pytestmark = pytest.mark.timeout(60)


class Leaf:
    def __init__(self, srv, leaf_port: int | None = None):
        self.srv = srv
        self.kind = srv.kind
        self.leaf_port = leaf_port

    @property
    def url(self) -> str:
        return self.srv.url

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.srv.http_port}{path}", timeout=5) as r:
            return json.load(r)

    def leafs(self) -> int:
        try:
            return self.get("/leafz")["leafnodes"]
        except OSError:
            return -1


def _conf(tmp_path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.conf"
    path.write_text(f"server_name: {name}\n{text}")
    return str(path)


def hub(spawn, tmp_path, kind: str, name: str = "HUB", auth: bool = False) -> Leaf:
    port = free_port()
    authz = "authorization { user: leaf, password: s3cret, timeout: 2 }" if auth else ""
    conf = _conf(tmp_path, name, f"leafnodes {{ listen: 127.0.0.1:{port}\n {authz} }}\n")
    return Leaf(spawn(kind, "-c", conf, http_port=free_port()), port)


def spoke(spawn, tmp_path, kind: str, hub_port: int, name: str = "SPOKE", cred: str = "",
          extra: str = "") -> Leaf:
    conf = _conf(tmp_path, name, f"""leafnodes {{
  reconnect_delay: "1s"
  remotes: [ {{ url: "nats-leaf://{cred}127.0.0.1:{hub_port}", account: "$G" }} ]
  {extra}
}}
""")
    return Leaf(spawn(kind, "-c", conf, http_port=free_port()))


async def linked(*servers) -> None:
    await eventually(lambda: all(s.leafs() >= 1 for s in servers), 20.0, 0.05)


PAIRS = [("nats-server", "zats"), ("zats", "nats-server"), ("zats", "zats")]


@pytest.mark.parametrize("hub_kind,spoke_kind", PAIRS)
async def test_messages_both_ways(spawn, connect, tmp_path, hub_kind, spoke_kind):  # noqa: F811
    h = hub(spawn, tmp_path, hub_kind, auth=True)
    s = spoke(spawn, tmp_path, spoke_kind, h.leaf_port, cred="leaf:s3cret@")
    await linked(h, s)
    ch, cs = await connect(h), await connect(s)
    leafz = (h if h.kind == "zats" else s).get("/leafz?subs=1")
    assert leafz["leafnodes"] == 1 and leafz["leafs"][0]["account"] == "$G"

    for pub, sub, other in ((ch, cs, "down"), (cs, ch, "up")):
        inbox, hinbox = Inbox(), Inbox()
        await sub.subscribe(f"plain.{other}", cb=inbox.add)
        await sub.subscribe(f"hdr.{other}", cb=hinbox.add)
        await reachable(sub, [pub])
        for i in range(20):
            await pub.publish(f"plain.{other}", b"m%d" % i)
        await pub.publish(f"hdr.{other}", b"h", headers={"X-Leaf": "yes"})
        await inbox.wait(20)
        await hinbox.wait(1)
        assert [m.data for m in inbox.msgs] == [b"m%d" % i for i in range(20)]
        assert hinbox.msgs[0].headers == {"X-Leaf": "yes"}

        # request/reply across the leaf connection
        async def service(msg):
            await msg.respond(b"re:" + msg.data)

        await sub.subscribe(f"svc.{other}", cb=service)
        await reachable(sub, [pub])
        reply = await pub.request(f"svc.{other}", b"x", timeout=5)
        assert reply.data == b"re:x"

        # a queue group with members on both sides: each message exactly once
        qa, qb = Inbox(), Inbox()
        await sub.subscribe(f"q.{other}", queue="workers", cb=qa.add)
        await pub.subscribe(f"q.{other}", queue="workers", cb=qb.add)
        await reachable(sub, [pub])
        n = 50
        for i in range(n):
            await pub.publish(f"q.{other}", b"%d" % i)
        await pub.flush()
        await eventually(lambda qa=qa, qb=qb, n=n: len(qa.msgs) + len(qb.msgs) >= n, 10.0)
        got = sorted(int(m.data) for m in qa.msgs + qb.msgs)
        assert got == list(range(n))

        # a queue group only on the far side gets every message
        qonly = Inbox()
        await sub.subscribe(f"qfar.{other}", queue="far", cb=qonly.add)
        await reachable(sub, [pub])
        for i in range(10):
            await pub.publish(f"qfar.{other}", b"%d" % i)
        await qonly.wait(10)
    assert len(qonly.msgs) == 10


@pytest.mark.parametrize("hub_kind,spoke_kind", [("nats-server", "zats"), ("zats", "nats-server")])
async def test_spoke_redials_a_restarted_hub(spawn, connect, tmp_path, hub_kind, spoke_kind):  # noqa: F811
    h = hub(spawn, tmp_path, hub_kind)
    s = spoke(spawn, tmp_path, spoke_kind, h.leaf_port)
    await linked(h, s)
    h.srv.restart()
    await linked(h, s)
    ch, cs = await connect(h), await connect(s)
    inbox = Inbox()
    await cs.subscribe("after.restart", cb=inbox.add)
    await reachable(cs, [ch])
    await ch.publish("after.restart", b"back")
    await inbox.wait(1)


async def test_zats_hub_with_two_spokes_relays_between_them(spawn, connect, tmp_path):  # noqa: F811
    h = hub(spawn, tmp_path, "zats")
    a = spoke(spawn, tmp_path, "zats", h.leaf_port, name="A")
    b = spoke(spawn, tmp_path, "nats-server", h.leaf_port, name="B")
    await eventually(lambda: h.leafs() == 2, 20.0, 0.05)
    await linked(a, b)
    ca, cb = await connect(a), await connect(b)
    inbox = Inbox()
    await cb.subscribe("spoke.to.spoke", cb=inbox.add)
    await reachable(cb, [ca])
    await ca.publish("spoke.to.spoke", b"via-hub")
    await inbox.wait(1)
    assert h.get("/varz")["leafnodes"] == 2


async def test_loop_is_detected(spawn, tmp_path):
    """Two zats servers, each a leaf of the other in the same account: a loop."""
    pa, pb = free_port(), free_port()
    a_conf = _conf(tmp_path, "LA", f"""leafnodes {{ listen: 127.0.0.1:{pa}
  remotes: [ {{ url: "nats-leaf://127.0.0.1:{pb}" }} ] }}
""")
    b_conf = _conf(tmp_path, "LB", f"""leafnodes {{ listen: 127.0.0.1:{pb}
  remotes: [ {{ url: "nats-leaf://127.0.0.1:{pa}" }} ] }}
""")
    a = spawn("zats", "-c", a_conf, http_port=free_port())
    b = spawn("zats", "-c", b_conf, http_port=free_port())
    await eventually(lambda: "Loop detected" in a.stderr_text() + b.stderr_text(), 20.0, 0.1)


async def test_configuration_is_accepted_by_nats_server(tmp_path):
    import subprocess

    from support.servers import require_nats_server

    conf = _conf(tmp_path, "CHK", """leafnodes {
  listen: 127.0.0.1:-1
  authorization { user: leaf, password: s3cret, timeout: 2 }
  reconnect_delay: "2s"
  remotes: [ { url: "nats-leaf://u:p@127.0.0.1:7422", account: "$G" },
             { urls: ["nats-leaf://127.0.0.1:7423"] } ]
}
""")
    out = subprocess.run([require_nats_server(), "-t", "-c", conf], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import sys

    out = subprocess.run([sys.executable, "-m", "zats.broker", "-t", "-c", conf],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + out.stdout


# -- a raw leaf peer against each server kind's hub ----------------------------------------------


@pytest.fixture
def leaf_port(kind, spawn, tmp_path):
    return leaf_hub(spawn, kind, tmp_path)


def _subscriber(srv, subs: bytes = b"SUB foo 1\r\n") -> Wire:
    client = Wire("127.0.0.1", srv.port)
    client.connect()
    client.send(subs + b"PING\r\n")
    client.expect(rb"PONG\r\n")
    return client


def test_leaf_message_over_max_payload_is_refused_from_its_line(leaf_port):
    with LeafPeer("127.0.0.1", leaf_port.leaf_port) as peer:
        leaf_handshake(peer)
        peer.send(b"LMSG foo 2000000\r\n")
        peer.expect_op(rb"-ERR 'Maximum Payload Violation'")
        peer.expect_closed()


def test_leaf_invalid_interest_subject_gets_invalid_subscription_and_stays(leaf_port):
    with LeafPeer("127.0.0.1", leaf_port.leaf_port) as peer:
        leaf_handshake(peer)
        peer.send(b"LS+ foo..bar\r\nLS+ .foo q 1\r\n")
        peer.expect_op(rb"-ERR 'Invalid Subscription'")
        peer.expect_op(rb"-ERR 'Invalid Subscription'")
        peer.barrier()


def test_route_and_client_ops_on_a_leaf_port_are_leaf_ops(leaf_port):
    # nats-server goes by the first letter: RMSG and PUB are messages like LMSG.
    with _subscriber(leaf_port) as client, LeafPeer("127.0.0.1", leaf_port.leaf_port) as peer:
        leaf_handshake(peer)
        peer.send(b"RMSG foo 2\r\nhi\r\nPUB foo r 3\r\nyes\r\n")
        peer.barrier()
        client.expect(rb"MSG foo 1 2\r\nhi\r\nMSG foo 1 r 3\r\nyes\r\n")


def test_many_weighted_leaf_queue_groups_are_cheap(leaf_port):
    with LeafPeer("127.0.0.1", leaf_port.leaf_port) as peer:
        leaf_handshake(peer)
        peer.send(b"".join(b"LS+ q.x g%d 1000\r\n" % i for i in range(2000)))
        peer.barrier()
    with Wire("127.0.0.1", leaf_port.port) as client:
        client.connect()


@pytest.mark.parametrize("weight, local, routed", [(b"9", True, 0), (b"9", False, 100),
                                                   (b"0", False, 0), (b"abc", False, 0)])
def test_queue_pick_takes_a_leaf_member_as_nats_server(leaf_port, weight, local, routed):
    # A client's message goes to a leaf's queue member only when the group has no local one;
    # a weight of 0 or one that is not a number is a member never picked.
    n = 100
    with LeafPeer("127.0.0.1", leaf_port.leaf_port) as peer:
        leaf_handshake(peer)
        with _subscriber(leaf_port, b"SUB q.x g 1\r\n" if local else b"") as client:
            if local:
                peer.expect_op(rb"LS\+ q.x g 1")
            peer.send(b"LS+ q.x g " + weight + b"\r\n")
            peer.barrier()
            client.send(b"PUB q.x 1\r\nm\r\n" * n + b"PING\r\n")
            got_local = 0
            while client.expect(rb"MSG q.x 1 1\r\nm\r\n|PONG\r\n").group(0) != b"PONG\r\n":
                got_local += 1
            assert got_local == (n - routed if local else 0)
            for _ in range(routed):
                peer.expect_op(rb"LMSG q.x \| g 1")
            peer.barrier()
            assert b"LMSG" not in peer.buf


def _count_picks(client: Wire, peer, op: bytes, n: int) -> tuple[int, int]:
    """After `n` messages to queue group g on q.x: how many the client got, how many the peer."""
    client.send(b"PING\r\n")
    local = 0
    while client.expect(rb"MSG q.x 1 1\r\nm\r\n|PONG\r\n").group(0) != b"PONG\r\n":
        local += 1
    for _ in range(n - local):
        line, _ = peer.op()
        while line.startswith((b"RS", b"LS")):  # interest, not what this counts
            line, _ = peer.op()
        assert line.startswith(op) and line.endswith(b"q.x | g 1"), line
    peer.barrier()
    assert op not in peer.buf
    return local, n - local


def test_queue_pick_for_a_routed_or_leaf_message_as_nats_server(kind, spawn, tmp_path):
    # A routed message naming a group goes to a local member before a leaf's; a leaf's message
    # naming a group picks among the local member and a route's, as a client's does.
    cport, lport = free_port(), free_port()
    conf = f"cluster {{ listen: 127.0.0.1:{cport}, name: C1 }}\n" + leaf_config(lport)
    srv = spawn(kind, "-c", write_config(tmp_path, conf))
    n = 100
    with RoutePeer("127.0.0.1", cport) as route, LeafPeer("127.0.0.1", lport) as leaf, \
            _subscriber(srv, b"SUB q.x g 1\r\n") as client:
        route_handshake(route)
        leaf_handshake(leaf)
        leaf.send(b"LS+ q.x g 1\r\n")
        leaf.barrier()
        route.send(b"RMSG $G q.x | g 1\r\nm\r\n" * n)
        route.barrier()
        assert _count_picks(client, leaf, b"LMSG", n) == (n, 0)

        leaf.send(b"LS- q.x g\r\n")
        route.send(b"RS+ $G q.x g 1\r\n")
        route.barrier()
        leaf.send(b"LMSG q.x | g 1\r\nm\r\n" * n)
        leaf.barrier()
        local, routed = _count_picks(client, route, b"RMSG", n)
        assert 20 <= local <= 80, (local, routed)


def test_leaf_control_line_limit_is_sixteen_times_the_clients(leaf_port):
    with LeafPeer("127.0.0.1", leaf_port.leaf_port) as peer:
        leaf_handshake(peer)
        peer.send(b"LS+ " + b"a" * 70000)
        got = peer.expect_closed()
        assert got.endswith(b"-ERR 'maximum control line exceeded'\r\n"), got[-200:]


def test_a_later_connect_sends_all_interest_anew(leaf_port):
    # Found by differential fuzzing: nats-server sends a leaf that repeats CONNECT all interest
    # again, counted afresh (zats counted it twice, and went on counting every change twice).
    with _subscriber(leaf_port, b"SUB foo 1\r\nSUB q.x g 2\r\n") as client, \
            LeafPeer("127.0.0.1", leaf_port.leaf_port) as peer:
        leaf_handshake(peer)
        peer.buf = b""
        peer.send(leaf_connect("SPOKE"))
        got = sorted(peer.expect_op(rb"LS\+ (foo|q.x g 1)")[0].group(0) for _ in range(2))
        assert got == [b"LS+ foo", b"LS+ q.x g 1"]
        client.send(b"SUB q.x g 3\r\nPING\r\n")
        client.expect(rb"PONG\r\n")
        peer.expect_op(rb"LS\+ q.x g 2")
