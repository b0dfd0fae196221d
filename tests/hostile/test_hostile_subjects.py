"""Hostile probes: subjects of a thousand tokens and more. A subscription of 1,000 `*` tokens
and a request whose reply subject has 1,000 tokens made zats's subject index recurse past
Python's limit when the service replied: zats closed the responder, not the offender, and over
a route it closed the route. nats-server delivers such subjects like any other. Each probe runs
against zats and nats-server alike and checks what the offender gets, that the other clients
(and the route) stay connected, that a bystander keeps its messages, and that memory stays
bounded."""

from __future__ import annotations

import re
import time

import pytest
from test_cluster import meshed, start

from support.hostile import MemoryWatch, Pinger
from support.wire import Wire

CONNECT = b'{"verbose":false,"pedantic":false}'
TOKENS = 1000


def deep(token: bytes, n: int = TOKENS) -> bytes:
    return b".".join([token] * n)


def alive(wire: Wire) -> None:
    wire.send(b"PING\r\n")
    wire.expect(rb"PONG\r\n")


def connected(srv) -> Wire:
    return Wire(srv.host, srv.port, timeout=5).connect(CONNECT)


def test_long_reply_subject_costs_no_responder(server):
    """The offender listens on 1,000 `*` tokens and asks a service to answer on a 1,000-token
    reply subject: it gets the answer, and the responder stays up for the next requester."""
    with MemoryWatch(server.proc.pid) as memory, Pinger(server.host, server.port) as pinger:
        with connected(server) as offender, connected(server) as responder, \
                Wire(server.host, server.port, timeout=5) as requester:
            requester.connect(b'{"verbose":false,"pedantic":false,"headers":true,'
                              b'"no_responders":true}')
            responder.send(b"SUB svc 1\r\n")
            alive(responder)
            reply = deep(b"r")
            offender.send(b"SUB " + deep(b"*") + b" 1\r\nPUB svc " + reply + b" 2\r\nhi\r\n")
            alive(offender)
            for _ in range(2):
                got = responder.expect(rb"MSG svc 1 (\S+) 2\r\nhi\r\n").group(1)
                responder.send(b"PUB " + got + b" 3\r\nans\r\n")
                alive(responder)
                if got == reply:
                    offender.expect(re.escape(b"MSG " + reply + b" 1 3\r\nans\r\n"))
                    requester.send(b"SUB inbox.1 1\r\nPUB svc inbox.1 2\r\nhi\r\n")
                else:  # the next request is answered, not met with no-responders
                    requester.expect(rb"MSG inbox.1 1 3\r\nans\r\n")
            alive(offender)
        pinger.assert_unharmed()
        memory.assert_bounded()


@pytest.mark.parametrize("tokens", [990, TOKENS, 2000])
def test_publisher_of_a_long_subject_stays_connected(server, tokens):
    """With a subscription of 1,000 `*` tokens in the index, a publisher of a subject of
    about as many tokens is served (one of exactly 1,000 reaches the subscriber)."""
    with MemoryWatch(server.proc.pid) as memory, Pinger(server.host, server.port) as pinger:
        with connected(server) as offender, connected(server) as publisher:
            offender.send(b"SUB " + deep(b"*") + b" 1\r\n")
            alive(offender)
            subject = deep(b"p", tokens)
            publisher.send(b"PUB " + subject + b" 1\r\nx\r\n")
            alive(publisher)
            if tokens == TOKENS:
                offender.expect(re.escape(b"MSG " + subject + b" 1 1\r\nx\r\n"))
            alive(offender)
        pinger.assert_unharmed()
        memory.assert_bounded()


ROUTED = [("zats", "zats"), ("nats-server", "zats"), ("zats", "nats-server"),
          ("nats-server", "nats-server")]


def _wait(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _route_ids(node) -> set[int]:
    return {r["rid"] for r in node.get("/routez")["routes"]}


@pytest.mark.parametrize("kinds", ROUTED, ids=["-".join(k) for k in ROUTED])
def test_long_subjects_across_a_route(spawn, kinds):
    """A subscriber of 1,000 `*` tokens on one node, a 1,000-token publish on the other: the
    message crosses, and the route stays up (same routes before and after: no flap)."""
    a = start(spawn, kinds[0])
    b = start(spawn, kinds[1], routes=[a])
    _wait(lambda: meshed([a, b]))
    routes = _route_ids(a), _route_ids(b)
    with MemoryWatch(a.srv.proc.pid) as memory, Pinger("127.0.0.1", a.port) as pinger, \
            connected(a.srv) as offender, connected(b.srv) as publisher:
        offender.send(b"SUB " + deep(b"*") + b" 1\r\nSUB barrier 2\r\n")
        alive(offender)
        # Interest crosses the route in order: once `barrier` is known on B, so is the rest.
        for i in range(200):
            publisher.send(b"PUB barrier %d\r\n%d\r\n" % (len(b"%d" % i), i))
            try:
                offender.expect(rb"MSG barrier 2 \d+\r\n\d+\r\n", timeout=0.1)
                break
            except AssertionError:
                continue
        else:
            pytest.fail("the subscriptions never reached the other node")
        subject = deep(b"p")
        publisher.send(b"PUB " + subject + b" 1\r\nx\r\nPUB " + deep(b"p", 990) + b" 1\r\ny\r\n")
        alive(publisher)
        offender.expect(rb"(MSG barrier 2 \d+\r\n\d+\r\n)*" + re.escape(b"MSG " + subject +
                                                                       b" 1 1\r\nx\r\n"))
        alive(offender)
        assert (_route_ids(a), _route_ids(b)) == routes
        pinger.assert_unharmed()
        memory.assert_bounded()
