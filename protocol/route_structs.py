"""The route INFO and CONNECT JSON bodies (nats-server's `Info` and `connectInfo` as servers send
them to each other), as msgspec Structs. Unknown fields are ignored when decoding; fields left
at their default are omitted when encoding. zats leaves out the fields that would turn on
nats-server's route pooling, pinned accounts, S2 compression and leaf-origin interest
(`route_pool_size`, `route_account`, `compression`, `lnoc`): a nats-server peer then keeps one
plain-text connection carrying every account, which is all zats speaks."""

from __future__ import annotations

import msgspec


class RouteInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    server_id: str = ""
    server_name: str = ""
    version: str = ""
    proto: int = 0
    go: str = ""
    host: str = ""
    port: int = 0
    headers: bool = False
    max_payload: int = 0
    auth_required: bool = False
    tls_required: bool = False
    nonce: str | None = None
    cluster: str = ""
    cluster_dynamic: bool = False
    # The URL other servers dial to reach this one (cluster.advertise; filled in on gossip).
    ip: str = ""
    connect_urls: list[str] | None = None  # the client ports' (host:port), for TCP clients
    ws_connect_urls: list[str] | None = None  # the websocket ports', for WebSocket clients
    ldm: bool = False
    gossip_mode: int = 0
    # Pooling and pinned accounts: read, so that such connections are recognised; never sent.
    route_pool_size: int = 0
    route_pool_idx: int = 0
    route_account: str = ""


class RouteConnect(msgspec.Struct, kw_only=True, omit_defaults=True):
    echo: bool = True
    verbose: bool = False
    pedantic: bool = False
    tls_required: bool = False
    headers: bool = False
    name: str = ""  # the sender's server_id
    cluster: str = ""
    cluster_dynamic: bool = msgspec.field(default=False, name="cluster_dynamic")
    user: str | None = None
    password: str | None = msgspec.field(default=None, name="pass")
    # Present only when a client or gateway dials the route port by mistake.
    lang: str | None = None
    gateway: str | None = None


_encoder = msgspec.json.Encoder()
_info_decoder = msgspec.json.Decoder(RouteInfo)
_connect_decoder = msgspec.json.Decoder(RouteConnect)


def encode_route_info(info: RouteInfo) -> bytes:
    return b"INFO " + _encoder.encode(info) + b" \r\n"  # a blank before CRLF, as nats-server


def decode_route_info(arg: bytes) -> RouteInfo:
    """Raises msgspec.DecodeError / ValidationError on malformed JSON or wrong types."""
    return _info_decoder.decode(arg)


def encode_route_connect(connect: RouteConnect) -> bytes:
    """CONNECT with echo, verbose and pedantic written out, as nats-server writes them."""
    body = msgspec.json.decode(_encoder.encode(connect))
    body = {"echo": connect.echo, "verbose": connect.verbose, "pedantic": connect.pedantic,
            "tls_required": connect.tls_required, **body}
    return b"CONNECT " + _encoder.encode(body) + b"\r\n"


def decode_route_connect(arg: bytes) -> RouteConnect:
    return _connect_decoder.decode(arg)
