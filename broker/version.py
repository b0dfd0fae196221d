"""What the server says it is: the nats-server protocol level it speaks, zats's own version, the
name it gives in the `go` field of every INFO and of /varz, and whether its hot modules run
compiled (`build_mode`, from zats.compiled)."""

from __future__ import annotations

from zats import __version__ as ZATS_VERSION
from zats.compiled import mode as build_mode

__all__ = ["IMPLEMENTATION", "VERSION", "ZATS_VERSION", "build_mode"]

VERSION = "2.10.0"  # the nats-server protocol level zats implements; clients check major 2
IMPLEMENTATION = "python-zats"  # where nats-server names its Go version
