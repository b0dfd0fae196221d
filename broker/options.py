"""The broker's settings as one typed object, with nats-server's defaults. The CLI (and later the
configuration file) produce it; everything else in the broker only reads it."""

from __future__ import annotations

import re
from typing import TypedDict
from urllib.parse import urlsplit

import msgspec

DEFAULT_PORT = 4222
RANDOM_PORT = -1


class SubjectPermission(msgspec.Struct, kw_only=True):
    """Allow and deny lists of subjects (wildcards allowed) for publish or subscribe."""

    allow: list[str] | None = None
    deny: list[str] | None = None


class ResponsePermission(msgspec.Struct, kw_only=True):
    """`allow_responses`: may publish to reply subjects of requests received, max times, within
    expires seconds (nats-server defaults: 1 and no expiry)."""

    max: int = 1
    expires: float = 0.0


class Permissions(msgspec.Struct, kw_only=True):
    publish: SubjectPermission | None = None
    subscribe: SubjectPermission | None = None
    allow_responses: ResponsePermission | None = None


class User(msgspec.Struct, kw_only=True):
    """One entry of `users [...]`: a user/password (plain or bcrypt `$2a$...`) or an nkey."""

    user: str | None = None
    password: str | None = None
    nkey: str | None = None
    permissions: Permissions | None = None
    account: str | None = None  # filled from the accounts block the user appears in


class Authorization(msgspec.Struct, kw_only=True):
    """The `authorization { }` block (and --user/--pass/--auth)."""

    token: str | None = None
    user: str | None = None
    password: str | None = None
    users: list[User] = msgspec.field(default_factory=list)
    timeout: float = 2.0  # seconds; nats-server's default auth timeout


class AccountConfig(msgspec.Struct, kw_only=True):
    """One account of the `accounts { NAME { users [...] } }` block. `jetstream`: None when the
    account has no JetStream, else its limits (max_memory, max_storage, max_streams,
    max_consumers, max_ack_pending; absent: unlimited)."""

    name: str
    users: list[User] = msgspec.field(default_factory=list)
    jetstream: dict | None = None


class JetStreamConfig(msgspec.Struct, kw_only=True):
    """The `jetstream { }` block (and -js). Limits of -1: nats-server's defaults (75% of the
    memory for memory streams, 1 TB for file streams). sync_interval in seconds, 0: always."""

    max_memory_store: int = -1
    max_file_store: int = -1
    domain: str = ""
    sync_interval: float = 120.0


class TLSConfig(msgspec.Struct, kw_only=True):
    """The `tls { }` block (and --tls/--tlscert/--tlskey/--tlsverify/--tlscacert)."""

    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    verify: bool = False
    timeout: float = 2.0
    handshake_first: bool = False


class ClusterConfig(msgspec.Struct, kw_only=True):
    """The `cluster { }` block (and --cluster/--cluster_listen, --routes, --cluster_name,
    --cluster_advertise, --no_advertise, --connect_retries): the route listener, the routes to
    solicit, and the credentials routes present and require."""

    name: str = ""  # empty: a random name, adopted from peers as nats-server does
    host: str = "0.0.0.0"
    port: int = 0  # -1: a random port
    routes: list[str] = msgspec.field(default_factory=list)  # nats-route://[user:pass@]host:port
    user: str | None = None
    password: str | None = None
    auth_timeout: float = 2.0
    advertise: str = ""  # host:port other servers dial instead of the listen address
    no_advertise: bool = False  # keep other servers' client URLs out of client INFO
    connect_retries: int = 0  # extra attempts for routes learned by gossip


class LeafRemote(msgspec.Struct, kw_only=True):
    """One entry of `leafnodes { remotes [...] }`: a hub to dial as its leaf."""

    urls: list[str] = msgspec.field(default_factory=list)  # nats-leaf://[user:pass@]host:port
    account: str = ""  # the local account bound to this connection (empty: $G)
    credentials: str = ""  # a .creds file (user JWT and nkey seed)


class LeafConfig(msgspec.Struct, kw_only=True):
    """The `leafnodes { }` block: a listener for leaf connections (as a hub), its
    authorization, and the hubs to dial (as a leaf)."""

    host: str = "0.0.0.0"
    port: int = 0  # 0: no listener; -1: a random port
    user: str | None = None
    password: str | None = None
    account: str = ""  # the account an authorized leaf is bound to (empty: $G)
    auth_timeout: float = 2.0
    reconnect: float = 1.0  # first redial delay; doubled per failure up to 30 s
    remotes: list[LeafRemote] = msgspec.field(default_factory=list)


class WebSocketConfig(msgspec.Struct, kw_only=True):
    """The `websocket { }` block: a listener for NATS clients speaking RFC 6455 (browsers,
    nats.ws, nats-py's ws:// transport). nats-server refuses it without `tls` unless `no_tls`."""

    host: str = "0.0.0.0"
    port: int = 0  # 0: no listener; -1: a random port
    advertise: str = ""  # host[:port] announced in ws_connect_urls instead of the listen address
    no_tls: bool = False
    tls: TLSConfig | None = None
    compression: bool = False  # permessage-deflate, no context takeover, when the client offers it
    same_origin: bool = False
    allowed_origins: list[str] = msgspec.field(default_factory=list)
    handshake_timeout: float = 0.0  # seconds; 0: no limit (nats-server's default)
    no_auth_user: str = ""
    jwt_cookie: str = ""
    username_cookie: str = ""
    password_cookie: str = ""
    token_cookie: str = ""
    # The block's own `authorization { user, password, token, timeout }`: for ws clients only.
    authorization: Authorization | None = None


class ServerOptions(msgspec.Struct, kw_only=True):
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    server_name: str = ""
    # host[:port] clients are told to use (INFO host/port, connect_urls), e.g. behind NAT.
    client_advertise: str = ""
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
    authorization: Authorization | None = None
    accounts: list[AccountConfig] = msgspec.field(default_factory=list)
    no_auth_user: str = ""
    system_account: str = ""  # see system.system_account_name
    no_system_account: bool = False
    tls: TLSConfig | None = None
    cluster: ClusterConfig | None = None
    leafnodes: LeafConfig | None = None
    jetstream: JetStreamConfig | None = None  # None: JetStream off
    websocket: WebSocketConfig | None = None  # None: no WebSocket listener
    store_dir: str = ""  # JetStream's storage directory (-sd, `store_dir`)
    config_file: str = ""
    # The command line as parsed, kept so that a reload applies the same flags over the file.
    flags: object = None


class ServerOverrides(TypedDict, total=False):
    """The keyword options of `Broker(...)`: the fields of `ServerOptions` (but the parsed
    command line, `flags`), typed so that editors complete them and type checkers check them;
    tests/test_typing.py keeps it in step with `ServerOptions`."""

    host: str
    port: int
    server_name: str
    client_advertise: str
    http_host: str
    http_port: int
    max_payload: int
    max_pending: int
    max_connections: int
    max_control_line: int
    max_subscriptions: int
    ping_interval: float
    ping_max: int
    write_deadline: float
    first_ping_interval: float
    pid_file: str
    log_file: str
    logtime: bool
    logtime_utc: bool
    debug: bool
    trace: bool
    lame_duck_duration: float
    lame_duck_grace_period: float
    authorization: Authorization | None
    accounts: list[AccountConfig]
    no_auth_user: str
    system_account: str
    no_system_account: bool
    tls: TLSConfig | None
    cluster: ClusterConfig | None
    leafnodes: LeafConfig | None
    jetstream: JetStreamConfig | None
    websocket: WebSocketConfig | None
    store_dir: str
    config_file: str


_GO_INT = re.compile(r"[+-]?[0-9]+")


class OptionsError(ValueError):
    """Settings that nats-server would refuse to start with."""


def validate(opts: ServerOptions) -> None:
    """Raises OptionsError with nats-server's message for inconsistent settings."""
    if opts.max_payload > opts.max_pending:
        raise OptionsError(f"max_payload ({opts.max_payload}) cannot be higher than max_pending "
                           f"({opts.max_pending})")
    if opts.max_control_line <= 0 or opts.max_payload <= 0:
        raise OptionsError("max_control_line and max_payload must be positive")
    client_advertise_address(opts, opts.port)
    if opts.websocket is not None and opts.websocket.port:
        _validate_websocket(opts, opts.websocket)


def _validate_websocket(opts: ServerOptions, ws: WebSocketConfig) -> None:
    """nats-server's validateWebsocketOptions, in its order and words."""
    if ws.tls is None and not ws.no_tls:
        raise OptionsError("websocket requires TLS configuration")
    for origin in ws.allowed_origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https"):
            raise OptionsError(f'unable to parse allowed origin "{origin}": allowed origins must be '
                               "absolute URLs with http or https scheme")
        if not parts.hostname:
            raise OptionsError(f'unable to parse allowed origin "{origin}": host is required')
    users = [u.user for u in (opts.authorization.users if opts.authorization else [])]
    users += [u.user for account in opts.accounts for u in account.users]
    if ws.no_auth_user:
        if not users:
            raise OptionsError(f'no_auth_user: "{ws.no_auth_user}" present, but users/nkeys are '
                               "not defined")
        if ws.no_auth_user not in users:
            raise OptionsError(f'no_auth_user: "{ws.no_auth_user}" not present as user or nkey in '
                               "authorization block or account configuration")
    auth = ws.authorization
    if auth is not None and users and (auth.user or auth.token):
        what = "username" if auth.user else "token"
        raise OptionsError(f"websocket authentication {what} not compatible with presence of "
                           "users/nkeys")
    if ws.jwt_cookie:  # zats has no operator mode
        raise OptionsError("trusted operators or trusted keys configuration is required for JWT "
                           f'authentication via cookie "{ws.jwt_cookie}"')
    websocket_advertise_address(ws, ws.port)


def websocket_advertise_address(ws: WebSocketConfig, port: int) -> tuple[str, int] | None:
    """(host, port) of the websocket block's `advertise`, its port defaulting to `port` (the
    listener's); None when not set. Raises OptionsError with the error nats-server stops with
    (once its listener is up; here before)."""
    if not ws.advertise:
        return None
    try:
        return parse_host_port(ws.advertise, port)
    except ValueError as exc:
        raise OptionsError(f"Unable to get websocket connect URLs: {exc}") from None


def client_advertise_address(opts: ServerOptions, port: int) -> tuple[str, int] | None:
    """(host, port) of `client_advertise`, its port defaulting to `port` (the client port);
    None when not set. Raises OptionsError with nats-server's startup error."""
    if not opts.client_advertise:
        return None
    try:
        return parse_host_port(opts.client_advertise, port)
    except ValueError as exc:
        raise OptionsError(f"Error setting server INFO with ClientAdvertise value of "
                           f"{opts.client_advertise}, err={exc}") from None


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """`host` or `host:port` (`[v6]:port`) as nats-server reads an advertise address: a port of
    0 or -1 means `default_port`. Raises ValueError with Go's wording."""
    text = text.strip()
    if ":" not in text:
        return text, default_port
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"address {text}: missing ']' in address")
        host, rest = text[1:close], text[close + 1:]
        if not rest.startswith(":"):
            raise ValueError(f"address {text}: missing port in address")
        port_text = rest[1:]
    else:
        host, _, port_text = text.rpartition(":")
        if ":" in host:
            raise ValueError(f"address {text}: too many colons in address")
    if not _GO_INT.fullmatch(port_text):
        raise ValueError(f'strconv.Atoi: parsing "{port_text}": invalid syntax')
    port = int(port_text)
    return host.strip(), default_port if port in (0, -1) else port
