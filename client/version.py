"""The client's version, sent in CONNECT (`version`) and exported as `zats.client.__version__`:
the distribution's, defined once in the top-level `zats` package."""

from zats import __version__ as __version__  # re-exported
