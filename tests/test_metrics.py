"""/metrics: scraped and parsed with prometheus_client's own parser, it carries the metric names
and labels of prometheus-nats-exporter (those its NATS Grafana dashboard plots among them), with
the figures /varz and /accstatz give."""

from __future__ import annotations

import json
import re
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


def test_no_jetstream_metrics_without_jetstream(srv):
    assert [name for name in scrape(srv) if name.startswith("jetstream_")] == []


# The exporter's JetStream collector (collector/jsz.go), as it reads `/jsz?consumers=true&config=true`.
JS_SERVER = ["jetstream_server_jetstream_disabled", "jetstream_server_total_streams",
             "jetstream_server_total_consumers", "jetstream_server_total_messages",
             "jetstream_server_total_message_bytes", "jetstream_server_max_memory",
             "jetstream_server_max_storage"]
JS_SERVER_LABELS = {"server_id", "server_name", "cluster", "domain", "meta_leader", "is_meta_leader"}
JS_STREAM_LABELS = JS_SERVER_LABELS | {"account", "account_id", "stream_name", "stream_leader", "is_stream_leader"}
JS_CONSUMER_LABELS = JS_STREAM_LABELS | {"consumer_name", "consumer_leader", "is_consumer_leader",
                                         "consumer_desc", "consumer_created"}


async def test_jetstream_metrics_after_publishing_to_a_stream(tmp_path):
    import nats
    from nats.js.api import ConsumerConfig

    server = start_server("zats", "-js", "-sd", str(tmp_path), "--server_name", "js-metrics",
                          http_port=free_port())
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="ORDERS", subjects=["orders.>"])
        await js.add_stream(name="EMPTY", subjects=["empty"])
        for i in range(5):
            await js.publish(f"orders.{i}", b"x" * (10 + i))
        sub = await js.pull_subscribe("orders.>", durable="worker",
                                      config=ConsumerConfig(description="the workers"))
        msgs = await sub.fetch(3, timeout=5)
        await msgs[0].ack_sync()  # acked: one; delivered, not acked: two
        metrics = scrape(server)
        jsz = json.loads(_get(server, "/jsz?consumers=true&config=true")[1])
        await nc.close()
    finally:
        server.stop()

    assert [name for name in JS_SERVER if name not in metrics] == []
    [(labels, _)] = metrics["jetstream_server_total_streams"]
    assert labels == {"server_id": jsz["server_id"], "server_name": "js-metrics", "cluster": "",
                      "domain": "", "meta_leader": "", "is_meta_leader": "true"}
    values = {name: metrics[name][0][1] for name in JS_SERVER}
    assert values == {"jetstream_server_jetstream_disabled": 0, "jetstream_server_total_streams": 2,
                      "jetstream_server_total_consumers": 1, "jetstream_server_total_messages": 5,
                      "jetstream_server_total_message_bytes": jsz["bytes"],
                      "jetstream_server_max_memory": jsz["config"]["max_memory"],
                      "jetstream_server_max_storage": jsz["config"]["max_storage"]}
    assert jsz["bytes"] > 0

    streams = {labels["stream_name"]: (labels, value) for labels, value in metrics["jetstream_stream_total_messages"]}
    labels, total = streams["ORDERS"]
    assert set(labels) == JS_STREAM_LABELS and total == 5 and streams["EMPTY"][1] == 0
    assert (labels["account"], labels["account_id"], labels["stream_leader"], labels["is_stream_leader"]) == (
        "$G", "$G", "js-metrics", "true")
    by_stream = {name: {lb["stream_name"]: v for lb, v in metrics[f"jetstream_stream_{name}"]}
                 for name in ("total_bytes", "first_seq", "last_seq", "consumer_count")}
    assert by_stream["first_seq"]["ORDERS"] == 1 and by_stream["last_seq"]["ORDERS"] == 5
    assert by_stream["consumer_count"] == {"ORDERS": 1, "EMPTY": 0}
    assert by_stream["total_bytes"]["ORDERS"] == jsz["bytes"]

    consumer = {name.removeprefix("jetstream_consumer_"): metrics[name] for name in metrics
                if name.startswith("jetstream_consumer_")}
    assert {name: [v for _, v in rows] for name, rows in consumer.items()} == {
        "delivered_consumer_seq": [3], "delivered_stream_seq": [3], "num_ack_pending": [2],
        "num_redelivered": [0], "num_waiting": [0], "num_pending": [2], "ack_floor_stream_seq": [1],
        "ack_floor_consumer_seq": [1]}
    labels = consumer["num_pending"][0][0]
    assert set(labels) == JS_CONSUMER_LABELS
    assert (labels["consumer_name"], labels["consumer_desc"], labels["stream_name"]) == (
        "worker", "the workers", "ORDERS")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", labels["consumer_created"])
