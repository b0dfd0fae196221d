"""The leafnode INFO and CONNECT JSON bodies as hub and leaf send them to each other, as msgspec
Structs (the route ones are in route_structs). Unknown fields are ignored when decoding; fields
left at their default are omitted when encoding."""

from __future__ import annotations

import msgspec

from .structs import PeerInfo, connect_frame, encode_info


class LeafInfo(PeerInfo, kw_only=True, omit_defaults=True):
    auth_required: bool = False
    max_payload: int = 0
    client_id: int = 0
    nonce: str | None = None
    cluster: str | None = None
    leafnode_urls: list[str] | None = None
    info_on_connect: bool = False
    connect_info: bool = False
    remote_account: str | None = None


class LeafConnect(msgspec.Struct, kw_only=True, omit_defaults=True):
    version: str = ""
    server_id: str = ""
    name: str = ""
    cluster: str = ""
    headers: bool = False
    remote_account: str = ""
    protocol: int = 0
    user: str | None = None
    password: str | None = msgspec.field(default=None, name="pass")
    jwt: str | None = None
    sig: str | None = None
    lang: str | None = None
    gateway: str | None = None


encode_leaf_info = encode_info
encode_leaf_connect = connect_frame
# Each raises msgspec.DecodeError / ValidationError on malformed JSON or wrong types.
decode_leaf_info = msgspec.json.Decoder(LeafInfo).decode
decode_leaf_connect = msgspec.json.Decoder(LeafConnect).decode
