"""Smoke tests of zats-bench on a cluster of zats processes (benchmarks/zats_bench: servers.
start_cluster, mesh, scale, `run --cluster`, `scale`): tiny runs that check the accounting across
nodes (interest proven before the load, routes drained before the final count: every message
delivered exactly once), not the speed."""

from __future__ import annotations

import json

import pytest

from zats.bench import cli
from zats.bench.mesh import Mesh
from zats.bench.runner import run_scenario
from zats.bench.scenarios import parse_name
from zats.bench.servers import cluster_cpus, start_cluster

COUNT = 2000


@pytest.fixture(scope="module")
def cluster():
    c = start_cluster(2)
    yield c
    c.stop()


def test_cluster_is_a_full_mesh_with_one_cpu_per_node(cluster):
    assert len(cluster.urls) == 2 and len(set(cluster.urls)) == 2
    assert cluster.alive()
    cpus = cluster_cpus(3, [0, 1])
    assert cpus in ([0, 1, 0], [None, None, None])
    with Mesh(cluster.urls) as mesh:
        assert mesh.wait_interest(timeout=10) >= 0
        assert mesh.flush_routes(timeout=10) >= 0


@pytest.mark.parametrize("name", ["PubSub128B", "PubSub16K", "FanOut3x128B", "FanIn3x128B",
                                  "QueueSub3x128B", "ReqRep128B", "ReqRep128B_W8"])
def test_every_message_accounted_for_across_nodes(cluster, name):
    sc = parse_name(name)
    r = run_scenario(sc, cluster.urls, count=COUNT, broker_pid=cluster.pids)
    assert r.ok, r.errors
    assert r.nodes == 2 and r.published == COUNT
    assert r.lost == 0 and r.extra == 0
    assert r.received == COUNT * (sc.fanout if sc.kind != "reqrep" else 1)
    assert r.broker_cpu is not None and len(r.node_cpu) == 2
    assert r.broker_cpu == pytest.approx(sum(r.node_cpu))


def test_duration_and_flow_control_across_nodes(cluster):
    r = run_scenario(parse_name("FanOut3x1K"), cluster.urls, duration=0.3,
                     broker_pid=cluster.pids, max_lag_bytes=64 * 1024)
    assert r.ok, r.errors
    assert r.published > 0 and r.received == 3 * r.published


def test_cli_run_start_cluster(capsys):
    rc = cli.main(["run", "--start", "zats", "--cluster", "2", "-n", "1000", "--json", "-q",
                   "fanout", "--subs", "3"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    (r,) = out["results"]
    assert r["ok"] and r["nodes"] == 2 and r["received"] == 3000 and r["broker"] == "2xzats"
    assert isinstance(out["url"], list) and len(out["url"]) == 2


def test_cli_cluster_needs_start(capsys):
    assert cli.main(["run", "--cluster", "2", "-n", "10", "-q", "pubsub"]) == 2


def test_cli_scale_tiny(tmp_path, capsys):
    out_file = tmp_path / "scale.json"
    rc = cli.main(["scale", "--nodes", "1,2", "-r", "1", "-n", "1000", "--no-warmup", "-q",
                   "pubsub", "fanout", "-o", str(out_file)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "speed-up" in text and "msgs/CPU-s" in text
    data = json.loads(out_file.read_text())
    assert [(row["scenario"], row["nodes"]) for row in data["rows"]] == [
        ("PubSub128B", 1), ("PubSub128B", 2), ("FanOut10x128B", 1), ("FanOut10x128B", 2)]
    assert all(row["lost"] == 0 and row["errors"] == 0 for row in data["rows"])
    assert len(data["runs"]) == 4 and all(run["ok"] for run in data["runs"])
    assert sorted(run["nodes"] for run in data["runs"]) == [1, 1, 2, 2]
