"""/metrics' jetstream_* gauges, named and labelled as prometheus-nats-exporter's JetStream
collector (`-jsz=all`) names them, made from the same document /jsz answers
(`jsz_data` with consumers and configs), so the two never disagree:

- jetstream_server_*: jetstream_disabled, total_streams, total_consumers, total_messages,
  total_message_bytes, max_memory, max_storage; labels server_id, server_name, cluster, domain,
  meta_leader, is_meta_leader
- jetstream_stream_*: total_messages, total_bytes, first_seq, last_seq, consumer_count; the
  server labels and account, account_id, stream_name, stream_leader, is_stream_leader
- jetstream_consumer_*: delivered_consumer_seq, delivered_stream_seq, num_ack_pending,
  num_redelivered, num_waiting, num_pending, ack_floor_stream_seq, ack_floor_consumer_seq; the
  stream labels and consumer_name, consumer_leader, is_consumer_leader, consumer_desc,
  consumer_created (local time, RFC 3339 in seconds, as the exporter writes it)

zats runs JetStream on one server (no meta group): cluster and meta_leader are empty and
is_meta_leader is "true", as the exporter reports a server without a meta group."""

from __future__ import annotations

import datetime

from prometheus_client.core import GaugeMetricFamily

from .jsz import jsz_data

SERVER_LABELS = ["server_id", "server_name", "cluster", "domain", "meta_leader", "is_meta_leader"]
STREAM_LABELS = [*SERVER_LABELS, "account", "account_id", "stream_name", "stream_leader", "is_stream_leader"]
CONSUMER_LABELS = [*STREAM_LABELS, "consumer_name", "consumer_leader", "is_consumer_leader", "consumer_desc",
                   "consumer_created"]

# metric name -> how to read it from the /jsz document, its account's stream, or its consumer
_SERVER = {"total_streams": lambda d: d["streams"], "total_consumers": lambda d: d["consumers"],
           "total_messages": lambda d: d["messages"], "total_message_bytes": lambda d: d["bytes"],
           "max_memory": lambda d: d["config"]["max_memory"],
           "max_storage": lambda d: d["config"]["max_storage"]}
_STREAM = {"total_messages": lambda s: s["state"]["messages"], "total_bytes": lambda s: s["state"]["bytes"],
           "first_seq": lambda s: s["state"]["first_seq"], "last_seq": lambda s: s["state"]["last_seq"],
           "consumer_count": lambda s: s["state"]["consumer_count"]}
_CONSUMER = {"delivered_consumer_seq": lambda c: c["delivered"]["consumer_seq"],
             "delivered_stream_seq": lambda c: c["delivered"]["stream_seq"],
             "num_ack_pending": lambda c: c["num_ack_pending"],
             "num_redelivered": lambda c: c["num_redelivered"],
             "num_waiting": lambda c: c["num_waiting"], "num_pending": lambda c: c["num_pending"],
             "ack_floor_stream_seq": lambda c: c["ack_floor"]["stream_seq"],
             "ack_floor_consumer_seq": lambda c: c["ack_floor"]["consumer_seq"]}
_QUERY = {"consumers": "true", "config": "true"}  # the exporter's query for -jsz=all


def _leader(detail: dict, server_name: str) -> tuple[str, str]:
    """(leader, is_leader) as the exporter reads an asset's `cluster`: no cluster is "true"."""
    cluster = detail.get("cluster")
    if cluster is None:
        return "", "true"
    leader = cluster.get("leader", "")
    return leader, "true" if leader == server_name else "false"


def _local_rfc3339(text: str) -> str:
    """A /jsz time (UTC, RFC 3339 with nanoseconds) as Go's time.Local().Format(time.RFC3339)."""
    when = datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    local = when.astimezone().isoformat(timespec="seconds")
    return local[:-6] + "Z" if local.endswith("+00:00") else local


def jetstream_metrics(broker):
    """The exporter's JetStream gauges for `broker`; nothing when JetStream is off."""
    if broker.jetstream is None:
        return
    doc = jsz_data(broker, _QUERY)
    name = broker.server_name
    server = [broker.server_id, name, "", doc["config"].get("domain", ""), "", "true"]
    disabled = GaugeMetricFamily("jetstream_server_jetstream_disabled", "JetStream disabled or not",
                                 labels=SERVER_LABELS)
    disabled.add_metric(server, 1 if doc.get("disabled") else 0)
    yield disabled
    for metric, read in _SERVER.items():
        family = GaugeMetricFamily(f"jetstream_server_{metric}", metric, labels=SERVER_LABELS)
        family.add_metric(server, read(doc))
        yield family
    streams, consumers = [], []
    for account in doc.get("account_details", []):
        for stream in account.get("stream_detail", []):
            labels = [*server, account["name"], account["id"], stream["name"], *_leader(stream, name)]
            streams.append((labels, stream))
            for consumer in stream.get("consumer_detail", []):
                config = consumer.get("config") or {}
                consumers.append(([*labels, consumer["name"], *_leader(consumer, name),
                                   config.get("description", ""), _local_rfc3339(consumer["created"])],
                                  consumer))
    for prefix, labels, rows, readers in (("jetstream_stream", STREAM_LABELS, streams, _STREAM),
                                          ("jetstream_consumer", CONSUMER_LABELS, consumers, _CONSUMER)):
        for metric, read in readers.items():
            family = GaugeMetricFamily(f"{prefix}_{metric}", metric, labels=labels)
            for values, detail in rows:
                family.add_metric(values, read(detail))
            yield family
