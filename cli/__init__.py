"""zats.cli: the `zats` command line client, a counterpart of the Go `nats` CLI built on
zats.client (never on zats.broker): connection options and saved contexts, pub/sub/req/reply,
`server` requests through the system account (or the monitoring port), `bench`, `micro`, and
JetStream's `stream`, `consumer`, `kv` and `object`.

Layout: app.py (the command tree and error handling), groups.py (command groups with aliases),
connection.py (the connection options, merged over a context, and connecting), contexts.py (the
saved contexts), templates.py (body templates), messages.py (bodies, headers, showing a
message), output.py (log lines, errors, consoles), progress.py (progress bars), aio.py (running
a command's event loop), jsapi.py and jsview.py (JetStream API requests and layouts),
buckets.py (what kv and object share), and one module per command group: pubsub.py,
context_cmd.py, server_cmd.py, bench_cmd.py, micro_cmd.py, stream_cmd.py, consumer_cmd.py,
kv_cmd.py, object_cmd.py."""

from .app import main

__all__ = ["main"]
