"""NKeys as NATS encodes them, shared by broker (verifying) and client (signing): base32 without
padding of a prefix byte (two for a seed), 32 key bytes and a little-endian CRC-16/XMODEM.
Signatures are Ed25519 from the `cryptography` package, imported only when nkeys are used; the
CONNECT `sig` is base64url (no padding) of the signature over the server's nonce."""

from __future__ import annotations

import base64
import binascii
import os

PREFIX_SEED = 18 << 3  # 'S'
PREFIX_PRIVATE = 15 << 3  # 'P'
PREFIX_SERVER = 13 << 3  # 'N'
PREFIX_CLUSTER = 2 << 3  # 'C'
PREFIX_OPERATOR = 14 << 3  # 'O'
PREFIX_ACCOUNT = 0  # 'A'
PREFIX_USER = 20 << 3  # 'U'

PUBLIC_PREFIXES = frozenset({PREFIX_SERVER, PREFIX_CLUSTER, PREFIX_OPERATOR, PREFIX_ACCOUNT,
                             PREFIX_USER})


class NkeyError(ValueError):
    """Text that is not a well-formed nkey, or a signature that does not verify."""


def _crc16(data: bytes) -> int:
    # CRC-16/XMODEM; keys are 35 bytes, so a bitwise loop is cheap enough here.
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _b32encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def _checked(text: str | bytes) -> bytes:
    """The body of an encoded key after checking its CRC."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    text = text.strip()
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as exc:
        raise NkeyError(f"not an nkey: {exc}") from None
    if len(raw) < 4:
        raise NkeyError("nkey too short")
    body, crc = raw[:-2], int.from_bytes(raw[-2:], "little")
    if _crc16(body) != crc:
        raise NkeyError("nkey checksum mismatch")
    return body


def _with_crc(body: bytes) -> str:
    return _b32encode(body + _crc16(body).to_bytes(2, "little"))


def decode_seed(seed: str | bytes) -> tuple[int, bytes]:
    """(public prefix byte, 32 raw seed bytes) of an encoded seed such as "SUA..."."""
    body = _checked(seed)
    if len(body) != 34:
        raise NkeyError("nkey seed has the wrong length")
    b1 = body[0] & 0xF8
    b2 = ((body[0] & 0x07) << 5) | ((body[1] & 0xF8) >> 3)
    if b1 != PREFIX_SEED or b2 not in PUBLIC_PREFIXES:
        raise NkeyError("not an nkey seed")
    return b2, body[2:]


def encode_seed(prefix: int, raw: bytes) -> str:
    """The encoded seed for 32 raw bytes of the given public prefix (e.g. PREFIX_USER)."""
    return _with_crc(bytes([PREFIX_SEED | (prefix >> 5), (prefix & 31) << 3]) + raw)


def encode_public(prefix: int, key: bytes) -> str:
    return _with_crc(bytes([prefix]) + key)


def decode_public(public: str | bytes) -> tuple[int, bytes]:
    """(prefix byte, 32 raw Ed25519 public key bytes) of an encoded public key ("U...")."""
    body = _checked(public)
    if len(body) != 33 or body[0] not in PUBLIC_PREFIXES:
        raise NkeyError("not a public nkey")
    return body[0], body[1:]


def _ed25519():
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - depends on the environment
        raise NkeyError("nkeys need the 'cryptography' package") from None
    return ed25519


class KeyPair:
    """An Ed25519 key pair from an nkey seed."""

    def __init__(self, seed: str | bytes):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        self.prefix, raw = decode_seed(seed)
        self._key = _ed25519().Ed25519PrivateKey.from_private_bytes(raw)
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
    return encode_seed(prefix, os.urandom(32))


def decode_sig(sig: str) -> bytes:
    """A CONNECT `sig`: base64url with or without padding (nats-server accepts both)."""
    sig = sig.strip()
    try:
        return base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except (binascii.Error, ValueError):
        try:
            return base64.b64decode(sig + "=" * (-len(sig) % 4))
        except (binascii.Error, ValueError) as exc:
            raise NkeyError(f"signature is not base64: {exc}") from None


def verify(public: str, data: bytes, sig: str) -> bool:
    """Whether `sig` (a CONNECT sig) is the signature of `data` by the public nkey `public`."""
    from cryptography.exceptions import InvalidSignature

    _, raw = decode_public(public)
    key = _ed25519().Ed25519PublicKey.from_public_bytes(raw)
    try:
        key.verify(decode_sig(sig), data)
    except (InvalidSignature, NkeyError):
        return False
    return True
