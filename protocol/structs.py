"""The INFO and CONNECT JSON bodies as msgspec Structs, with nats-server's field names and its
defaults for fields a client leaves out of CONNECT (verbose, pedantic and echo true)."""

from __future__ import annotations

import msgspec


class Info(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The server's INFO. Fields left at None/False are omitted, as nats-server omits them."""

    server_id: str
    server_name: str
    version: str
    proto: int
    go: str
    host: str
    port: int
    headers: bool
    max_payload: int
    client_id: int | None = None
    client_ip: str | None = None
    auth_required: bool = False
    tls_required: bool = False
    tls_verify: bool = False
    tls_available: bool = False
    nonce: str | None = None
    cluster: str | None = None
    connect_urls: list[str] | None = None
    ldm: bool = False
    jetstream: bool = False
    domain: str | None = None
    xkey: str | None = None


class Connect(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A client's CONNECT options. Unknown fields are ignored."""

    verbose: bool = True
    pedantic: bool = True
    tls_required: bool = False
    auth_token: str | None = None
    user: str | None = None
    password: str | None = msgspec.field(default=None, name="pass")
    name: str | None = None
    lang: str | None = None
    version: str | None = None
    protocol: int = 0
    echo: bool = True
    sig: str | None = None
    jwt: str | None = None
    nkey: str | None = None
    headers: bool = False
    no_responders: bool = False


_info_encoder = msgspec.json.Encoder()
_connect_decoder = msgspec.json.Decoder(Connect)
_CONNECT_KEYS = [(f.name, f.encode_name) for f in msgspec.structs.fields(Connect)]
_info_decoder = msgspec.json.Decoder(Info)


def encode_info(info: Info) -> bytes:
    """The whole INFO frame, `INFO {json} \\r\\n` (nats-server puts a blank before CRLF)."""
    return b"INFO " + _info_encoder.encode(info) + b" \r\n"


def decode_connect(arg: bytes, previous: Connect | None = None) -> Connect:
    """Decodes a CONNECT argument; raises msgspec.DecodeError on malformed JSON or wrong types.
    With `previous` (a later CONNECT on the same connection), the fields this one leaves out
    keep their previous values, as nats-server decodes into the options it already has."""
    fresh = _connect_decoder.decode(arg)
    if previous is None:
        return fresh
    present = msgspec.json.decode(arg)  # an object: the typed decode above checked that
    return msgspec.structs.replace(previous, **{
        name: getattr(fresh, name) for name, key in _CONNECT_KEYS if key in present})


def encode_connect(connect: Connect) -> bytes:
    """The whole CONNECT frame. Defaults are written out (a server reads absent verbose as true)."""
    body = msgspec.json.encode(connect)
    # omit_defaults would drop verbose/pedantic=True, which the server also defaults to true;
    # write the three booleans explicitly so that any server reads them alike.
    obj = msgspec.json.decode(body)
    obj.setdefault("verbose", connect.verbose)
    obj.setdefault("pedantic", connect.pedantic)
    obj.setdefault("echo", connect.echo)
    return b"CONNECT " + msgspec.json.encode(obj) + b"\r\n"


def decode_info(arg: bytes) -> Info:
    """Decodes an INFO argument into an Info; unknown fields are ignored."""
    return _info_decoder.decode(arg)
