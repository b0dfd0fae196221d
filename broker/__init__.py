"""zats.broker: the NATS-compatible broker daemon (connections, subject index, delivery,
monitoring, CLI). `Broker` runs it in-process; `zats-server` runs it as a daemon."""

from .options import ServerOptions
from .server import Broker

__all__ = ["Broker", "ServerOptions"]
