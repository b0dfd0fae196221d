"""A plain (sync) test: the server runs on its own loop, so code that calls asyncio.run()
itself can be tested too."""

from greeter import greet_once


def test_greet_once(nats_url):
    assert greet_once(nats_url, "sync") == "hello, sync"


def test_greet_once_against_the_session_server(nats_server_session):
    assert greet_once(nats_server_session.url, "again") == "hello, again"
