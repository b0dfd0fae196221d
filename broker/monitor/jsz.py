"""/jsz, JetStream's monitoring endpoint, in nats-server's shape: the server's usage (memory and
file bytes, accounts, API counts), its JetStream config, totals of streams, consumers, messages
and bytes; with `accounts=true` (or `acc=NAME`) the accounts' details, with `streams=true` their
streams, `consumers=true` their consumers, `config=true` the configs. Also the `jetstream`
section of /varz."""

from __future__ import annotations

import os
import shutil
import time
import weakref

import msgspec

from .params import get_bool, get_int
from .render import pretty, utc

_NS = 1_000_000_000
_TB = 1 << 40
_DEFAULT_MAX_CONSUMERS = 1000  # nats-server's JSLimitOpts default shown in /jsz


_resolved_limits: weakref.WeakKeyDictionary[object, tuple[int, int]] = weakref.WeakKeyDictionary()


def _limits(js) -> tuple[int, int]:
    """max_memory and max_storage as nats-server computes its defaults: 75% of the memory,
    75% of the store dir's free disk. Computed once per JetStream, as nats-server fixes them
    when JetStream is enabled (free disk changes as anything writes)."""
    limits = _resolved_limits.get(js)
    if limits is None:
        limits = _resolved_limits[js] = _compute_limits(js)
    return limits


def _compute_limits(js) -> tuple[int, int]:
    memory, storage = js.max_memory, js.max_file
    if memory < 0:
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4 * 3
        except (ValueError, OSError):
            memory = 256 * 1024 * 1024
    if storage < 0:
        try:
            os.makedirs(js.store_dir, exist_ok=True)
            storage = shutil.disk_usage(js.store_dir).free // 4 * 3
        except OSError:
            storage = _TB
    return memory, storage


def _config(js) -> dict:
    memory, storage = _limits(js)
    out = {"max_memory": memory, "max_storage": storage,
           "store_dir": os.path.join(js.store_dir, "jetstream")}
    if js.sync_interval == 0:
        out["sync_always"] = True
    else:
        out["sync_interval"] = int(js.sync_interval * _NS)
    if js.domain:
        out["domain"] = js.domain
    out["strict"] = True
    return out


def _stats(js) -> dict:
    u = js.usage()
    total = sum(a.api_total for a in js.accounts.values())
    errors = sum(a.api_errors for a in js.accounts.values())
    return {"memory": u["memory"], "storage": u["storage"], "reserved_memory": 0,
            "reserved_storage": 0, "accounts": len(js.accounts), "ha_assets": 0,
            "api": {"level": 5, "total": total, "errors": errors}}


def _stored_config(cfg) -> dict:
    """A config as nats-server keeps it: of its `_nats.*` metadata only the required level."""
    out = msgspec.to_builtins(cfg)
    meta = {k: v for k, v in out.get("metadata", {}).items()
            if k not in ("_nats.level", "_nats.ver")}
    if meta:
        out["metadata"] = meta
    else:
        out.pop("metadata", None)
    return out


def _account_detail(jsa, streams: bool, consumers: bool, config: bool, now) -> dict:
    memory, storage, _ = jsa.usage()
    # nats-server shows the account's limits here, -1 (none) as an unsigned 64-bit number
    reserved = [jsa.limits.get(k, -1) % (1 << 64) for k in ("max_memory", "max_storage")]
    detail = {"name": jsa.account.name, "id": jsa.account.name, "memory": memory,
              "storage": storage, "reserved_memory": reserved[0], "reserved_storage": reserved[1],
              "accounts": 0,
              "ha_assets": 0, "api": {"level": 0, "total": jsa.api_total, "errors": jsa.api_errors}}
    if not streams:
        return detail
    out = []
    for stream in jsa.streams.values():
        sd = {"name": stream.name, "created": stream.info()["created"],
              "cluster": {"leader": jsa.broker.server_name}}
        if config:
            sd["config"] = _stored_config(stream.cfg)
        sd["state"] = stream.state_json()
        if consumers and stream.consumers:
            infos = []
            for c in stream.consumers.values():
                info = c.info()
                if config:
                    info["config"] = _stored_config(info["config"])
                else:
                    info.pop("config")
                info["ts"] = now
                infos.append(info)
            sd["consumer_detail"] = infos
        out.append(sd)
    detail["stream_detail"] = out
    return detail


def jsz(broker, query) -> bytes:
    return pretty(jsz_data(broker, query))


def jsz_data(broker, query) -> dict:
    """The /jsz document for `query` (also what /metrics' jetstream_* gauges are made from)."""
    js = broker.jetstream
    now = utc(time.time())
    if js is None:
        return {"memory": 0, "storage": 0, "reserved_memory": 0, "reserved_storage": 0,
                       "accounts": 0, "ha_assets": 0, "api": {"level": 0, "total": 0, "errors": 0},
                       "server_id": broker.server_id, "now": now, "disabled": True,
                       "config": {"max_memory": 0, "max_storage": 0}, "streams": 0,
                       "consumers": 0, "messages": 0, "bytes": 0, "total": 0}
    acc = query.get("acc", "")
    consumers = get_bool(query, "consumers")
    streams = get_bool(query, "streams") or consumers
    accounts = get_bool(query, "accounts") or (streams and not acc)
    config = get_bool(query, "config")
    offset = max(get_int(query, "offset"), 0)
    limit = get_int(query, "limit") or 1024
    u = js.usage()
    body = {**_stats(js), "server_id": broker.server_id, "now": now, "config": _config(js),
            "limits": {"default_max_consumers": _DEFAULT_MAX_CONSUMERS},
            "streams": u["streams"], "consumers": u["consumers"], "messages": u["messages"],
            "bytes": u["bytes"]}
    jsas = sorted(js.accounts.values(), key=lambda a: a.account.name)
    if acc:
        jsas = [a for a in jsas if a.account.name == acc]
    elif accounts:
        jsas = jsas[offset:offset + limit]
    else:
        jsas = []
    details = [_account_detail(a, streams, consumers, config, now) for a in jsas]
    if details:
        body["account_details"] = details
    body["total"] = len(js.accounts)
    return body


def jetstream_varz(broker) -> dict:
    """/varz `jetstream`: config, stats and limits when JetStream is on, else empty."""
    js = broker.jetstream
    if js is None:
        return {"jetstream": {}}
    return {"jetstream": {"config": _config(js), "stats": _stats(js),
                          "limits": {"default_max_consumers": _DEFAULT_MAX_CONSUMERS}}}
