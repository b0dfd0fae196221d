"""`zats micro ls|info|stats` as a user runs it (a subprocess) against zats and nats-server: a
zats.client service and a nats-py service running in the test are listed, described and counted
in the nats CLI's layout and as JSON; nothing answering is one error line and exit status 1."""

from __future__ import annotations

import asyncio
import json

import nats
import nats.micro
import pytest

import zats.client as zc
from support.natspy import barrier
from support.zats_cli import assert_one_error, clean_env, zats
from zats.client import micro

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def env(tmp_path):
    return clean_env(tmp_path)


async def run(*args: str, env: dict):
    """The CLI in a thread, so that the services on this loop keep answering."""
    return await asyncio.to_thread(zats, *args, env=env)


async def add(req: micro.Request) -> None:
    a, b = req.data.split()
    req.respond(b"%d" % (int(a) + int(b)))


async def fail(req: micro.Request) -> None:
    req.respond_error(400, "no")


async def py_hello(req) -> None:
    await req.respond(b"hello")


async def test_micro_ls_info_stats(server, env):
    nc = await zc.connect(server.url, allow_reconnect=False)
    py = await nats.connect(server.url, allow_reconnect=False)
    try:
        svc = await micro.add_service(nc, name="cli-calc", version="1.2.0", description="adds numbers",
                                      metadata={"team": "a"})
        await svc.add_group("calc").add_endpoint("add", add, metadata={"unit": "n"})
        await svc.add_endpoint("fail", fail, subject="calc.fail", queue_group="fails")
        other = await nats.micro.add_service(py, name="cli-py", version="0.0.1", description="from nats-py")
        await other.add_endpoint(name="hello", handler=py_hello)
        await barrier(py)
        for payload in (b"1 2", b"3 4"):
            await nc.request("calc.add", payload, timeout=5)
        await nc.request("calc.fail", b"", timeout=5)

        listed = await run("micro", "ls", "-s", server.url, env=env)
        assert listed.returncode == 0, listed.stderr
        assert "All Micro Services" in listed.stdout
        lines = {line.split()[1]: line for line in listed.stdout.splitlines() if "cli-" in line}
        assert "1.2.0" in lines["cli-calc"] and svc.id in lines["cli-calc"] and "adds numbers" in lines["cli-calc"]
        assert "0.0.1" in lines["cli-py"] and other.id in lines["cli-py"] and "from nats-py" in lines["cli-py"]

        as_list = await run("micro", "list", "cli-py", "--json", "-s", server.url, env=env)
        assert as_list.returncode == 0, as_list.stderr
        [doc] = json.loads(as_list.stdout)
        assert (doc["name"], doc["id"], doc["type"]) == ("cli-py", other.id, "io.nats.micro.v1.info_response")

        shown = await run("micro", "info", "cli-calc", "-s", server.url, env=env)
        assert shown.returncode == 0, shown.stderr
        text = shown.stdout
        for expected in (f"Service: cli-calc ({svc.id})", "Description: adds numbers", "Version: 1.2.0",
                         "Metadata team: a", "Subject: calc.add", "Queue Group: q", "Metadata unit: n",
                         "Subject: calc.fail", "Queue Group: fails", "Statistics for 2 Endpoint(s):",
                         "Requests: 2 in group q", "Errors: 1", "Last Error: 400:no"):
            assert expected in text, (expected, text)

        counted = await run("micro", "stats", "cli-calc", "-s", server.url, env=env)
        assert counted.returncode == 0, counted.stderr
        assert "cli-calc Service Statistics" in counted.stdout
        rows = [line.split("│") for line in counted.stdout.splitlines() if svc.id in line]
        cells = {r[2].strip(): [c.strip() for c in r] for r in rows}
        assert (cells["add"][3], cells["add"][5]) == ("2", "0")
        assert (cells["fail"][3], cells["fail"][4], cells["fail"][5]) == ("1", "fails", "1")

        by_id = await run("micro", "stats", "cli-py", other.id, "--json", "-s", server.url, env=env)
        [doc] = json.loads(by_id.stdout)
        assert doc["id"] == other.id and doc["endpoints"][0]["name"] == "hello"
        assert doc["type"] == "io.nats.micro.v1.stats_response"
        await other.stop()
        await svc.stop()
    finally:
        await nc.close()
        await py.close()


async def test_micro_nothing_answers(server, env):
    for args in (("ls",), ("info", "nobody-here"), ("stats", "nobody-here", "NOID")):
        result = await run("micro", *args, "--timeout", "0.5s", "-s", server.url, env=env)
        assert_one_error(result, "no micro service")


async def test_micro_unreachable_server(env):
    result = await run("micro", "ls", "--timeout", "0.5s", "-s", "nats://127.0.0.1:1", env=env)
    assert_one_error(result)
