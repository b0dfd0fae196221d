"""zats.client core features against each server kind (zats and the real nats-server):
handshake and CONNECT options, publish/subscribe in every delivery mode, headers, typed
payloads, request/reply over the mux, flush, unsubscribe, drain, close, stats, keepalive and
bounded outbound memory. Ordering is established with flush (PING/PONG) barriers, not sleeps."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.request

import msgspec
import pytest
from test_client_support import TIMEOUT, Recorder, eventually, take_pending

import zats.client as zc
from support.servers import free_port
from zats.client import Headers

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def connect(server):
    """Factory for zats.client connections to the shared `server` fixture. Asynchronous errors
    fail the test unless the test takes them with `recorder.errors.clear()`."""
    clients: list[zc.Client] = []
    rec = Recorder()

    async def _connect(url: str | list[str] | None = None, **kw) -> zc.Client:
        opts = dict(connect_timeout=TIMEOUT, allow_reconnect=False, **rec.callbacks())
        opts.update(kw)
        nc = await zc.connect(url or server.url, **opts)
        clients.append(nc)
        return nc

    _connect.recorder = rec
    yield _connect
    for nc in clients:
        await nc.close()
    assert rec.errors == [], f"client reported asynchronous errors: {rec.errors!r}"


class Order(msgspec.Struct):
    id: int
    item: str
    qty: float = 1.0


# --------------------------------------------------------------------------------------------
# the documented quick start (client/README.md), run as written


async def test_readme_quick_start(server, capsys):
    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "client", "README.md")
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("nats://127.0.0.1:4222", server.url).replace("asyncio.run(main())", "")
    namespace: dict = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    await namespace["main"]()
    out = capsys.readouterr().out.splitlines()
    assert out == ["greet.joe b'hello'", "b'hi joe'", "Order(id=1, item='book')",
                   "[b'0', b'1', b'2']"]


# --------------------------------------------------------------------------------------------
# connect


async def test_connect_handshake(connect, server):
    nc = await connect()
    assert nc.is_connected and not nc.is_closed
    info = nc.server_info
    assert info.max_payload == nc.max_payload == 1024 * 1024
    assert info.headers is True
    assert nc.client_id and nc.client_id > 0
    assert nc.connected_url.port == server.port
    await nc.flush()


async def test_connect_as_context_manager(server):
    async with zc.connect(server.url, allow_reconnect=False) as nc:
        assert nc.is_connected
        await nc.flush()
    assert nc.is_closed
    nc2 = await zc.connect(server.url)
    async with nc2:
        await nc2.flush()
    assert nc2.is_closed


async def test_connect_refused_raises_no_servers():
    port = free_port()
    with pytest.raises(zc.NoServersError) as info:
        await zc.connect(f"nats://127.0.0.1:{port}", connect_timeout=1)
    assert isinstance(info.value.__cause__, OSError)


async def test_connect_timeout_when_server_is_silent():
    """A listener that never sends INFO: connect fails after connect_timeout."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        with pytest.raises(zc.NoServersError) as info:
            await zc.connect(f"nats://127.0.0.1:{port}", connect_timeout=0.3)
    finally:
        server.close()
    assert isinstance(info.value.__cause__, TimeoutError)
    assert loop.time() - start < 2


async def test_first_reachable_server_of_the_list_is_used(connect, server):
    dead = free_port()
    nc = await connect([f"nats://127.0.0.1:{dead}", server.url], dont_randomize=True)
    assert nc.connected_url.port == server.port


async def test_connect_options_seen_by_the_server(kind, spawn):
    srv = spawn(kind, http_port=free_port())
    nc = await zc.connect(srv.url, name="zats-client-test", allow_reconnect=False)
    try:
        await nc.flush()
        connz = await asyncio.to_thread(_get_json, f"http://127.0.0.1:{srv.http_port}/connz")
        conns = [c for c in connz["connections"] if c.get("name") == "zats-client-test"]
        assert len(conns) == 1
        assert conns[0]["lang"] == "python3-zats"
    finally:
        await nc.close()


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


async def test_echo_false_suppresses_own_messages(connect):
    nc = await connect(echo=False)
    other = await connect()
    mine = await nc.subscribe("core.noecho")
    theirs = await other.subscribe("core.noecho")
    # Both SUBs processed before either publishes (connections are not ordered against each other).
    await nc.flush()
    await other.flush()
    nc.publish("core.noecho", b"from-nc")
    other.publish("core.noecho", b"from-other")
    await nc.flush()
    await other.flush()
    await nc.flush()
    assert [m.data for m in await take_pending(mine)] == [b"from-other"]
    assert sorted(m.data for m in await take_pending(theirs)) == [b"from-nc", b"from-other"]


async def test_no_echo_alias(connect):
    nc = await connect(no_echo=True)
    sub = await nc.subscribe("core.noecho2")
    nc.publish("core.noecho2", b"x")
    await nc.flush()
    assert sub.pending_msgs == 0


async def test_verbose_mode_works(connect):
    nc = await connect(verbose=True)
    sub = await nc.subscribe("core.verbose")
    for i in range(10):
        nc.publish("core.verbose", b"%d" % i)
    await nc.flush()
    assert [m.data for m in await take_pending(sub)] == [b"%d" % i for i in range(10)]


async def test_pedantic_mode_reports_invalid_publish_subject(connect):
    nc = await connect(pedantic=True)
    rec = connect.recorder
    nc.publish("core.pedantic.*", b"x")
    await nc.flush()
    await rec.wait("error")
    assert len(rec.errors) == 1 and isinstance(rec.errors[0], zc.errors.ServerError)
    assert "Invalid Publish Subject" in str(rec.errors[0])
    rec.errors.clear()
    assert nc.is_connected


# --------------------------------------------------------------------------------------------
# publish / subscribe


async def test_pub_sub_in_order_and_intact(connect):
    sub_nc = await connect()
    pub_nc = await connect()
    sub = await sub_nc.subscribe("core.basic")
    await sub_nc.flush()
    payloads = [b"", b"x", b"hello world", bytes(range(256)), b"\r\n" * 10, b"MSG a 1 2\r\n",
                b"y" * 5000]
    payloads += [f"n{i}".encode() for i in range(300)]
    for p in payloads:
        pub_nc.publish("core.basic", p)
    pub_nc.publish("core.basic", bytearray(b"from-bytearray"))
    pub_nc.publish("core.basic", memoryview(b"xxfrom-memoryviewxx")[2:-2])
    await pub_nc.flush()
    await sub_nc.flush()
    got = await take_pending(sub)
    assert [m.data for m in got] == payloads + [b"from-bytearray", b"from-memoryview"]
    assert all(type(m.data) is bytes for m in got)
    assert {(m.subject, m.reply, m.headers) for m in got} == {("core.basic", "", None)}


async def test_publish_is_awaitable_for_nats_py_code(connect):
    nc = await connect()
    sub = await nc.subscribe("core.await")
    await nc.publish("core.await", b"a")
    await nc.flush()
    assert (await sub.next_msg(TIMEOUT)).data == b"a"


async def test_bytes_subjects(connect):
    nc = await connect()
    sub = await nc.subscribe("core.bytes")
    nc.publish(b"core.bytes", b"1")
    nc.publish(b"core.bytes", b"2", reply=b"r.1")
    msgs = [await sub.next_msg(TIMEOUT) for _ in range(2)]
    assert [(m.subject, m.reply, m.data) for m in msgs] == [
        ("core.bytes", "", b"1"), ("core.bytes", "r.1", b"2")]


async def test_bad_subjects_are_refused(connect):
    nc = await connect()
    for bad in ["", "a b", "a\tb", "a\r\nb"]:
        with pytest.raises(zc.errors.BadSubjectError):
            nc.publish(bad, b"x")
        with pytest.raises(zc.errors.BadSubjectError):
            await nc.subscribe(bad)
    with pytest.raises(zc.errors.BadSubjectError):
        nc.publish("ok", b"x", reply="bad reply")
    with pytest.raises(zc.errors.BadSubjectError):
        await nc.subscribe("ok", queue="bad queue")
    with pytest.raises(TypeError):
        nc.publish("ok", "a str payload")
    await nc.flush()
    assert nc.is_connected


async def test_max_payload_is_checked_by_the_client(connect):
    nc = await connect()
    sub = await nc.subscribe("core.big")
    nc.publish("core.big", b"x" * nc.max_payload)
    with pytest.raises(zc.MaxPayloadError):
        nc.publish("core.big", b"x" * (nc.max_payload + 1))
    with pytest.raises(zc.MaxPayloadError):
        nc.publish("core.big", b"x" * (nc.max_payload + 1), headers={"a": "b"})
    with pytest.raises(zc.MaxPayloadError):
        nc.publish("core.big", {"k": "x" * nc.max_payload})
    await nc.flush()
    got = await take_pending(sub)
    assert [len(m.data) for m in got] == [nc.max_payload]


async def test_large_payloads_split_across_reads(connect):
    sub_nc = await connect()
    pub_nc = await connect()
    sub = await sub_nc.subscribe("core.large")
    await sub_nc.flush()
    sizes = [1024 * 1024 - 100, 70000, 1, 300000, 65536, 65535]
    for i, size in enumerate(sizes):
        pub_nc.publish("core.large", bytes([i]) * size)
    await pub_nc.flush()
    await sub_nc.flush()
    got = await take_pending(sub)
    assert [(len(m.data), m.data[:1]) for m in got] == [(s, bytes([i])) for i, s in enumerate(sizes)]
    assert all(m.data == m.data[:1] * len(m.data) for m in got)


async def test_wildcards_and_subjects(connect):
    nc = await connect()
    star = await nc.subscribe("core.wc.*")
    full = await nc.subscribe("core.wc.>")
    for subject in ["core.wc.a", "core.wc.b.c", "core.wc", "core.wc.d"]:
        nc.publish(subject, subject.encode())
    await nc.flush()
    assert [m.subject for m in await take_pending(star)] == ["core.wc.a", "core.wc.d"]
    assert [m.subject for m in await take_pending(full)] == ["core.wc.a", "core.wc.b.c", "core.wc.d"]


async def test_queue_groups(connect):
    members = [await connect() for _ in range(3)]
    subs = [await nc.subscribe("core.qg", queue="workers") for nc in members]
    for nc in members:
        await nc.flush()
    pub = await connect()
    for i in range(300):
        pub.publish("core.qg", b"%d" % i)
    await pub.flush()
    for nc in members:
        await nc.flush()
    got = [[int(m.data) for m in await take_pending(s)] for s in subs]
    assert sorted(i for g in got for i in g) == list(range(300))
    assert all(g == sorted(g) and g for g in got)


async def test_async_callback_in_order(connect):
    nc = await connect()
    got: list[int] = []
    done = asyncio.Event()

    async def cb(msg):
        assert type(msg.data) is bytes
        await asyncio.sleep(0)
        got.append(int(msg.data))
        if len(got) == 500:
            done.set()

    await nc.subscribe("core.acb", cb=cb)
    for i in range(500):
        nc.publish("core.acb", b"%d" % i)
    await asyncio.wait_for(done.wait(), TIMEOUT)
    assert got == list(range(500))


async def test_plain_callback_is_inline_and_zero_copy(connect):
    nc = await connect()
    got: list[tuple] = []
    kept: list[zc.Msg] = []

    def cb(msg):
        assert isinstance(msg.data, memoryview)
        got.append((msg.subject, msg.reply, bytes(msg.data), msg.headers and msg.headers.get("k")))
        kept.append(msg.copy())

    await nc.subscribe("core.scb.>", cb=cb)
    nc.publish("core.scb.a", b"one")
    nc.publish("core.scb.b", b"two", reply="r")
    nc.publish("core.scb.c", b"three", headers={"k": "v"})
    await nc.flush()
    assert got == [("core.scb.a", "", b"one", None), ("core.scb.b", "r", b"two", None),
                   ("core.scb.c", "", b"three", "v")]
    assert [m.data for m in kept] == [b"one", b"two", b"three"]
    assert kept[2].headers.get("k") == "v"


async def test_plain_callback_unsubscribing_mid_burst(connect):
    """Identical frames arrive as one run; an unsubscribe from the callback stops the rest."""
    nc = await connect()
    got: list[bytes] = []
    sub = None

    def cb(msg):
        got.append(bytes(msg.data))
        if len(got) == 3:
            sub.unsubscribe()

    sub = await nc.subscribe("core.scb.unsub", cb=cb)
    for i in range(50):
        nc.publish("core.scb.unsub", b"%02d" % i)
    await nc.flush()
    assert got == [b"00", b"01", b"02"]


@pytest.mark.parametrize("mode", ["plain", "async", "iter"])
async def test_max_msgs_in_every_mode(connect, mode):
    nc = await connect()
    got: list[bytes] = []

    async def acb(msg):
        got.append(msg.data)

    cb = {"plain": lambda m: got.append(bytes(m.data)), "async": acb, "iter": None}[mode]
    sub = await nc.subscribe(f"core.max.{mode}", cb=cb, max_msgs=7)
    for i in range(20):
        nc.publish(f"core.max.{mode}", b"%02d" % i)
    await nc.flush()
    if mode == "iter":
        got = [m.data async for m in sub]
    await eventually(lambda: len(got) >= 7)
    await nc.flush()
    assert got == [b"%02d" % i for i in range(7)]
    assert sub.is_closed and sub.delivered == 7


async def test_callback_exceptions_go_to_error_cb(connect):
    nc = await connect()
    rec = connect.recorder

    def bad_sync(msg):
        raise ValueError("sync boom")

    async def bad_async(msg):
        raise KeyError("async boom")

    await nc.subscribe("core.boom", cb=bad_sync)
    await nc.subscribe("core.boom", cb=bad_async)
    nc.publish("core.boom", b"x")
    await nc.flush()
    await eventually(lambda: len(rec.errors) == 2)
    assert sorted(type(e).__name__ for e in rec.errors) == ["KeyError", "ValueError"]
    rec.errors.clear()
    assert nc.is_connected


async def test_async_for_and_max_msgs(connect):
    nc = await connect()
    sub = await nc.subscribe("core.iter", max_msgs=5)
    for i in range(12):
        nc.publish("core.iter", b"%d" % i)
    await nc.flush()
    got = [int(m.data) async for m in sub]
    assert got == list(range(5))
    assert nc.stats["in_msgs"] == 5, "the server stopped after max_msgs"


async def test_next_msg_timeout(connect):
    nc = await connect()
    sub = await nc.subscribe("core.nothing")
    with pytest.raises(zc.TimeoutError):
        await sub.next_msg(timeout=0.05)
    with pytest.raises(asyncio.TimeoutError):  # the same class, for asyncio code
        await sub.next_msg(timeout=0.05)
    nc.publish("core.nothing", b"now")
    assert (await sub.next_msg(timeout=TIMEOUT)).data == b"now"


async def test_concurrent_next_msg_waiters(connect):
    nc = await connect()
    sub = await nc.subscribe("core.multi")
    waiters = [asyncio.ensure_future(sub.next_msg(TIMEOUT)) for _ in range(3)]
    await asyncio.sleep(0)
    for i in range(3):
        nc.publish("core.multi", b"%d" % i)
    got = await asyncio.gather(*waiters)
    assert sorted(m.data for m in got) == [b"0", b"1", b"2"]


async def test_unsubscribe_stops_delivery(connect):
    nc = await connect()
    sub = await nc.subscribe("core.unsub")
    nc.publish("core.unsub", b"1")
    await nc.flush()
    await sub.unsubscribe()
    nc.publish("core.unsub", b"2")
    await nc.flush()
    assert sub.pending_msgs == 0 and sub.is_closed
    with pytest.raises(zc.errors.BadSubscriptionError):
        await sub.next_msg(0.01)
    assert nc.stats["in_msgs"] == 1


@pytest.mark.parametrize("limit", [1, 3, 25])
async def test_unsubscribe_with_limit(connect, limit):
    nc = await connect()
    sub = await nc.subscribe(f"core.unsub.limit.{limit}")
    sub.unsubscribe(limit)
    for i in range(limit + 10):
        nc.publish(f"core.unsub.limit.{limit}", b"%d" % i)
    await nc.flush()
    assert [int(m.data) async for m in sub] == list(range(limit))
    assert nc.stats["in_msgs"] == limit


async def test_unsubscribe_with_limit_already_reached(connect):
    nc = await connect()
    sub = await nc.subscribe("core.unsub.reached")
    for i in range(3):
        nc.publish("core.unsub.reached", b"%d" % i)
    await nc.flush()
    await sub.unsubscribe(2)
    assert sub.is_closed
    nc.publish("core.unsub.reached", b"late")
    await nc.flush()
    assert nc.stats["in_msgs"] == 3


async def test_pending_limits_drop_and_report_slow_consumer(connect):
    nc = await connect()
    rec = connect.recorder
    sub = await nc.subscribe("core.slow", pending_msgs_limit=10)
    for i in range(25):
        nc.publish("core.slow", b"%d" % i)
    await nc.flush()
    assert sub.pending_msgs == 10 and sub.dropped == 15
    assert [int(m.data) for m in await take_pending(sub)] == list(range(10))
    slow = [e for e in rec.errors if isinstance(e, zc.SlowConsumerError)]
    assert len(slow) == 1 and slow[0].sid == sub.sid
    rec.errors.clear()
    by_bytes = await nc.subscribe("core.slow.bytes", pending_bytes_limit=100)
    for _ in range(5):
        nc.publish("core.slow.bytes", b"x" * 40)
    await nc.flush()
    assert by_bytes.pending_msgs == 2 and by_bytes.pending_bytes == 80 and by_bytes.dropped == 3
    assert len(rec.errors) == 1
    rec.errors.clear()


# --------------------------------------------------------------------------------------------
# headers


async def test_headers_round_trip_multi_valued_and_ordered(connect):
    nc = await connect()
    sub = await nc.subscribe("core.hdr")
    h = Headers([("B", "2"), ("A", "1"), ("B", "3"), ("Empty", "")])
    nc.publish("core.hdr", b"body", headers=h)
    nc.publish("core.hdr", b"", headers={"Only": "headers", "Multi": ["x", "y"]})
    nc.publish("core.hdr", b"plain")
    await nc.flush()
    m1, m2, m3 = await take_pending(sub)
    assert m1.data == b"body" and m1.headers == h
    assert m1.headers.get_all("B") == ["2", "3"] and list(m1.headers) == ["B", "A", "Empty"]
    assert m2.data == b"" and m2.headers.get_all("Multi") == ["x", "y"]
    assert m3.headers is None and m3.status is None


async def test_bad_header_is_refused(connect):
    nc = await connect()
    with pytest.raises(zc.errors.BadHeaderError):
        nc.publish("core.hdr.bad", b"x", headers={"Bad Name": "v"})
    with pytest.raises(zc.errors.BadHeaderError):
        nc.publish("core.hdr.bad", b"x", headers={"K": "a\r\nb"})
    await nc.flush()


async def test_status_headers_are_exposed(connect):
    nc = await connect()
    sub = await nc.subscribe("core.status")
    nc.publish("core.status", b"", headers=Headers({"K": "v"}, status=408, description="Request Timeout"))
    msg = await sub.next_msg(TIMEOUT)
    assert msg.status == 408
    assert msg.headers.description == "Request Timeout" and msg.headers["K"] == "v"


# --------------------------------------------------------------------------------------------
# typed payloads


@pytest.mark.parametrize("codec", ["json", "msgpack"])
async def test_typed_publish_and_subscribe(connect, codec):
    nc = await connect(codec=codec)
    typed = await nc.subscribe("core.typed", type=Order)
    raw = await nc.subscribe("core.typed")
    got_inline: list[Order] = []
    await nc.subscribe("core.typed", cb=got_inline.append, type=Order)
    orders = [Order(i, "x" * i, qty=i / 2) for i in range(0, 200, 7)]
    for o in orders:
        nc.publish("core.typed", o)
    nc.publish("core.typed", Order(1, "with headers"), headers={"T": "1"}, reply="r.x")
    await nc.flush()
    got = await take_pending(typed)
    assert [m.data for m in got] == orders + [Order(1, "with headers")]
    assert got[-1].headers["T"] == "1" and got[-1].reply == "r.x"
    assert [m.data for m in got_inline] == [m.data for m in got]
    raw_msgs = await take_pending(raw)
    dec = msgspec.json.decode if codec == "json" else msgspec.msgpack.decode
    assert [dec(m.data, type=Order) for m in raw_msgs] == [m.data for m in got]


async def test_typed_size_field_grows_and_shrinks(connect):
    """The PUB size is written after encoding; its width changes between messages."""
    nc = await connect()
    sub = await nc.subscribe("core.typed.sizes", type=dict)
    values = [{"v": "x" * n} for n in (0, 5, 200, 3, 20000, 1, 99999, 7)]
    for v in values:
        nc.publish("core.typed.sizes", v)
    await nc.flush()
    assert [m.data for m in await take_pending(sub)] == values


async def test_typed_decode_error_is_reported_and_skipped(connect):
    nc = await connect()
    rec = connect.recorder
    sub = await nc.subscribe("core.typed.bad", type=Order)
    nc.publish("core.typed.bad", b"not json")
    nc.publish("core.typed.bad", Order(2, "ok"))
    await nc.flush()
    assert [m.data for m in await take_pending(sub)] == [Order(2, "ok")]
    assert len(rec.errors) == 1 and isinstance(rec.errors[0], zc.MsgDecodeError)
    rec.errors.clear()


# --------------------------------------------------------------------------------------------
# request / reply


async def _serve(nc, subject, queue=""):
    async def handler(msg):
        if msg.headers is not None:
            nc.publish(msg.reply, b"re:" + msg.data, headers=msg.headers)
        else:
            msg.respond(b"re:" + msg.data)
    sub = await nc.subscribe(subject, queue=queue, cb=handler)
    await nc.flush()
    return sub


async def test_request_reply(connect):
    svc = await connect()
    await _serve(svc, "core.rr")
    nc = await connect()
    reply = await nc.request("core.rr", b"ping", timeout=TIMEOUT)
    assert reply.data == b"re:ping"
    assert reply.subject.startswith("_INBOX.")


async def test_requests_share_one_inbox_subscription(connect):
    svc = await connect()
    await _serve(svc, "core.rr.mux", queue="q")
    svc2 = await connect()
    await _serve(svc2, "core.rr.mux", queue="q")
    nc = await connect()
    replies = await asyncio.gather(
        *(nc.request("core.rr.mux", b"%d" % i, timeout=TIMEOUT) for i in range(200)))
    assert [r.data for r in replies] == [b"re:%d" % i for i in range(200)]
    inbox_subs = [s for s in nc._subs.by_sid.values() if s.subject.startswith("_INBOX.")]
    assert len(inbox_subs) == 1 and inbox_subs[0].subject.endswith(".*")


async def test_request_with_sync_responder_and_headers(connect):
    svc = await connect()

    def handler(msg):
        msg.respond(bytes(msg.data).upper(), headers={"Echo": msg.headers["X"]})

    await svc.subscribe("core.rr.sync", cb=handler)
    await svc.flush()
    nc = await connect()
    reply = await nc.request("core.rr.sync", b"abc", headers={"X": "1"}, timeout=TIMEOUT)
    assert reply.data == b"ABC" and reply.headers["Echo"] == "1"


async def test_request_timeout(connect):
    svc = await connect()
    await svc.subscribe("core.rr.silent")  # subscribed, never answers
    await svc.flush()
    nc = await connect()
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(zc.TimeoutError):
        await nc.request("core.rr.silent", b"?", timeout=0.1)
    assert loop.time() - start < 1
    assert len(nc._mux) == 0


async def test_no_responders(connect):
    nc = await connect()
    with pytest.raises(zc.NoRespondersError):
        await nc.request("core.rr.nobody", b"?", timeout=TIMEOUT)
    with pytest.raises(zc.NoRespondersError):
        await nc.request("core.rr.nobody", b"?", timeout=TIMEOUT, old_style=True)
    svc = await connect()
    await _serve(svc, "core.rr.nobody")
    assert (await nc.request("core.rr.nobody", b"now", timeout=TIMEOUT)).data == b"re:now"


async def test_old_style_request(connect):
    svc = await connect()
    await _serve(svc, "core.rr.old")
    nc = await connect()
    assert (await nc.request("core.rr.old", b"x", timeout=TIMEOUT, old_style=True)).data == b"re:x"


async def test_typed_request(connect):
    svc = await connect()

    async def handler(msg):
        order: Order = msg.data
        msg.respond(Order(order.id, order.item.upper(), order.qty * 2))

    await svc.subscribe("core.rr.typed", cb=handler, type=Order)
    await svc.flush()
    nc = await connect()
    reply = await nc.request("core.rr.typed", Order(7, "abc", 1.5), type=Order, timeout=TIMEOUT)
    assert reply.data == Order(7, "ABC", 3.0)


async def test_request_cancellation_cleans_up(connect):
    svc = await connect()
    await svc.subscribe("core.rr.cancel")
    await svc.flush()
    nc = await connect()
    task = asyncio.ensure_future(nc.request("core.rr.cancel", b"x", timeout=TIMEOUT))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(nc._mux) == 0


# --------------------------------------------------------------------------------------------
# flush, drain, close


async def test_flush_is_a_barrier(connect):
    nc = await connect()
    sub = await nc.subscribe("core.flush")
    for i in range(5000):
        nc.publish("core.flush", b"%d" % i)
    await nc.flush(timeout=TIMEOUT)
    assert [int(m.data) for m in await take_pending(sub)] == list(range(5000))
    await nc.flush()
    assert await nc.rtt() < 1


async def test_concurrent_flushes(connect):
    nc = await connect()
    await asyncio.gather(*(nc.flush() for _ in range(50)))


async def test_subscription_drain(connect):
    nc = await connect()
    got: list[int] = []

    async def slow(msg):
        await asyncio.sleep(0)
        got.append(int(msg.data))

    sub = await nc.subscribe("core.drain.sub", cb=slow)
    watcher = await nc.subscribe("core.drain.sub")
    pub = await connect()
    await nc.flush()
    for i in range(300):
        pub.publish("core.drain.sub", b"%d" % i)
    await pub.flush()
    await sub.drain()
    assert got == list(range(300))
    pub.publish("core.drain.sub", b"300")
    await pub.flush()
    await nc.flush()
    assert len(await take_pending(watcher)) == 301
    assert got == list(range(300))
    assert nc.stats["in_msgs"] == 601


async def test_iterator_subscription_drain(connect):
    nc = await connect()
    sub = await nc.subscribe("core.drain.iter")
    for i in range(50):
        nc.publish("core.drain.iter", b"%d" % i)
    got: list[int] = []

    async def consume():
        async for m in sub:
            got.append(int(m.data))

    consumer = asyncio.ensure_future(consume())
    await sub.drain()
    await asyncio.wait_for(consumer, TIMEOUT)
    assert got == list(range(50))


async def test_connection_drain(connect):
    nc = await connect()
    rec = connect.recorder
    got: list[int] = []

    async def slow(msg):
        await asyncio.sleep(0)
        got.append(int(msg.data))

    await nc.subscribe("core.drain.conn", cb=slow)
    await nc.flush()
    pub = await connect()
    for i in range(500):
        pub.publish("core.drain.conn", b"%d" % i)
    await pub.flush()
    await asyncio.wait_for(nc.drain(), TIMEOUT)
    assert nc.is_closed and "closed" in rec.events
    assert got == list(range(500))
    with pytest.raises(zc.NoRespondersError):
        await pub.request("core.drain.conn", b"?", timeout=TIMEOUT)
    with pytest.raises(zc.ConnectionClosedError):
        nc.publish("core.drain.conn", b"late")


async def test_close_ends_everything(connect):
    nc = await connect()
    rec = connect.recorder
    sub = await nc.subscribe("core.close")
    svc = await connect()
    await svc.subscribe("core.close.silent")
    await svc.flush()
    iterating = asyncio.ensure_future(_collect(sub))
    pending_req = asyncio.ensure_future(nc.request("core.close.silent", b"?", timeout=TIMEOUT))
    nc.publish("core.close", b"last")
    await nc.flush()
    await asyncio.sleep(0.01)
    await nc.close()
    assert await asyncio.wait_for(iterating, TIMEOUT) == [b"last"]
    with pytest.raises(zc.ConnectionClosedError):
        await pending_req
    with pytest.raises(zc.ConnectionClosedError):
        nc.publish("core.close", b"x")
    with pytest.raises(zc.ConnectionClosedError):
        await nc.flush()
    with pytest.raises(zc.ConnectionClosedError):
        await nc.subscribe("core.close")
    with pytest.raises(zc.ConnectionClosedError):
        await nc.request("core.close", b"x")
    await nc.close()
    assert rec.events.count("closed") == 1


async def _collect(sub) -> list[bytes]:
    return [m.data async for m in sub]


async def test_close_writes_what_was_buffered(connect):
    sub_nc = await connect()
    sub = await sub_nc.subscribe("core.close.flush")
    await sub_nc.flush()
    pub = await connect()
    for i in range(1000):
        pub.publish("core.close.flush", b"%d" % i)
    await pub.close()
    await eventually(lambda: sub.pending_msgs == 1000)


async def test_stats(connect):
    nc = await connect()
    sub = await nc.subscribe("core.stats")
    nc.publish("core.stats", b"12345")
    nc.publish("core.stats", b"678", headers={"a": "b"})
    await nc.flush()
    await take_pending(sub)
    s = nc.stats
    assert s["out_msgs"] == 2 and s["out_bytes"] == 8
    assert s["in_msgs"] == 2 and s["in_bytes"] >= 8
    assert s["reconnects"] == 0


# --------------------------------------------------------------------------------------------
# keepalive and outbound memory (the server process is paused with SIGSTOP)


async def test_stale_connection_detected_by_client_pings(kind, spawn):
    srv = spawn(kind)
    rec_errors: list[BaseException] = []
    closed = asyncio.Event()
    nc = await zc.connect(srv.url, ping_interval=0.1, max_outstanding_pings=2,
                          allow_reconnect=False, error_cb=rec_errors.append,
                          closed_cb=closed.set)
    await nc.flush()
    os.kill(srv.proc.pid, signal.SIGSTOP)
    try:
        await asyncio.wait_for(closed.wait(), TIMEOUT)
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    assert any(isinstance(e, zc.StaleConnectionError) for e in rec_errors)
    assert nc.is_closed


async def test_client_answers_server_pings(kind, spawn):
    """Stays connected across the server's keepalive PINGs (the first comes ~2 s in)."""
    srv = spawn(kind)
    errors: list[BaseException] = []
    nc = await zc.connect(srv.url, ping_interval=600, allow_reconnect=False, error_cb=errors.append)
    try:
        await asyncio.sleep(3.0)
        await nc.flush()
        assert nc.is_connected and errors == []
    finally:
        await nc.close()


async def test_outbound_memory_is_bounded(kind, spawn):
    """The server process is frozen: once the kernel's socket buffers are full the transport
    pauses, the outbound buffer grows to max_outbound_bytes and publish() raises; apublish()
    waits for room. After the server runs again everything accepted is delivered."""
    srv = spawn(kind)
    limit = 1024 * 1024
    nc = await zc.connect(srv.url, max_outbound_bytes=limit, allow_reconnect=False,
                          ping_interval=600)
    sub_nc = await zc.connect(srv.url, allow_reconnect=False, ping_interval=600)
    sub = await sub_nc.subscribe("core.bound", cb=lambda m: None)
    await sub_nc.flush()
    os.kill(srv.proc.pid, signal.SIGSTOP)
    sent = 0
    payload = b"x" * 1000
    blocked = None
    try:
        for _ in range(100):
            try:
                while True:
                    nc.publish("core.bound", payload)
                    sent += 1
                    assert nc.pending_data_size <= limit + 2000
                    if sent % 100 == 0:
                        await asyncio.sleep(0)
            except zc.OutboundBufferFullError:
                pass
            # The kernel may still take more (its buffers grow): apublish completes then.
            waiter = asyncio.ensure_future(nc.apublish("core.bound", payload))
            await asyncio.sleep(0.1)
            if not waiter.done():
                blocked = waiter
                break
            sent += 1
        assert blocked is not None, "apublish never had to wait"
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    await asyncio.wait_for(blocked, TIMEOUT)
    sent += 1
    await nc.flush(timeout=30)
    await sub_nc.flush()
    await eventually(lambda: sub.delivered == sent, timeout=30)
    await nc.close()
    await sub_nc.close()
