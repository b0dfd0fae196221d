"""Helpers the JetStream modules share: times in nats-server's JSON form, JSON encoding, the
header block lookups of a stored message, and publishing a message to one subject's subscribers
under another subject (a pull consumer delivers `orders.1` to the requester's inbox)."""

from __future__ import annotations

import datetime
import time

import msgspec

_encode = msgspec.json.Encoder().encode
ZERO_TIME = "0001-01-01T00:00:00Z"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_TWO_DIGITS = tuple(f"{i:02d}" for i in range(100))  # "00" .. "99" (rfc3339's fields)
# rfc3339's last second and its text: messages are stored, and read, in bursts.
_last_second: tuple[int | None, str] = (None, "")


def encode(obj) -> bytes:
    return _encode(obj)


now_ns = time.time_ns  # the wall clock in ns, as JetStream stamps messages and deliveries


def rfc3339(ns: int) -> str:
    """A Unix time in nanoseconds as Go's RFC 3339 with nanoseconds (trailing zeros cut)."""
    if not ns:
        return ZERO_TIME
    global _last_second
    secs, frac = divmod(ns, 1_000_000_000)
    seen, base = _last_second
    if secs != seen:
        # Built from str() and a table, not strftime or format specs, which cost several
        # times as much (a DIRECT.GET answer stamps every message with this).
        t = time.gmtime(secs)
        two = _TWO_DIGITS
        base = "".join((str(t.tm_year).zfill(4), "-", two[t.tm_mon], "-", two[t.tm_mday], "T",
                        two[t.tm_hour], ":", two[t.tm_min], ":", two[t.tm_sec]))
        _last_second = (secs, base)  # one tuple: brokers on other threads read it whole
    if frac:
        return base + "." + str(frac).zfill(9).rstrip("0") + "Z"
    return base + "Z"


def parse_rfc3339(text: str) -> int:
    """An RFC 3339 time as Unix nanoseconds; raises ValueError."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    frac_ns = 0
    main, dot, rest = text.partition(".")
    if dot:
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        frac_ns = int((digits + "000000000")[:9]) if digits else 0
        text = main + rest[i:]
    dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + frac_ns


def header_value(hdr: bytes | None, key: bytes) -> bytes | None:
    """The first value of `key` (exact case, as nats-server's getHeader) in a header block."""
    if not hdr:
        return None
    needle = b"\r\n" + key + b":"
    i = hdr.find(needle)
    if i < 0:
        return None
    start = i + len(needle)
    end = hdr.find(b"\r\n", start)
    return hdr[start:end if end >= 0 else len(hdr)].strip()


def status_headers(code: int, description: str, extra: list[tuple[str, str | int]] = ()) -> bytes:
    line = b"NATS/1.0 %d %s\r\n" % (code, description.encode()) if description else b"NATS/1.0 %d\r\n" % code
    return line + b"".join(f"{k}: {v}\r\n".encode() for k, v in extra) + b"\r\n"


def send(client, to: bytes, subject: bytes, reply: bytes | None, hdr: bytes | None,
         payload: bytes) -> int:
    """Delivers a message to the subscribers of `to` with `subject` on the wire (the same when
    equal); returns the deliveries (see InternalClient.publish)."""
    return client.publish(subject, reply, payload, hdr, to)


def has_interest(client, subject: bytes) -> bool:
    result = client.sublist.match(subject)
    return bool(result.plain or result.queues)
