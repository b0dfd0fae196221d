"""Servers with options: credentials, TLS with our own certificates, a cluster."""

import asyncio
import ssl

import nats
import pytest
import trustme

from greeter import greet, serve


@pytest.mark.asyncio
async def test_token_protected_server(nats_server_factory):
    server = nats_server_factory(token="s3cret")
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(server.url, allow_reconnect=False)
    nc = await nats.connect(server.url, token="s3cret")
    await serve(nc)
    assert await greet(nc, "insider") == "hello, insider"
    await nc.close()


@pytest.mark.asyncio
async def test_users_and_permissions(nats_server_factory):
    server = nats_server_factory(users=[
        {"user": "service", "password": "pw1"},
        {"user": "guest", "password": "pw2",
         "permissions": {"publish": {"allow": ["greet.en", "_INBOX.>"]}}},
    ])
    service = await nats.connect(server.url, user="service", password="pw1")
    await serve(service)
    guest = await nats.connect(server.url, user="guest", password="pw2")
    assert await greet(guest, "guest") == "hello, guest"
    with pytest.raises(nats.errors.TimeoutError):  # greet.fr is not the guest's to publish
        await greet(guest, "guest", lang="fr", timeout=0.5)
    await guest.close()
    await service.close()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory):
    """A CA and a server certificate for 127.0.0.1, as files, and a client context."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    d = tmp_path_factory.mktemp("certs")
    cert.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    cert.private_key_pem.write_to_path(str(d / "server.key"))
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return str(d / "server.pem"), str(d / "server.key"), ctx


@pytest.mark.asyncio
async def test_tls_server(nats_server_factory, certificates):
    cert, key, ctx = certificates
    server = nats_server_factory(tls_cert=cert, tls_key=key)
    nc = await nats.connect(server.url, tls=ctx)
    await serve(nc)
    assert await greet(nc, "secure") == "hello, secure"
    await nc.close()


@pytest.mark.asyncio
async def test_greeter_reached_through_another_node_of_a_cluster(nats_server_factory):
    cluster = nats_server_factory.cluster(3)
    greeter = await nats.connect(cluster.urls[0])
    await serve(greeter, instance="node-0")
    client = await nats.connect(cluster.urls[2])
    for _ in range(100):  # the greeter's subscription reaches node 2 over the routes
        try:
            reply = await client.request("greet.en", b"far away", timeout=2)
            break
        except nats.errors.NoRespondersError:
            await asyncio.sleep(0.01)
    assert reply.data == b"hello, far away"
    assert reply.headers == {"Served-By": "node-0"}
    await client.close()
    await greeter.close()
