"""The `.creds` file format: a user JWT and an nkey seed, each in a block between `---- BEGIN`
and `---- END` lines (any number of dashes from three), with any text around the blocks."""

from __future__ import annotations

import re

from .nkeys import NkeyError

_CREDS_BLOCK = re.compile(
    r"-{3,}[^\n]*BEGIN[^\n]*-{3,}\s*\n\s*(?P<body>[^-\s][^\n]*?)\s*\n\s*-{3,}[^\n]*END[^\n]*-{3,}")


def read_creds(text: str) -> tuple[str, str]:
    """(user JWT, user seed) from the contents of a `.creds` file; NkeyError when it lacks them."""
    blocks = [m.group("body").strip() for m in _CREDS_BLOCK.finditer(text)]
    if len(blocks) < 2:
        raise NkeyError("a .creds file needs a JWT block and a seed block")
    return blocks[0], blocks[1]
