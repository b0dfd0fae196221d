"""The same fixtures under anyio's pytest plugin."""

import nats
import pytest

from greeter import greet, serve


@pytest.mark.anyio
async def test_greets_under_anyio(nats_url):
    nc = await nats.connect(nats_url)
    await serve(nc)
    assert await greet(nc, "anyio") == "hello, anyio"
    await nc.close()


@pytest.mark.anyio
async def test_session_server_under_anyio(nats_server_session):
    nc = await nats.connect(nats_server_session.url)
    await serve(nc, instance="anyio")
    reply = await nc.request("greet.fr", b"anyio", timeout=2)
    assert reply.data == b"bonjour, anyio"
    await nc.close()
