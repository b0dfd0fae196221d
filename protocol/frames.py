"""Encoders for the frames of the client protocol, both directions. Each returns the whole frame
as bytes, CRLF included; the hot paths in broker and client build MSG/PUB lines inline from the
same pieces where that saves an allocation."""

from __future__ import annotations

CRLF = b"\r\n"
PING = b"PING\r\n"
PONG = b"PONG\r\n"
OK = b"+OK\r\n"


def _b(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def pub(subject: bytes | str, payload: bytes, reply: bytes | str | None = None) -> bytes:
    head = b"PUB " + _b(subject) + (b" " + _b(reply) if reply else b"")
    return b"%s %d\r\n%s\r\n" % (head, len(payload), payload)


def hpub(subject: bytes | str, header_block: bytes, payload: bytes,
         reply: bytes | str | None = None) -> bytes:
    head = b"HPUB " + _b(subject) + (b" " + _b(reply) if reply else b"")
    hlen = len(header_block)
    return b"%s %d %d\r\n%s%s\r\n" % (head, hlen, hlen + len(payload), header_block, payload)


def sub(subject: bytes | str, sid: bytes | str | int, queue: bytes | str | None = None) -> bytes:
    q = b" " + _b(queue) if queue else b""
    return b"SUB %s%s %s\r\n" % (_b(subject), q, _b(str(sid)))


def unsub(sid: bytes | str | int, max_msgs: int | None = None) -> bytes:
    tail = b" %d" % max_msgs if max_msgs else b""
    return b"UNSUB %s%s\r\n" % (_b(str(sid)), tail)


def msg(subject: bytes, sid: bytes, payload: bytes, reply: bytes | None = None) -> bytes:
    head = b"MSG " + subject + b" " + sid + (b" " + reply if reply else b"")
    return b"%s %d\r\n%s\r\n" % (head, len(payload), payload)

