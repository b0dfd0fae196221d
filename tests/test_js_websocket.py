"""nats.js (npm nats.ws, pinned in tests/js/package-lock.json) in node, over ws:// to zats and
nats-server configured alike: the node script (tests/js/ws_client.mjs) subscribes, publishes
with and without headers, sends a request with headers to a responder this test runs with
zats.client over TCP, and publishes a last message a zats.client subscriber waits for; the test
checks what the script prints and what arrived."""

from __future__ import annotations

import asyncio
import json

import pytest
from test_client_support import TIMEOUT

import zats.client as zc
from support.js import js_modules, node_command  # noqa: F401  (js_modules is a fixture)
from support.servers import KINDS
from support.websocket import start_ws_server

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(params=KINDS)
def ws_server(request, tmp_path):
    srv = start_ws_server(request.param, tmp_path)
    yield srv
    srv.proc.stop()


async def test_nats_js_in_node_over_ws(ws_server, js_modules):  # noqa: F811
    nc = await zc.connect(ws_server.url, allow_reconnect=False)
    try:
        asked = []

        def respond(msg):
            asked.append(msg.headers.get("X-Asked-By"))
            msg.respond(b"pong:" + msg.data, headers={"Served-By": "zats.client"})

        await nc.subscribe("svc.node", cb=respond)
        done = await nc.subscribe("node-done")
        await nc.flush()
        proc = await asyncio.create_subprocess_exec(
            *node_command("ws_client.mjs", ws_server.ws_url, "node"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        lines = [json.loads(line) for line in out.decode().splitlines()]
        assert lines[0] == {"connected": f"127.0.0.1:{ws_server.ws_port}", "headers": True}
        assert lines[1] == {"received": [
            {"subject": "node.plain", "data": "hello from node", "trace": None},
            {"subject": "node.hdr", "data": "with headers", "trace": "node-1"},
        ]}
        assert lines[2] == {"reply": "pong:ping", "served_by": "zats.client"}
        assert lines[3] == {"closed": True}
        assert asked == ["node"]
        assert (await done.next_msg(TIMEOUT)).data == b"bye"
    finally:
        await nc.close()
