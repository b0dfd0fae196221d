"""Consumer delivery pacing and status messages through nats-py against zats and nats-server (both
with -js): push flow control (`100 FlowControl Request`, the stall until answered, nats-py's
answer), `replay_policy: original`, `rate_limit_bps`, idle heartbeats' headers, and the pull
statuses that carry Nats-Pending-Messages / Nats-Pending-Bytes (408, 409 Batch Completed,
409 Exceeded MaxWaiting). Time is only ever checked as a lower bound: the server may be late,
never early."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import test_jetstream as base
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api

js_server, js, unique = base.js_server, base.js, base.unique  # both servers, a client on each

_BIG = 64 * 1024


async def _collect(sub, until, limit: float = 3.0):
    """Messages from `sub` up to and including the first for which until(msg) holds."""
    out = []
    while True:
        msg = await sub.next_msg(limit)
        out.append(msg)
        if until(msg):
            return out


def _status(msg) -> tuple[str, str] | None:
    if msg.headers and "Status" in msg.headers:
        return msg.headers["Status"], msg.headers.get("Description", "")
    return None


async def test_push_flow_control_stalls_until_answered(js):
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory")
    for i in range(60):
        await js.publish(f"{name}.{i}", bytes(_BIG))
    nc = js.nc
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, pending_bytes_limit=64 * 1024 * 1024)
    await js.add_consumer(name, durable_name="F", deliver_subject=inbox, ack_policy="none",
                          flow_control=True, idle_heartbeat=0.2)
    # Deliveries go on past the request (half the 2 MB first window) and stop when the window
    # is used; the idle heartbeats then name the unanswered request.
    got = await _collect(sub, lambda m: _status(m) == ("100", "Idle Heartbeat"))
    fc = [m for m in got if _status(m) == ("100", "FlowControl Request")]
    data = [m for m in got if _status(m) is None]
    assert len(fc) == 1 and fc[0].reply.startswith(f"$JS.FC.{name}.F.")
    assert 16 <= len(data) < 60 and all(len(m.data) == _BIG for m in data)
    beat = got[-1]
    assert beat.headers["Nats-Consumer-Stalled"] == fc[0].reply
    assert beat.headers["Nats-Last-Consumer"] == str(len(data))
    # A heartbeat more: still stalled, nothing delivered.
    again = await sub.next_msg(3)
    assert _status(again) == ("100", "Idle Heartbeat") and "Nats-Consumer-Stalled" in again.headers
    await nc.publish(fc[0].reply, b"")
    seen = len(data)
    while seen < 60:
        msg = await sub.next_msg(3)
        if _status(msg) == ("100", "FlowControl Request"):
            await nc.publish(msg.reply, b"")
        elif _status(msg) is None:
            seen += 1
    info = await js.consumer_info(name, "F")
    assert info.delivered.consumer_seq == 60 and info.num_pending == 0
    await js.delete_stream(name)


async def test_push_flow_control_with_natspy_subscriber(js):
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory")
    for i in range(80):
        await js.publish(f"{name}.{i % 3}", bytes(_BIG))
    got = []
    done = asyncio.Event()

    async def handler(msg):
        got.append(msg.metadata.sequence.stream)
        if len(got) == 80:
            done.set()

    sub = await js.subscribe(f"{name}.>", stream=name, cb=handler, flow_control=True,
                             idle_heartbeat=0.5, pending_bytes_limit=64 * 1024 * 1024,
                             config=api.ConsumerConfig(ack_policy="none"))
    await asyncio.wait_for(done.wait(), 10)
    assert got == list(range(1, 81))
    await sub.unsubscribe()
    await js.delete_stream(name)


async def test_replay_original_keeps_the_gaps(js):
    name = unique()
    await js.add_stream(name=name, subjects=[name], storage="memory")
    gap = 0.4
    for i in range(3):
        if i:
            await asyncio.sleep(gap)
        await js.publish(name, b"r%d" % i)
    sub = await js.subscribe(name, stream=name, config=api.ConsumerConfig(
        replay_policy="original", ack_policy="none"))
    arrivals = []
    for _ in range(3):
        msg = await sub.next_msg(5)
        arrivals.append(time.monotonic())
        assert _status(msg) is None
    assert arrivals[1] - arrivals[0] >= gap * 0.8 and arrivals[2] - arrivals[1] >= gap * 0.8
    # Caught up: what comes now comes at once, in order.
    await js.publish(name, b"new")
    assert (await sub.next_msg(2)).data == b"new"
    await sub.unsubscribe()
    await js.delete_stream(name)


async def test_rate_limit_bps_paces_push_delivery(js):
    name = unique()
    await js.add_stream(name=name, subjects=[name], storage="memory", max_msg_size=2048)
    for _ in range(10):
        await js.publish(name, bytes(1000))
    start = time.monotonic()
    sub = await js.subscribe(name, stream=name, config=api.ConsumerConfig(
        rate_limit_bps=8 * 8000, ack_policy="none"))  # 8,000 bytes a second
    for _ in range(10):
        assert len((await sub.next_msg(5)).data) == 1000
    # ~10.8 KB (with subjects) past a 2 KB burst (the stream's max_msg_size) at 8 KB/s: over a
    # second. (A delivery larger than the burst stalls nats-server's consumer for good; zats
    # lets it through after its share of time.)
    assert time.monotonic() - start >= 0.9
    await sub.unsubscribe()
    with pytest.raises(Exception) as exc:
        await js.add_consumer(name, durable_name="PR", ack_policy="explicit", rate_limit_bps=1000)
    assert getattr(exc.value, "err_code", None) == 10086
    await js.delete_stream(name)


async def test_pull_heartbeat_and_status_headers(js):
    name = unique()
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage="memory")
    for i in range(3):
        await js.publish(f"{name}.{i}", b"p%d" % i)
    await js.add_consumer(name, durable_name="H", ack_policy="explicit", max_waiting=1)
    nc = js.nc
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    nxt = f"$JS.API.CONSUMER.MSG.NEXT.{name}.H"
    # Batch of 2 with a byte budget left over: the two messages, then 409 Batch Completed.
    await nc.publish(nxt, json.dumps({"batch": 2, "max_bytes": 10_000}).encode(), reply=inbox)
    got = [await sub.next_msg(2) for _ in range(3)]
    assert [m.data for m in got[:2]] == [b"p0", b"p1"]
    assert _status(got[2]) == ("409", "Batch Completed")
    assert got[2].headers["Nats-Pending-Messages"] == "0"
    used = sum(len(m.subject) + len(m.reply) + len(m.data) for m in got[:2])
    assert got[2].headers["Nats-Pending-Bytes"] == str(10_000 - used)
    # A heartbeat on a waiting pull request: the last delivered consumer and stream sequences.
    await nc.publish(nxt, json.dumps({"batch": 5, "expires": 2_000_000_000,
                                      "idle_heartbeat": 300_000_000, "max_bytes": 50}).encode(),
                     reply=inbox)
    first = await sub.next_msg(2)
    assert first.data == b"p2"
    beat = await sub.next_msg(2)
    assert _status(beat) == ("100", "Idle Heartbeat")
    assert (beat.headers["Nats-Last-Consumer"], beat.headers["Nats-Last-Stream"]) == ("3", "3")
    # max_waiting 1 is taken by that request: another is refused (without a heartbeat).
    other = nc.new_inbox()
    osub = await nc.subscribe(other)
    await nc.publish(nxt, json.dumps({"batch": 1, "expires": 2_000_000_000}).encode(), reply=other)
    refused = await osub.next_msg(2)
    assert _status(refused) == ("409", "Exceeded MaxWaiting")
    await nc.publish(nxt, json.dumps({"batch": 1, "expires": 2_000_000_000,
                                      "idle_heartbeat": 500_000_000}).encode(), reply=other)
    with pytest.raises(NatsTimeout):
        await osub.next_msg(0.3)
    # The first request times out with what it still wanted.
    timeout = await _collect(sub, lambda m: _status(m) is not None and _status(m)[0] == "408")
    last = timeout[-1]
    assert last.headers["Nats-Pending-Messages"] == "4"
    assert int(last.headers["Nats-Pending-Bytes"]) == 50 - (len(first.subject) + len(first.reply) + 2)
    await js.delete_stream(name)
