"""Clusters over routes: 3-node clusters of zats, and mixed clusters of zats and the real
nats-server, every node started only with nats-server's own flags, in both directions of who
dials whom. Seeds only: nodes B and C are given A's route URL, the rest of the mesh comes from
gossip. Checked through nats-py clients: plain, wildcard, header and reply messages across
nodes, queue groups delivering each message exactly once cluster-wide, request/reply and
no-responders, a node killed and restarted under load, clients discovering the other servers
from INFO `connect_urls` and failing over.

No sleeps and no timing assertions: the mesh is awaited on /routez, and interest propagation
with barriers (a request from each other node to a fresh subscription of the subscriber: routes
keep order, so once that subscription is reachable the earlier ones are too)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import urllib.request

import nats
import nats.errors
import pytest
from test_client_support import eventually

from support.servers import free_port

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 10.0
_ids = itertools.count()


class Node:
    """A server started with cluster flags, its cluster port and monitoring port."""

    def __init__(self, srv, cluster_port: int):
        self.srv = srv
        self.kind = srv.kind
        self.cluster_port = cluster_port
        self._server_id = None

    @property
    def url(self) -> str:
        return self.srv.url

    @property
    def port(self) -> int:
        return self.srv.port

    @property
    def route_url(self) -> str:
        return f"nats://127.0.0.1:{self.cluster_port}"

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.srv.http_port}{path}", timeout=5) as r:
            return json.load(r)

    @property
    def server_id(self) -> str:
        if self._server_id is None:
            self._server_id = self.get("/varz")["server_id"]
        return self._server_id

    def remote_ids(self) -> set[str]:
        """Servers this one has a route to (nats-server pools several connections per server)."""
        return {r["remote_id"] for r in self.get("/routez")["routes"]}

    def restart(self) -> None:
        self.srv.start()
        self._server_id = None  # a new process has a new server id


def start(spawn, kind: str, *, routes=(), name: str | None = "C1", auth: str = "",
          extra=()) -> Node:
    cport = free_port()
    args = ["--cluster", f"nats://{auth}127.0.0.1:{cport}"]
    if name:
        args += ["--cluster_name", name]
    if routes:
        args += ["--routes", ",".join(
            r if isinstance(r, str) else f"nats://{auth}127.0.0.1:{r.cluster_port}" for r in routes)]
    return Node(spawn(kind, *args, *extra, http_port=free_port()), cport)


def start_cluster(spawn, kinds, **kw) -> list[Node]:
    """The first node is the seed; the others are given only its route URL."""
    seed = start(spawn, kinds[0], **kw)
    return [seed] + [start(spawn, kind, routes=[seed], **kw) for kind in kinds[1:]]


def meshed(nodes) -> bool:
    return all(n.remote_ids() == {m.server_id for m in nodes if m is not n} for n in nodes)


async def wait_mesh(nodes, timeout: float = 20.0) -> None:
    await eventually(lambda: meshed(nodes), timeout, 0.05)


@pytest.fixture
async def connect():
    made = []

    async def _connect(node_or_url, **kw):
        url = node_or_url if isinstance(node_or_url, str) else node_or_url.url
        opts = dict(servers=[url], allow_reconnect=False, connect_timeout=5, ping_interval=600)
        opts.update(kw)
        nc = await nats.connect(**opts)
        made.append(nc)
        return nc

    yield _connect
    for nc in made:
        if not nc.is_closed:
            await nc.close()


async def reachable(owner, others) -> None:
    """Returns once a request from each of `others` reaches a new subscription of `owner`, so
    that everything `owner` subscribed before is known on their servers too."""
    subject = f"barrier.{next(_ids)}"

    async def answer(msg):
        await msg.respond(b"")

    sub = await owner.subscribe(subject, cb=answer)
    await owner.flush()
    for nc in others:
        async def probe(nc=nc):
            while True:
                try:
                    await nc.request(subject, b"", timeout=0.5)
                    return
                except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                    await asyncio.sleep(0.02)
        await asyncio.wait_for(probe(), TIMEOUT)
    await sub.unsubscribe()


class Inbox:
    """Messages of one subscription, in arrival order."""

    def __init__(self):
        self.msgs = []

    async def add(self, msg):
        self.msgs.append(msg)

    async def wait(self, n: int) -> None:
        await eventually(lambda: len(self.msgs) >= n, TIMEOUT)


# -- mesh ------------------------------------------------------------------------------------------


async def test_three_zats_nodes_mesh_from_one_seed(spawn):
    a, b, c = start_cluster(spawn, ["zats"] * 3)
    await wait_mesh([a, b, c])
    varz = a.get("/varz")
    assert varz["cluster"]["name"] == "C1" and varz["cluster"]["cluster_port"] == a.cluster_port
    assert varz["routes"] == 2
    assert set(varz["connect_urls"]) == {f"127.0.0.1:{n.port}" for n in (a, b, c)}
    b_to_a = [r for r in b.get("/routez")["routes"] if r["remote_id"] == a.server_id][0]
    assert b_to_a["did_solicit"] and b_to_a["is_configured"]
    a_to_b = [r for r in a.get("/routez")["routes"] if r["remote_id"] == b.server_id][0]
    assert not a_to_b["did_solicit"] and not a_to_b["is_configured"]
    # B and C met through A's gossip.
    c_to_b = [r for r in c.get("/routez")["routes"] if r["remote_id"] == b.server_id][0]
    assert not c_to_b["is_configured"]


# -- traffic across nodes, zats only and mixed with nats-server -----------------------------------------

TOPOLOGIES = [
    ("zats", "zats", "zats"),
    ("nats-server", "zats", "zats"),  # zats dials nats-server; the zats nodes meet by its gossip
    ("zats", "nats-server", "nats-server"),  # nats-server dials zats; nats-servers meet by ours
    ("nats-server", "zats", "nats-server"),
]


@pytest.mark.parametrize("kinds", TOPOLOGIES, ids=["-".join(k) for k in TOPOLOGIES])
async def test_cross_node_traffic(spawn, connect, kinds):
    nodes = start_cluster(spawn, kinds)
    await wait_mesh(nodes)
    ca, cb, cc = [await connect(n) for n in nodes]

    # Plain, wildcard, headers, reply: published on A, received on B and C.
    plain_b, wild_b, full_c = Inbox(), Inbox(), Inbox()
    await cb.subscribe("t.plain", cb=plain_b.add)
    await cb.subscribe("t.*", cb=wild_b.add)
    await cc.subscribe("t.>", cb=full_c.add)
    await reachable(cb, [ca])
    await reachable(cc, [ca])
    await ca.publish("t.plain", b"one", reply="r.1", headers={"K": "v"})
    await ca.publish("t.other.deep", b"two")
    await plain_b.wait(1)
    await wild_b.wait(1)
    await full_c.wait(2)
    for msg in (plain_b.msgs[0], wild_b.msgs[0], full_c.msgs[0]):
        assert (msg.subject, msg.data, msg.reply, msg.headers) == ("t.plain", b"one", "r.1", {"K": "v"})
    assert full_c.msgs[1].data == b"two" and len(plain_b.msgs) == len(wild_b.msgs) == 1

    # Request/reply across nodes, from every node; no responders anywhere is a 503.
    async def service(msg):
        await msg.respond(b"pong:" + msg.data)

    await cc.subscribe("svc", cb=service)
    await reachable(cc, [ca, cb])
    for nc in (ca, cb, cc):
        assert (await nc.request("svc", b"x", timeout=TIMEOUT)).data == b"pong:x"
    with pytest.raises(nats.errors.NoRespondersError):
        await ca.request("nobody.home", b"", timeout=TIMEOUT)

    # A queue group with members on every node (two on C) gets each message exactly once,
    # from publishers on two nodes.
    members = [Inbox() for _ in range(4)]
    subs = []
    done = [Inbox() for _ in range(3)]
    for nc, inbox in zip((ca, cb, cc, cc), members, strict=True):
        subs.append(await nc.subscribe("work", queue="g", cb=inbox.add))
    for nc, inbox in zip((ca, cb, cc), done, strict=True):
        await nc.subscribe("work.done", cb=inbox.add)
    for nc in (ca, cb, cc):
        await reachable(nc, [ca, cb])
    n = 300
    for i in range(n):
        await ca.publish("work", b"a%d" % i)
        await cb.publish("work", b"b%d" % i)
    await ca.publish("work.done", b"")
    await cb.publish("work.done", b"")
    for inbox in done:  # routes keep order: all work messages are in before these
        await inbox.wait(2)
    await eventually(lambda: all(s.pending_msgs == 0 for s in subs), TIMEOUT)
    got = sorted(m.data for inbox in members for m in inbox.msgs)
    assert got == sorted([b"a%d" % i for i in range(n)] + [b"b%d" % i for i in range(n)])
    assert all(inbox.msgs for inbox in members[:3]), [len(i.msgs) for i in members]


# -- failures ----------------------------------------------------------------------------------------


async def test_node_killed_and_restarted_under_load(spawn, connect):
    a, b, c = start_cluster(spawn, ["zats"] * 3)
    await wait_mesh([a, b, c])
    ca, cc = await connect(a), await connect(c)
    cb = await connect(b)
    on_c = Inbox()
    await cc.subscribe("load", cb=on_c.add)

    async def b_service(msg):
        await msg.respond(b"b")

    await cb.subscribe("svc.b", cb=b_service)
    await reachable(cc, [ca])
    await reachable(cb, [ca])
    assert (await ca.request("svc.b", b"", timeout=TIMEOUT)).data == b"b"

    sent = 0
    stop = asyncio.Event()

    async def publish():
        nonlocal sent
        while not stop.is_set():
            await ca.publish("load", b"%d" % sent)
            sent += 1
            if sent % 50 == 0:
                await ca.flush()

    publisher = asyncio.create_task(publish())
    await eventually(lambda: len(on_c.msgs) > 200, TIMEOUT)
    b.srv.kill()
    # B's interest leaves A (its route closed): no responders for B's service.
    await eventually(lambda: a.remote_ids() == {c.server_id} and c.remote_ids() == {a.server_id},
                     TIMEOUT, 0.05)
    with pytest.raises(nats.errors.NoRespondersError):
        await ca.request("svc.b", b"", timeout=TIMEOUT)
    mark = len(on_c.msgs)
    await eventually(lambda: len(on_c.msgs) > mark + 200, TIMEOUT)

    # B comes back (same ports, its seed route to A) and gets the whole interest again.
    b.restart()
    await wait_mesh([a, b, c])
    cb2 = await connect(b)
    on_b = Inbox()
    await cb2.subscribe("load", cb=on_b.add)
    await reachable(cb2, [ca])
    await eventually(lambda: len(on_b.msgs) > 200, TIMEOUT)
    stop.set()
    await publisher
    await ca.publish("load", b"end")
    await ca.flush()
    await eventually(lambda: on_c.msgs and on_c.msgs[-1].data == b"end", TIMEOUT)
    await eventually(lambda: on_b.msgs and on_b.msgs[-1].data == b"end", TIMEOUT)
    # C saw every message published on A, in order, B's death and return notwithstanding.
    assert [m.data for m in on_c.msgs] == [b"%d" % i for i in range(sent)] + [b"end"]
    # B saw a gapless tail of the stream from its subscription on.
    first = int(on_b.msgs[0].data)
    assert [m.data for m in on_b.msgs] == [b"%d" % i for i in range(first, sent)] + [b"end"]


async def test_natspy_discovers_servers_and_fails_over(spawn, connect):
    """Acceptance 2: nats-py connected to one zats node learns the others from connect_urls
    (asynchronous INFO as they join), fails over when its node is killed, and request/reply
    works afterwards."""
    a = start(spawn, "zats")
    reconnected = asyncio.Event()

    async def on_reconnect():
        reconnected.set()

    nc = await connect(a, allow_reconnect=True, max_reconnect_attempts=-1,
                       reconnect_time_wait=0.05, reconnected_cb=on_reconnect)
    assert nc.discovered_servers == []
    b = start(spawn, "zats", routes=[a])
    c = start(spawn, "zats", routes=[a])
    await wait_mesh([a, b, c])
    await eventually(lambda: {u.port for u in nc.discovered_servers} == {b.port, c.port}, TIMEOUT)

    responder = await connect(b)

    async def service(msg):
        await msg.respond(b"from-b:" + msg.data)

    await responder.subscribe("svc", cb=service)
    after = Inbox()
    await nc.subscribe("after.kill", cb=after.add)
    await reachable(responder, [nc])
    assert (await nc.request("svc", b"1", timeout=TIMEOUT)).data == b"from-b:1"

    a.srv.kill()
    await asyncio.wait_for(reconnected.wait(), TIMEOUT)
    assert nc.connected_url.port in (b.port, c.port)
    await reachable(nc, [responder])  # our subscriptions are back, on the new server
    assert (await nc.request("svc", b"2", timeout=TIMEOUT)).data == b"from-b:2"
    await responder.publish("after.kill", b"still here")
    await after.wait(1)
    assert after.msgs[0].data == b"still here"


async def test_mutual_explicit_routes_and_own_url_leave_one_route(spawn, connect):
    """Both sides dial each other and A's route list holds its own URL: one route per pair
    remains, the own URL is dropped without a retry loop."""
    a_port = free_port()
    a_self = f"nats://127.0.0.1:{a_port}"
    b = start(spawn, "zats", routes=[a_self])
    cport_b = b.cluster_port
    a = Node(spawn("zats", "--cluster", a_self, "--cluster_name", "C1", "--routes",
                   f"{a_self},nats://127.0.0.1:{cport_b}", http_port=free_port()), a_port)
    await wait_mesh([a, b])
    await eventually(lambda: "Detected route to self" in a.srv.stderr_text(), TIMEOUT)
    await eventually(lambda: a.get("/routez")["num_routes"] == 1 and b.get("/routez")["num_routes"] == 1,
                     TIMEOUT, 0.05)
    ca, cb = await connect(a), await connect(b)
    inbox = Inbox()
    await cb.subscribe("x", cb=inbox.add)
    await reachable(cb, [ca])
    await ca.publish("x", b"once")
    await inbox.wait(1)
    await reachable(cb, [ca])
    assert len(inbox.msgs) == 1
    assert a.srv.stderr_text().count("Detected route to self") == 1


@pytest.mark.parametrize("other", ["zats", "nats-server"])
async def test_route_credentials_and_gossip_with_auth(spawn, connect, other):
    """Every node requires route credentials: seeds carry them in the URL, and routes learned
    by gossip use the node's own cluster credentials."""
    a = start(spawn, "zats", auth="ru:rp@")
    b = start(spawn, other, routes=[a], auth="ru:rp@")
    c = start(spawn, "zats", routes=[a], auth="ru:rp@")
    await wait_mesh([a, b, c])
    ca, cc = await connect(a), await connect(c)
    inbox = Inbox()
    await cc.subscribe("secure", cb=inbox.add)
    await reachable(cc, [ca])
    await ca.publish("secure", b"ok")
    await inbox.wait(1)
    # A node with the wrong password is refused.
    bad = start(spawn, "zats", routes=[f"nats://ru:wrong@127.0.0.1:{a.cluster_port}"])
    await eventually(lambda: "Authorization Violation" in bad.srv.stderr_text(), TIMEOUT)
    assert bad.remote_ids() == set()


async def test_cluster_name_mismatch_and_dynamic_names(spawn):
    a = start(spawn, "nats-server", name="C1")
    wrong = start(spawn, "zats", routes=[a], name="C2")
    await eventually(lambda: "does not match" in wrong.srv.stderr_text(), TIMEOUT)
    assert wrong.remote_ids() == set()
    # Without a name, zats takes the configured name of the node it joins.
    dynamic = start(spawn, "zats", routes=[a], name=None)
    await wait_mesh([a, dynamic])
    assert dynamic.get("/varz")["cluster"]["name"] == "C1"


# -- clients ------------------------------------------------------------------------------------------


async def _read_info(reader) -> dict:
    while True:
        line = await asyncio.wait_for(reader.readline(), TIMEOUT)
        if line.startswith(b"INFO "):
            return json.loads(line[5:])


@pytest.mark.parametrize("other", ["zats", "nats-server"])
async def test_clients_told_when_servers_join_leave_and_enter_lame_duck(spawn, other):
    a = start(spawn, "zats")
    reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
    first = await _read_info(reader)
    assert first["cluster"] == "C1" and "connect_urls" not in first
    writer.write(b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPING\r\n')
    await writer.drain()
    assert (await reader.readline()) == b"PONG\r\n"
    try:
        b = start(spawn, other, routes=[a])
        joined = await _read_info(reader)
        assert set(joined["connect_urls"]) == {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}
        await wait_mesh([a, b])
        os.kill(b.srv.proc.pid, signal.SIGUSR2)  # lame duck: B's URL is withdrawn
        left = await _read_info(reader)
        assert left["connect_urls"] == [f"127.0.0.1:{a.port}"]
    finally:
        writer.close()


async def test_lame_duck_node_tells_its_clients_the_others(spawn):
    a, b = start_cluster(spawn, ["zats", "zats"])
    await wait_mesh([a, b])
    reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
    info = await _read_info(reader)
    assert set(info["connect_urls"]) == {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}
    writer.write(b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPING\r\n')
    await writer.drain()
    try:
        assert (await reader.readline()) == b"PONG\r\n"
        os.kill(a.srv.proc.pid, signal.SIGUSR2)
        ldm = await _read_info(reader)
        assert ldm["ldm"] is True and ldm["connect_urls"] == [f"127.0.0.1:{b.port}"]
    finally:
        writer.close()


# -- configuration -------------------------------------------------------------------------------------


async def test_cluster_block_in_a_configuration_file(spawn, connect, tmp_path):
    a = start(spawn, "nats-server")
    cport = free_port()
    conf = tmp_path / "zats.conf"
    conf.write_text(f"""
server_name: zconf
cluster {{
  name: C1
  listen: 127.0.0.1:{cport}
  routes: [ "nats-route://127.0.0.1:{a.cluster_port}" ]
  no_advertise: false
  connect_retries: 2
}}
""")
    z = Node(spawn("zats", "-c", str(conf), http_port=free_port()), cport)
    await wait_mesh([a, z])
    assert z.get("/varz")["cluster"]["urls"] == [f"127.0.0.1:{a.cluster_port}"]
    ca, cz = await connect(a), await connect(z)
    inbox = Inbox()
    await cz.subscribe("conf", cb=inbox.add)
    await reachable(cz, [ca])
    await ca.publish("conf", b"via-file")
    await inbox.wait(1)


# -- partitions, accounts --------------------------------------------------------------------------


class Proxy:
    """A TCP relay in front of a route port that can be cut (connections closed, new ones
    refused) and healed."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.server = None
        self.writers = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers += [writer, up_writer]

        async def pump(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def cut(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.writers = []
        await self.server.wait_closed()


async def no_interest(nc, subject: str) -> bool:
    """Whether the client's server knows of no subscriber for `subject` anywhere (a request
    is answered with no-responders rather than forwarded)."""
    try:
        await nc.request(subject, b"", timeout=TIMEOUT)
    except nats.errors.NoRespondersError:
        return True
    return False


async def test_partition_heals_without_stale_interest(spawn, connect):
    a = start(spawn, "zats")
    proxy = Proxy(a.cluster_port)
    await proxy.start()
    b = start(spawn, "zats", routes=[f"nats://127.0.0.1:{proxy.port}"])
    await wait_mesh([a, b])
    ca, cb = await connect(a), await connect(b)

    async def answer(msg):
        await msg.respond(b"here")

    old_b = await cb.subscribe("sb.old", cb=answer)
    old_a = await ca.subscribe("sa.old", cb=answer)
    await reachable(cb, [ca])
    await reachable(ca, [cb])

    await proxy.cut()
    await eventually(lambda: a.remote_ids() == set() and b.remote_ids() == set(), TIMEOUT, 0.05)
    # While apart, interest changes on both sides.
    await old_b.unsubscribe()
    await old_a.unsubscribe()
    await cb.subscribe("sb.new", cb=answer)
    await ca.subscribe("sa.new", cb=answer)
    shared = [Inbox(), Inbox()]
    await ca.subscribe("shared", cb=shared[0].add)
    await cb.subscribe("shared", cb=shared[1].add)
    await ca.flush()
    await cb.flush()

    await proxy.start()  # B redials its explicit route through the proxy
    await wait_mesh([a, b])
    await reachable(cb, [ca])
    await reachable(ca, [cb])
    assert await no_interest(ca, "sb.old") and await no_interest(cb, "sa.old")
    assert (await ca.request("sb.new", b"", timeout=TIMEOUT)).data == b"here"
    assert (await cb.request("sa.new", b"", timeout=TIMEOUT)).data == b"here"
    await ca.publish("shared", b"1")
    await cb.publish("shared", b"2")
    await shared[0].wait(2)
    await shared[1].wait(2)
    await reachable(ca, [cb])
    await reachable(cb, [ca])
    assert sorted(m.data for m in shared[0].msgs) == sorted(m.data for m in shared[1].msgs) == [b"1", b"2"]


ACCOUNTS = """
accounts {
  A { users [ {user: a, password: a} ] }
  B { users [ {user: b, password: b} ] }
}
"""


async def test_accounts_across_zats_and_a_compressing_nats_server(spawn, connect, tmp_path):
    """Interest and messages keep to their account across routes; a nats-server configured to
    compress routes still talks to zats, uncompressed."""
    n_cluster = free_port()
    n_conf = tmp_path / "n.conf"
    n_conf.write_text(ACCOUNTS + f"cluster {{ name: C1, listen: 127.0.0.1:{n_cluster}, "
                                 "compression: s2_fast }\n")
    n = Node(spawn("nats-server", "-c", str(n_conf), http_port=free_port()), n_cluster)
    z_cluster = free_port()
    z_conf = tmp_path / "z.conf"
    z_conf.write_text(ACCOUNTS + f"cluster {{ name: C1, listen: 127.0.0.1:{z_cluster}, "
                                 f"routes: [nats://127.0.0.1:{n_cluster}] }}\n")
    z = Node(spawn("zats", "-c", str(z_conf), http_port=free_port()), z_cluster)
    await wait_mesh([n, z])
    za = await connect(f"nats://a:a@127.0.0.1:{z.port}")
    zb = await connect(f"nats://b:b@127.0.0.1:{z.port}")
    na = await connect(f"nats://a:a@127.0.0.1:{n.port}")
    nb = await connect(f"nats://b:b@127.0.0.1:{n.port}")

    async def answer_a(msg):
        await msg.respond(b"account A on zats")

    async def answer_b(msg):
        await msg.respond(b"account B on nats-server")

    await za.subscribe("svc", cb=answer_a)
    await nb.subscribe("svc", cb=answer_b)
    await reachable(za, [na])
    await reachable(nb, [zb])
    assert (await na.request("svc", b"", timeout=TIMEOUT)).data == b"account A on zats"
    assert (await zb.request("svc", b"", timeout=TIMEOUT)).data == b"account B on nats-server"
    assert await no_interest(za, "svc.none")
    z_route = z.get("/routez")["routes"][0]
    assert z_route["compression"] == "off" and z_route["in_msgs"] >= 2


# -- client_advertise --------------------------------------------------------------------------------


async def _info_of(node) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    try:
        return await _read_info(reader)
    finally:
        writer.close()


def _connect_urls(node) -> set[str]:
    return set(node.get("/varz").get("connect_urls") or ())


@pytest.mark.parametrize("advertiser, other", [
    ("zats", "zats"), ("zats", "nats-server"), ("nats-server", "zats")])
async def test_client_advertise_is_what_clients_are_told(spawn, advertiser, other):
    """INFO host/port and the connect_urls of every node carry the advertised address."""
    a = start(spawn, advertiser, extra=("--client_advertise", "adv.example.com:5555"))
    info = await _info_of(a)
    assert (info["host"], info["port"]) == ("adv.example.com", 5555)
    b = start(spawn, other, routes=[a])
    await wait_mesh([a, b])
    expected = {"adv.example.com:5555", f"127.0.0.1:{b.port}"}
    await eventually(lambda: _connect_urls(a) == expected and _connect_urls(b) == expected, TIMEOUT)
    assert set((await _info_of(b))["connect_urls"]) == expected


async def _connect_urls_told(node) -> set[str]:
    return set((await _info_of(node)).get("connect_urls") or ())


async def test_client_advertise_reload_reaches_clients_of_other_nodes(spawn, tmp_path):
    """A reload that changes client_advertise changes what the node's clients and the other
    nodes' clients (a running one by an async INFO) are told. nats-server 2.15.1 changes only
    its INFO host/port and keeps the old address in connect_urls; zats does not copy that."""
    conf = tmp_path / "a.conf"
    conf.write_text('client_advertise: "one.example.com:1111"\n')
    a = start(spawn, "zats", extra=("-c", str(conf)))
    b = start(spawn, "zats", routes=[a])
    await wait_mesh([a, b])
    await eventually(lambda: "one.example.com:1111" in _connect_urls(b), TIMEOUT)
    reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
    try:
        assert "one.example.com:1111" in (await _read_info(reader))["connect_urls"]
        writer.write(b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPING\r\n')
        await writer.drain()
        assert (await reader.readline()) == b"PONG\r\n"
        conf.write_text('client_advertise: "two.example.com:2222"\n')
        os.kill(a.srv.proc.pid, signal.SIGHUP)
        updated = await _read_info(reader)
        assert set(updated["connect_urls"]) == {"two.example.com:2222", f"127.0.0.1:{b.port}"}
    finally:
        writer.close()
    info = await _info_of(a)
    assert (info["host"], info["port"]) == ("two.example.com", 2222)
    assert set(info["connect_urls"]) == {"two.example.com:2222", f"127.0.0.1:{b.port}"}


@pytest.mark.parametrize("advertiser, other", [
    ("zats", "zats"), ("nats-server", "zats"), ("nats-server", "nats-server")])
async def test_after_a_client_advertise_reload_a_zats_node_follows_the_route_info(
        spawn, connect, tmp_path, advertiser, other):
    """Whatever the reloaded node announces (zats: the new address; nats-server: still the old
    one), a zats node routed to it tells its clients the same as that node's own clients are
    told; two nats-servers show the reference behaviour."""
    conf = tmp_path / "a.conf"
    conf.write_text('client_advertise: "one.example.com:1111"\n')
    a = start(spawn, advertiser, extra=("-c", str(conf)))
    b = start(spawn, other, routes=[a])
    await wait_mesh([a, b])
    await eventually(lambda: "one.example.com:1111" in _connect_urls(b), TIMEOUT)
    conf.write_text('client_advertise: "two.example.com:2222"\n')
    os.kill(a.srv.proc.pid, signal.SIGHUP)
    for _ in range(500):  # both kinds change their INFO host at once on reload
        if (await _info_of(a))["host"] == "two.example.com":
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("reload not applied")
    # A's route INFO after the reload went out before the interest of a new subscription on A:
    # once B routes a request to it, B has read that INFO.
    ca, cb = await connect(a), await connect(b)
    await reachable(ca, [cb])
    told = await _connect_urls_told(a)
    assert await _connect_urls_told(b) == told == _connect_urls(b)
    assert ("two.example.com:2222" in told) == (advertiser == "zats")
