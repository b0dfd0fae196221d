"""zats.testing and its pytest plugin (registered by installing zats, entry point `pytest11`):
the fixtures serve sync tests, pytest-asyncio and anyio tests, in function and session scope;
the factory's options (auth, TLS, JetStream, clusters) reach the broker; servers stop when their
fixture ends. Clients here are nats-py and raw sockets, as a user's tests would be.
(The sample project in examples/ is run by tests/test_example_project.py.)"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl

import nats
import pytest

from support.natspy import barrier
from zats.testing import NatsServer, ServerFactory, server_options, start_cluster, start_server
from zats.testing.plugin import nats_server as plugin_nats_server

trustme = pytest.importorskip("trustme")

pytestmark = pytest.mark.timeout(60)


def _raw_roundtrip(port: int) -> bytes:
    """SUB, PUB and PING over a plain socket: what the server sent back after the INFO."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"INFO ")
        s.sendall(b'CONNECT {"verbose":false}\r\nSUB t 1\r\nPUB t 2\r\nhi\r\nPING\r\n')
        return f.readline() + f.readline() + f.readline()


def test_the_plugin_is_registered_by_the_entry_point(request):
    plugin = request.config.pluginmanager.get_plugin("zats")
    assert plugin is not None and plugin.nats_server is plugin_nats_server


def test_sync_test_uses_nats_server(nats_server):
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    assert _raw_roundtrip(nats_server.port) == b"MSG t 1 2\r\nhi\r\nPONG\r\n"


async def test_pytest_asyncio_test_uses_nats_url(nats_url):
    nc = await nats.connect(nats_url)
    sub = await nc.subscribe("greet.*")
    await nc.publish("greet.joe", b"hello")
    msg = await sub.next_msg(timeout=2)
    assert (msg.subject, msg.data) == ("greet.joe", b"hello")
    await nc.close()


@pytest.fixture
def anyio_backend():
    return "asyncio"  # nats-py is asyncio's


@pytest.mark.anyio
async def test_anyio_test_uses_nats_url(nats_url):
    async def pong(msg):
        await msg.respond(b"pong")

    nc = await nats.connect(nats_url)
    nc_sub = await nc.subscribe("svc", cb=pong)
    reply = await nc.request("svc", b"ping", timeout=2)
    assert reply.data == b"pong"
    await nc_sub.unsubscribe()
    await nc.close()


# The session-scoped server, from a sync test, a pytest-asyncio test on the function's loop and
# on the session's loop, and an anyio test: one broker, on its own loop, serves all of them.
_SESSION_PORTS: set[int] = set()


def test_session_server_from_a_sync_test(nats_server_session):
    _SESSION_PORTS.add(nats_server_session.port)
    assert _raw_roundtrip(nats_server_session.port) == b"MSG t 1 2\r\nhi\r\nPONG\r\n"


async def test_session_server_from_an_asyncio_test(nats_server_session):
    _SESSION_PORTS.add(nats_server_session.port)
    nc = await nats.connect(nats_server_session.url)
    await nc.flush()
    await nc.close()


@pytest.mark.asyncio(loop_scope="session")
async def test_session_server_from_a_session_loop_test(nats_server_session):
    _SESSION_PORTS.add(nats_server_session.port)
    nc = await nats.connect(nats_server_session.url)
    await nc.flush()
    await nc.close()


@pytest.mark.anyio
async def test_session_server_from_an_anyio_test(nats_server_session):
    _SESSION_PORTS.add(nats_server_session.port)
    nc = await nats.connect(nats_server_session.url)
    await nc.flush()
    await nc.close()
    assert len(_SESSION_PORTS) == 1


async def test_factory_token_auth(nats_server_factory):
    server = nats_server_factory(token="s3cret")
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0)
    nc = await nats.connect(server.url, token="s3cret")
    await nc.flush()
    await nc.close()


async def test_factory_users_with_permissions(nats_server_factory):
    server = nats_server_factory(users=[
        {"user": "admin", "password": "a"},
        {"user": "reader", "password": "r", "permissions": {"publish": {"deny": ["orders.>"]}}},
    ])
    errors = []

    async def on_error(exc):
        errors.append(exc)

    admin = await nats.connect(server.url, user="admin", password="a")
    reader = await nats.connect(server.url, user="reader", password="r", error_cb=on_error)
    sub = await admin.subscribe("orders.>")
    await barrier(admin)
    await reader.publish("orders.1", b"denied")
    await reader.flush()
    await admin.publish("orders.2", b"allowed")
    msg = await sub.next_msg(timeout=2)
    assert msg.data == b"allowed"  # the reader's message, flushed before, was not delivered
    for _ in range(200):
        if errors:
            break
        await asyncio.sleep(0.01)
    assert any("permissions violation" in str(e).lower() for e in errors)
    await reader.close()
    await admin.close()


async def test_factory_tls_with_the_callers_certificates(nats_server_factory, tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    server = nats_server_factory(tls_cert=str(cert_file), tls_key=str(key_file))
    assert server.url.startswith("tls://127.0.0.1:")
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    nc = await nats.connect(server.url, tls=ctx)
    sub = await nc.subscribe("x")
    await nc.publish("x", b"over tls")
    assert (await sub.next_msg(timeout=2)).data == b"over tls"
    await nc.close()


async def test_factory_jetstream_runs_on_a_temporary_store(nats_server_factory):
    # jetstream=True passes JetStream and a new store directory through the broker's own
    # options; a file stream lives there, and the directory goes when the server stops.
    server = nats_server_factory(jetstream=True)
    store = server.store_dir
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await js.add_stream(name="ORDERS", subjects=["orders.*"])
    ack = await js.publish("orders.1", b"one")
    assert (ack.stream, ack.seq) == ("ORDERS", 1)
    msg = await js.get_msg("ORDERS", 1)
    assert msg.data == b"one"
    await nc.close()
    assert os.path.isdir(os.path.join(store, "jetstream"))
    server.stop()
    assert not os.path.exists(store)
    with pytest.raises(ValueError, match="store_dir without jetstream"):
        server_options(store_dir="/tmp/x")


def test_option_mistakes_are_refused():
    with pytest.raises(ValueError, match="both tls_cert and tls_key"):
        server_options(tls_cert="c.pem")
    with pytest.raises(ValueError, match="password without user"):
        server_options(password="p")
    with pytest.raises(TypeError):
        server_options(no_such_option=1)
    assert server_options(max_payload=1024).max_payload == 1024


async def test_factory_cluster_routes_messages_between_nodes(nats_server_factory):
    cluster = nats_server_factory.cluster(3)
    assert len(cluster) == 3 and len(set(cluster.urls)) == 3
    assert all(len(s.call(lambda s=s: s.broker.cluster.routes)) == 2 for s in cluster.servers)
    sub_nc = await nats.connect(cluster[0].url)
    pub_nc = await nats.connect(cluster[2].url)
    sub = await sub_nc.subscribe("across")
    await sub_nc.flush()
    for _ in range(100):  # interest reaches the other nodes over the routes
        if cluster[2].call(lambda: cluster[2].broker.cluster.interest):
            break
        await asyncio.sleep(0.01)
    await pub_nc.publish("across", b"via routes")
    assert (await sub.next_msg(timeout=2)).data == b"via routes"
    await pub_nc.close()
    await sub_nc.close()


def test_stop_closes_the_port_and_factory_close_stops_everything():
    factory = ServerFactory()
    server = factory()
    cluster = factory.cluster(2)
    ports = [server.port, *(s.port for s in cluster.servers)]
    factory.close()
    assert server.stopped and all(s.stopped for s in cluster.servers)
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    server.stop()  # again: nothing to do


def test_start_server_outside_pytest_and_broker_state_through_call():
    with start_server() as server:
        assert isinstance(server, NatsServer)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.makefile("rb").readline()
            s.sendall(b"CONNECT {}\r\nPING\r\n")
            s.recv(64)
            assert server.num_connections == 1
    assert server.stopped


def test_start_cluster_of_one_is_a_plain_clustered_node():
    with start_cluster(1) as cluster:
        assert cluster[0].cluster_url is not None
        assert _raw_roundtrip(cluster[0].port) == b"MSG t 1 2\r\nhi\r\nPONG\r\n"
