"""JetStream through nats-py's `js` API against zats and nats-server, both started with -js and
a store directory of their own: streams (create, info, limits, publish checks, purge, message
get/delete, direct get), consumers (pull fetch, acks, redelivery, push, ordered), retention
policies and advisories. Each test states nats-server's behaviour and checks zats against it."""

from __future__ import annotations

import asyncio
import json
import random

import nats
import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import APIError, BadRequestError, NotFoundError, ServiceUnavailableError

from support.servers import KINDS, start_server


@pytest.fixture(scope="session", params=KINDS)
def js_server(request, tmp_path_factory):
    srv = start_server(request.param, "-js", "-sd", str(tmp_path_factory.mktemp(f"js-{request.param}")))
    yield srv
    srv.stop()


@pytest.fixture
async def js(js_server, request):
    nc = await nats.connect(js_server.url)
    ctx = nc.jetstream(timeout=2)
    ctx.nc = nc
    yield ctx
    await nc.close()


_counter = iter(range(1, 1_000_000))


def unique(prefix: str = "S") -> str:
    return f"{prefix}{next(_counter)}"


# -- streams -----------------------------------------------------------------------------------------


async def test_account_info(js):
    info = await js.account_info()
    assert info.limits.max_memory == -1 and info.limits.max_streams == -1
    assert info.api.level >= 1


async def test_stream_create_info_delete(js):
    name = unique()
    info = await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory")
    assert info.config.name == name
    assert info.config.retention == api.RetentionPolicy.LIMITS
    assert info.config.duplicate_window == 120.0
    assert info.config.max_msgs == -1 and info.config.max_msg_size == -1
    assert info.state.messages == 0 and info.state.first_seq == 0
    # Identical create: the same stream, no error.
    again = await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory")
    assert again.config.name == name
    with pytest.raises(BadRequestError) as exc:
        await js.add_stream(name=name, subjects=[f"{name}.other"], storage="memory")
    assert exc.value.err_code == 10058
    assert await js.delete_stream(name)
    with pytest.raises(NotFoundError) as exc:
        await js.stream_info(name)
    assert exc.value.err_code == 10059


async def test_stream_errors(js):
    with pytest.raises(APIError) as exc:
        await js.add_stream(name=unique(), num_replicas=3)
    assert (exc.value.code, exc.value.err_code) == (500, 10074)
    # An update asks for the stream first: a missing one is "not found", whatever its replicas.
    missing = unique()
    raw = await js.nc.request(f"$JS.API.STREAM.UPDATE.{missing}", json.dumps(
        {"name": missing, "num_replicas": 3}).encode(), timeout=2)
    assert json.loads(raw.data)["error"]["err_code"] == 10059
    a = unique()
    await js.add_stream(name=a, subjects=[f"{a}.*"])
    raw = await js.nc.request(f"$JS.API.STREAM.UPDATE.{a}", json.dumps(
        {"name": a, "subjects": [f"{a}.*"], "num_replicas": 3, "storage": "memory"}).encode(), timeout=2)
    assert json.loads(raw.data)["error"]["err_code"] == 10074  # before the storage change
    with pytest.raises(BadRequestError) as exc:
        await js.add_stream(name=unique(), subjects=[f"{a}.x"])
    assert exc.value.err_code == 10065  # subjects overlap
    raw = await js.nc.request(f"$JS.API.STREAM.CREATE.{a}X", json.dumps(
        {"name": f"{a}X", "bogus": 1}).encode(), timeout=2)
    err = json.loads(raw.data)["error"]
    assert err == {"code": 400, "err_code": 10025, "description": 'invalid JSON: json: unknown field "bogus"'}
    raw = await js.nc.request(f"$JS.API.STREAM.CREATE.{a}Y", json.dumps({"name": "other"}).encode(), timeout=2)
    assert json.loads(raw.data)["error"]["err_code"] == 10056
    await js.delete_stream(a)


async def test_publish_acks_and_header_checks(js):
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory")
    ack = await js.publish(f"{name}.a", b"one", headers={"Nats-Msg-Id": "m1"})
    assert (ack.stream, ack.seq, ack.duplicate) == (name, 1, None)
    dup = await js.publish(f"{name}.a", b"one", headers={"Nats-Msg-Id": "m1"})
    assert (dup.seq, dup.duplicate) == (1, True)
    with pytest.raises(BadRequestError) as exc:
        await js.publish(f"{name}.a", b"x", headers={"Nats-Expected-Last-Sequence": "7"})
    assert (exc.value.err_code, exc.value.description) == (10071, "wrong last sequence: 1")
    with pytest.raises(BadRequestError) as exc:
        await js.publish(f"{name}.a", b"x", headers={"Nats-Expected-Stream": "nope"})
    assert exc.value.err_code == 10060
    with pytest.raises(BadRequestError) as exc:
        await js.publish(f"{name}.b", b"x", headers={"Nats-Expected-Last-Subject-Sequence": "1"})
    assert exc.value.description == "wrong last sequence: 0"
    ok = await js.publish(f"{name}.a", b"two", headers={"Nats-Expected-Last-Subject-Sequence": "1"})
    assert ok.seq == 2
    with pytest.raises(BadRequestError) as exc:
        await js.publish(f"{name}.a", b"x", headers={"Nats-Expected-Last-Msg-Id": "zz"})
    # The last message (seq 2) had no Nats-Msg-Id: the last ID is empty.
    assert (exc.value.err_code, exc.value.description) == (10070, "wrong last msg ID: ")
    # Core publishes without a reply are stored too.
    await js.nc.publish(f"{name}.core", b"plain")
    await js.nc.flush()
    # nats-server stores a publish on the stream's own goroutine: ask until it shows, 5 s at most.
    for _ in range(100):
        info = await js.stream_info(name)
        if info.state.messages == 3:
            break
        await asyncio.sleep(0.05)
    assert (info.state.messages, info.state.last_seq) == (3, 3)
    await js.delete_stream(name)


async def test_oversized_publish_refused_before_header_checks(js):
    """Over max_msg_size (headers count): 10054 whatever the headers ask, duplicates and
    failing expectations included; an expected sequence that is no number matches nothing."""
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory", max_msg_size=80,
                        allow_msg_ttl=False)
    with pytest.raises(BadRequestError) as exc:
        await js.publish(f"{name}.a", b"1", headers={"Nats-Expected-Last-Sequence": "x"})
    assert (exc.value.err_code, exc.value.description) == (10071, "wrong last sequence: 0")
    await js.publish(f"{name}.a", b"1", headers={"Nats-Msg-Id": "d"})
    for headers in ({"Nats-Expected-Last-Sequence": "5"}, {"Nats-Expected-Stream": "other"},
                    {"Nats-Expected-Last-Msg-Id": "zz"}, {"Nats-Rollup": "all"},
                    {"Nats-Expected-Last-Subject-Sequence": "4"}, {"Nats-TTL": "1s"},
                    {"Nats-Msg-Id": "d"}):
        with pytest.raises(BadRequestError) as exc:
            await js.publish(f"{name}.a", b"y" * 90, headers=headers)
        assert (exc.value.err_code, exc.value.description) == (
            10054, "message size exceeds maximum allowed"), headers
    for value in ("x", "-1", "+1"):
        with pytest.raises(BadRequestError) as exc:
            await js.publish(f"{name}.a", b"2", headers={"Nats-Expected-Last-Subject-Sequence": value})
        assert exc.value.description == "wrong last sequence: 1", value
    cfg = (await js.stream_info(name)).config
    cfg.sealed = True
    await js.update_stream(cfg)
    with pytest.raises(BadRequestError) as exc:
        await js.publish(f"{name}.a", b"y" * 100)
    assert exc.value.err_code == 10109
    await js.delete_stream(name)


async def test_no_stream_no_responders(js):
    with pytest.raises(NoRespondersError):
        await js.nc.request(unique("nobody.") + ".x", b"", timeout=1)


async def test_discard_new_and_max_msgs(js):
    name = unique()
    await js.add_stream(name=name, subjects=[name], storage="memory", max_msgs=2, discard="new")
    await js.publish(name, b"1")
    await js.publish(name, b"2")
    with pytest.raises(APIError) as exc:
        await js.publish(name, b"3")
    assert (exc.value.code, exc.value.err_code, exc.value.description) == (
        503, 10077, "maximum messages exceeded")
    other = unique()
    await js.add_stream(name=other, subjects=[other], storage="memory", max_msgs=2)
    for i in range(5):
        await js.publish(other, b"%d" % i)
    info = await js.stream_info(other)
    assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (2, 4, 5)
    for n in (name, other):
        await js.delete_stream(n)


async def test_max_msg_size_and_sealed(js):
    name = unique()
    await js.add_stream(name=name, subjects=[name], storage="memory", max_msg_size=4)
    with pytest.raises(BadRequestError) as exc:
        await js.publish(name, b"12345")
    assert exc.value.err_code == 10054
    cfg = (await js.stream_info(name)).config
    cfg.sealed = True
    await js.update_stream(cfg)
    with pytest.raises(BadRequestError) as exc:
        await js.publish(name, b"1")
    assert exc.value.err_code == 10109
    await js.delete_stream(name)


async def test_rollup(js):
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.*"], storage="memory", allow_rollup_hdrs=True)
    for i in range(3):
        await js.publish(f"{name}.a", b"%d" % i)
    await js.publish(f"{name}.b", b"b")
    await js.publish(f"{name}.a", b"roll", headers={"Nats-Rollup": "sub"})
    info = await js.stream_info(name)
    assert info.state.messages == 2
    await js.publish(f"{name}.c", b"all", headers={"Nats-Rollup": "all"})
    assert (await js.stream_info(name)).state.messages == 1
    plain = unique()
    await js.add_stream(name=plain, subjects=[plain], storage="memory")
    with pytest.raises(APIError) as exc:
        await js.publish(plain, b"x", headers={"Nats-Rollup": "all"})
    assert (exc.value.err_code, exc.value.description) == (10111, "rollup not permitted")
    for n in (name, plain):
        await js.delete_stream(n)


async def test_message_ttl(js):
    name = unique()
    await js.add_stream(name=name, subjects=[name], storage="memory")
    with pytest.raises(BadRequestError) as exc:
        await js.publish(name, b"x", headers={"Nats-TTL": "1s"})
    assert exc.value.err_code == 10166
    ttl = unique()
    await js.add_stream(name=ttl, subjects=[ttl], storage="memory", allow_msg_ttl=True)
    await js.publish(ttl, b"short", headers={"Nats-TTL": "1s"})
    await js.publish(ttl, b"stays")
    assert (await js.stream_info(ttl)).state.messages == 2
    await asyncio.sleep(1.6)
    info = await js.stream_info(ttl)
    assert (info.state.messages, info.state.first_seq) == (1, 2)
    for n in (name, ttl):
        await js.delete_stream(n)


async def test_purge_get_delete_direct(js):
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.*"], storage="memory", allow_direct=True)
    for subj in ("a", "b", "a", "c"):
        await js.publish(f"{name}.{subj}", subj.encode(), headers={"K": subj})
    msg = await js.get_msg(name, seq=2)
    assert (msg.subject, msg.seq, msg.data, msg.headers["K"]) == (f"{name}.b", 2, b"b", "b")
    last = await js.get_last_msg(name, f"{name}.a")
    assert last.seq == 3
    direct = await js.get_msg(name, seq=1, direct=True)
    assert (direct.subject, direct.seq, direct.data) == (f"{name}.a", 1, b"a")
    direct_last = await js.get_msg(name, subject=f"{name}.a", direct=True)
    assert direct_last.seq == 3
    with pytest.raises(NotFoundError):
        await js.get_msg(name, seq=99, direct=True)
    with pytest.raises(NotFoundError) as exc:
        await js.get_msg(name, seq=99)
    assert exc.value.err_code == 10037
    assert await js.delete_msg(name, 4)
    await js.purge_stream(name, subject=f"{name}.a")
    info = await js.stream_info(name)
    assert (info.state.messages, info.state.first_seq) == (1, 2)
    await js.purge_stream(name)
    info = await js.stream_info(name)
    assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (0, 5, 4)
    await js.delete_stream(name)


async def test_stream_names_and_list(js):
    names = sorted(unique("L") for _ in range(3))
    for n in names:
        await js.add_stream(name=n, subjects=[n], storage="memory")
    listed = await js.streams_info()
    assert set(names) <= {s.config.name for s in listed}
    raw = await js.nc.request("$JS.API.STREAM.NAMES", json.dumps({"subject": names[1]}).encode(), timeout=2)
    body = json.loads(raw.data)
    assert (body["total"], body["streams"]) == (1, [names[1]])
    for n in names:
        await js.delete_stream(n)


# -- consumers ---------------------------------------------------------------------------------------


async def _stream_with(js, count: int, **kw) -> str:
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory", **kw)
    for i in range(count):
        await js.publish(f"{name}.{i % 2}", b"m%d" % i)
    return name


async def test_pull_fetch_ack_and_pending(js):
    name = await _stream_with(js, 5)
    psub = await js.pull_subscribe(f"{name}.>", durable="D", stream=name)
    msgs = await psub.fetch(3, timeout=2)
    assert [m.data for m in msgs] == [b"m0", b"m1", b"m2"]
    meta = msgs[0].metadata
    assert (meta.sequence.stream, meta.sequence.consumer, meta.num_delivered, meta.num_pending) == (1, 1, 1, 4)
    assert (meta.stream, meta.consumer) == (name, "D")
    await msgs[0].ack()
    await msgs[1].ack_sync()
    info = await js.consumer_info(name, "D")
    assert (info.num_pending, info.num_ack_pending, info.delivered.stream_seq) == (2, 1, 3)
    assert (info.ack_floor.stream_seq, info.ack_floor.consumer_seq) == (2, 2)
    # A NAK with a reply subject is answered once it is applied (nats-server queues acks apart
    # from pull requests, so a plain one could be overtaken by the fetch below).
    await js.nc.request(msgs[2].reply, b"-NAK", timeout=2)
    again = await psub.fetch(1, timeout=2)
    assert again[0].data == b"m2" and again[0].metadata.num_delivered == 2
    assert (await js.consumer_info(name, "D")).num_redelivered == 1
    await js.delete_stream(name)


async def test_pull_no_wait_expires_and_status(js):
    name = await _stream_with(js, 1)
    await js.add_consumer(name, durable_name="C", ack_policy="explicit")
    nc = js.nc
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    subject = f"$JS.API.CONSUMER.MSG.NEXT.{name}.C"
    await nc.publish(subject, json.dumps({"batch": 3, "expires": 200_000_000}).encode(), reply=inbox)
    first = await sub.next_msg(2)
    assert first.data == b"m0"
    timeout = await sub.next_msg(2)
    assert (timeout.headers["Status"], timeout.headers["Description"],
            timeout.headers["Nats-Pending-Messages"]) == ("408", "Request Timeout", "2")
    await nc.publish(subject, json.dumps({"batch": 1, "no_wait": True}).encode(), reply=inbox)
    none = await sub.next_msg(2)
    assert (none.headers["Status"], none.headers["Description"]) == ("404", "No Messages")
    create = {"stream_name": name, "config": {"durable_name": "B", "ack_policy": "explicit", "max_batch": 2}}
    await nc.request(f"$JS.API.CONSUMER.CREATE.{name}.B", json.dumps(create).encode(), timeout=2)
    await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.B", b'{"batch": 5}', reply=inbox)
    over = await sub.next_msg(2)
    assert (over.headers["Status"], over.headers["Description"]) == ("409", "Exceeded MaxRequestBatch of 2")
    with pytest.raises(NoRespondersError):
        await nc.request(f"$JS.API.CONSUMER.MSG.NEXT.{name}.nope", b"", timeout=1)
    await js.delete_stream(name)


async def test_pull_inbox_that_unsubscribes_mid_batch(js):
    """The inbox of a pull request stops listening after 2 messages (UNSUB 2). nats-server does
    not end the request there: the whole batch of 5 counts as delivered, and the 3 that reached
    nobody are queued for redelivery at once (its didNotDeliver), to the next request."""
    name = await _stream_with(js, 5)
    await js.add_consumer(name, durable_name="C", ack_policy="explicit")
    nc = js.nc
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await sub.unsubscribe(limit=2)  # UNSUB <sid> 2: the server ends the subscription
    await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.C", b'{"batch": 5, "expires": 5000000000}',
                     reply=inbox)
    got = [(await sub.next_msg(2)).data for _ in range(2)]
    assert got == [b"m0", b"m1"]
    for _ in range(40):  # nats-server delivers asynchronously
        info = await js.consumer_info(name, "C")
        if info.num_ack_pending == 5:
            break
        await asyncio.sleep(0.05)
    assert (info.num_waiting, info.num_ack_pending, info.num_pending, info.delivered.stream_seq) == \
        (0, 5, 0, 5)
    psub = await js.pull_subscribe_bind("C", stream=name)
    again = await psub.fetch(3, timeout=2)
    assert [(m.data, m.metadata.num_delivered) for m in again] == [(b"m2", 2), (b"m3", 2), (b"m4", 2)]
    await js.delete_stream(name)


async def test_push_subscriber_that_unsubscribes_mid_pass(js):
    """A push consumer's only subscriber ends after 2 messages (UNSUB 2) while 5 wait: as for a
    pull request, the pass that delivers them counts all 5 as delivered."""
    name = await _stream_with(js, 5)
    nc = js.nc
    deliver = nc.new_inbox()
    sub = await nc.subscribe(deliver)
    await sub.unsubscribe(limit=2)
    await js.add_consumer(name, durable_name="P", deliver_subject=deliver, ack_policy="explicit")
    got = [(await sub.next_msg(2)).data for _ in range(2)]
    assert got == [b"m0", b"m1"]
    for _ in range(40):
        info = await js.consumer_info(name, "P")
        if info.num_ack_pending == 5:
            break
        await asyncio.sleep(0.05)
    assert (info.num_ack_pending, info.num_pending, info.delivered.stream_seq) == (5, 0, 5)
    await js.delete_stream(name)


async def test_ack_wait_redelivery_and_max_deliver(js):
    name = await _stream_with(js, 1)
    adv = await js.nc.subscribe(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{name}.R")
    psub = await js.pull_subscribe(f"{name}.>", durable="R", stream=name,
                                   config=api.ConsumerConfig(ack_wait=0.3, max_deliver=2))
    first = await psub.fetch(1, timeout=2)
    second = await psub.fetch(1, timeout=2)
    assert (first[0].metadata.num_delivered, second[0].metadata.num_delivered) == (1, 2)
    with pytest.raises(NatsTimeout):
        await psub.fetch(1, timeout=0.8)
    event = json.loads((await adv.next_msg(2)).data)
    assert (event["type"], event["stream_seq"], event["deliveries"]) == (
        "io.nats.jetstream.advisory.v1.max_deliver", 1, 2)
    await js.delete_stream(name)


async def test_ack_all_and_term_and_in_progress(js):
    name = await _stream_with(js, 4)
    psub = await js.pull_subscribe(f"{name}.>", durable="A", stream=name,
                                   config=api.ConsumerConfig(ack_policy="all"))
    msgs = await psub.fetch(4, timeout=2)
    await msgs[2].ack_sync()
    info = await js.consumer_info(name, "A")
    assert (info.num_ack_pending, info.ack_floor.stream_seq) == (1, 3)
    other = await js.pull_subscribe(f"{name}.>", durable="T", stream=name)
    got = await other.fetch(2, timeout=2)
    await got[0].term()
    await got[1].in_progress()
    await js.nc.flush()
    # Neither server answers +TERM or +WPI; nats-server applies them on another goroutine, so
    # an info request can overtake them (seen under load): ask until the term shows, 5 s at most.
    for _ in range(100):
        info = await js.consumer_info(name, "T")
        if info.num_ack_pending != 2:
            break
        await asyncio.sleep(0.05)
    assert info.num_ack_pending == 1
    await js.delete_stream(name)


async def test_filters_and_deliver_policies(js):
    name = await _stream_with(js, 6)
    cases = {
        "all": ({"deliver_policy": "all"}, [1, 3, 5]),
        "last": ({"deliver_policy": "last"}, [5]),
        "new": ({"deliver_policy": "new"}, []),
        "seq": ({"deliver_policy": "by_start_sequence", "opt_start_seq": 4}, [5]),
    }
    for durable, (cfg, want) in cases.items():
        info = await js.add_consumer(name, durable_name=durable, filter_subject=f"{name}.0",
                                     ack_policy="none", **cfg)
        assert info.num_pending == len(want), durable
    lps = await js.add_consumer(name, durable_name="lps", deliver_policy="last_per_subject",
                                filter_subjects=[f"{name}.0", f"{name}.1"], ack_policy="none")
    assert lps.num_pending == 2
    with pytest.raises(BadRequestError) as exc:
        await js.add_consumer(name, durable_name="bad", deliver_policy="by_start_sequence")
    assert exc.value.description == (
        "consumer delivery policy is deliver by start sequence, but optional start sequence is not set")
    # A filter outside the stream's subjects is taken (nats-server 2.10+), it matches nothing.
    assert (await js.add_consumer(name, durable_name="out", filter_subject="elsewhere")).num_pending == 0
    await js.delete_consumer(name, "out")
    psub = await js.pull_subscribe_bind("all", name)
    assert [m.metadata.sequence.stream for m in await psub.fetch(3, timeout=2)] == [1, 3, 5]
    names = await js.nc.request(f"$JS.API.CONSUMER.NAMES.{name}", b"", timeout=2)
    assert json.loads(names.data)["consumers"] == sorted(["all", "last", "new", "seq", "lps"])
    await js.delete_consumer(name, "seq")
    with pytest.raises(NotFoundError) as exc:
        await js.consumer_info(name, "seq")
    assert exc.value.err_code == 10014
    await js.delete_stream(name)


async def test_consumer_create_forms(js):
    name = await _stream_with(js, 2)
    nc = js.nc
    # The new form with the filter subject in the request subject.
    body = {"stream_name": name, "config": {"name": "F", "filter_subject": f"{name}.1",
                                            "ack_policy": "explicit"}}
    r = json.loads((await nc.request(f"$JS.API.CONSUMER.CREATE.{name}.F.{name}.1",
                                     json.dumps(body).encode(), timeout=2)).data)
    assert (r["name"], r["num_pending"], r["config"]["filter_subject"]) == ("F", 1, f"{name}.1")
    body["config"]["filter_subject"] = f"{name}.0"
    r = json.loads((await nc.request(f"$JS.API.CONSUMER.CREATE.{name}.G.{name}.1",
                                     json.dumps(body).encode(), timeout=2)).data)
    assert r["error"]["err_code"] == 10131
    legacy = {"stream_name": name, "config": {"durable_name": "L", "ack_policy": "explicit"}}
    r = json.loads((await nc.request(f"$JS.API.CONSUMER.DURABLE.CREATE.{name}.L",
                                     json.dumps(legacy).encode(), timeout=2)).data)
    assert (r["name"], r["config"]["durable_name"]) == ("L", "L")
    r = json.loads((await nc.request(f"$JS.API.CONSUMER.DURABLE.CREATE.{name}.X",
                                     json.dumps(legacy).encode(), timeout=2)).data)
    assert r["error"]["err_code"] == 10017
    ephemeral = {"stream_name": name, "config": {"ack_policy": "explicit"}}
    r = json.loads((await nc.request(f"$JS.API.CONSUMER.CREATE.{name}", json.dumps(ephemeral).encode(),
                                     timeout=2)).data)
    assert r["config"]["inactive_threshold"] == 5_000_000_000 and "name" not in r["config"]
    create = {"stream_name": name, "action": "create",
              "config": {"name": "F", "ack_policy": "none"}}
    r = json.loads((await nc.request(f"$JS.API.CONSUMER.CREATE.{name}.F", json.dumps(create).encode(),
                                     timeout=2)).data)
    assert r["error"]["err_code"] == 10148
    await js.delete_stream(name)


async def test_max_ack_pending(js):
    name = await _stream_with(js, 5)
    psub = await js.pull_subscribe(f"{name}.>", durable="M", stream=name,
                                   config=api.ConsumerConfig(max_ack_pending=2))
    msgs = await psub.fetch(5, timeout=1.5)  # returns what came when the request expires
    assert len(msgs) == 2
    await msgs[0].ack_sync()
    more = await psub.fetch(5, timeout=1.5)
    assert [m.metadata.sequence.stream for m in more] == [3]
    await js.delete_stream(name)


async def test_deleted_pending_message_frees_max_ack_pending(js):
    """A pending message the stream drops (here by DELETE) counts as done: a request waiting
    behind max_ack_pending gets the next message at once."""
    name = await _stream_with(js, 2)
    await js.add_consumer(name, durable_name="M", ack_policy="explicit", max_ack_pending=1)
    inbox = js.nc.new_inbox()
    sub = await js.nc.subscribe(inbox)
    await js.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.M",
                        json.dumps({"batch": 2, "expires": 30_000_000_000}).encode(), reply=inbox)
    first = await sub.next_msg(2)
    assert first.data == b"m0"
    await js.delete_msg(name, first.metadata.sequence.stream)
    second = await sub.next_msg(2)
    assert second.data == b"m1"
    info = await js.consumer_info(name, "M")
    assert (info.num_ack_pending, info.num_waiting, info.delivered.stream_seq) == (1, 0, 2)
    await js.delete_stream(name)


@pytest.mark.parametrize("before, after, storage, delivered", [
    (0, 2, "memory", 1),  # started on an empty stream: the live position, past the deleted one
    (2, 1, "memory", 1),  # started at 2: what the store holds, as it was
    (0, 2, "file", 0),  # a file store has its state from the start
])
async def test_delivered_position_before_the_first_delivery(js, before, after, storage, delivered):
    """A message too big for the request's max_bytes goes back (409). What delivered.stream_seq
    then shows follows nats-server: a memory consumer store without state yet shows the live
    position (past the deleted message skipped to reach the refused one), any other the stored
    one."""
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage=storage, max_msgs_per_subject=1)
    for _ in range(before):
        await js.publish(f"{name}.a", b"payload")  # each replaces the one before
    await js.add_consumer(name, durable_name="M", ack_policy="explicit")
    for _ in range(after):
        await js.publish(f"{name}.a", b"payload")
    # nats-server updates a consumer's pending count on its own goroutine: let it settle first.
    for _ in range(40):
        if (await js.consumer_info(name, "M")).num_pending == 1:
            break
        await asyncio.sleep(0.05)
    inbox = js.nc.new_inbox()
    sub = await js.nc.subscribe(inbox)
    await js.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.M",
                        json.dumps({"batch": 1, "max_bytes": 10}).encode(), reply=inbox)
    refused = await sub.next_msg(2)
    assert refused.headers["Status"] == "409" and refused.headers["Description"] == \
        "Message Size Exceeds MaxBytes"
    info = await js.consumer_info(name, "M")
    assert (info.delivered.consumer_seq, info.delivered.stream_seq, info.num_pending) == \
        (0, delivered, 1)
    await js.delete_stream(name)


async def test_a_message_concerns_only_the_consumers_its_subject_reaches(js):
    """As nats-server signals a stored or removed message to the consumers whose filters take
    it, and to no other: a consumer that changed its filters keeps a message it took before
    pending when that message is deleted (only an ack or ack_wait settles it)."""
    name = await _stream_with(js, 0)
    await js.add_consumer(name, durable_name="M", ack_policy="explicit", filter_subject=f"{name}.a")
    for tail in "ab":
        await js.publish(f"{name}.{tail}", b"")
    inbox = js.nc.new_inbox()
    sub = await js.nc.subscribe(inbox)
    await js.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.M",
                        json.dumps({"batch": 1, "no_wait": True}).encode(), reply=inbox)
    assert (await sub.next_msg(2)).subject == f"{name}.a"
    answer = json.loads((await js.nc.request(f"$JS.API.CONSUMER.CREATE.{name}.M", json.dumps({
        "stream_name": name, "action": "update", "config": {
            "durable_name": "M", "ack_policy": "explicit", "filter_subject": f"{name}.b"}}).encode(),
        timeout=2)).data)
    assert "error" not in answer
    await js.delete_msg(name, 1)
    # nats-server signals its consumers on their own goroutines: ask until it shows, 2 s at most.
    for _ in range(40):
        info = await js.consumer_info(name, "M")
        if (info.num_ack_pending, info.ack_floor.stream_seq, info.num_pending) == (1, 0, 1):
            break
        await asyncio.sleep(0.05)
    assert (info.num_ack_pending, info.ack_floor.stream_seq, info.num_pending) == (1, 0, 1)
    await js.delete_stream(name)


async def test_no_wait_at_max_ack_pending(js):
    """A no_wait request that max_ack_pending holds back waits for acks rather than getting 404;
    one asking for more than is left after the waiting ones gets 408 Requests Pending; the next
    expiry of a waiting request ends the one-shot requests with 404 No Messages."""
    name = await _stream_with(js, 3)
    await js.add_consumer(name, durable_name="M", ack_policy="explicit", max_ack_pending=1)
    nc = js.nc
    subject = f"$JS.API.CONSUMER.MSG.NEXT.{name}.M"

    async def pull(body: dict):
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(subject, json.dumps(body).encode(), reply=inbox)
        return sub

    def status(msg) -> tuple:
        return msg.headers["Status"], msg.headers["Description"]

    a = await pull({"batch": 2, "no_wait": True})
    first = await a.next_msg(2)
    assert first.data == b"m0"
    b = await pull({"batch": 1, "no_wait": True})
    c = await pull({"batch": 1, "no_wait": True})
    d = await pull({"batch": 1, "no_wait": True})  # 2 messages left, 2 already asked for
    refused = await d.next_msg(2)
    assert dict(refused.headers) == {"Status": "408", "Description": "Requests Pending"}
    info = await js.consumer_info(name, "M")
    assert info.num_waiting == 3 and info.num_ack_pending == 1
    await nc.request(first.reply, b"+ACK", timeout=2)
    assert (await a.next_msg(2)).data == b"m1"
    e = await pull({"batch": 1, "expires": 200_000_000})
    assert status(await e.next_msg(2)) == ("408", "Request Timeout")
    assert status(await b.next_msg(2)) == ("404", "No Messages")
    assert status(await c.next_msg(2)) == ("404", "No Messages")
    assert (await js.consumer_info(name, "M")).num_waiting == 0
    await js.delete_stream(name)


async def _floor_once_pending(js, name: str, durable: str, pending: int) -> tuple:
    """(ack floor consumer seq, stream seq, num_ack_pending) once num_ack_pending is `pending`:
    nats-server takes a message the stream removed off its consumers' pending asynchronously."""
    for _ in range(500):
        info = await js.consumer_info(name, durable)
        if info.num_ack_pending == pending:
            break
        await asyncio.sleep(0.01)
    return info.ack_floor.consumer_seq, info.ack_floor.stream_seq, info.num_ack_pending


async def test_ack_floor_moves_as_nats_server(js):
    """The ack floor is where acks moved it, not what is pending: a redelivery keeps its first
    delivery sequence, ack all and +TERM (an ack) set it, a message dropped at max_deliver
    leaves it, a deleted message counts as acknowledged, a purge moves it past what it removed."""
    nc = js.nc

    async def floor(name: str, durable: str) -> tuple:
        info = await js.consumer_info(name, durable)
        return (info.ack_floor.consumer_seq, info.ack_floor.stream_seq, info.num_ack_pending)

    async def pull(name: str, durable: str, batch: int) -> list:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.{durable}",
                         json.dumps({"batch": batch, "no_wait": True}).encode(), reply=inbox)
        got = []
        while len(got) < batch:
            msg = await sub.next_msg(2)
            if not msg.reply:
                break
            got.append(msg)
        await sub.unsubscribe()
        return got

    async def ack(msg, body: bytes = b"+ACK") -> None:
        await nc.request(msg.reply, body, timeout=2)

    name = await _stream_with(js, 5)
    await js.add_consumer(name, durable_name="E", ack_policy="explicit")
    m1, m2 = await pull(name, "E", 2)
    await ack(m1, b"-NAK")
    (again,) = await pull(name, "E", 1)  # message 1 as delivery 3
    await ack(m2)
    assert await floor(name, "E") == (0, 0, 1)
    await ack(again)
    assert await floor(name, "E") == (3, 2, 0)
    m3, m4, m5 = await pull(name, "E", 3)
    await js.delete_msg(name, 3)
    assert await _floor_once_pending(js, name, "E", 2) == (4, 3, 2)
    await ack(m5)
    await nc.request(f"$JS.API.STREAM.PURGE.{name}", json.dumps({"seq": 5}).encode(), timeout=2)
    assert await floor(name, "E") == (6, 5, 0)

    name = await _stream_with(js, 3)
    await js.add_consumer(name, durable_name="A", ack_policy="all")
    a1, a2, a3 = await pull(name, "A", 3)
    await ack(a1, b"-NAK")
    (again,) = await pull(name, "A", 1)
    await ack(again)  # delivery 4 of message 1
    assert await floor(name, "A") == (4, 1, 2)
    await ack(a2, b"+TERM")
    assert await floor(name, "A") == (4, 1, 2)  # delivery 2 is below the floor
    name = await _stream_with(js, 3)
    await js.add_consumer(name, durable_name="T", ack_policy="all")
    t1, t2, t3 = await pull(name, "T", 3)
    await ack(t2, b"+TERM")
    assert await floor(name, "T") == (2, 2, 1)

    name = await _stream_with(js, 2)
    await js.add_consumer(name, durable_name="M", ack_policy="explicit", max_deliver=2)
    (first,) = await pull(name, "M", 1)
    await ack(first, b"-NAK")
    (second,) = await pull(name, "M", 1)
    await ack(second, b"-NAK")  # delivered max_deliver times: dropped at the next pull
    assert await floor(name, "M") == (0, 0, 1)
    (other,) = await pull(name, "M", 1)
    assert other.data == b"m1"
    assert await floor(name, "M") == (0, 0, 1)


async def test_deliver_policy_start_points(js):
    """Where a new consumer starts (delivered stream sequence, pending) on a stream whose
    first messages were purged and whose last one was deleted, as nats-server."""
    name = await _stream_with(js, 6)  # m0..m5 on <name>.0 / <name>.1 alternately
    await js.purge_stream(name, seq=3)
    await js.delete_msg(name, 6)
    starts = [
        ({"deliver_policy": "last"}, (5, 0)),  # the last sequence, though deleted
        ({"deliver_policy": "last", "filter_subject": f"{name}.1"}, (3, 1)),
        ({"deliver_policy": "last", "filter_subject": f"{name}.none"}, (2, 0)),
        ({"deliver_policy": "by_start_sequence", "opt_start_seq": 1}, (2, 3)),
        ({"deliver_policy": "last_per_subject", "filter_subject": f"{name}.none"}, (5, 0)),
    ]
    for i, (cfg, (delivered, pending)) in enumerate(starts):
        info = await js.add_consumer(name, durable_name=f"D{i}", ack_policy="explicit", **cfg)
        assert (info.delivered.stream_seq, info.ack_floor.stream_seq, info.num_pending) == (
            delivered, delivered, pending), cfg
    await js.delete_stream(name)


async def test_pending_messages_removed_by_limits_or_rollup(js):
    """A pending message the stream's limits remove counts as acknowledged (ack floor up); a
    rollup purges below it, consumers' pending included, as a purge does."""
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory",
                        max_msgs_per_subject=1, allow_rollup_hdrs=True)
    await js.add_consumer(name, durable_name="C", ack_policy="explicit")
    psub = await js.pull_subscribe_bind("C", name)
    await js.publish(f"{name}.a", b"1")
    await js.publish(f"{name}.b", b"2")
    await psub.fetch(2, timeout=2)
    await js.publish(f"{name}.a", b"3")  # removes message 1
    assert await _floor_once_pending(js, name, "C", 1) == (1, 1, 1)
    await psub.fetch(1, timeout=2)
    await js.publish(f"{name}.c", b"4", headers={"Nats-Rollup": "all"})
    assert await _floor_once_pending(js, name, "C", 0) == (3, 3, 0)
    assert [m.data for m in await psub.fetch(1, timeout=2)] == [b"4"]
    await js.delete_stream(name)


async def test_interest_stream_dedupes_what_it_did_not_keep(js):
    """An interest stream uses up a sequence for a publish no consumer wants; its Nats-Msg-Id
    still makes a second publish a duplicate of that sequence."""
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory", retention="interest")
    await js.add_consumer(name, durable_name="C", ack_policy="explicit", filter_subject=f"{name}.b")
    first = await js.publish(f"{name}.a", b"x", headers={"Nats-Msg-Id": "one"})
    again = await js.publish(f"{name}.a", b"x", headers={"Nats-Msg-Id": "one"})
    assert (first.seq, again.seq, again.duplicate) == (1, 1, True)
    await js.delete_stream(name)


@pytest.mark.parametrize("storage", ["memory", "file"])
async def test_purge_to_a_sequence_whose_rest_was_deleted(js, storage):
    """A purge up to `seq` that leaves nothing (what was above it was deleted before) empties
    the stream as any purge does: first_seq is last_seq + 1, not `seq`."""
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage=storage)
    for i in range(4):
        await js.publish(f"{name}.a", b"m%d" % i)
    for seq in (3, 4):
        await js.delete_msg(name, seq)
    assert await js.purge_stream(name, seq=3)
    state = (await js.stream_info(name)).state
    assert (state.messages, state.first_seq, state.last_seq) == (0, 5, 4)
    await js.delete_stream(name)


async def test_purge_that_removes_nothing_leaves_the_ack_floor(js):
    name = await _stream_with(js, 2)  # m0 on <name>.0, m1 on <name>.1
    await js.add_consumer(name, durable_name="F", ack_policy="explicit", filter_subject=f"{name}.1")
    psub = await js.pull_subscribe_bind("F", name)
    assert [m.data for m in await psub.fetch(1, timeout=2)] == [b"m1"]
    await js.nc.request(f"$JS.API.STREAM.PURGE.{name}",
                        json.dumps({"filter": f"{name}.>", "seq": 1}).encode(), timeout=2)
    info = await js.consumer_info(name, "F")
    assert (info.ack_floor.consumer_seq, info.ack_floor.stream_seq, info.num_ack_pending) == (0, 0, 1)
    await js.delete_stream(name)


async def test_push_consumer_and_ordered(js):
    name = await _stream_with(js, 3)
    got = []
    done = asyncio.Event()

    async def handler(msg):
        got.append(msg.data)
        await msg.ack()
        if len(got) == 4:
            done.set()

    sub = await js.subscribe(f"{name}.>", durable="P", cb=handler, stream=name)
    await js.publish(f"{name}.0", b"late")
    await asyncio.wait_for(done.wait(), 3)
    assert got == [b"m0", b"m1", b"m2", b"late"]
    await sub.unsubscribe()
    ordered = await js.subscribe(f"{name}.>", ordered_consumer=True, stream=name)
    seen = [(await ordered.next_msg(2)).data for _ in range(4)]
    assert seen == [b"m0", b"m1", b"m2", b"late"]
    await ordered.unsubscribe()
    await js.delete_stream(name)


async def test_workqueue_consumer_rules(js):
    """A workqueue stream takes one consumer per message: an unfiltered one beside any other
    gets 10099, a filter overlapping (or beside an unfiltered) one 10100; ack none on a pull
    consumer 10084, any other non-explicit ack policy 10098 (nats-server's codes and texts)."""
    name = await _stream_with(js, 0, retention="workqueue")
    await js.add_consumer(name, durable_name="A", ack_policy="explicit", filter_subject=f"{name}.a")
    refusals = [
        ({}, (10099, "multiple non-filtered consumers not allowed on workqueue stream")),
        ({"filter_subject": f"{name}.>"}, (10100, "filtered consumer not unique on workqueue stream")),
        ({"filter_subject": f"{name}.b", "ack_policy": "none"},
         (10084, "consumer in pull mode requires explicit ack policy on workqueue stream")),
        ({"filter_subject": f"{name}.b", "ack_policy": "all"},
         (10098, "workqueue stream requires explicit ack")),
        ({"filter_subject": f"{name}.b", "ack_policy": "none", "deliver_subject": "wq.push"},
         (10098, "workqueue stream requires explicit ack")),
    ]
    for extra, expected in refusals:
        with pytest.raises(BadRequestError) as exc:
            await js.add_consumer(name, **{"durable_name": "B", "ack_policy": "explicit", **extra})
        assert (exc.value.err_code, exc.value.description) == expected, extra
    await js.add_consumer(name, durable_name="B", ack_policy="explicit", filter_subject=f"{name}.b")
    # An existing consumer's update gets the update checks, not the workqueue ones.
    with pytest.raises(APIError) as exc:
        await js.add_consumer(name, durable_name="B", ack_policy="explicit",
                              filter_subject=f"{name}.b", deliver_policy="last")
    assert (exc.value.err_code, exc.value.description) == (10012, "deliver policy can not be updated")
    await js.delete_stream(name)


# (first config, change, what the update answers: None when it is taken), the same on both servers.
CONSUMER_UPDATES = [
    ({}, {"max_waiting": 1}, (10012, "max waiting can not be updated")),
    ({}, {"max_waiting": 512}, None),  # the default, unchanged
    ({}, {"mem_storage": True}, (10012, "storage type can not be updated")),
    ({}, {"mem_storage": True, "deliver_policy": "new"}, (10012, "deliver policy can not be updated")),
    ({}, {"mem_storage": True, "ack_policy": "all"}, (10012, "storage type can not be updated")),
    ({"deliver_subject": "upd.push", "deliver_group": "g1"}, {"deliver_group": "g2"}, None),
    ({}, {"max_ack_pending": 5, "description": "x"}, None),
]


@pytest.mark.parametrize("first,change,answer", CONSUMER_UPDATES,
                         ids=[",".join(c) for _, c, _ in CONSUMER_UPDATES])
async def test_consumer_update_checks(js, first, change, answer):
    """What a consumer's update may change (nats-server's checkNewConsumerConfig), in its order;
    found by the JetStream API fuzzer (max_waiting)."""
    name = await _stream_with(js, 0)
    config = {"durable_name": "U", "ack_policy": "explicit", **first}
    await js.add_consumer(name, **config)
    reply = json.loads((await js.nc.request(
        f"$JS.API.CONSUMER.CREATE.{name}.U",
        json.dumps({"stream_name": name, "config": {**config, **change}}).encode(), timeout=2)).data)
    error = reply.get("error")
    assert ((error["err_code"], error["description"]) if error else None) == answer
    if answer is None:
        info = await js.consumer_info(name, "U")
        assert all(getattr(info.config, k) == v for k, v in change.items())
    await js.delete_stream(name)


async def test_workqueue_and_interest_retention(js):
    name = await _stream_with(js, 3, retention="workqueue")
    psub = await js.pull_subscribe(f"{name}.>", durable="W", stream=name)
    for m in await psub.fetch(2, timeout=2):
        await m.ack_sync()
    assert (await js.stream_info(name)).state.messages == 1
    with pytest.raises(BadRequestError) as exc:
        await js.add_consumer(name, durable_name="W2", ack_policy="explicit")
    assert exc.value.err_code == 10099
    interest = unique()
    await js.add_stream(name=interest, subjects=[interest], storage="memory", retention="interest")
    await js.add_consumer(interest, durable_name="I1", ack_policy="explicit")
    await js.add_consumer(interest, durable_name="I2", ack_policy="explicit")
    await js.publish(interest, b"x")
    a = await js.pull_subscribe_bind("I1", interest)
    b = await js.pull_subscribe_bind("I2", interest)
    await (await a.fetch(1, timeout=2))[0].ack_sync()
    assert (await js.stream_info(interest)).state.messages == 1
    await (await b.fetch(1, timeout=2))[0].ack_sync()
    assert (await js.stream_info(interest)).state.messages == 0
    for n in (name, interest):
        await js.delete_stream(n)


async def test_interest_stream_after_consumer_delete_and_refilter(js):
    """On an interest stream, nats-server purges the stream when its last consumer is deleted
    (an empty stream's first sequence then moves past its last, as after any purge), and drops
    what no consumer needs any more when a durable's update changes its filter."""
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory", retention="interest")
    await js.add_consumer(name, durable_name="C", ack_policy="explicit")
    await js.delete_consumer(name, "C")
    state = (await js.stream_info(name)).state
    assert (state.first_seq, state.last_seq, state.messages) == (1, 0, 0)
    await js.add_consumer(name, durable_name="D", ack_policy="explicit")
    await js.publish(f"{name}.a", b"x")
    await js.publish(f"{name}.b", b"y")
    await js.add_consumer(name, durable_name="D", ack_policy="explicit", filter_subject=f"{name}.b")
    state = (await js.stream_info(name)).state
    assert (state.first_seq, state.last_seq, state.messages) == (2, 2, 1)
    await js.delete_consumer(name, "D")
    state = (await js.stream_info(name)).state
    assert (state.first_seq, state.last_seq, state.messages) == (3, 2, 0)
    await js.delete_stream(name)


async def test_advisories(js):
    name = unique()
    sub = await js.nc.subscribe("$JS.EVENT.ADVISORY.*.*.>")
    audit = await js.nc.subscribe("$JS.EVENT.ADVISORY.API")
    await js.add_stream(name=name, subjects=[name], storage="memory")
    await js.add_consumer(name, durable_name="C")
    await js.delete_consumer(name, "C")
    await js.delete_stream(name)
    seen = []
    for _ in range(4):
        msg = await sub.next_msg(2)
        body = json.loads(msg.data)
        seen.append((msg.subject, body["type"], body.get("action")))
    assert seen == [
        (f"$JS.EVENT.ADVISORY.STREAM.CREATED.{name}", "io.nats.jetstream.advisory.v1.stream_action", "create"),
        (f"$JS.EVENT.ADVISORY.CONSUMER.CREATED.{name}.C", "io.nats.jetstream.advisory.v1.consumer_action", "create"),
        (f"$JS.EVENT.ADVISORY.CONSUMER.DELETED.{name}.C", "io.nats.jetstream.advisory.v1.consumer_action", "delete"),
        (f"$JS.EVENT.ADVISORY.STREAM.DELETED.{name}", "io.nats.jetstream.advisory.v1.stream_action", "delete"),
    ]
    first = json.loads((await audit.next_msg(2)).data)
    assert (first["type"], first["subject"]) == ("io.nats.jetstream.advisory.v1.api_audit",
                                                 f"$JS.API.STREAM.CREATE.{name}")
    assert json.loads(first["response"])["config"]["name"] == name
    assert first["client"]["acc"] == "$G" and first["client"]["lang"] == "python3"
    await sub.unsubscribe()
    await audit.unsubscribe()


async def test_pause_consumer(js):
    name = await _stream_with(js, 1)
    await js.add_consumer(name, durable_name="Z", ack_policy="explicit")
    until = "2099-01-01T00:00:00Z"
    r = json.loads((await js.nc.request(f"$JS.API.CONSUMER.PAUSE.{name}.Z",
                                        json.dumps({"pause_until": until}).encode(), timeout=2)).data)
    assert (r["paused"], r["pause_until"]) == (True, until) and r["pause_remaining"] > 0
    psub = await js.pull_subscribe_bind("Z", name)
    with pytest.raises(NatsTimeout):
        await psub.fetch(1, timeout=0.3)
    r = json.loads((await js.nc.request(f"$JS.API.CONSUMER.PAUSE.{name}.Z", b"", timeout=2)).data)
    assert r["paused"] is False
    assert len(await psub.fetch(1, timeout=2)) == 1
    await js.delete_stream(name)


async def test_not_enabled_without_js(kind, spawn):
    srv = spawn(kind)
    nc = await nats.connect(srv.url)
    with pytest.raises((NoRespondersError, ServiceUnavailableError)):
        await nc.jetstream().account_info()
    await nc.close()


# -- file storage and restarts ------------------------------------------------------------------------


async def test_file_stream_survives_restart(kind, spawn, tmp_path):
    srv = spawn(kind, "-js", "-sd", str(tmp_path))
    nc = await nats.connect(srv.url)
    js = nc.jetstream(timeout=2)
    await js.add_stream(name="F", subjects=["f.>"], storage="file", max_msgs_per_subject=3)
    for i in range(10):
        await js.publish(f"f.{i % 2}", b"%d" % i, headers={"Nats-Msg-Id": f"id{i}"})
    psub = await js.pull_subscribe("f.>", durable="D", stream="F")
    msgs = await psub.fetch(4, timeout=2)
    for m in msgs[:3]:
        await m.ack_sync()
    await nc.close()
    srv.restart()
    nc = await nats.connect(srv.url)
    js = nc.jetstream(timeout=2)
    info = await js.stream_info("F")
    assert (info.config.storage, info.config.max_msgs_per_subject) == (api.StorageType.FILE, 3)
    assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (6, 5, 10)
    cinfo = await js.consumer_info("F", "D")
    assert (cinfo.delivered.stream_seq, cinfo.ack_floor.stream_seq, cinfo.num_ack_pending) == (8, 7, 1)
    assert cinfo.num_pending == 2
    psub = await js.pull_subscribe_bind("D", "F")
    rest = await psub.fetch(2, timeout=2)
    assert [m.metadata.sequence.stream for m in rest] == [9, 10]
    ack = await js.publish("f.0", b"new")
    assert ack.seq == 11
    await nc.close()


async def test_push_group_headers_only_and_pull_heartbeat(js):
    name = await _stream_with(js, 4)
    nc = js.nc
    group_a = await nc.subscribe(f"dl.{name}", queue="g")
    group_b = await nc.subscribe(f"dl.{name}", queue="g")
    await js.add_consumer(name, durable_name="G", deliver_subject=f"dl.{name}", deliver_group="g",
                          ack_policy="none", headers_only=True)
    await asyncio.sleep(0.3)
    got = []
    for sub in (group_a, group_b):
        while True:
            try:
                got.append(await sub.next_msg(0.2))
            except NatsTimeout:
                break
    assert len(got) == 4
    assert all(m.data == b"" and m.headers["Nats-Msg-Size"] == "2" for m in got)
    pushed = await nc.request(f"$JS.API.CONSUMER.MSG.NEXT.{name}.G", b"", timeout=2)
    assert (pushed.headers["Status"], pushed.headers["Description"]) == ("409", "Consumer is push based")
    await js.add_consumer(name, durable_name="H", ack_policy="explicit", deliver_policy="new")
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.H", json.dumps(
        {"batch": 1, "expires": 1_000_000_000, "idle_heartbeat": 200_000_000}).encode(), reply=inbox)
    beat = await sub.next_msg(5)  # due after 200 ms; the margin is for a loaded machine
    assert (beat.headers["Status"], beat.headers["Description"]) == ("100", "Idle Heartbeat")
    await js.delete_stream(name)


async def test_ephemeral_inactive_threshold(js):
    name = await _stream_with(js, 1)
    info = await js.add_consumer(name, ack_policy="explicit", inactive_threshold=0.3)
    for _ in range(40):  # gone once inactive for the threshold (nats-server checks on a timer)
        await asyncio.sleep(0.1)
        try:
            await js.consumer_info(name, info.name)
        except NotFoundError:
            break
    else:
        raise AssertionError("the ephemeral consumer was not removed")
    await js.delete_stream(name)


def test_the_compiled_ack_subject_writer_writes_the_format():
    """A delivery's ack subject is the same with consumer.COMPILED as built (compiled: written
    in C for numbers in 0..2**63-1, the format for the rest) and with it off."""
    from zats.broker.jetstream import consumer

    rng = random.Random(12)
    edges = [0, 1, 9, 10, 99, 2**32, 2**63 - 1, 2**63, 2**64 - 1, -1, -2**63]
    cases = [tuple(rng.choice(edges) if rng.random() < 0.3 else rng.randrange(0, 2**63)
                   for _ in range(5)) for _ in range(2000)]
    prefix = b"$JS.ACK.S.C."
    built = [consumer.ack_reply(prefix, *case) for case in cases]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(consumer, "COMPILED", False)
        assert [consumer.ack_reply(prefix, *case) for case in cases] == built
    assert built == [b"%s%d.%d.%d.%d.%d" % (prefix, *case) for case in cases]


def test_the_compiled_ack_subject_reader_reads_as_the_split():
    """The sequences read from an ack subject are the same with consumer.COMPILED as built
    (compiled: C reads plain digit tokens, anything else goes through the split) and with it
    off, for well-formed subjects and odd ones (signs, spaces, underscores, empty or missing
    tokens, long numbers)."""
    from zats.broker.jetstream import consumer

    rng = random.Random(7)
    pieces = [b"1", b"0", b"42", b"007", b"+5", b"-3", b" 8", b"9 ", b"1_0", b"", b"x",
              b"123456789012345678", b"1234567890123456789", b"99999999999999999999", b"4\xff"]
    prefix = b"$JS.ACK.S.C."
    subjects = [prefix + b".".join(rng.choice(pieces) for _ in range(rng.randrange(0, 7)))
                for _ in range(3000)]
    subjects += [prefix + b"1.2.3.4.5", prefix + b"1.2", prefix + b"1.2.3", prefix[:-1]]
    starts = [len(prefix), len(prefix) + 2, 0, 1000]
    cases = [(s, rng.choice(starts) if rng.random() < 0.1 else len(prefix)) for s in subjects]
    built = [consumer.ack_numbers(s, start) for s, start in cases]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(consumer, "COMPILED", False)
        assert [consumer.ack_numbers(s, start) for s, start in cases] == built
    assert consumer.ack_numbers(prefix + b"1.2.3.4.5", len(prefix)) == (2, 3)
