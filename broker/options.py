"""The broker's settings as one typed object, with nats-server's defaults. The CLI (and later the
configuration file) produce it; everything else in the broker only reads it."""

from __future__ import annotations

import msgspec

DEFAULT_PORT = 4222
RANDOM_PORT = -1


class ServerOptions(msgspec.Struct, kw_only=True):
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    server_name: str = ""
    http_host: str = ""  # empty: the client host
    http_port: int = 0  # 0: monitoring off; -1: a random port
    max_payload: int = 1024 * 1024
    max_pending: int = 64 * 1024 * 1024
    max_connections: int = 64 * 1024
    max_control_line: int = 4096
    max_subscriptions: int = 0  # 0: unlimited
    ping_interval: float = 120.0
    ping_max: int = 2
    write_deadline: float = 10.0
    # First server PING to a client comes earlier than ping_interval (nats-server: 2 s).
    first_ping_interval: float = 2.0
    pid_file: str = ""
    log_file: str = ""
    logtime: bool = True
    logtime_utc: bool = False
    debug: bool = False
    trace: bool = False
    lame_duck_duration: float = 120.0
    lame_duck_grace_period: float = 10.0


class OptionsError(ValueError):
    """Settings that nats-server would refuse to start with."""


def validate(opts: ServerOptions) -> None:
    """Raises OptionsError with nats-server's message for inconsistent settings."""
    if opts.max_payload > opts.max_pending:
        raise OptionsError(f"max_payload ({opts.max_payload}) cannot be higher than max_pending "
                           f"({opts.max_pending})")
    if opts.max_control_line <= 0 or opts.max_payload <= 0:
        raise OptionsError("max_control_line and max_payload must be positive")
