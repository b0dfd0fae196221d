"""The INFO and CONNECT JSON bodies as msgspec Structs, with nats-server's field names and its
defaults for fields a client leaves out of CONNECT (verbose, pedantic and echo true).

A CONNECT is read as nats-server's JSON decoder (Go's) reads it: keys match fields ignoring case
(the last one given wins), null leaves a field as it was, invalid UTF-8 and lone UTF-16
surrogate escapes in strings become U+FFFD, and nesting is allowed up to 10,000 levels."""

from __future__ import annotations

import codecs
import json
import re
import sys
from itertools import accumulate

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


class PeerInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The fields a server's INFO to a route or a leaf starts with (RouteInfo and LeafInfo add
    theirs after them)."""

    server_id: str = ""
    server_name: str = ""
    version: str = ""
    proto: int = 0
    go: str = ""
    host: str = ""
    port: int = 0
    headers: bool = False


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
_any_decoder = msgspec.json.Decoder()
_CONNECT_KEYS = [(f.name, f.encode_name) for f in msgspec.structs.fields(Connect)]
_JSON_KEYS = {key for _, key in _CONNECT_KEYS}
_INT64 = range(-(1 << 63), 1 << 63)  # Go's int
_info_decoder = msgspec.json.Decoder(Info)


def encode_info(info: msgspec.Struct) -> bytes:
    """The whole INFO frame, `INFO {json} \\r\\n` (nats-server puts a blank before CRLF), of an
    Info or of the INFO a server sends a route or leaf (route_structs, leaf_structs)."""
    return b"INFO " + _info_encoder.encode(info) + b" \r\n"


def connect_frame(body: object) -> bytes:
    """The whole CONNECT frame of a JSON body (a Struct, or a dict where defaults are written
    out)."""
    return b"CONNECT " + _info_encoder.encode(body) + b"\r\n"


def decode_connect(arg: bytes, previous: Connect | None = None) -> Connect:
    """Decodes a CONNECT argument; raises msgspec.DecodeError on malformed JSON, or
    msgspec.ValidationError on wrong types. With `previous` (a later CONNECT on the same
    connection), the fields this one leaves out keep their previous values, as nats-server
    decodes into the options it already has."""
    fields = _connect_fields(arg)
    fresh = msgspec.convert(fields, Connect)
    if fresh.protocol not in _INT64:
        raise msgspec.ValidationError("protocol out of range")
    if previous is None:
        return fresh
    return msgspec.structs.replace(previous, **{
        name: getattr(fresh, name) for name, key in _CONNECT_KEYS if key in fields})


def _fold(key: str) -> str:
    """A key as Go compares it with a field name (simple case folding, for ASCII names)."""
    return key.lower().replace("\u017f", "s")  # the long s folds to s


def _connect_fields(arg: bytes) -> dict:
    """The CONNECT fields a JSON text sets, by their JSON names, as Go's decoder sets them."""
    obj, text = _go_json(arg)
    if not isinstance(obj, dict):
        raise msgspec.ValidationError("CONNECT is not a JSON object")
    if any(key not in _JSON_KEYS and _fold(key) in _JSON_KEYS for key in obj):
        # Keys that differ from a field name in case only: Go assigns each key in turn, so
        # the last one given wins (a dict keeps a repeated key at its first place).
        pairs = _deeply(lambda t: json.loads(t, object_pairs_hook=list), text)
        obj = {}
        for key, value in pairs:
            folded = _fold(key)
            if folded in _JSON_KEYS:
                obj[folded] = value
    return {key: value for key, value in obj.items() if key in _JSON_KEYS and value is not None}


_MAX_DEPTH = 10_000  # Go's encoding/json nesting limit
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1
# An escaped backslash, a surrogate pair, or a surrogate escape on its own (high or low).
_SURROGATE_ESCAPE = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _replace_each_byte(exc: UnicodeDecodeError) -> tuple[str, int]:
    return "\ufffd" * (exc.end - exc.start), exc.end


codecs.register_error("zats.replace_each_byte", _replace_each_byte)


def _lone_surrogate(m: re.Match) -> bytes:
    return b"\\ufffd" if len(m.group()) == 6 else m.group()


def _as_go_reads(arg: bytes) -> bytes:
    """The JSON text with what Go's decoder replaces replaced: each byte of invalid UTF-8, and
    each surrogate escape that is not half of a pair, by U+FFFD."""
    text = arg.decode("utf-8", "zats.replace_each_byte").encode()
    return _SURROGATE_ESCAPE.sub(_lone_surrogate, text)


def _depth(arg: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (strings skipped)."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", arg))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def _go_json(arg: bytes) -> tuple[object, bytes]:
    """The value of a JSON text as Go's decoder reads it (see the module doc), and the text
    it was read from (`arg`, or `arg` with U+FFFD where Go puts it)."""
    try:
        return _any_decoder.decode(arg), arg
    except msgspec.DecodeError:
        fixed = _as_go_reads(arg)
        if fixed == arg:
            raise
    except RecursionError:
        fixed = _as_go_reads(arg)
    if _depth(fixed) > _MAX_DEPTH:
        raise msgspec.DecodeError("JSON nested over 10000 levels")
    return _deeply(_any_decoder.decode, fixed), fixed


def _deeply(decode, text: bytes):
    """decode(text) with room for nesting up to _MAX_DEPTH: msgspec and json recurse once per
    level against the interpreter's recursion limit (on Python 3.11; later versions cap C
    recursion on their own, and deeper nesting then fails as malformed)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + _MAX_DEPTH)
    try:
        return decode(text)
    except RecursionError:
        raise msgspec.DecodeError("JSON nested deeper than this interpreter allows") from None
    finally:
        sys.setrecursionlimit(limit)


def encode_connect(connect: Connect) -> bytes:
    """The whole CONNECT frame. Defaults are written out (a server reads absent verbose as true)."""
    body = msgspec.json.encode(connect)
    # omit_defaults would drop verbose/pedantic=True, which the server also defaults to true;
    # write the three booleans explicitly so that any server reads them alike.
    obj = msgspec.json.decode(body)
    obj.setdefault("verbose", connect.verbose)
    obj.setdefault("pedantic", connect.pedantic)
    obj.setdefault("echo", connect.echo)
    return connect_frame(obj)


def decode_info(arg: bytes) -> Info:
    """Decodes an INFO argument into an Info; unknown fields are ignored."""
    return _info_decoder.decode(arg)
