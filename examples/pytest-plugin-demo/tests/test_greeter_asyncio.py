"""pytest-asyncio tests against a fresh in-process server per test (`nats_url`)."""

import nats
import pytest
from nats.errors import NoRespondersError

from greeter import greet, serve


@pytest.mark.asyncio
async def test_greets_in_english_and_french(nats_url):
    nc = await nats.connect(nats_url)
    await serve(nc)
    assert await greet(nc, "joe") == "hello, joe"
    assert await greet(nc, "zoé", lang="fr") == "bonjour, zoé"
    await nc.close()


@pytest.mark.asyncio
async def test_replies_carry_the_instance_header(nats_url):
    nc = await nats.connect(nats_url)
    await serve(nc, instance="blue")
    reply = await nc.request("greet.en", b"ann", timeout=2)
    assert reply.headers == {"Served-By": "blue"}
    await nc.close()


@pytest.mark.asyncio
async def test_no_greeter_means_no_responders(nats_url):
    nc = await nats.connect(nats_url)
    with pytest.raises(NoRespondersError):
        await greet(nc, "nobody")
    await nc.close()


@pytest.mark.asyncio
async def test_each_test_gets_its_own_server(nats_server):
    # Nothing from the other tests is here: no subscriptions, one connection (ours).
    nc = await nats.connect(nats_server.url)
    with pytest.raises(NoRespondersError):
        await greet(nc, "anyone")
    assert nats_server.num_connections == 1
    await nc.close()


@pytest.mark.asyncio(loop_scope="session")
async def test_session_server_on_the_session_loop(nats_server_session):
    nc = await nats.connect(nats_server_session.url)
    await serve(nc)
    assert await greet(nc, "session") == "hello, session"
    await nc.close()
