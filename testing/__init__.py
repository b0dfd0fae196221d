"""zats.testing: in-process zats brokers for tests, and the pytest plugin that installing zats
registers (fixtures `nats_server`, `nats_server_session`, `nats_url`, `nats_server_factory`,
`nats_server_factory_session`; see `zats.testing.plugin`).

Outside pytest::

    from zats.testing import start_server

    with start_server(token="s3cret") as server:
        ...  # clients connect to server.url with token "s3cret"
"""

from .servers import NatsCluster, NatsServer, ServerFactory, server_options, start_cluster, start_server

__all__ = ["NatsCluster", "NatsServer", "ServerFactory", "server_options", "start_cluster", "start_server"]
