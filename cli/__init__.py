"""zats.cli: the `zats` command line client, a counterpart of the Go `nats` CLI built on
zats.client (never on zats.broker): connection options and saved contexts, pub/sub/req/reply,
`server` requests through the system account (or the monitoring port), and `bench`.

Layout: app.py (the command tree and error handling), connection.py (options, contexts and
connecting), contexts.py (the saved contexts), templates.py (body templates), output.py
(log lines, errors, tables), one module per command group."""

from .app import main

__all__ = ["main"]
