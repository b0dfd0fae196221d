"""The monitoring HTTP endpoint (`-m/--http_port`), answering as nats-server's does: `http`
(requests, limits, net/http's answers to malformed input), `params` (query decoding), `render`
(JSON and pacing), `endpoints` (/varz, /connz, /subsz, ...), `index` (the HTML front page) and
`server` (the listener and routing). Monitoring requests are not client connections."""

from .server import MonitorServer

__all__ = ["MonitorServer"]
