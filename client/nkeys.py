"""NKey seeds and `.creds` files for the client: the nkey codec and signing come from
zats.protocol.nkeys (shared with the broker, which verifies), the `.creds` format from
zats.protocol.creds (the broker reads it for leaf remotes); this module adds the client's error
type and reading `.creds` and seed files.
"""

from __future__ import annotations

from zats.protocol import creds as _creds
from zats.protocol import nkeys as _nkeys
from zats.protocol.nkeys import (  # noqa: F401  (re-exported for users of zats.client.nkeys)
    PREFIX_ACCOUNT,
    PREFIX_CLUSTER,
    PREFIX_OPERATOR,
    PREFIX_PRIVATE,
    PREFIX_SEED,
    PREFIX_SERVER,
    PREFIX_USER,
    create_seed,
    encode_public,
    encode_seed,
)

from .errors import InvalidUserCredentialsError


def decode_seed(seed: str | bytes) -> tuple[int, bytes]:
    """(public prefix byte, 32 raw seed bytes) of an encoded seed such as "SUA..."."""
    try:
        return _nkeys.decode_seed(seed)
    except _nkeys.NkeyError as exc:
        raise InvalidUserCredentialsError(str(exc)) from None


def decode_public(public: str) -> tuple[int, bytes]:
    try:
        return _nkeys.decode_public(public)
    except _nkeys.NkeyError as exc:
        raise InvalidUserCredentialsError(str(exc)) from None


class KeyPair(_nkeys.KeyPair):
    """An Ed25519 key pair from an nkey seed; bad seeds raise InvalidUserCredentialsError."""

    def __init__(self, seed: str | bytes):
        try:
            super().__init__(seed)
        except _nkeys.NkeyError as exc:
            raise InvalidUserCredentialsError(str(exc)) from None


def read_creds(text: str) -> tuple[str, str]:
    """(user JWT, user seed) from the contents of a `.creds` file."""
    try:
        return _creds.read_creds(text)
    except _nkeys.NkeyError as exc:
        raise InvalidUserCredentialsError(str(exc)) from None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise InvalidUserCredentialsError(f"cannot read {path}: {exc}") from None


def load_creds(path: str) -> tuple[str, str]:
    """(user JWT, user seed) from a `.creds` file."""
    return read_creds(_read(path))


def load_seed(path: str) -> str:
    """The nkey seed in the file at `path`."""
    return _read(path).strip()
