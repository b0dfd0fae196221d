"""Hostile probes: abuse of the system account's server requests ($SYS.REQ.SERVER.PING...) by a
system user. Each runs against zats and nats-server configured alike and checks what the
offender gets (what nats-server gives it), that a bystander in another account keeps its
messages and its responsiveness, and that the server's memory stays bounded."""

from __future__ import annotations

import json

import nats
import pytest

from support.hostile import MemoryWatch, Pinger
from support.servers import write_config

CONF = """
accounts {
  SYS { users [ {user: admin, password: pw} ] }
  A { users [ {user: a, password: pw} ] }
}
system_account: SYS
no_auth_user: a
"""


@pytest.fixture
def target(kind, spawn, tmp_path):
    return spawn(kind, "-c", write_config(tmp_path, CONF))


async def _flood(srv, subject: str, body: bytes, count: int) -> list[dict]:
    """`count` requests published at once on one reply subject; the answers that come back."""
    nc = await nats.connect(srv.url, user="admin", password="pw", allow_reconnect=False,
                            pending_size=256 * 1024 * 1024)
    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox, pending_msgs_limit=count * 2,
                                 pending_bytes_limit=512 * 1024 * 1024)
        for _ in range(count):
            await nc.publish(subject, body, reply=inbox)
        await nc.flush(timeout=30)
        answers = []
        try:
            while len(answers) < count:
                answers.append(json.loads((await sub.next_msg(timeout=10)).data))
        except nats.errors.TimeoutError:
            pass
        return answers
    finally:
        await nc.close()


@pytest.mark.parametrize(("subject", "count"), [("$SYS.REQ.SERVER.PING.HEALTHZ", 3000),
                                                ("$SYS.REQ.SERVER.PING", 1000),
                                                ("$SYS.REQ.SERVER.PING.CONNZ", 500)])
async def test_flood_of_requests_is_answered_in_full(target, subject, count):
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        answers = await _flood(target, subject, b"", count)
        assert len(answers) == count
        assert len({a["server"]["seq"] for a in answers}) == count
        pinger.assert_unharmed()
        memory.assert_bounded()


@pytest.mark.parametrize("body", [b"x" * 1_000_000, b"[" * 200_000,
                                  b'{"server_name":"' + b"s" * 999_000 + b'"}'],
                         ids=["garbage", "deep", "long-filter"])
async def test_huge_or_malformed_bodies(target, body):
    """A body at max_payload: garbage and 200,000 nested arrays get the 400 error; a filter
    that matches no server gets nothing."""
    with MemoryWatch(target.proc.pid) as memory, Pinger(target.host, target.port) as pinger:
        answers = await _flood(target, "$SYS.REQ.SERVER.PING.VARZ", body, 20) \
            if not body.startswith(b"{") else []
        if body.startswith(b"{"):
            nc = await nats.connect(target.url, user="admin", password="pw", allow_reconnect=False)
            try:
                with pytest.raises(nats.errors.TimeoutError):
                    await nc.request("$SYS.REQ.SERVER.PING.VARZ", body, timeout=1)
            finally:
                await nc.close()
        else:
            assert len(answers) == 20
            assert all(a["error"]["code"] == 400 and "data" not in a for a in answers)
        pinger.assert_unharmed()
        memory.assert_bounded()
