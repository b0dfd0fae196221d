"""The client's version, sent in CONNECT (`version`) and exported as `zats.client.__version__`."""

__version__ = "0.1.0"
