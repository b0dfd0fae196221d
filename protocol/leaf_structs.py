"""The leafnode INFO and CONNECT JSON bodies as hub and leaf send them to each other, as msgspec
Structs (the route ones are in route_structs). Unknown fields are ignored when decoding; fields
left at their default are omitted when encoding."""

from __future__ import annotations

import msgspec


class LeafInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    server_id: str = ""
    server_name: str = ""
    version: str = ""
    proto: int = 0
    go: str = ""
    host: str = ""
    port: int = 0
    headers: bool = False
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


_encoder = msgspec.json.Encoder()
_info_decoder = msgspec.json.Decoder(LeafInfo)
_connect_decoder = msgspec.json.Decoder(LeafConnect)


def encode_leaf_info(info: LeafInfo) -> bytes:
    return b"INFO " + _encoder.encode(info) + b" \r\n"  # a blank before CRLF, as nats-server


def decode_leaf_info(arg: bytes) -> LeafInfo:
    """Raises msgspec.DecodeError / ValidationError on malformed JSON or wrong types."""
    return _info_decoder.decode(arg)


def encode_leaf_connect(connect: LeafConnect) -> bytes:
    return b"CONNECT " + _encoder.encode(connect) + b"\r\n"


def decode_leaf_connect(arg: bytes) -> LeafConnect:
    """Raises msgspec.DecodeError / ValidationError on malformed JSON or wrong types."""
    return _connect_decoder.decode(arg)
