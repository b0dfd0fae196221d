"""The route protocol on the wire, against each server kind: a fake route peer (a raw socket
speaking the protocol of docs/routes-and-leafnodes.md) dials the server's cluster port and
checks what zats does against what the real nats-server does: INFO first on accept, CONNECT
required first, the rejections, interest collapsing and queue weights (RS+/RS-), the RMSG/HMSG
forms with queue lists and replies in both directions, and one-hop delivery of routed messages."""

from __future__ import annotations

import json
import re

import pytest

from support.peers import ROUTE_PEER_ID as PEER_ID
from support.peers import RoutePeer, cluster_flags, fresh_id
from support.peers import route_handshake as handshake
from support.servers import free_port
from support.wire import Wire

pytestmark = pytest.mark.timeout(30)



@pytest.fixture
def node(kind, spawn):
    cport = free_port()
    srv = spawn(kind, *cluster_flags(cport))
    srv.cluster_port = cport
    return srv


def test_route_protocol_both_ways(node, kind):
    with RoutePeer("127.0.0.1", node.cluster_port) as peer, Wire("127.0.0.1", node.port) as client:
        info = handshake(peer)
        assert info["cluster"] == "C1" and info["port"] == node.cluster_port
        assert info["headers"] is True and info["connect_urls"] == [f"127.0.0.1:{node.port}"]
        client.connect(b'{"verbose":false,"pedantic":false,"headers":true}')

        # Two local subscriptions on one subject: one RS+; queue weights on every change.
        client.send(b"SUB bar 1\r\nSUB bar 2\r\nSUB q1 grpA 3\r\nSUB q1 grpA 4\r\nUNSUB 4\r\n")
        peer.expect_op(rb"RS\+ \$G bar")
        peer.expect_op(rb"RS\+ \$G q1 grpA 1")
        peer.expect_op(rb"RS\+ \$G q1 grpA 2")
        peer.expect_op(rb"RS\+ \$G q1 grpA 1")

        # Routed messages reach every local plain subscriber, headers and reply kept.
        peer.send(b"RMSG $G bar reply.1 3\r\nabc\r\n")
        got = {client.expect(rb"MSG bar (\d) reply\.1 3\r\nabc\r\n").group(1) for _ in range(2)}
        assert got == {b"1", b"2"}
        peer.send(b"HMSG $G bar 12 15\r\nNATS/1.0\r\n\r\nxyz\r\n")
        for _ in range(2):
            client.expect(rb"HMSG bar \d 12 15\r\nNATS/1\.0\r\n\r\nxyz\r\n")
        # A queue member only for the groups the message names; none without a list.
        peer.send(b"RMSG $G q1 1\r\nn\r\nRMSG $G q1 | grpA 1\r\ny\r\nRMSG $G q1 + r.2 grpA 1\r\nz\r\n")
        client.expect(rb"MSG q1 3 1\r\ny\r\n")
        client.expect(rb"MSG q1 3 r\.2 1\r\nz\r\n")

        # Client messages to the peer's interest: one RMSG per message, queue groups listed.
        peer.send(b"RS+ $G foo\r\nRS+ $G foo.* \r\nRS+ $G qq grpB 1\r\nRS+ $G qq grpB 3\r\n")
        peer.barrier()
        client.send(b"PUB foo 2\r\nhi\r\nPUB foo r 2\r\nhi\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
        assert peer.expect_op(rb"RMSG \$G foo 2")[1] == b"hi"
        assert peer.expect_op(rb"RMSG \$G foo r 2")[1] == b"hi"
        assert peer.expect_op(rb"HMSG \$G foo 12 14")[1] == b"NATS/1.0\r\n\r\nhi"
        # A run of identical PUB lines (delivered in one call by zats): one RMSG each.
        client.send(b"PUB foo 2\r\nm1\r\nPUB foo 2\r\nm2\r\nPUB foo 2\r\nm3\r\n")
        for i in (1, 2, 3):
            assert peer.expect_op(rb"RMSG \$G foo 2")[1] == b"m%d" % i
        client.send(b"PUB qq 1\r\nx\r\nPUB qq rr 1\r\ny\r\n")
        peer.expect_op(rb"RMSG \$G qq \| grpB 1")
        peer.expect_op(rb"RMSG \$G qq \+ rr grpB 1")

        # A routed message is never sent back over a route (one hop): the peer's own interest
        # in bar does not bring its RMSG back.
        peer.send(b"RS+ $G bar\r\nRMSG $G bar 1\r\nm\r\n")
        client.expect(rb"MSG bar \d 1\r\nm\r\n")
        client.expect(rb"MSG bar \d 1\r\nm\r\n")
        client.send(b"PUB foo 4\r\nlast\r\n")
        assert peer.expect_op(rb"RMSG \$G foo 4")[1] == b"last"

        # The last local subscription gone: RS-.
        client.send(b"UNSUB 1\r\nUNSUB 2\r\nUNSUB 3\r\n")
        peer.expect_op(rb"RS- \$G bar")
        peer.expect_op(rb"RS- \$G q1 grpA")


def test_accepting_side_sends_info_first_and_wants_connect(node):
    with RoutePeer("127.0.0.1", node.cluster_port) as peer:
        peer.read_info()  # before we send anything
        peer.send(b"PING\r\n")
        peer.expect(rb"-ERR 'Authorization Violation'\r\n")
        peer.expect_closed()


@pytest.mark.parametrize("connect, error", [
    ({"lang": "python", "cluster": "C1"}, "attempted to connect to route port"),
    ({"cluster": "OTHER"}, 'Rejecting connection, cluster name "OTHER" does not match "C1"'),
])
def test_route_connect_rejections(node, connect, error):
    with RoutePeer("127.0.0.1", node.cluster_port) as peer:
        peer.read_info()
        peer.send(b"CONNECT " + json.dumps({"name": PEER_ID, **connect}).encode() + b"\r\n")
        peer.expect(re.escape(f"-ERR '{error}'\r\n".encode()))
        peer.expect_closed()


@pytest.mark.parametrize("user, password, accepted", [("ru", "rp", True), ("ru", "bad", False),
                                                      ("", "", False)])
def test_route_credentials(kind, spawn, user, password, accepted):
    cport = free_port()
    srv = spawn(kind, *cluster_flags(cport, auth="ru:rp@"))
    with RoutePeer("127.0.0.1", cport) as peer:
        info = json.loads(peer.read_info()[5:])
        assert info.get("auth_required") is True
        if accepted:
            handshake(peer, user=user, password=password, info=info)
            with Wire("127.0.0.1", srv.port) as client:
                client.connect()
                client.send(b"SUB authed 1\r\nPING\r\n")
                client.expect(rb"PONG\r\n")
                peer.expect_op(rb"RS\+ \$G authed")
        else:
            connect = {"name": PEER_ID, "cluster": "C1", "headers": True}
            if user:
                connect.update(user=user, **{"pass": password})
            peer.send(b"CONNECT " + json.dumps(connect).encode() + b"\r\n")
            peer.expect(rb"-ERR 'Authorization Violation'\r\n")
            peer.expect_closed()


def test_route_to_a_peer_with_the_same_server_name_is_closed(kind, spawn):
    cport = free_port()
    srv = spawn(kind, *cluster_flags(cport), "-n", "peer")
    with RoutePeer("127.0.0.1", cport) as peer:
        peer.read_info()
        peer.send(b'CONNECT {"name":"' + PEER_ID.encode() + b'","cluster":"C1"}\r\n'
                  b'INFO {"server_id":"' + PEER_ID.encode() + b'","server_name":"peer",'
                  b'"port":1,"cluster":"C1"}\r\n')
        peer.expect_closed()
    assert srv.proc.poll() is None


def _subscriber(srv, subs: bytes = b"SUB foo 1\r\n") -> Wire:
    client = Wire("127.0.0.1", srv.port)
    client.connect()
    client.send(subs + b"PING\r\n")
    client.expect(rb"PONG\r\n")
    return client


def test_wrong_cluster_name_rejects_before_a_message_in_the_same_packet(kind, spawn):
    cport = free_port()
    srv = spawn(kind, *cluster_flags(cport, auth="ru:rp@"))
    with _subscriber(srv) as client, RoutePeer("127.0.0.1", cport) as peer:
        peer.read_info()
        connect = {"name": PEER_ID, "cluster": "OTHER", "headers": True, "user": "ru",
                   "pass": "rp"}
        peer.send(b"CONNECT " + json.dumps(connect).encode() + b"\r\nRMSG $G foo 2\r\nhi\r\n")
        peer.expect(rb"-ERR 'Rejecting connection, cluster name \"OTHER\" does not match \"C1\"'\r\n")
        peer.expect_closed()
        client.send(b"PING\r\n")
        client.expect(rb"PONG\r\n")
        client.expect_nothing()


def test_invalid_interest_subject_gets_invalid_subscription_and_stays(node, kind):
    with RoutePeer("127.0.0.1", node.cluster_port) as peer:
        handshake(peer)
        peer.send(b"RS+ $G foo..bar\r\nRS+ $G foo. q 1\r\n")
        peer.expect_op(rb"-ERR 'Invalid Subscription'")
        peer.expect_op(rb"-ERR 'Invalid Subscription'")
        peer.barrier()


def test_client_ops_on_a_route_are_ignored(node, kind):
    # nats-server reads a PUB past its payload and drops it (no account), and drops a SUB.
    with _subscriber(node) as client, RoutePeer("127.0.0.1", node.cluster_port) as peer:
        handshake(peer)
        peer.send(b"PUB foo 2\r\nhi\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nSUB bar 1\r\n"
                  b"RMSG $G foo 3\r\nyes\r\n")
        peer.barrier()
        client.expect(rb"MSG foo 1 3\r\nyes\r\n")
        client.expect_nothing()


def test_routed_message_over_max_payload_is_delivered(node, kind):
    # Routes have no payload limit in nats-server: the message is read as its bytes arrive.
    size = 1048576 + 10
    with _subscriber(node) as client, RoutePeer("127.0.0.1", node.cluster_port) as peer:
        handshake(peer)
        peer.send(b"RMSG $G foo %d\r\n" % size)
        for _ in range(size // 65536):
            peer.send(b"x" * 65536)
        peer.send(b"x" * (size % 65536) + b"\r\n")
        peer.barrier()
        client.expect(rb"MSG foo 1 %d\r\n" % size, timeout=10)


def test_many_weighted_queue_groups_are_cheap(node, kind):
    # 2,000 groups of weight 1,000: one entry each, not a thousand (which took seconds).
    with RoutePeer("127.0.0.1", node.cluster_port) as peer:
        handshake(peer)
        peer.send(b"".join(b"RS+ $G q.x g%d 1000\r\n" % i for i in range(2000)))
        peer.barrier()
    with Wire("127.0.0.1", node.port) as client:
        client.connect()


def test_routed_message_naming_a_group_with_no_local_member(node, kind):
    # The group's only member is the route's own: no local member gets it, and the route stays.
    # (nats-server then sends it back over the route to that member; zats does not.)
    with RoutePeer("127.0.0.1", node.cluster_port) as peer, \
            _subscriber(node, b"SUB q.x other 1\r\nSUB q.x 2\r\n") as client:
        handshake(peer)
        peer.send(b"RS+ $G q.x g 1\r\nRMSG $G q.x | g 1\r\nm\r\nRMSG $G q.x | g other 1\r\nn\r\n")
        peer.barrier()
        client.expect(rb"MSG q.x 2 1\r\nm\r\n")
        client.expect(rb"MSG q.x ([12]) 1\r\nn\r\nMSG q.x ([12]) 1\r\nn\r\n")
        peer.barrier()
        client.send(b"PING\r\n")
        client.expect(rb"PONG\r\n")


def _queue_split(srv, peer, weight: bytes, n: int = 200) -> int:
    """How many of `n` messages published on q.x go to the route (queue group g, weight
    `weight`) rather than to a local member of g."""
    with _subscriber(srv, b"SUB q.x g 1\r\n") as client:
        peer.expect_op(rb"RS\+ \$G q.x g 1")
        peer.send(b"RS+ $G q.x g " + weight + b"\r\n")
        peer.barrier()
        client.send(b"PUB q.x 1\r\nm\r\n" * n + b"PING\r\n")
        local = 0
        while True:
            m = client.expect(rb"MSG q.x 1 1\r\nm\r\n|PONG\r\n")
            if m.group(0) == b"PONG\r\n":
                break
            local += 1
        routed = 0
        while routed + local < n:
            peer.expect_op(rb"RMSG \$G q.x \| g 1")
            routed += 1
        return routed


@pytest.mark.parametrize("weight, lo, hi", [(b"9", 150, 199), (b"1", 60, 140), (b"0", 0, 0),
                                            (b"abc", 0, 0), (b"-3", 0, 0)])
def test_queue_pick_weights_the_route(node, kind, weight, lo, hi):
    with RoutePeer("127.0.0.1", node.cluster_port) as peer:
        handshake(peer)
        assert lo <= _queue_split(node, peer, weight) <= hi


def test_connect_urls_list_the_interfaces_when_bound_to_all(kind, spawn):
    # Not the host name's addresses (127.0.1.1 on Debian-like hosts): every interface's global
    # unicast ones, IPv4 then IPv6, as nats-server lists them.
    from zats.broker.interfaces import local_ips

    cport = free_port()
    srv = spawn(kind, "-a", "0.0.0.0", *cluster_flags(cport))
    with RoutePeer("127.0.0.1", cport) as peer:
        urls = json.loads(peer.read_info()[5:]).get("connect_urls", [])
    expected = [f"[{ip}]:{srv.port}" if ":" in ip else f"{ip}:{srv.port}" for ip in local_ips()]
    assert urls == expected
    assert not any(url.startswith(("127.", "[::1]")) for url in urls)


def test_err_from_a_route_closes_it_after_the_rest_of_the_read(node, kind):
    # Found by differential fuzzing: the messages after the -ERR in the same read are still
    # delivered; interest and PINGs are not taken; then the route closes without a word.
    with _subscriber(node) as client, RoutePeer("127.0.0.1", node.cluster_port) as peer:
        handshake(peer)
        peer.send(b"-ERR 'x'\r\nRS+ $G bar\r\nPING\r\nRMSG $G foo 2\r\nhi\r\n")
        assert b"PONG" not in peer.expect_closed()
        client.expect(rb"MSG foo 1 2\r\nhi\r\n")


@pytest.mark.parametrize("line, answer", [
    (b"RS+\r\n", b"-ERR 'Unknown Protocol Operation'\r\n"),
    (b"RMSG\r\n", b"-ERR 'Unknown Protocol Operation'\r\n"),
    (b"RS-\r\n", b"-ERR 'Unknown Protocol Operation'\r\n"),
    (b"CONNECT\r\n", b""), (b"INFO\r\n", b""),
    (b"CONNECT {}\r\n", b"-ERR 'Rejecting connection, cluster name \"\" does not match \"C1\"'\r\n"),
])
def test_ops_without_arguments_after_the_handshake(node, kind, line, answer):
    # Found by differential fuzzing: nats-server's parser wants a blank after such an op, and
    # checks a later CONNECT's cluster name again.
    with RoutePeer("127.0.0.1", node.cluster_port) as peer:
        handshake(peer, peer_id=fresh_id())
        peer.send(line + b"PING\r\n")
        got = peer.expect_closed()
        assert b"".join(x + b"\r\n" for x in got.split(b"\r\n")
                        if x.startswith(b"-ERR") or x == b"PONG") == answer


def test_invalid_subject_in_system_account_interest(node, kind):
    # Found by differential fuzzing: nats-server always has $SYS, so it checks the subject;
    # an account it does not have is ignored before that.
    with RoutePeer("127.0.0.1", node.cluster_port) as peer:
        handshake(peer)
        peer.send(b"RS+ NOPE a..b\r\nRS+ $SYS a..b\r\n")
        peer.expect_op(rb"-ERR 'Invalid Subscription'")
        peer.barrier()


@pytest.mark.parametrize("end", [b"", b"\r\nPING\r\n"])
def test_control_line_limit_is_sixteen_times_the_clients(node, kind, end):
    # nats-server allows route and leaf control lines 16 x max_control_line (64 KiB), whether
    # the line has ended or not; zats allowed a megabyte.
    with RoutePeer("127.0.0.1", node.cluster_port) as peer:
        handshake(peer, peer_id=fresh_id())
        peer.send(b"RS+ $G " + b"a" * 60000 + b"\r\n")
        peer.barrier()  # 60 KB: taken
        peer.send(b"RS+ $G " + b"a" * 70000 + end)
        got = peer.expect_closed()
        assert got.endswith(b"-ERR 'maximum control line exceeded'\r\n"), got[-200:]


def test_after_its_err_a_route_hears_nothing(node, kind):
    # Found by differential fuzzing: a parse error in the rest of the read that carried the
    # peer's -ERR gets no -ERR back; the route just closes.
    with RoutePeer("127.0.0.1", node.cluster_port) as peer:
        handshake(peer, peer_id=fresh_id())
        peer.send(b"-ERR 'x'\r\nCONNECT {}\r\n PING\r\n")
        assert b"-ERR" not in peer.expect_closed()
