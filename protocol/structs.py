"""The INFO and CONNECT JSON bodies as msgspec Structs, with nats-server's field names and its
defaults for fields a client leaves out of CONNECT (verbose, pedantic and echo true).

A CONNECT is read as nats-server's JSON decoder (Go's) reads it: invalid UTF-8 and lone UTF-16
surrogate escapes in strings become U+FFFD, and nesting is allowed up to 10,000 levels."""

from __future__ import annotations

import codecs
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
_any_decoder = msgspec.json.Decoder()
_CONNECT_KEYS = [(f.name, f.encode_name) for f in msgspec.structs.fields(Connect)]
_info_decoder = msgspec.json.Decoder(Info)


def encode_info(info: Info) -> bytes:
    """The whole INFO frame, `INFO {json} \\r\\n` (nats-server puts a blank before CRLF)."""
    return b"INFO " + _info_encoder.encode(info) + b" \r\n"


def decode_connect(arg: bytes, previous: Connect | None = None) -> Connect:
    """Decodes a CONNECT argument; raises msgspec.DecodeError on malformed JSON or wrong types.
    With `previous` (a later CONNECT on the same connection), the fields this one leaves out
    keep their previous values, as nats-server decodes into the options it already has."""
    fresh = _decode_as_go(_connect_decoder, arg)
    if previous is None:
        return fresh
    present = _decode_as_go(_any_decoder, arg)  # an object: the typed decode checked that
    return msgspec.structs.replace(previous, **{
        name: getattr(fresh, name) for name, key in _CONNECT_KEYS if key in present})


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


def _decode_as_go(decoder: msgspec.json.Decoder, arg: bytes):
    """decoder.decode(arg), accepting what Go's JSON decoder accepts (see the module doc)."""
    try:
        return decoder.decode(arg)
    except msgspec.DecodeError:
        fixed = _as_go_reads(arg)
        if fixed == arg:
            raise
    except RecursionError:
        fixed = _as_go_reads(arg)
    if _depth(fixed) > _MAX_DEPTH:
        raise msgspec.DecodeError("JSON nested over 10000 levels")
    # msgspec recurses once per level, against the interpreter's recursion limit.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + _MAX_DEPTH)
    try:
        return decoder.decode(fixed)
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
    return b"CONNECT " + msgspec.json.encode(obj) + b"\r\n"


def decode_info(arg: bytes) -> Info:
    """Decodes an INFO argument into an Info; unknown fields are ignored."""
    return _info_decoder.decode(arg)
