"""The NATS/1.0 header block: `NATS/1.0[ <code>[ <description>]]\\r\\n` then `Key: Value\\r\\n`
lines and a blank line. Keys keep their case and their order; a key may repeat."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

HEADER_LINE = b"NATS/1.0"


class Headers:
    """Ordered, multi-valued message headers with the status line's code and description."""

    __slots__ = ("_items", "status", "description")

    def __init__(self, items: HeadersLike | None = None,
                 status: int | None = None, description: str = ""):
        self._items: list[tuple[str, str]] = []
        self.status = status
        self.description = description
        if items is None:
            return
        if isinstance(items, Headers):
            self._items = list(items._items)
            self.status, self.description = items.status, items.description
            return
        pairs = items.items() if isinstance(items, Mapping) else items
        for key, value in pairs:
            if isinstance(value, (list, tuple)):
                for v in value:
                    self.add(key, v)
            else:
                self.add(key, value)

    def add(self, key: str, value: str) -> None:
        """Appends a value for `key`, keeping earlier ones."""
        self._items.append((key, str(value)))

    def set(self, key: str, value: str) -> None:
        """Replaces every value of `key` with one value."""
        self.delete(key)
        self.add(key, value)

    def delete(self, key: str) -> None:
        self._items = [(k, v) for k, v in self._items if k != key]

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of `key`."""
        for k, v in self._items:
            if k == key:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self._items if k == key]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for k, _ in self._items:
            seen.setdefault(k)
        return list(seen)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: str) -> None:
        self.set(key, value)

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return (self._items, self.status, self.description) == (
            other._items, other.status, other.description)

    def __repr__(self) -> str:
        status = f" {self.status} {self.description}".rstrip() if self.status else ""
        return f"Headers({self._items!r}{status})"


HeadersLike = Headers | Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]
"""What a publisher may pass as headers: a `Headers`, a dict (a list or tuple value repeats the
key) or (key, value) pairs."""


def encode_headers(headers: HeadersLike) -> bytes:
    """The header block for HPUB, ending with the blank line."""
    if not isinstance(headers, Headers):
        headers = Headers(headers)
    parts = [HEADER_LINE]
    if headers.status is not None:
        parts.append(b" %d" % headers.status)
        if headers.description:
            parts.append(b" " + headers.description.encode())
    parts.append(b"\r\n")
    for key, value in headers._items:
        if not key or any(c in key for c in ": \r\n\t"):
            raise ValueError(f"invalid header name {key!r}")
        if "\r" in value or "\n" in value:
            raise ValueError(f"invalid header value for {key!r}")
        parts.append(f"{key}: {value}\r\n".encode())
    parts.append(b"\r\n")
    return b"".join(parts)


_HEADER_TEXT = HEADER_LINE.decode()
_BLANKS = " \t\n\r\x0b\x0c"  # what bytes.strip() removes (str.strip() takes more) for the status line


def decode_headers(block: bytes | memoryview) -> Headers:
    """Parses a header block (as HMSG carries it); raises ValueError when it is not NATS/1.0.
    The block is decoded once: UTF-8 never puts CR, LF or ':' inside a character, so splitting
    the text gives what splitting the bytes and decoding each piece would."""
    lines = str(block, "utf-8", "replace").split("\r\n")
    first = lines[0]
    if not first.startswith(_HEADER_TEXT):
        raise ValueError(f"not a NATS/1.0 header block: {first[:32]!r}")
    headers = Headers()
    rest = first[len(_HEADER_TEXT):].strip(_BLANKS)
    if rest:
        code, _, desc = rest.partition(" ")
        if code.isdigit() and code.isascii():
            headers.status = int(code)
            headers.description = desc.strip(_BLANKS)
    items = headers._items
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            items.append((key.strip(), value.strip()))
    return headers
