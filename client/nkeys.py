"""NKey seeds and `.creds` files: decoding a seed, deriving its public key and signing the
server's nonce (Ed25519), as nats-server expects in CONNECT's `nkey`/`jwt` and `sig`.

An nkey is base32 (no padding) of: a prefix (one byte, or two for a seed), 32 key bytes and a
CRC-16/XMODEM of what precedes, little-endian. Signing uses the `cryptography` package, imported
only when nkeys are used."""

from __future__ import annotations

import base64
import re

from .errors import InvalidUserCredentialsError

PREFIX_SEED = 18 << 3  # 'S'
PREFIX_PRIVATE = 15 << 3  # 'P'
PREFIX_SERVER = 13 << 3  # 'N'
PREFIX_CLUSTER = 2 << 3  # 'C'
PREFIX_OPERATOR = 14 << 3  # 'O'
PREFIX_ACCOUNT = 0  # 'A'
PREFIX_USER = 20 << 3  # 'U'

_PUBLIC_PREFIXES = {PREFIX_SERVER, PREFIX_CLUSTER, PREFIX_OPERATOR, PREFIX_ACCOUNT, PREFIX_USER}


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _b32decode(text: str) -> bytes:
    text = text.strip()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _b32encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def _checked(text: str) -> bytes:
    try:
        raw = _b32decode(text)
    except Exception as exc:
        raise InvalidUserCredentialsError(f"not an nkey: {exc}") from None
    if len(raw) < 4:
        raise InvalidUserCredentialsError("nkey too short")
    body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
    if _crc16(body) != crc:
        raise InvalidUserCredentialsError("nkey checksum mismatch")
    return body


def decode_seed(seed: str | bytes) -> tuple[int, bytes]:
    """(public prefix byte, 32 raw seed bytes) of an encoded seed such as "SUA..."."""
    if isinstance(seed, bytes):
        seed = seed.decode()
    body = _checked(seed)
    if len(body) != 34:
        raise InvalidUserCredentialsError("nkey seed has the wrong length")
    b1 = body[0] & 0xF8
    b2 = ((body[0] & 0x07) << 5) | ((body[1] & 0xF8) >> 3)
    if b1 != PREFIX_SEED or b2 not in _PUBLIC_PREFIXES:
        raise InvalidUserCredentialsError("not an nkey seed")
    return b2, body[2:]


def encode_seed(prefix: int, raw: bytes) -> str:
    """The encoded seed for 32 raw bytes of the given public prefix (e.g. PREFIX_USER)."""
    b1 = PREFIX_SEED | (prefix >> 5)
    b2 = (prefix & 31) << 3
    body = bytes([b1, b2]) + raw
    return _b32encode(body + _crc16(body).to_bytes(2, "little"))


def encode_public(prefix: int, key: bytes) -> str:
    body = bytes([prefix]) + key
    return _b32encode(body + _crc16(body).to_bytes(2, "little"))


def decode_public(public: str) -> tuple[int, bytes]:
    body = _checked(public)
    if len(body) != 33 or body[0] not in _PUBLIC_PREFIXES:
        raise InvalidUserCredentialsError("not a public nkey")
    return body[0], body[1:]


class KeyPair:
    """An Ed25519 key pair from an nkey seed."""

    def __init__(self, seed: str | bytes):
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        except ImportError:  # pragma: no cover - depends on the environment
            raise InvalidUserCredentialsError(
                "nkey authentication needs the 'cryptography' package") from None
        self.prefix, raw = decode_seed(seed)
        self._key = Ed25519PrivateKey.from_private_bytes(raw)
        self._public_raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.seed = seed if isinstance(seed, str) else seed.decode()

    @property
    def public_key(self) -> str:
        """The encoded public key ("U..." for a user)."""
        return encode_public(self.prefix, self._public_raw)

    def sign(self, data: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature."""
        return self._key.sign(data)

    def sign_nonce(self, nonce: str) -> str:
        """The CONNECT `sig` for a server nonce: base64url without padding."""
        return base64.urlsafe_b64encode(self.sign(nonce.encode())).decode().rstrip("=")


def create_seed(prefix: int = PREFIX_USER) -> str:
    """A new random seed (for tests and tools)."""
    import os

    return encode_seed(prefix, os.urandom(32))


_CREDS_BLOCK = re.compile(
    r"-{3,}[^\n]*BEGIN[^\n]*-{3,}\s*\n\s*(?P<body>[^-\s][^\n]*?)\s*\n\s*-{3,}[^\n]*END[^\n]*-{3,}")


def read_creds(text: str) -> tuple[str, str]:
    """(user JWT, user seed) from the contents of a `.creds` file."""
    blocks = [m.group("body").strip() for m in _CREDS_BLOCK.finditer(text)]
    if len(blocks) < 2:
        raise InvalidUserCredentialsError("a .creds file needs a JWT block and a seed block")
    return blocks[0], blocks[1]


def load_creds(path: str) -> tuple[str, str]:
    try:
        with open(path, encoding="utf-8") as f:
            return read_creds(f.read())
    except OSError as exc:
        raise InvalidUserCredentialsError(f"cannot read {path}: {exc}") from None
