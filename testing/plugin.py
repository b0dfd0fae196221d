"""The pytest plugin (entry point `pytest11`, registered by installing zats): fixtures that give
a test an in-process zats broker, with no binary and no network beyond loopback.

- `nats_server`: a broker for one test (`nats_server_session`: one for the whole session).
- `nats_url`: the URL of `nats_server`.
- `nats_server_factory`: `nats_server_factory(token="s3cret")`, `(users=[...])`,
  `(tls_cert=..., tls_key=...)`, `(jetstream=True)`, or any `ServerOptions` field; and
  `nats_server_factory.cluster(3)`; everything it started is stopped after the test
  (`nats_server_factory_session`: after the session).

The fixtures are plain (sync) fixtures and the brokers run on a loop of their own in a background
thread (see `zats.testing.loop`), so they serve sync tests, pytest-asyncio and anyio tests alike,
on any loop scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .servers import NatsServer, ServerFactory, start_server


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """An in-process zats broker on a free loopback port, for one test."""
    with start_server() as server:
        yield server


@pytest.fixture(scope="session")
def nats_server_session() -> Iterator[NatsServer]:
    """An in-process zats broker shared by every test of the session."""
    with start_server() as server:
        yield server


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    """The client URL of `nats_server` ("nats://127.0.0.1:PORT")."""
    return nats_server.url


@pytest.fixture
def nats_server_factory() -> Iterator[ServerFactory]:
    """Starts brokers and clusters with custom options; stops them after the test."""
    factory = ServerFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def nats_server_factory_session() -> Iterator[ServerFactory]:
    """`nats_server_factory` for session-scoped fixtures of your own."""
    factory = ServerFactory()
    try:
        yield factory
    finally:
        factory.close()
