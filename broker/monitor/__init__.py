"""The monitoring HTTP endpoint (`-m/--http_port`), answering as nats-server's does: `http`
(requests, limits, net/http's answers to malformed input), `params` (query decoding), `render`
(JSON and pacing), `endpoints` (/varz, /connz, /subsz, ...), `accounts` (/accountz, /accstatz,
/gatewayz), `subjects` (/subjectz, the busiest subjects), `metrics` (/metrics for Prometheus),
`index` (the dashboard at `/`, from static/) and `server` (the listener and routing). Monitoring
requests are not client connections."""

from .server import MonitorServer

__all__ = ["MonitorServer"]
