"""The route INFO and CONNECT JSON bodies (nats-server's `Info` and `connectInfo` as servers send
them to each other), as msgspec Structs. Unknown fields are ignored when decoding; fields left
at their default are omitted when encoding. zats leaves out the fields that would turn on
nats-server's route pooling, pinned accounts, S2 compression and leaf-origin interest
(`route_pool_size`, `route_account`, `compression`, `lnoc`): a nats-server peer then keeps one
plain-text connection carrying every account, which is all zats speaks."""

from __future__ import annotations

import msgspec

from .structs import PeerInfo, connect_frame, encode_info


class RouteInfo(PeerInfo, kw_only=True, omit_defaults=True):
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


encode_route_info = encode_info
# Each raises msgspec.DecodeError / ValidationError on malformed JSON or wrong types.
decode_route_info = msgspec.json.Decoder(RouteInfo).decode
decode_route_connect = msgspec.json.Decoder(RouteConnect).decode


def encode_route_connect(connect: RouteConnect) -> bytes:
    """CONNECT with echo, verbose and pedantic written out, as nats-server writes them."""
    body = msgspec.json.decode(msgspec.json.encode(connect))
    body = {"echo": connect.echo, "verbose": connect.verbose, "pedantic": connect.pedantic,
            "tls_required": connect.tls_required, **body}
    return connect_frame(body)
