"""/jsz and /varz's `jetstream` against nats-server: the same usage figures, config keys,
account, stream and consumer details (times, ids, server names and machine-sized limits left
out); /jsz of a server without JetStream says `disabled`."""

from __future__ import annotations

import json
import urllib.request

import nats

from zats.bench.ports import free_port

_VOLATILE = {"server_id", "now", "created", "ts", "first_ts", "last_ts", "last_active", "leader",
             "max_memory", "max_storage", "store_dir", "api"}  # api: counted apart in nats-server


def _get(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
        return json.loads(r.read())


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        items = [_strip(v) for v in value]
        # nats-server lists an account's streams in map order, which changes run to run
        return sorted(items, key=lambda v: v.get("name", "")) if all(
            isinstance(v, dict) for v in items) else items
    return value


async def _jsz_of(spawn, kind: str, store) -> tuple[dict, dict, dict]:
    port = free_port()
    srv = spawn(kind, "-js", "-sd", str(store), http_port=port)
    nc = await nats.connect(srv.url)
    js = nc.jetstream()
    await js.add_stream(name="M", subjects=["m"], storage="memory")
    await js.add_stream(name="F", subjects=["f"])
    await js.publish("m", b"x")
    await js.publish("f", b"yy")
    await js.add_consumer("M", durable_name="C")
    await nc.close()
    plain = _get(port, "/jsz")
    full = _get(port, "/jsz?consumers=true&config=true")
    varz = _get(port, "/varz")["jetstream"]
    return plain, full, varz


async def test_jsz_matches_nats_server(spawn, tmp_path):
    got = {kind: await _jsz_of(spawn, kind, tmp_path / kind) for kind in ("zats", "nats-server")}
    z, n = got["zats"], got["nats-server"]
    assert _strip(z[0]) == _strip(n[0])
    assert (z[0]["streams"], z[0]["consumers"], z[0]["messages"], z[0]["bytes"]) == (2, 1, 2, 51)
    assert z[0]["config"]["store_dir"].endswith("/zats/jetstream")
    assert _strip(z[1]) == _strip(n[1])
    assert _strip(z[2]) == _strip(n[2])


async def test_jsz_disabled(kind, spawn):
    port = free_port()
    spawn(kind, http_port=port)
    body = _get(port, "/jsz")
    assert body["disabled"] is True and body["config"] == {"max_memory": 0, "max_storage": 0}
    assert _get(port, "/varz")["jetstream"] == {}
