"""Test support: starting real servers (zats and nats-server) and raw-socket wire helpers."""
