"""Which zats modules run compiled, and the switch that runs them all from source.

The hot modules (`MODULES`) are plain Python. `pip install` compiles them from that same source
with Cython when it can (setup.py). Where it cannot (no C compiler), they run uncompiled and
nothing else changes. The compiled module sits next to its `.py`, and Python's import prefers
it. `SourceFirst` changes that in two cases:
- `ZATS_PURE=1` in the environment: every module loads from its `.py`. The tests run the
  protocol, subject-index, wire-conformance and differential suites this way too.
- A `.py` edited after its module was compiled (an editable install, mid-work): that module
  loads from the newer source, so stale compiled code never runs. `pip install -e .` rebuilds.

`mode()` says what is running, in one line, for `zats-server --version`, its start-up log and
/varz. This module is imported by the top-level package, so it imports only the standard
library."""

from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, SOURCE_SUFFIXES, FileFinder, SourceFileLoader

__all__ = ["MODULES", "PURE_ENV", "STALE_AFTER_S", "SourceFirst", "compiled_modules", "install",
           "mode", "pure"]

# The modules setup.py compiles: the path of a message through the broker.
MODULES = (
    "zats.protocol.parser",
    "zats.protocol.buffer",
    "zats.broker.connection",
    "zats.broker.delivery",
    "zats.broker.endpoint",
    "zats.broker.outbound",
    "zats.broker.wire",
    "zats.broker.sublist",
    "zats.broker.subscription",
    "zats.broker.internal",
    "zats.broker.jetstream.stream",
    "zats.broker.jetstream.consumer",
    "zats.broker.jetstream.consumer_state",
    "zats.broker.jetstream.index",
    "zats.broker.jetstream.filestore",
    "zats.broker.jetstream.memstore",
    "zats.broker.jetstream.records",
    "zats.broker.jetstream.store",
    "zats.broker.jetstream.api",
    "zats.broker.jetstream.directget",
    "zats.broker.jetstream.common",
    "zats.broker.jetstream.filters",
    "zats.protocol.subjects",
)

PURE_ENV = "ZATS_PURE"
# A wheel's files are unpacked within moments of each other, in any order: only a source
# newer than its compiled module by more than this counts as edited after the build.
STALE_AFTER_S = 2.0


def pure() -> bool:
    """Whether ZATS_PURE asks for every module from its source."""
    return os.environ.get(PURE_ENV, "") not in ("", "0")


class SourceFirst:
    """A meta path finder for the compiled modules: their `.py` when ZATS_PURE is set or when
    the `.py` is newer than the compiled file; otherwise it defers to the usual import."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in MODULES or not path:
            return None
        tail = fullname.rpartition(".")[2]
        for entry in path:
            source = os.path.join(entry, tail + ".py")
            if not os.path.exists(source):
                continue
            if not pure():
                built = _built_file(entry, tail)
                if built is None or os.path.getmtime(source) <= os.path.getmtime(built) + STALE_AFTER_S:
                    return None
            return FileFinder(entry, (SourceFileLoader, SOURCE_SUFFIXES)).find_spec(fullname, target)
        return None


def _built_file(directory: str, tail: str) -> str | None:
    for suffix in EXTENSION_SUFFIXES:
        candidate = os.path.join(directory, tail + suffix)
        if os.path.exists(candidate):
            return candidate
    return None


def install() -> None:
    """Puts SourceFirst ahead of the usual finders (once)."""
    if not any(isinstance(f, SourceFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, SourceFirst())


def compiled_modules() -> list[str]:
    """The modules of MODULES that were loaded from a compiled file (imports them)."""
    import importlib
    loaded = []
    for name in MODULES:
        module = importlib.import_module(name)
        if not (module.__file__ or "").endswith(".py"):
            loaded.append(name)
    return loaded


def mode() -> str:
    """One line: "compiled", "uncompiled (...why...)" or "partly compiled (...)"."""
    done = compiled_modules()
    if len(done) == len(MODULES):
        return "compiled"
    if pure():
        return f"uncompiled ({PURE_ENV}=1)"
    if not done:
        return "uncompiled (no compiled modules: installed without a C compiler, or edited since)"
    left = ", ".join(n.removeprefix("zats.") for n in MODULES if n not in done)
    return f"partly compiled (from source: {left})"
