"""Unit tests of zats.client parts that need no server: server pool and backoff, URL parsing,
nkeys encoding and signing, .creds parsing, the frames `publish()` writes (plain, reply,
headers, typed payloads with the size written after encoding), `Msg`, and the outbound-buffer
limit and flush scheduling with a fake transport."""

from __future__ import annotations

import asyncio
import base64
import random

import msgspec
import pytest

import zats.client as zc
from zats.client import nkeys
from zats.client.client import CONNECTED, RECONNECTING, Client
from zats.client.msg import Msg
from zats.client.options import Options, parse_url
from zats.client.servers import Server, ServerPool, backoff_delay
from zats.protocol.parser import ClientOpsParser

# --------------------------------------------------------------------------------------------
# URLs and the server pool


def test_parse_url_defaults():
    assert parse_url("localhost").netloc == "localhost:4222"
    assert parse_url("10.0.0.1:5000").port == 5000
    u = parse_url("tls://user:pw@host.example:4443")
    assert (u.scheme, u.hostname, u.port, u.username, u.password) == ("tls", "host.example", 4443, "user", "pw")
    with pytest.raises(zc.ZatsError):
        parse_url("http://x")
    with pytest.raises(zc.ZatsError):
        parse_url("nats://:4222")


def test_pool_order_randomisation_and_rotation():
    urls = [f"nats://h{i}:4222" for i in range(6)]
    fixed = ServerPool(urls, randomize=False)
    assert [s.host for s in fixed] == [f"h{i}" for i in range(6)]
    assert [fixed.next(-1).host for _ in range(7)] == ["h0", "h1", "h2", "h3", "h4", "h5", "h0"]
    orders = {tuple(s.host for s in ServerPool(urls, rng=random.Random(seed))) for seed in range(20)}
    assert len(orders) > 1


def test_pool_drops_servers_past_max_attempts_and_puts_lame_duck_last():
    pool = ServerPool(["a:1", "b:2"], randomize=False)
    a, b = pool.servers
    a.reconnects = 3
    assert pool.next(2) is b and len(pool) == 1
    b.reconnects = 3
    assert pool.next(2) is None
    pool = ServerPool(["a:1", "b:2", "c:3"], randomize=False)
    pool.servers[0].lame_duck = True
    assert [pool.next(-1).host for _ in range(3)] == ["b", "c", "b"]


def test_pool_discovered_urls():
    pool = ServerPool(["nats://a:4222"], randomize=False)
    current = pool.servers[0]
    added = pool.add_discovered(["a:4222", "10.0.0.2:4222", "b:4223"], current=current, tls=True)
    assert sorted(s.netloc for s in added) == ["10.0.0.2:4222", "b:4223"]
    ip = pool.find("10.0.0.2:4222")
    assert ip.discovered and ip.tls_name == "a" and pool.find("b:4223").tls_name is None
    assert pool.add_discovered(["b:4223"], current=current, tls=False) == []


def test_backoff_delay():
    s = Server(parse_url("a:1"))
    assert backoff_delay(s, now=100.0, wait=2.0, max_wait=None, jitter=0.0) == 0.0
    s.last_attempt, s.reconnects = 99.0, 1
    assert backoff_delay(s, now=100.0, wait=2.0, max_wait=None, jitter=0.0) == pytest.approx(1.0)
    assert backoff_delay(s, now=102.0, wait=2.0, max_wait=None, jitter=0.0) == 0.0
    d = [backoff_delay(s, now=100.0, wait=2.0, max_wait=None, jitter=0.5, rng=random.Random(i)) for i in range(50)]
    assert all(1.0 <= x <= 1.5 for x in d) and len(set(d)) > 10
    s.reconnects = 4  # exponential: 2 * 2**3 = 16, capped at 10
    assert backoff_delay(s, now=100.0, wait=2.0, max_wait=10.0, jitter=0.0) == pytest.approx(9.0)


def test_options_validation():
    assert Options(servers="a:1,b:2").servers == ["a:1", "b:2"]
    with pytest.raises(ValueError):
        Options(codec="xml")
    with pytest.raises(ValueError):
        Options(max_outbound_bytes=10, flush_threshold=100)


# --------------------------------------------------------------------------------------------
# nkeys


def test_nkey_seed_round_trip_and_known_vector():
    # From nats-io/nkeys (user seed and its public key).
    seed = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU"
    kp = nkeys.KeyPair(seed)
    assert kp.public_key == "UCK5N7N66OBOINFXAYC2ACJQYFSOD4VYNU6APEJTAVFZB2SVHLKGEW7L"
    prefix, raw = nkeys.decode_seed(seed)
    assert prefix == nkeys.PREFIX_USER and nkeys.encode_seed(prefix, raw) == seed
    assert nkeys.decode_public(kp.public_key)[0] == nkeys.PREFIX_USER


def test_nkey_signature_verifies():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    kp = nkeys.KeyPair(nkeys.create_seed())
    sig = kp.sign_nonce("nonce-123")
    raw_sig = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    _, pub = nkeys.decode_public(kp.public_key)
    Ed25519PublicKey.from_public_bytes(pub).verify(raw_sig, b"nonce-123")


def test_bad_nkeys_are_refused():
    seed = nkeys.create_seed()
    with pytest.raises(zc.errors.InvalidUserCredentialsError):
        nkeys.KeyPair(seed[:-2] + ("A" if seed[-2] != "A" else "B") + seed[-1])
    with pytest.raises(zc.errors.InvalidUserCredentialsError):
        nkeys.KeyPair(nkeys.KeyPair(seed).public_key)
    with pytest.raises(zc.errors.InvalidUserCredentialsError):
        nkeys.read_creds("no blocks here")


def test_read_creds():
    text = ("-----BEGIN NATS USER JWT-----\neyJ0.eyJ1.sig\n------END NATS USER JWT------\n\n"
            "*** IMPORTANT ***\n\n-----BEGIN USER NKEY SEED-----\nSUAXYZ\n------END USER NKEY SEED------\n")
    assert nkeys.read_creds(text) == ("eyJ0.eyJ1.sig", "SUAXYZ")


# --------------------------------------------------------------------------------------------
# what publish() writes (a client wired to a fake transport)


class FakeTransport:
    def __init__(self):
        self.writes: list[bytes] = []

    def write(self, data):
        self.writes.append(bytes(data))

    def is_closing(self):
        return False


def fake_client(**kw) -> tuple[Client, FakeTransport]:
    nc = Client(Options(**kw))
    nc._loop = asyncio.get_running_loop()
    nc._status = CONNECTED
    t = FakeTransport()
    nc._transport = t
    nc._can_write = True
    nc._out_check_at = nc.options.flush_threshold
    return nc, t


class Pubs:
    def __init__(self):
        self.calls = []

    def on_connect(self, arg): pass
    def on_sub(self, *a): pass
    def on_unsub(self, *a): pass
    def on_ping(self): self.calls.append(("ping",))
    def on_pong(self): pass

    def on_pub(self, subject, reply, payload):
        self.calls.append(("pub", subject, reply, bytes(payload)))

    def on_hpub(self, subject, reply, hlen, message):
        self.calls.append(("hpub", subject, reply, bytes(message[:hlen]), bytes(message[hlen:])))


def parse_frames(data: bytes) -> list:
    rec = Pubs()
    buf = bytearray(data)
    parser = ClientOpsParser(rec)
    parser.headers = True  # as after a CONNECT with headers:true
    assert parser.parse(buf, memoryview(buf), len(buf)) == len(buf)
    return rec.calls


class Order(msgspec.Struct):
    id: int
    item: str


async def test_published_frames():
    nc, t = fake_client()
    nc.publish("a.b", b"hello")
    nc.publish(b"a.b", bytearray(b"ba"), reply="r.1")
    nc.publish("a.b", memoryview(b"xmvx")[1:3], headers={"K": "v", "M": ["1", "2"]})
    nc.publish("a.b", Order(1, "x"))
    nc.publish("a.b", Order(2, "y" * 5000), reply=b"r.2", headers=zc.Headers([("T", "1")]))
    nc.publish("a.b", {"k": 1})
    assert t.writes == []  # nothing written before the loop iteration ends
    await asyncio.sleep(0)
    assert len(t.writes) == 1
    calls = parse_frames(t.writes[0])
    assert calls[0] == ("pub", b"a.b", None, b"hello")
    assert calls[1] == ("pub", b"a.b", b"r.1", b"ba")
    assert calls[2] == ("hpub", b"a.b", None, b"NATS/1.0\r\nK: v\r\nM: 1\r\nM: 2\r\n\r\n", b"mv")
    assert calls[3] == ("pub", b"a.b", None, msgspec.json.encode(Order(1, "x")))
    assert calls[4] == ("hpub", b"a.b", b"r.2", b"NATS/1.0\r\nT: 1\r\n\r\n", msgspec.json.encode(Order(2, "y" * 5000)))
    assert calls[5] == ("pub", b"a.b", None, b'{"k":1}')
    assert nc.stats["out_msgs"] == 6


async def test_msgpack_codec_frames():
    nc, t = fake_client(codec="msgpack")
    nc.publish("m", Order(3, "z"))
    await asyncio.sleep(0)
    assert parse_frames(t.writes[0]) == [("pub", b"m", None, msgspec.msgpack.encode(Order(3, "z")))]


async def test_failed_encoding_leaves_no_partial_frame():
    nc, t = fake_client()
    nc.publish("a", b"1")
    with pytest.raises(TypeError):
        nc.publish("a", object())
    with pytest.raises(zc.MaxPayloadError):
        nc.publish("a", {"big": "x" * (2 * 1024 * 1024)})
    nc.publish("a", b"2")
    await asyncio.sleep(0)
    assert parse_frames(t.writes[0]) == [("pub", b"a", None, b"1"), ("pub", b"a", None, b"2")]


async def test_large_burst_is_written_at_the_threshold():
    nc, t = fake_client(flush_threshold=1024, max_outbound_bytes=4096)
    for _ in range(100):
        nc.publish("s", b"x" * 100)
    assert len(t.writes) == 9 and all(len(w) <= 1024 + 120 for w in t.writes)
    await asyncio.sleep(0)
    assert sum(len(parse_frames(w)) for w in t.writes) == 100


async def test_outbound_limit_when_the_transport_is_paused():
    nc, t = fake_client(flush_threshold=1024, max_outbound_bytes=4096)
    nc._on_pause_writing()
    sent = 0
    with pytest.raises(zc.OutboundBufferFullError, match="max_outbound_bytes"):
        for _ in range(1000):
            nc.publish("s", b"x" * 100)
            sent += 1
    assert 30 < sent < 45 and t.writes == []
    waiter = asyncio.ensure_future(nc.apublish("s", b"last"))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    nc._conn = object()
    nc._on_resume_writing()
    await asyncio.wait_for(waiter, 1)
    await asyncio.sleep(0)
    frames = [f for w in t.writes for f in parse_frames(w)]
    assert len(frames) == sent + 1 and frames[-1] == ("pub", b"s", None, b"last")


async def test_reconnect_buffer_limit():
    nc, t = fake_client(reconnect_buffer_size=1000)
    nc._status = RECONNECTING
    nc._can_write = False
    nc._out_check_at = 1000
    with pytest.raises(zc.OutboundBufferFullError, match="reconnect_buffer_size"):
        for _ in range(100):
            nc.publish("s", b"x" * 50)
    assert len(nc._out) < 1100


async def test_publish_after_close_raises():
    nc, _ = fake_client()
    nc._status = zc.CLOSED
    nc._out_check_at = -1
    with pytest.raises(zc.ConnectionClosedError):
        nc.publish("s", b"x")


# --------------------------------------------------------------------------------------------
# Msg


def test_msg_headers_and_copy():
    block = b"NATS/1.0 503 No Responders\r\nA: 1\r\nA: 2\r\n\r\n"
    m = Msg("s", "", memoryview(b"data"), memoryview(block))
    assert m.headers.status == 503 and m.headers.description == "No Responders"
    assert m.headers.get_all("A") == ["1", "2"] and m.status == 503
    c = Msg("s", "r", memoryview(b"data"), memoryview(block)).copy()
    assert type(c.data) is bytes and c.data == b"data" and c.headers.get("A") == "1"
    assert "data" in repr(c)
    with pytest.raises(zc.ZatsError):
        Msg("s", "", b"x").respond(b"y")
