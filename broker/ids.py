"""Random identifiers: nuids (generated cluster names, leaf nonces, the loop-detection subject)
and server ids."""

from __future__ import annotations

import secrets
import string

_NUID_ALPHABET = string.ascii_letters + string.digits
_ID_ALPHABET = string.ascii_uppercase + string.digits


def nuid() -> str:
    """22 random letters and digits, as long as a nats-server nuid."""
    return "".join(secrets.choice(_NUID_ALPHABET) for _ in range(22))


def server_id() -> str:
    """A server id shaped like nats-server's: 56 upper-case characters starting with 'N' (there,
    an nkey public key)."""
    return "N" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(55))
