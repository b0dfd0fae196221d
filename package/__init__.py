"""zats: a NATS-wire-compatible broker and asyncio client in pure Python.

This top-level package holds only what belongs to the distribution as a whole: its version (the
one source of it: pyproject reads it from here, and the broker and the client re-export it) and
the `py.typed` marker, and the import switch of the compiled modules (zats.compiled, stdlib only:
every `import zats.<sub>` runs this package first, so it imports nothing else). The
subpackages live in their own directories (see pyproject's package-dir): zats.protocol,
zats.broker, zats.client, zats.testing (the pytest plugin), zats.bench."""

__version__ = "0.1.0"

from zats import compiled as _compiled

_compiled.install()
