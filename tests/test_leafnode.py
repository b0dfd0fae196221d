"""Leafnodes: zats as a leaf of nats-server, nats-server as a leaf of zats, and zats with zats,
every server started from a configuration file that nats-server accepts too. Messages both ways
through nats-py clients: plain, header, queue-group and request/reply; a hub restart (the spoke
redials); a loop of leaf connections detected. No sleeps, no timing assertions: connections are
awaited on /leafz and interest with request barriers."""

from __future__ import annotations

import json
import urllib.request

import pytest
from test_client_support import eventually
from test_cluster import Inbox, connect, reachable  # noqa: F401  (connect is a fixture)

from support.servers import free_port

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
