"""/metrics: scraped and parsed with prometheus_client's own parser, it carries the metric names
and labels of prometheus-nats-exporter (those its NATS Grafana dashboard plots among them), with
the figures /varz and /accstatz give."""

from __future__ import annotations

import json
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.servers import free_port, start_server, write_config
from support.wire import Wire

# The exporter's walkthrough Grafana dashboard (grafana-nats-dash.json) plots these.
GRAFANA = ["gnatsd_varz_connections", "gnatsd_varz_subscriptions", "gnatsd_varz_slow_consumers",
           "gnatsd_varz_in_msgs", "gnatsd_varz_out_msgs", "gnatsd_varz_in_bytes",
           "gnatsd_varz_out_bytes", "gnatsd_varz_mem", "gnatsd_varz_cpu"]
# The exporter's other collectors: connz totals, routez and subsz generic, leafz, accstatz.
OTHERS = ["gnatsd_varz_total_connections", "gnatsd_varz_routes", "gnatsd_varz_leafnodes",
          "gnatsd_varz_start", "gnatsd_varz_max_payload", "gnatsd_connz_num_connections",
          "gnatsd_connz_total", "gnatsd_connz_limit", "gnatsd_connz_pending_bytes",
          "gnatsd_connz_subscriptions", "gnatsd_connz_in_msgs", "gnatsd_connz_out_msgs",
          "gnatsd_connz_in_bytes", "gnatsd_connz_out_bytes", "gnatsd_routez_num_routes",
          "gnatsd_subsz_num_subscriptions", "gnatsd_subsz_num_cache", "gnatsd_subsz_cache_hit_rate",
          "gnatsd_leafz_conn_nodes_total", "gnatsd_accstatz_current_connections",
          "gnatsd_accstatz_total_connections", "gnatsd_accstatz_subscriptions",
          "gnatsd_accstatz_leaf_nodes", "gnatsd_accstatz_sent_messages", "gnatsd_accstatz_sent_bytes",
          "gnatsd_accstatz_received_messages", "gnatsd_accstatz_received_bytes",
          "gnatsd_accstatz_slow_consumers"]
INFO = ["gnatsd_varz_server_id", "gnatsd_varz_server_name", "gnatsd_varz_version",
        "gnatsd_routez_server_id", "gnatsd_routez_server_name", "gnatsd_subsz_server_id"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    conf = write_config(tmp_path_factory.mktemp("metrics"),
                        "accounts { A: { users: [ { user: a, password: a } ] } }\n")
    server = start_server("zats", "-c", conf, http_port=free_port())
    yield server
    server.stop()


def _get(srv, path: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}{path}", timeout=5) as resp:
        assert resp.status == 200
        return resp.headers["Content-Type"], resp.read()


def scrape(srv) -> dict[str, list]:
    """{metric name: [(labels, value)]} of one scrape."""
    content_type, body = _get(srv, "/metrics")
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    return {family.name: [(s.labels, s.value) for s in family.samples]
            for family in text_string_to_metric_families(body.decode())}


def test_metrics_carry_the_exporters_names_and_labels(srv):
    with Wire(srv.host, srv.port) as w:
        w.connect(b'{"verbose":false,"user":"a","pass":"a"}')
        w.send(b"SUB m 1\r\nPUB m 3\r\nabc\r\nPUB m 2\r\nxy\r\nPING\r\n")
        w.expect(rb"MSG m 1 3\r\nabc\r\nMSG m 1 2\r\nxy\r\nPONG\r\n")
        metrics = scrape(srv)
        varz = json.loads(_get(srv, "/varz")[1])
    missing = [name for name in GRAFANA + OTHERS + INFO if name not in metrics]
    assert missing == []
    sid = varz["server_id"]
    for name in GRAFANA + OTHERS:
        assert all(labels.get("server_id") == sid for labels, _ in metrics[name]), name
    assert metrics["gnatsd_varz_server_id"] == [({"server_id": sid, "value": sid}, 1.0)]
    assert metrics["gnatsd_varz_version"][0][0]["value"] == varz["version"]
    for key in ("connections", "in_msgs", "out_msgs", "in_bytes", "out_bytes", "max_payload"):
        assert metrics[f"gnatsd_varz_{key}"] == [({"server_id": sid}, varz[key])], key
    assert metrics["gnatsd_connz_in_msgs"][0][1] == 2 and metrics["gnatsd_connz_in_bytes"][0][1] == 5
    accounts = {labels["account"]: value for labels, value in metrics["gnatsd_accstatz_received_messages"]}
    assert accounts["A"] == 2 and "$G" in accounts
    (labels, _), *_ = metrics["gnatsd_accstatz_received_messages"]
    assert set(labels) == {"server_id", "account", "account_id", "account_name"}


def test_every_numeric_varz_field_is_a_gauge_of_the_same_name(srv):
    """The exporter's generic rule: each number in /varz (nested objects flattened) a gauge."""
    metrics = scrape(srv)
    varz = json.loads(_get(srv, "/varz")[1])
    moving = {"mem", "cpu", "uptime", "now"}
    for key, value in varz.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        assert f"gnatsd_varz_{key}" in metrics, key
        if key not in moving:
            assert metrics[f"gnatsd_varz_{key}"][0][1] == value, key
