"""Interoperability with the official Python client, nats-py, against each server kind.

Every test talks to the shared `server` fixture (zats and the real nats-server) through
`nats.connect` and checks what a real application sees: delivery, wildcards, queue groups,
request/reply (new- and old-style), headers, no-responders, auto-unsubscribe, flush, drain, large
payloads, the advertised `max_payload` and many subscriptions. Ordering and "nothing more arrived"
are established with PING/PONG (`flush`) barriers and sentinel messages, never with sleeps.
"""

from __future__ import annotations

import asyncio
import json
import random
import re

import nats
import nats.errors
import pytest

from support.wire import Wire

pytestmark = pytest.mark.timeout(30)

TIMEOUT = 5.0


@pytest.fixture
async def connect(server):
    """Factory for nats-py connections to `server` that fail fast and are closed at teardown.

    Asynchronous errors reported by the client (e.g. an -ERR from the server, a slow consumer)
    are collected and make the test fail."""
    clients: list = []
    errors: list[BaseException] = []

    async def on_error(exc: BaseException) -> None:
        errors.append(exc)

    async def _connect(**kw):
        opts = dict(
            servers=[server.url],
            allow_reconnect=False,
            connect_timeout=TIMEOUT,
            error_cb=on_error,
            ping_interval=600,
        )
        opts.update(kw)
        nc = await nats.connect(**opts)
        clients.append(nc)
        return nc

    yield _connect
    for nc in clients:
        if not nc.is_closed:
            await nc.close()
    assert errors == [], f"client reported asynchronous errors: {errors!r}"


async def barrier(nc) -> None:
    """`nc.flush()` made strict: returns once the server processed everything sent before.

    nats-py 2.16's `flush()` writes its PING straight to the socket (`Client._send_ping`) while
    commands issued in the same event-loop step still sit in the client's pending buffer, so the
    PONG can come back before the server has seen them. Handing that buffer to the socket first
    restores the barrier."""
    await nc._flush_pending(force_flush=True)
    await nc.flush(timeout=TIMEOUT)


async def take_pending(sub) -> list:
    """Removes and returns every message already buffered in a callback-less subscription.

    Call it after a `barrier` on the subscriber's connection: the PONG arrives after every message
    the server routed to that connection before it processed the PING, and nats-py buffers each
    MSG before it handles the next protocol line."""
    out = []
    while sub.pending_msgs:
        out.append(await sub.next_msg(timeout=TIMEOUT))
    return out


async def collect_until(sub, last_subject: str) -> list:
    """Reads messages until one arrives on `last_subject` (the sentinel); returns all, in order."""
    got = []
    while True:
        msg = await sub.next_msg(timeout=TIMEOUT)
        got.append(msg)
        if msg.subject == last_subject:
            return got


# --------------------------------------------------------------------------------------------
# plain publish / subscribe


async def test_pub_sub_in_order_and_intact(connect):
    sub_nc = await connect()
    pub_nc = await connect()
    sub = await sub_nc.subscribe("interop.basic")
    await barrier(sub_nc)

    payloads = [b"", b"x", b"hello world", bytes(range(256)), b"\r\n" * 10, b"MSG a 1 2\r\n"]
    payloads += [f"n{i}".encode() for i in range(200)]
    for p in payloads:
        await pub_nc.publish("interop.basic", p)
    await barrier(pub_nc)
    await barrier(sub_nc)

    got = await take_pending(sub)
    assert [m.data for m in got] == payloads
    assert {m.subject for m in got} == {"interop.basic"}
    assert {m.reply for m in got} == {""}
    assert all(m.headers is None for m in got)


async def test_publisher_receives_its_own_messages_by_default(connect):
    nc = await connect()
    sub = await nc.subscribe("interop.echo")
    await nc.publish("interop.echo", b"me")
    await barrier(nc)
    assert [m.data for m in await take_pending(sub)] == [b"me"]


async def test_no_echo_suppresses_own_messages(connect):
    nc = await connect(no_echo=True)
    other = await connect()
    mine = await nc.subscribe("interop.noecho")
    theirs = await other.subscribe("interop.noecho")
    await barrier(other)
    await nc.publish("interop.noecho", b"from-nc")
    await other.publish("interop.noecho", b"from-other")
    await barrier(nc)
    await barrier(other)
    await barrier(nc)
    assert [m.data for m in await take_pending(mine)] == [b"from-other"]
    assert sorted(m.data for m in await take_pending(theirs)) == [b"from-nc", b"from-other"]


async def test_reply_subject_is_delivered(connect):
    sub_nc = await connect()
    pub_nc = await connect()
    sub = await sub_nc.subscribe("interop.reply")
    await barrier(sub_nc)
    await pub_nc.publish("interop.reply", b"q", reply="answers.here.1")
    msg = await sub.next_msg(timeout=TIMEOUT)
    assert (msg.subject, msg.reply, msg.data) == ("interop.reply", "answers.here.1", b"q")


# --------------------------------------------------------------------------------------------
# wildcards


async def test_star_wildcard_matches_exactly_one_token(connect):
    sub_nc = await connect()
    pub_nc = await connect()
    sub = await sub_nc.subscribe("wc1.*.x")
    await barrier(sub_nc)
    for subject in ["wc1.a.x", "wc1.a.b.x", "wc1.a", "wc1.x", "wc1.a.x.y", "wc2.a.x", "wc1.b.x",
                    "wc1.*.x", "wc1.end.x"]:
        await pub_nc.publish(subject, subject.encode())
    got = await collect_until(sub, "wc1.end.x")
    assert [m.subject for m in got] == ["wc1.a.x", "wc1.b.x", "wc1.*.x", "wc1.end.x"]
    assert all(m.data == m.subject.encode() for m in got)


async def test_full_wildcard_matches_one_or_more_tokens(connect):
    sub_nc = await connect()
    pub_nc = await connect()
    sub = await sub_nc.subscribe("wc3.>")
    await barrier(sub_nc)
    for subject in ["wc3", "wc3.a", "wc3x.a", "wc4.a", "wc3.a.b.c.d", "a.wc3.b", "wc3.end"]:
        await pub_nc.publish(subject, subject.encode())
    got = await collect_until(sub, "wc3.end")
    assert [m.subject for m in got] == ["wc3.a", "wc3.a.b.c.d", "wc3.end"]


async def test_partial_token_star_is_a_literal(server, connect):
    """nats-py refuses to subscribe to "foo*", so a raw peer subscribes."""
    pub_nc = await connect()
    with Wire(server.host, server.port) as w:
        w.connect()
        w.send(b"SUB wc5.foo* 1\r\nPING\r\n")
        w.expect(rb"PONG\r\n")
        for subject in ["wc5.foobar", "wc5.foo", "wc5.fo", "wc5.foo*"]:
            await pub_nc.publish(subject, subject.encode())
        await barrier(pub_nc)
        w.send(b"PING\r\n")
        w.expect(rb"MSG wc5\.foo\* 1 8\r\nwc5\.foo\*\r\nPONG\r\n")


async def test_overlapping_subscriptions_each_get_a_copy(connect):
    sub_nc = await connect()
    pub_nc = await connect()
    subs = {
        pattern: await sub_nc.subscribe(pattern)
        for pattern in ["wc6.a.b", "wc6.*.b", "wc6.>", "wc6.a.*", "*.a.b", ">", "wc6.*.c"]
    }
    await barrier(sub_nc)
    await pub_nc.publish("wc6.a.b", b"one")
    await barrier(pub_nc)
    await barrier(sub_nc)
    counts = {pattern: [m.data for m in await take_pending(s)] for pattern, s in subs.items()}
    # ">" also sees whatever other tests publish concurrently on the shared server: filter.
    counts[">"] = [d for d in counts[">"] if d == b"one"]
    assert counts == {
        "wc6.a.b": [b"one"], "wc6.*.b": [b"one"], "wc6.>": [b"one"], "wc6.a.*": [b"one"],
        "*.a.b": [b"one"], ">": [b"one"], "wc6.*.c": [],
    }


# --------------------------------------------------------------------------------------------
# queue groups


async def test_queue_group_delivers_each_message_exactly_once(connect):
    n, members = 600, 3
    member_ncs = [await connect() for _ in range(members)]
    member_subs = [await nc.subscribe("qg.work", queue="workers") for nc in member_ncs]
    # A second group and a plain subscriber on the same subject each get their own full copy.
    other_nc = await connect()
    other_group = [await other_nc.subscribe("qg.work", queue="auditors") for _ in range(2)]
    plain = await other_nc.subscribe("qg.work")
    for nc in member_ncs + [other_nc]:
        await barrier(nc)

    pub_nc = await connect()
    for i in range(n):
        await pub_nc.publish("qg.work", str(i).encode())
    await barrier(pub_nc)
    for nc in member_ncs + [other_nc]:
        await barrier(nc)

    per_member = [[int(m.data) for m in await take_pending(s)] for s in member_subs]
    delivered = [i for got in per_member for i in got]
    assert sorted(delivered) == list(range(n)), "each message exactly once across the group"
    for got in per_member:
        assert got == sorted(got), "a member sees its share in publish order"
        # 600 messages spread at random over 3 members: an idle member means no spreading.
        assert got, "every member received a share"

    audited = [int(m.data) for s in other_group for m in await take_pending(s)]
    assert sorted(audited) == list(range(n))
    assert [int(m.data) for m in await take_pending(plain)] == list(range(n))


async def test_queue_member_leaving_gets_nothing_more(connect):
    a_nc = await connect()
    b_nc = await connect()
    a = await a_nc.subscribe("qg.leave", queue="g")
    b = await b_nc.subscribe("qg.leave", queue="g")
    await barrier(a_nc)
    await barrier(b_nc)
    await a.unsubscribe()
    await barrier(a_nc)
    pub_nc = await connect()
    for i in range(50):
        await pub_nc.publish("qg.leave", str(i).encode())
    await barrier(pub_nc)
    await barrier(b_nc)
    assert [int(m.data) for m in await take_pending(b)] == list(range(50))


# --------------------------------------------------------------------------------------------
# request / reply


async def serve(nc, subject: str, queue: str = ""):
    """A responder answering b"re:" + request, echoing the request headers back."""

    async def handler(msg):
        if msg.headers is None:
            await msg.respond(b"re:" + msg.data)
        else:
            await nc.publish(msg.reply, b"re:" + msg.data, headers=msg.headers)

    return await nc.subscribe(subject, queue=queue, cb=handler)


async def test_request_reply(connect):
    svc = await connect()
    await serve(svc, "rr.echo")
    await barrier(svc)
    client = await connect()
    reply = await client.request("rr.echo", b"ping", timeout=TIMEOUT)
    assert reply.data == b"re:ping"
    assert reply.subject.startswith("_INBOX.")


async def test_many_concurrent_requests_get_their_own_replies(connect):
    svc = await connect()
    await serve(svc, "rr.many", queue="svc")
    svc2 = await connect()
    await serve(svc2, "rr.many", queue="svc")
    await barrier(svc)
    await barrier(svc2)
    client = await connect()
    replies = await asyncio.gather(
        *(client.request("rr.many", str(i).encode(), timeout=TIMEOUT) for i in range(100))
    )
    assert [r.data for r in replies] == [f"re:{i}".encode() for i in range(100)]


async def test_old_style_request(connect):
    svc = await connect()
    await serve(svc, "rr.old")
    await barrier(svc)
    client = await connect()
    reply = await client.request("rr.old", b"x", timeout=TIMEOUT, old_style=True)
    assert reply.data == b"re:x"


async def test_request_with_headers(connect):
    svc = await connect()
    await serve(svc, "rr.hdr")
    await barrier(svc)
    client = await connect()
    reply = await client.request("rr.hdr", b"h", timeout=TIMEOUT, headers={"Trace-Id": "abc-123"})
    assert reply.data == b"re:h"
    assert reply.headers == {"Trace-Id": "abc-123"}


async def test_no_responders(connect):
    client = await connect()
    with pytest.raises(nats.errors.NoRespondersError):
        await client.request("rr.nobody.home", b"anyone?", timeout=TIMEOUT)
    # The connection is still usable afterwards.
    svc = await connect()
    await serve(svc, "rr.nobody.home")
    await barrier(svc)
    assert (await client.request("rr.nobody.home", b"now", timeout=TIMEOUT)).data == b"re:now"


async def test_no_responders_after_responder_leaves(connect):
    svc = await connect()
    sub = await serve(svc, "rr.gone")
    await barrier(svc)
    client = await connect()
    assert (await client.request("rr.gone", b"1", timeout=TIMEOUT)).data == b"re:1"
    await sub.unsubscribe()
    await barrier(svc)
    with pytest.raises(nats.errors.NoRespondersError):
        await client.request("rr.gone", b"2", timeout=TIMEOUT)


async def test_no_responders_is_not_sent_without_a_reply_subject(connect):
    """A plain publish to a subject nobody wants is silently dropped."""
    nc = await connect()
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox + ".>")
    await nc.publish("rr.void", b"lost")
    await barrier(nc)
    assert sub.pending_msgs == 0


# --------------------------------------------------------------------------------------------
# headers


async def test_headers_round_trip(connect):
    sub_nc = await connect()
    pub_nc = await connect()
    sub = await sub_nc.subscribe("hdr.rt")
    await barrier(sub_nc)
    headers = {"A": "1", "Content-Type": "text/plain", "X-Spaces": "two words", "Empty": ""}
    await pub_nc.publish("hdr.rt", b"body", headers=headers)
    await pub_nc.publish("hdr.rt", b"", headers={"Only": "headers"})
    await pub_nc.publish("hdr.rt", b"no headers")
    got = [await sub.next_msg(timeout=TIMEOUT) for _ in range(3)]
    assert (got[0].data, got[0].headers) == (b"body", headers)
    assert (got[1].data, got[1].headers) == (b"", {"Only": "headers"})
    assert (got[2].data, got[2].headers) == (b"no headers", None)


async def test_multi_valued_header_is_relayed_byte_for_byte(server, connect):
    """nats-py can only publish a dict of headers, so a raw HPUB carries a repeated header; the
    server must relay the header block untouched, and nats-py sees the key (last value wins)."""
    sub_nc = await connect()
    sub = await sub_nc.subscribe("hdr.multi")
    await barrier(sub_nc)
    block = b"NATS/1.0\r\nX-Multi: one\r\nX-Multi: two\r\nOther: z\r\n\r\n"
    body = b"payload"
    with Wire(server.host, server.port) as raw_sub, Wire(server.host, server.port) as raw_pub:
        raw_sub.connect(b'{"verbose":false,"pedantic":false,"headers":true}')
        raw_sub.send(b"SUB hdr.multi 7\r\nPING\r\n")
        raw_sub.expect(rb"PONG\r\n")
        raw_pub.connect(b'{"verbose":false,"pedantic":false,"headers":true}')
        raw_pub.send(b"HPUB hdr.multi %d %d\r\n%s%s\r\nPING\r\n"
                     % (len(block), len(block) + len(body), block, body))
        raw_pub.expect(rb"PONG\r\n")
        m = raw_sub.expect(rb"HMSG hdr\.multi 7 (\d+) (\d+)\r\n")
        assert (int(m.group(1)), int(m.group(2))) == (len(block), len(block) + len(body))
        raw_sub.expect(re.escape(block + body + b"\r\n"))
    msg = await sub.next_msg(timeout=TIMEOUT)
    assert msg.data == body
    assert msg.headers == {"X-Multi": "two", "Other": "z"}


async def test_headers_stripped_for_a_client_without_header_support(server, connect):
    pub_nc = await connect()
    with Wire(server.host, server.port) as raw_sub:
        raw_sub.connect(b'{"verbose":false,"pedantic":false,"headers":false}')
        raw_sub.send(b"SUB hdr.strip 1\r\nPING\r\n")
        raw_sub.expect(rb"PONG\r\n")
        await pub_nc.publish("hdr.strip", b"plain body", headers={"K": "v"})
        await barrier(pub_nc)
        raw_sub.expect(rb"MSG hdr\.strip 1 10\r\nplain body\r\n")


# --------------------------------------------------------------------------------------------
# auto-unsubscribe


@pytest.mark.parametrize("limit", [1, 3, 25])
async def test_unsubscribe_with_limit_delivers_exactly_n(connect, limit):
    sub_nc = await connect()
    pub_nc = await connect()
    subject = f"au.limit.{limit}"
    sub = await sub_nc.subscribe(subject)
    await sub.unsubscribe(limit=limit)
    await barrier(sub_nc)
    for i in range(limit + 20):
        await pub_nc.publish(subject, str(i).encode())
    await barrier(pub_nc)
    await barrier(sub_nc)
    got = await take_pending(sub)
    assert [int(m.data) for m in got] == list(range(limit))
    # nats-py discards extras for a finished subscription, but counts every MSG it reads.
    assert sub_nc.stats["in_msgs"] == limit, "the server stopped delivering after the limit"


async def test_unsubscribe_limit_below_delivered_removes_at_once(server, connect):
    """Checked on the wire too: nats-py drops extra messages client-side, a raw peer does not."""
    pub_nc = await connect()
    with Wire(server.host, server.port) as w:
        w.connect()
        w.send(b"SUB au.below 1\r\nPING\r\n")
        w.expect(rb"PONG\r\n")
        for i in range(3):
            await pub_nc.publish("au.below", str(i).encode())
        await barrier(pub_nc)
        w.send(b"UNSUB 1 2\r\nPING\r\n")
        w.expect(rb"MSG au\.below 1 1\r\n0\r\nMSG au\.below 1 1\r\n1\r\nMSG au\.below 1 1\r\n2\r\n"
                 rb"PONG\r\n")
        await pub_nc.publish("au.below", b"late")
        await barrier(pub_nc)
        w.send(b"PING\r\n")
        w.expect(rb"PONG\r\n")
        w.send(b"SUB au.below 2\r\nUNSUB 2 2\r\nPING\r\n")
        w.expect(rb"PONG\r\n")
        for i in range(5):
            await pub_nc.publish("au.below", b"x%d" % i)
        await barrier(pub_nc)
        w.send(b"PING\r\n")
        w.expect(rb"MSG au\.below 2 2\r\nx0\r\nMSG au\.below 2 2\r\nx1\r\nPONG\r\n")


# --------------------------------------------------------------------------------------------
# flush and drain


async def test_flush_round_trip(connect):
    nc = await connect()
    sub = await nc.subscribe("fl.barrier")
    for i in range(2000):
        await nc.publish("fl.barrier", str(i).encode())
    await barrier(nc)
    assert [int(m.data) for m in await take_pending(sub)] == list(range(2000))
    for _ in range(3):  # with nothing outstanding it still completes
        await nc.flush(timeout=TIMEOUT)


async def test_connection_drain_delivers_pending_then_closes(connect):
    closed = asyncio.Event()

    async def on_closed():
        closed.set()

    sub_nc = await connect(closed_cb=on_closed)
    received: list[int] = []

    async def slow(msg):
        await asyncio.sleep(0)
        received.append(int(msg.data))

    await sub_nc.subscribe("dr.conn", cb=slow)
    await sub_nc.subscribe("dr.conn.other", cb=slow)
    await barrier(sub_nc)
    pub_nc = await connect()
    for i in range(500):
        await pub_nc.publish("dr.conn", str(i).encode())
    await barrier(pub_nc)

    await asyncio.wait_for(sub_nc.drain(), TIMEOUT)
    await asyncio.wait_for(closed.wait(), TIMEOUT)
    assert sub_nc.is_closed
    assert received == list(range(500))


async def test_subscription_drain_delivers_pending_then_stops(connect):
    sub_nc = await connect()
    received: list[int] = []

    async def slow(msg):
        await asyncio.sleep(0)
        received.append(int(msg.data))

    sub = await sub_nc.subscribe("dr.sub", cb=slow)
    watcher = await sub_nc.subscribe("dr.sub")
    await barrier(sub_nc)
    pub_nc = await connect()
    for i in range(300):
        await pub_nc.publish("dr.sub", str(i).encode())
    await barrier(pub_nc)
    await asyncio.wait_for(sub.drain(), TIMEOUT)
    assert received == list(range(300))
    # sub.drain()'s own flush can overtake its UNSUB (see `barrier`): make sure it went out.
    await barrier(sub_nc)

    await pub_nc.publish("dr.sub", b"300")
    await barrier(pub_nc)
    await barrier(sub_nc)
    assert sub_nc.is_connected
    assert [int(m.data) for m in await take_pending(watcher)] == list(range(301))
    assert received == list(range(300)), "a drained subscription receives nothing more"
    assert sub_nc.stats["in_msgs"] == 300 + 301, "the server stopped delivering to it"


# --------------------------------------------------------------------------------------------
# payload size


def info_of(server) -> dict:
    with Wire(server.host, server.port) as w:
        line = w.read_info()
    return json.loads(line[len(b"INFO "):].strip())


async def test_client_sees_the_advertised_max_payload(server, connect):
    nc = await connect()
    assert nc.max_payload == info_of(server)["max_payload"] == 1024 * 1024


@pytest.mark.parametrize("size", [1024 * 1024 - 1000, 1024 * 1024])
async def test_large_payload_round_trip(connect, size):
    sub_nc = await connect()
    pub_nc = await connect()
    sub = await sub_nc.subscribe("big.payload")
    await barrier(sub_nc)
    payload = random.Random(size).randbytes(size)
    # Headers count against max_payload too: leave them room in the second message.
    with_headers = payload[: size - 100][::-1]
    await pub_nc.publish("big.payload", payload)
    await pub_nc.publish("big.payload", with_headers, headers={"Order": "reversed"})
    first = await sub.next_msg(timeout=TIMEOUT)
    second = await sub.next_msg(timeout=TIMEOUT)
    assert first.data == payload
    assert second.data == with_headers and second.headers == {"Order": "reversed"}


async def test_payload_over_max_is_refused_by_the_client(connect):
    nc = await connect()
    with pytest.raises(nats.errors.MaxPayloadError):
        await nc.publish("big.too", b"x" * (nc.max_payload + 1))
    await barrier(nc)
    assert nc.is_connected


# --------------------------------------------------------------------------------------------
# many subscriptions


async def test_many_subscriptions_on_distinct_subjects(connect):
    n = 2000
    sub_nc = await connect()
    subs = [await sub_nc.subscribe(f"many.s.{i}") for i in range(n)]
    await barrier(sub_nc)
    pub_nc = await connect()
    for i in range(n):
        await pub_nc.publish(f"many.s.{i}", str(i).encode())
    await barrier(pub_nc)
    await barrier(sub_nc)
    for i, sub in enumerate(subs):
        got = await take_pending(sub)
        assert [(m.subject, m.data) for m in got] == [(f"many.s.{i}", str(i).encode())]


async def test_many_subscriptions_on_one_subject(connect):
    n = 500
    sub_nc = await connect()
    subs = [await sub_nc.subscribe("many.same") for _ in range(n)]
    await barrier(sub_nc)
    pub_nc = await connect()
    await pub_nc.publish("many.same", b"a")
    await pub_nc.publish("many.same", b"b")
    await barrier(pub_nc)
    await barrier(sub_nc)
    assert [[m.data for m in await take_pending(s)] for s in subs] == [[b"a", b"b"]] * n
    for s in subs[: n // 2]:
        await s.unsubscribe()
    await barrier(sub_nc)  # the UNSUBs reach the server before the publish below
    await pub_nc.publish("many.same", b"c")
    await barrier(pub_nc)
    await barrier(sub_nc)
    assert [[m.data for m in await take_pending(s)] for s in subs[n // 2:]] == [[b"c"]] * (n // 2)
    assert sub_nc.stats["in_msgs"] == 2 * n + n // 2
