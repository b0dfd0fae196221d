"""The monitoring port's front page: a live dashboard (connections, subscriptions, slow
consumers, message and byte rates, the busiest subjects, routes, leafnodes, JetStream when it
runs) that polls the JSON endpoints, with nats-server's links to each endpoint. It is one
self-contained page, built once from static/ (the HTML, its stylesheet and script inlined: no
build step, nothing fetched from elsewhere)."""

from __future__ import annotations

import html
from importlib.resources import files

ENDPOINTS = (
    ("General", "/varz"),
    ("Connections", "/connz"),
    ("Accounts", "/accountz"),
    ("Account Stats", "/accstatz"),
    ("Subscriptions", "/subsz"),
    ("Routes", "/routez"),
    ("LeafNodes", "/leafz"),
    ("JetStream", "/jsz"),
    ("Gateways", "/gatewayz"),
    ("Health Probe", "/healthz"),
    ("Busiest Subjects", "/subjectz"),
    ("Prometheus Metrics", "/metrics"),
)


def index_page(version: str) -> bytes:
    static = files(__package__) / "static"
    links = "\n".join(f'    <a href="./{path[1:]}">{html.escape(name)}<code>{path}</code></a>'
                      for name, path in ENDPOINTS)
    page = (static / "dashboard.html").read_text(encoding="utf-8")
    for key, value in (("{version}", html.escape(version)), ("{links}", links),
                       ("{style}", (static / "dashboard.css").read_text(encoding="utf-8")),
                       ("{script}", (static / "dashboard.js").read_text(encoding="utf-8"))):
        page = page.replace(key, value)
    return page.encode()
