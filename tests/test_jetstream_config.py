"""Enabling JetStream: -js and -sd, the `jetstream {}` block (store_dir, domain, limits),
per-account `jetstream` (enabled, limits, absent), INFO's `jetstream` flag; and the API answered
alike by zats and nats-server (JSON compared after removing times, ids and server names)."""

from __future__ import annotations

import json
import os

import nats
import pytest

from support.servers import write_config

_VOLATILE = {"created", "ts", "time", "first_ts", "last_ts", "last_active", "id", "timestamp",
             "leader", "start", "rtt", "server", "name_generated"}


def normalise(value):
    """An API answer without what differs between runs and servers."""
    if isinstance(value, dict):
        # api.total/errors: nats-server leaves some requests out of its counts
        return {k: normalise(v) for k, v in value.items() if k not in _VOLATILE and k != "api"}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


ACCOUNTS = """
jetstream {{ store_dir: "{dir}", domain: hub }}
accounts {{
  A {{ jetstream: enabled, users [ {{user: a, password: a}} ] }}
  B {{ users [ {{user: b, password: b}} ] }}
  C {{ jetstream {{ max_streams: 1, max_mem: 1000 }}, users [ {{user: c, password: c}} ] }}
}}
"""


async def _answers(url_for, requests) -> list:
    out = []
    for user, subject, body in requests:
        nc = await nats.connect(url_for(user))
        try:
            msg = await nc.request(subject, body, timeout=2)
            out.append((user, subject, normalise(json.loads(msg.data))))
        except nats.errors.NoRespondersError:
            out.append((user, subject, "no responders"))
        await nc.close()
    return out


def assert_same(got: dict) -> None:
    """Both servers' answers equal, request by request (the differences listed otherwise)."""
    diffs = []
    for z, n in zip(got["zats"], got["nats-server"], strict=True):
        if z != n:
            diffs.append(f"{z[1]}\n  zats:        {json.dumps(z[2], sort_keys=True)}"
                         f"\n  nats-server: {json.dumps(n[2], sort_keys=True)}")
    assert not diffs, "\n".join(diffs)


@pytest.fixture
def answers_of(spawn, tmp_path):
    """Runs the same requests against a zats and a nats-server started from one config."""
    async def run(template: str, requests) -> dict:
        results = {}
        for kind in ("zats", "nats-server"):
            store = tmp_path / kind
            conf_dir = tmp_path / f"conf-{kind}"
            conf_dir.mkdir()
            srv = spawn(kind, "-c", write_config(conf_dir, template.format(dir=store)))
            host_port = f"{srv.host}:{srv.port}"
            results[kind] = await _answers(
                lambda user, hp=host_port: f"nats://{user}:{user}@{hp}" if user else f"nats://{hp}",
                requests)
        return results
    return run


async def test_accounts_with_and_without_jetstream(answers_of):
    create = b'{"name":"X","storage":"memory"}'
    requests = [
        ("a", "$JS.API.INFO", b""),
        ("a", "$JS.API.STREAM.CREATE.X", create),
        ("a", "X", b"hello"),
        ("a", "$JS.API.STREAM.INFO.X", b""),
        ("b", "$JS.API.INFO", b""),
        ("b", "$JS.API.STREAM.CREATE.X", create),
        ("b", "$JS.API.STREAM.NAMES", b""),
        ("b", "X", b"hello"),
        ("c", "$JS.API.INFO", b""),
        ("c", "$JS.API.STREAM.CREATE.X", create),
        ("c", "$JS.API.STREAM.CREATE.Y", b'{"name":"Y","storage":"memory"}'),
    ]
    got = await answers_of(ACCOUNTS, requests)
    assert_same(got)
    by_request = {(u, s): a for u, s, a in got["zats"]}
    assert by_request[("a", "X")] == {"stream": "X", "seq": 1, "domain": "hub"}
    assert by_request[("b", "$JS.API.INFO")]["error"]["err_code"] == 10039
    assert by_request[("c", "$JS.API.STREAM.CREATE.Y")]["error"]["err_code"] == 10027


async def test_api_answers_match_nats_server(answers_of):
    """A sequence of raw API requests, answered alike (after removing times and ids)."""
    conf = 'jetstream {{ store_dir: "{dir}" }}'
    create = json.dumps({"name": "D", "subjects": ["d.>"], "storage": "memory", "max_msgs_per_subject": 2,
                         "allow_direct": True, "metadata": {"k": "v"}}).encode()
    consumer = json.dumps({"stream_name": "D", "config": {
        "durable_name": "C", "ack_policy": "explicit", "filter_subject": "d.a", "max_deliver": 3,
        "backoff": [1_000_000_000, 2_000_000_000]}}).encode()
    requests = [
        (None, "$JS.API.STREAM.CREATE.D", create),
        (None, "$JS.API.STREAM.CREATE.D", create),
        (None, "$JS.API.STREAM.CREATE.E", b'{"name":"E","subjects":["d.x"]}'),
        (None, "$JS.API.STREAM.CREATE.F", b'{"name":"F","retention":"bogus"}'),
        (None, "$JS.API.STREAM.CREATE.G", b'{"name":"G","subjects":["g.*","g.a"]}'),
        (None, "d.a", b"1"),
        (None, "d.a", b"2"),
        (None, "d.b", b"3"),
        (None, "d.a", b"4"),
        (None, "$JS.API.STREAM.INFO.D", b""),
        (None, "$JS.API.STREAM.MSG.GET.D", b'{"seq":1}'),
        (None, "$JS.API.STREAM.MSG.GET.D", b'{"seq":2}'),
        (None, "$JS.API.STREAM.MSG.GET.D", b'{"last_by_subj":"d.a"}'),
        (None, "$JS.API.STREAM.MSG.GET.D", b'{"next_by_subj":"d.b","seq":1}'),
        (None, "$JS.API.CONSUMER.CREATE.D.C", consumer),
        (None, "$JS.API.CONSUMER.CREATE.D.C", consumer),
        (None, "$JS.API.CONSUMER.CREATE.D.Q", b'{"stream_name":"D","config":{"name":"Q","deliver_policy":"new","ack_policy":"none"}}'),
        (None, "$JS.API.CONSUMER.CREATE.D.H", b'{"stream_name":"D","config":{"name":"H","idle_heartbeat":1000000000}}'),
        (None, "$JS.API.CONSUMER.CREATE.D.W", b'{"stream_name":"D","config":{"name":"W","deliver_subject":"d.loop"}}'),
        (None, "$JS.API.CONSUMER.CREATE.D.B", b'{"stream_name":"D","config":{"name":"B","backoff":[1000000000],"max_deliver":1,"ack_policy":"explicit"}}'),
        (None, "$JS.API.CONSUMER.INFO.D.C", b""),
        (None, "$JS.API.CONSUMER.INFO.D.nope", b""),
        (None, "$JS.API.CONSUMER.NAMES.D", b""),
        (None, "$JS.API.CONSUMER.DELETE.D.Q", b""),
        (None, "$JS.API.CONSUMER.NAMES.D", b""),
        (None, "$JS.API.STREAM.PURGE.D", b'{"filter":"d.a","keep":1}'),
        (None, "$JS.API.STREAM.INFO.D", b'{"subjects_filter":">"}'),
        (None, "$JS.API.STREAM.MSG.DELETE.D", b'{"seq":3}'),
        (None, "$JS.API.STREAM.MSG.DELETE.D", b'{"seq":3}'),
        (None, "$JS.API.STREAM.UPDATE.D", b'{"name":"D","subjects":["d.>"],"storage":"file"}'),
        (None, "$JS.API.STREAM.UPDATE.D", b'{"name":"D","subjects":["d.>","e.>"],"storage":"memory"}'),
        (None, "$JS.API.STREAM.NAMES", b""),
        (None, "$JS.API.STREAM.DELETE.D", b""),
        (None, "$JS.API.STREAM.DELETE.D", b""),
        (None, "$JS.API.INFO", b""),
    ]
    assert_same(await answers_of(conf, requests))


async def test_info_and_store_dir(kind, spawn, tmp_path):
    plain = spawn(kind)
    nc = await nats.connect(plain.url)
    assert not nc._server_info.get("jetstream")
    await nc.close()
    srv = spawn(kind, "-js", "-sd", str(tmp_path))
    nc = await nats.connect(srv.url)
    assert nc._server_info["jetstream"] is True
    js = nc.jetstream()
    await js.add_stream(name="ON_DISK", subjects=["disk"], storage="file")
    await js.publish("disk", b"x")
    await nc.close()
    assert os.path.isdir(tmp_path / "jetstream" / "$G" / "streams" / "ON_DISK")


async def test_bad_requests_answered_as_nats_server(answers_of):
    """Malformed and wrongly typed request bodies: the same error codes as nats-server (the text
    of a JSON syntax error is Go's own and is not compared), and the server carries on."""
    conf = 'jetstream {{ store_dir: "{dir}" }}'
    bodies = [b"garbage", b"[1,2]", b'{"name": 5}', b'{"seq": "x"}', b"{", b'{"config": 7}']
    subjects = ["$JS.API.STREAM.CREATE.B", "$JS.API.STREAM.UPDATE.B", "$JS.API.STREAM.MSG.GET.B",
                "$JS.API.STREAM.PURGE.B", "$JS.API.STREAM.MSG.DELETE.B", "$JS.API.STREAM.NAMES",
                "$JS.API.CONSUMER.CREATE.B", "$JS.API.CONSUMER.CREATE.B.C"]
    requests = [(None, "$JS.API.STREAM.CREATE.B", b'{"name":"B","storage":"memory"}')]
    requests += [(None, s, b) for s in subjects for b in bodies]
    requests.append((None, "$JS.API.STREAM.INFO.B", b""))
    got = await answers_of(conf, requests)
    for answers in got.values():
        for _, _, answer in answers:
            error = answer.get("error") if isinstance(answer, dict) else None
            if error and error["err_code"] == 10025:
                error["description"] = "invalid JSON"
    assert_same(got)
