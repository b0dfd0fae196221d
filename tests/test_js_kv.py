"""KV and the object store through nats.js (npm `nats` 2.x, pinned in tests/js) in node, against
zats and nats-server alike (both `-js -sd DIR`): tests/js/kv_natsjs.mjs and obj_natsjs.mjs print
a JSON transcript of everything the server answered and the two servers' transcripts must be
equal. nats.js relies on what nats-py does not: batch direct gets (`multi_last`, Nats-Num-Pending,
Nats-Last-Sequence, the 204 EOB), watchers with all history or updates only, headers-only
entries with Nats-Msg-Size, object links and the object store's own watch."""

from __future__ import annotations

import json
import subprocess

import pytest

from support.js import js_modules, node_command  # noqa: F401 - js_modules: the fixture, by name
from support.servers import KINDS, start_server

pytestmark = pytest.mark.usefixtures("js_modules")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    started = {}
    try:
        for kind in KINDS:
            started[kind] = start_server(kind, "-js", "-sd", str(tmp_path_factory.mktemp(f"njs-{kind}")))
        yield started
    finally:
        for srv in started.values():
            srv.stop()


def run_script(script: str, url: str, bucket: str) -> dict:
    done = subprocess.run(node_command(script, url, bucket), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def both(servers, script: str, bucket: str) -> dict:
    got = {kind: run_script(script, servers[kind].url, bucket) for kind in KINDS}
    for key in got["nats-server"]:
        assert got["zats"].get(key) == got["nats-server"][key], key
    assert got["zats"] == got["nats-server"]
    return got["zats"]


def test_kv_natsjs(servers):
    out = both(servers, "kv_natsjs.mjs", "njs")
    assert out["puts"] == [1, 2, 3, 4]
    assert out["createAgain"] == "wrong last sequence: 3"
    assert [e["operation"] for e in out["get"][:3]] == ["PUT", "DEL", "PURGE"]
    # Header values come as lists from nats.js's MsgHdrs.
    assert [b["headers"]["Nats-Num-Pending"] for b in out["batch"]] == [["1"], ["0"]]
    assert out["batch"][0]["headers"]["Nats-Last-Sequence"] == ["0"]
    assert out["batch"][1]["headers"]["Nats-Last-Sequence"] == [str(out["batch"][0]["seq"])]
    assert out["updatesOnly"]["length"] == 4 and out["updatesOnly"]["value"] == ""
    assert out["keysAfter"] == ["a", "live"]


def test_object_store_natsjs(servers):
    out = both(servers, "obj_natsjs.mjs", "njsobj")
    assert out["sameBytes"] and out["viaLinkSame"]
    assert out["put"]["digest"] == "SHA-256=" + out["sha"] + "=" * (-len(out["sha"]) % 4)
    assert out["put"]["chunks"] == 17 and out["missing"] is None
    assert out["status"]["sealed"] is True and out["putSealed"] != "no error"
