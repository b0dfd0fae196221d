"""What the server says it is: the nats-server protocol level it speaks, zats's own version, and
the name it gives in the `go` field of every INFO and of /varz."""

from __future__ import annotations

import importlib.metadata

VERSION = "2.10.0"  # the nats-server protocol level zats implements; clients check major 2
try:
    ZATS_VERSION = importlib.metadata.version("zats")  # one source: the package's own metadata
except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
    ZATS_VERSION = "0.0.0"
IMPLEMENTATION = "python-zats"  # where nats-server names its Go version
