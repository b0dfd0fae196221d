"""The file store's record format: what one entry of a block file looks like, and the scan that
reads a block back, stopping at the first torn or corrupt record.

A record is a fixed header, then the subject, headers and data, then a CRC-32 of everything
before it (header included), all little-endian:

    length u32 | kind u8 | seq u64 | ts i64 | expires i64 | subject length u16 | headers length u32
    subject | headers | data | crc32 u32

`length` is the whole record's. Kinds: MSG (a message at `seq`), TOMBSTONE (the message at `seq`
was removed; no payload), SKIP (sequences `seq` .. `expires` were used up without a message).

zlib.crc32 is the checksum: it is in the standard library, runs at memory speed on the sizes
JetStream stores (it is what gzip and zip rely on to catch torn writes), and a 32-bit check is
what a torn tail or a flipped bit needs; the payload's own integrity is not a security boundary.

The compiled build (zats.compiled) writes a MSG record whole in C, in one allocation, with
zlib's own crc32 (records.pxd, `COMPILED`): the same bytes as the pieces the `.py` packs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from zlib import crc32

__all__ = [
    "HEADER",
    "HEADER_LEN",
    "CRC_LEN",
    "MSG",
    "TOMBSTONE",
    "SKIP",
    "MAX_SUBJECT",
    "MAX_RECORD",
    "message_pieces",
    "control_record",
    "scan",
]

HEADER = struct.Struct("<IBQqqHI")
HEADER_LEN = HEADER.size  # 35
CRC_LEN = 4
_CRC = struct.Struct("<I")

MSG, TOMBSTONE, SKIP = 1, 2, 3
MAX_SUBJECT = 0xFFFF
MAX_RECORD = 1 << 31  # anything longer is taken as a corrupt length
COMPILED = not __file__.endswith(".py")


def message_pieces(subject: bytes, headers: bytes | None, data: bytes, seq: int, ts: int, expires: int):
    """The pieces of a MSG record (to be written with writev, no joining) and its length."""
    hlen = len(headers) if headers else 0
    rlen = HEADER_LEN + len(subject) + hlen + len(data) + CRC_LEN
    if COMPILED and type(subject) is bytes and type(data) is bytes and rlen <= 0xFFFFFFFF and (
            not hlen or type(headers) is bytes):
        return (_msg_record(subject, headers, data, MSG, seq, ts, expires, hlen, rlen),), rlen  # noqa: F821
    head = HEADER.pack(rlen, MSG, seq, ts, expires, len(subject), hlen)
    c = crc32(subject, crc32(head))
    if hlen:
        c = crc32(headers, c)
        c = crc32(data, c)
        return (head, subject, headers, data, _CRC.pack(c)), rlen
    c = crc32(data, c)
    return (head, subject, data, _CRC.pack(c)), rlen


def control_record(kind: int, seq: int, arg: int = 0) -> bytes:
    """A TOMBSTONE or SKIP record (`arg`: the last skipped sequence)."""
    rlen = HEADER_LEN + CRC_LEN
    if COMPILED:  # a MSG record's layout with no subject, headers or payload: C writes it
        return _msg_record(b"", None, b"", kind, seq, 0, arg, 0, rlen)  # noqa: F821
    head = HEADER.pack(rlen, kind, seq, 0, arg, 0, 0)
    return head + _CRC.pack(crc32(head))


def scan(buf, end: int) -> Iterator[tuple[int, int, int, int, int, int, int, int]]:
    """(offset, length, kind, seq, ts, expires, subject length, headers length) of each valid
    record in buf[:end], in order. Stops silently at the first record that is cut short or fails
    its checksum: the caller compares the last offset reached with `end`."""
    unpack = HEADER.unpack_from
    crc_at = _CRC.unpack_from
    off = 0
    while off + HEADER_LEN <= end:
        rlen, kind, seq, ts, expires, slen, hlen = unpack(buf, off)
        if rlen < HEADER_LEN + CRC_LEN or rlen > MAX_RECORD or off + rlen > end:
            return
        if HEADER_LEN + slen + hlen + CRC_LEN > rlen or kind not in (MSG, TOMBSTONE, SKIP):
            return
        body_end = off + rlen - CRC_LEN
        if crc32(buf[off:body_end]) != crc_at(buf, body_end)[0]:
            return
        yield off, rlen, kind, seq, ts, expires, slen, hlen
        off += rlen
