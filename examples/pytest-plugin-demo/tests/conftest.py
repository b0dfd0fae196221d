"""No fixture for the NATS server here: installing zats registers its pytest plugin, which
provides `nats_server`, `nats_url`, `nats_server_session` and `nats_server_factory`."""

import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"  # nats-py runs on asyncio
