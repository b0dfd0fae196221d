"""Typed payloads with msgspec: encoding an object straight into the outbound buffer and
decoding a payload straight from the receive buffer.

`Codec.encoder.encode_into(obj, buf, -1)` appends the encoding at the end of the bytearray (no
intermediate bytes; the client calls it straight from its publish path). `Codec.decoder(type)`
is a cached msgspec decoder whose `decode` accepts the memoryview the parser hands out, so a
typed subscription never copies the payload into a `bytes` first."""

from __future__ import annotations

from typing import Any

import msgspec


class Codec:
    """A msgspec encoding (JSON or MessagePack) with cached per-type decoders."""

    __slots__ = ("name", "encoder", "_decoder_cls", "_decoders")

    def __init__(self, name: str):
        self.encoder: msgspec.json.Encoder | msgspec.msgpack.Encoder
        self._decoder_cls: type[msgspec.json.Decoder[Any]] | type[msgspec.msgpack.Decoder[Any]]
        if name == "json":
            self.encoder = msgspec.json.Encoder()
            self._decoder_cls = msgspec.json.Decoder
        elif name == "msgpack":
            self.encoder = msgspec.msgpack.Encoder()
            self._decoder_cls = msgspec.msgpack.Decoder
        else:
            raise ValueError(f"unknown codec {name!r}")
        self.name = name
        self._decoders: dict[Any, msgspec.json.Decoder[Any] | msgspec.msgpack.Decoder[Any]] = {}

    def decoder(self, type_: Any) -> msgspec.json.Decoder[Any] | msgspec.msgpack.Decoder[Any]:
        """A decoder for `type_` (cached); its `decode` takes bytes or a memoryview."""
        dec = self._decoders.get(type_)
        if dec is None:
            dec = self._decoders[type_] = self._decoder_cls(type_)
        return dec


_CODECS: dict[str, Codec] = {}


def get_codec(name: str) -> Codec:
    codec = _CODECS.get(name)
    if codec is None:
        codec = _CODECS[name] = Codec(name)
    return codec
