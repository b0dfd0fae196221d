"""/metrics: the broker's figures in the Prometheus text format, written by prometheus-client
from a Collector that reads the broker when scraped. Names and labels are those
prometheus-nats-exporter gives the same figures, so dashboards made for it work unchanged:

- gnatsd_varz_*, gnatsd_routez_*, gnatsd_subsz_*: the exporter's generic rule over the
  endpoint's JSON (every number a gauge named after its key, nested objects flattened with `_`;
  `server_id`, `server_name` and `version` as a `value` label on a gauge of 1, `start` as epoch
  milliseconds; the few keys the exporter skips are skipped)
- gnatsd_connz_*: totals over the open client connections
- gnatsd_leafz_*: per leaf connection, labelled as the exporter labels them
- gnatsd_accstatz_*: per account (all accounts, as the exporter asks with `unused=1`)
- jetstream_*: servers, streams and consumers, when JetStream is on (jsmetrics.py)

The `server_id` label is the broker's server id (the exporter's -use_internal_server_id).
Everything is a gauge: prometheus-client would rename a counter `..._total`."""

from __future__ import annotations

import datetime
import time

from prometheus_client.core import CollectorRegistry, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from ..leafnode import leaf_info
from .accounts import account_stats
from .endpoints import DEFAULT_LIST_SIZE, sublist_stats, varz_data
from .jsmetrics import jetstream_metrics

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format every Prometheus reads

_SKIPPED = {"leaf", "trusted_operators_claim", "cluster_tls_timeout", "cluster_cluster_port",
            "cluster_auth_timeout", "gateway_port", "gateway_auth_timeout", "gateway_tls_timeout",
            "gateway_connect_retries"}
_LABEL_KEYS = {"server_id", "server_name", "version", "domain", "leader", "name", "start",
               "config_load_time"}


_ACCSTATZ = ("current_connections", "total_connections", "subscriptions", "leaf_nodes",
             "sent_messages", "sent_bytes", "received_messages", "received_bytes", "slow_consumers")


def _generic(endpoint: str, data: dict, server_id: str, path: tuple[str, ...] = ()):
    """The exporter's metrics for an endpoint it reads generically."""
    for key, value in data.items():
        fqn = "_".join((*path, key))
        if fqn in _SKIPPED:
            continue
        name = f"gnatsd_{endpoint}_{fqn}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            family = GaugeMetricFamily(name, fqn, labels=["server_id"])
            family.add_metric([server_id], value)
            yield family
        elif isinstance(value, dict):
            yield from _generic(endpoint, value, server_id, (*path, key))
        elif key in _LABEL_KEYS and isinstance(value, datetime.datetime):
            family = GaugeMetricFamily(name, fqn, labels=["server_id"])
            family.add_metric([server_id], int(value.timestamp() * 1000))
            yield family
        elif key in _LABEL_KEYS and isinstance(value, str):
            family = GaugeMetricFamily(name, fqn, labels=["server_id", "value"])
            family.add_metric([server_id, value], 1)
            yield family


def _gauges(prefix: str, labels: list[str], rows: list[tuple[list[str], dict]], keys: dict):
    """One gauge per metric name in `keys` ({metric: key in a row's figures}), a sample per row."""
    for metric, key in keys.items():
        family = GaugeMetricFamily(f"{prefix}_{metric}", metric, labels=labels)
        for values, figures in rows:
            family.add_metric(values, figures[key])
        yield family


class BrokerCollector:
    """A prometheus-client Collector over one broker."""

    def __init__(self, broker, cpu):
        self.broker = broker
        self.cpu = cpu

    def collect(self):
        b = self.broker
        sid = b.server_id
        yield from _generic("varz", varz_data(b, self.cpu), sid)
        yield from self._connz(sid)
        yield from _generic("routez", {"server_id": sid, "server_name": b.server_name,
                                       "num_routes": len(b.cluster.routes) if b.cluster else 0}, sid)
        yield from _generic("subsz", {"server_id": sid, **sublist_stats(
            [a.sublist for a in b.accounts.values()]), "total": 0, "offset": 0,
            "limit": DEFAULT_LIST_SIZE}, sid)
        yield from self._leafz(sid)
        yield from self._accstatz(sid)
        yield from jetstream_metrics(b)

    def _connz(self, sid: str):
        conns = [c for c in self.broker.connections.values() if not c.closed]
        totals = {"num_connections": len(conns), "total": len(conns), "offset": 0,
                  "limit": DEFAULT_LIST_SIZE,
                  "pending_bytes": sum(c.pending_bytes() for c in conns),
                  "subscriptions": sum(len(c.subs) for c in conns)}
        for key in ("in_msgs", "out_msgs", "in_bytes", "out_bytes"):
            totals[key] = sum(getattr(c, key) for c in conns)
        yield from _gauges("gnatsd_connz", ["server_id"], [([sid], totals)],
                           {key: key for key in totals})

    def _leafz(self, sid: str):
        leafnodes = self.broker.leafnodes
        leafs = leafnodes.registered() if leafnodes is not None else []
        count = GaugeMetricFamily("gnatsd_leafz_conn_nodes_total", "conn_nodes_total",
                                  labels=["server_id"])
        count.add_metric([sid], len(leafs))
        yield count
        now = time.time()
        rows = []
        for conn in leafs:
            info = leaf_info(conn, now, False)
            info["one"] = 1
            rows.append(([sid, info["account"], info["account"], info["ip"], str(info["port"]),
                          info["name"]], info))
        yield from _gauges("gnatsd_leafz", ["server_id", "account", "account_id", "ip", "port", "name"],
                           rows, {"info": "one", "conn_in_msgs": "in_msgs", "conn_out_msgs": "out_msgs",
                                  "conn_in_bytes": "in_bytes", "conn_out_bytes": "out_bytes",
                                  "conn_subscriptions_total": "subscriptions"})

    def _accstatz(self, sid: str):
        rows = []
        for stat in account_stats(self.broker, unused=True):
            figures = {"current_connections": stat["conns"], "total_connections": stat["total_conns"],
                       "subscriptions": stat["num_subscriptions"], "leaf_nodes": stat["leafnodes"],
                       "sent_messages": stat["sent"]["msgs"], "sent_bytes": stat["sent"]["bytes"],
                       "received_messages": stat["received"]["msgs"],
                       "received_bytes": stat["received"]["bytes"],
                       "slow_consumers": stat["slow_consumers"]}
            rows.append(([sid, stat["acc"], stat["acc"], stat["name"]], figures))
        yield from _gauges("gnatsd_accstatz", ["server_id", "account", "account_id", "account_name"],
                           rows, {key: key for key in _ACCSTATZ})


class Metrics:
    """The registry /metrics exposes: the broker's collector only (no process or GC metrics of
    prometheus-client's own default registry)."""

    def __init__(self, broker, cpu):
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(BrokerCollector(broker, cpu))

    def scrape(self, query) -> bytes:
        return generate_latest(self.registry)
