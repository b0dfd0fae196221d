"""zats.bench: the `zats-bench` end-to-end load generator and its `compare` mode (zats against
the real nats-server, side by side)."""
