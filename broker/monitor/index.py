"""The monitoring port's front page: an HTML index linking to each endpoint, as nats-server
serves one at `/`."""

from __future__ import annotations

import html

ENDPOINTS = (
    ("General", "/varz"),
    ("Connections", "/connz"),
    ("Subscriptions", "/subsz"),
    ("Routes", "/routez"),
    ("LeafNodes", "/leafz"),
    ("JetStream", "/jsz"),
    ("Health Probe", "/healthz"),
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>zats {version} monitoring</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #333 }}
a {{ display: block; padding: 0.3rem 0; color: #2a4d8f; text-decoration: none }}
a:hover {{ text-decoration: underline }}
code {{ color: #888; margin-left: 0.5rem }}
</style>
</head>
<body>
<h1>zats <small>v{version}</small></h1>
{links}
</body>
</html>
"""


def index_page(version: str) -> bytes:
    links = "\n".join(f'<a href=".{path}">{html.escape(name)}<code>{path}</code></a>'
                      for name, path in ENDPOINTS)
    return _PAGE.format(version=html.escape(version), links=links).encode()
