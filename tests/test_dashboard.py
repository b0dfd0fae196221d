"""The dashboard at the monitoring port's root, in a real headless Chromium (Playwright driving
the system's chromium): it loads without console errors, its counters and charts move with the
traffic a test publishes, routes and leafnodes appear when they connect, and the JetStream panel
shows JetStream usage when /varz says JetStream runs (zats's own, and nats-server's /jsz fed to
the page). Screenshots of each step are saved under ZATS_ARTIFACTS (default
tests/artifacts/dashboard) and the path is printed."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from support.servers import free_port, start_server
from support.wire import Wire

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("ZATS_ARTIFACTS", Path(__file__).parent / "artifacts" / "dashboard"))
REFRESH_MS = 200

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")  # in the test extra: present in CI
    if not os.path.exists(CHROMIUM):
        # CI (.ci/run) installs it; a developer's fresh machine may not have it yet.
        missing = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
        pytest.fail(missing) if os.environ.get("CI") else pytest.skip(missing)
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {ARTIFACTS}")
    return ARTIFACTS


@pytest.fixture
def page(browser):
    """A page whose console errors and uncaught exceptions are collected in page.errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda msg: msg.type == "error" and pg.errors.append(msg.text))
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    yield pg
    context.close()


def until(predicate, timeout: float = 10.0, between=None):
    """Polls `predicate` (calling `between` in between, e.g. to publish) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        if between is not None:
            between()
        time.sleep(0.05)


def _conf(tmp_path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.conf"
    path.write_text(f"server_name: {name}\n{text}")
    return str(path)


def _drain(wire: Wire) -> None:
    wire.sock.setblocking(False)
    try:
        while wire.sock.recv(1 << 20):
            pass
    except BlockingIOError:
        pass
    finally:
        wire.sock.setblocking(True)


def test_dashboard_live_counters_charts_routes_and_leafs(tmp_path, page, shots):
    cport, lport = free_port(), free_port()
    hub = start_server("zats", "-c", _conf(tmp_path, "HUB", f"""
cluster {{ name: DASH, listen: 127.0.0.1:{cport} }}
leafnodes {{ listen: 127.0.0.1:{lport} }}
"""), http_port=free_port())
    others = []
    try:
        page.goto(f"http://127.0.0.1:{hub.http_port}/?refresh={REFRESH_MS}")
        until(lambda: "live" in page.get_attribute("#status", "class"))
        assert page.title().startswith("zats ")
        for path in ("./varz", "./connz", "./subsz", "./routez", "./leafz", "./healthz", "./metrics"):
            assert page.locator(f'nav a[href="{path}"]').count() == 1, path
        assert page.locator("#jetstream-panel").is_hidden()  # this server runs without -js
        assert page.get_attribute("#route-list", "data-count") == "0"
        assert page.text_content("#subscriptions") != "–"
        page.screenshot(path=str(shots / "1-idle.png"), full_page=True)

        with Wire(hub.host, hub.port) as sub, Wire(hub.host, hub.port) as pub:
            sub.connect()
            sub.send(b"SUB dash.busy 1\r\nSUB dash.quiet 2\r\nPING\r\n")
            sub.expect(rb"PONG\r\n")
            pub.connect()
            burst = b"PUB dash.busy 64\r\n" + b"x" * 64 + b"\r\n"

            def publish():
                pub.send(burst * 200)
                _drain(sub)

            until(lambda: page.text_content("#connections") == "2", between=publish)
            first_points = page.get_attribute("#chart-msgs polyline.in", "points")
            until(lambda: float(page.get_attribute("#chart-msgs", "data-latest-in")) > 0, between=publish)
            until(lambda: float(page.get_attribute("#chart-bytes", "data-latest-out")) > 0, between=publish)
            until(lambda: page.text_content("#subjects tbody tr:first-child td:first-child") == "dash.busy",
                  between=publish)
            until(lambda: page.text_content("#in_msgs_rate") not in ("–", "0"), between=publish)
            assert page.get_attribute("#chart-msgs polyline.in", "points") != first_points
            assert page.text_content("#subjects tbody tr:nth-child(2) td:first-child") == "dash.quiet"
            page.screenshot(path=str(shots / "2-traffic.png"), full_page=True)

        others.append(start_server("zats", "-c", _conf(tmp_path, "PEER", f"""
cluster {{ name: DASH, listen: 127.0.0.1:{free_port()}, routes: ["nats-route://127.0.0.1:{cport}"] }}
""")))
        others.append(start_server("zats", "-c", _conf(tmp_path, "SPOKE", f"""
leafnodes {{ reconnect_delay: "1s", remotes: [ {{ url: "nats-leaf://127.0.0.1:{lport}" }} ] }}
""")))
        until(lambda: page.get_attribute("#route-list", "data-count") == "1", timeout=15)
        until(lambda: page.get_attribute("#leaf-list", "data-count") == "1", timeout=15)
        assert page.text_content("#route-list tbody td:nth-child(2)") == "PEER"
        assert page.text_content("#leaf-list tbody td:first-child") == "SPOKE"
        until(lambda: page.text_content("#routes") == "1" and page.text_content("#leafnodes") == "1")
        page.screenshot(path=str(shots / "3-route-and-leaf.png"), full_page=True)
    finally:
        for srv in [*others, hub]:
            srv.stop()
    assert page.errors == []


def _fetch(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.read()


def _jetstream_panel(page) -> dict[str, str]:
    """The JetStream panel's rows, label -> value."""
    return dict(zip(page.locator("#jetstream dt").all_text_contents(),
                    page.locator("#jetstream dd").all_text_contents(), strict=True))


def test_jetstream_panel_shows_a_streams_usage(tmp_path, page, shots):
    """A zats broker with -js: the panel appears, then counts the stream and the messages stored."""
    hub = start_server("zats", "-js", "-sd", str(tmp_path / "js"), http_port=free_port())
    try:
        page.goto(f"http://127.0.0.1:{hub.http_port}/?refresh={REFRESH_MS}")
        until(lambda: page.locator("#jetstream-panel").is_visible())
        with Wire(hub.host, hub.port) as client:
            client.connect()
            config = b'{"name":"DASH","subjects":["dash.js.>"],"storage":"file"}'
            client.send(b"SUB answers 1\r\nPUB $JS.API.STREAM.CREATE.DASH answers %d\r\n%s\r\n"
                        % (len(config), config))
            client.expect(rb'.*?"did_create":true')
            client.send(b"".join(b"PUB dash.js.%d answers 5\r\nhello\r\n" % (i % 3) for i in range(25)))
            client.expect(rb'.*?"seq":25\b')
        until(lambda: _jetstream_panel(page).get("Messages") == "25")
        shown = _jetstream_panel(page)
        assert shown["Streams"] == "1" and shown["Consumers"] == "0"
        assert not shown["Storage"].startswith("0 B")
        page.screenshot(path=str(shots / "4-jetstream.png"), full_page=True)
    finally:
        hub.stop()
    assert page.errors == []


def test_jetstream_panel_shows_nats_servers_jsz(tmp_path, page, shots):
    """Fed nats-server's own /varz and /jsz with JetStream on, the panel appears and shows them."""
    hub = start_server("zats", http_port=free_port())
    ns = start_server("nats-server", "-js", "-sd", str(tmp_path / "js"), http_port=free_port())
    try:
        varz = json.loads(_fetch(ns.http_port, "/varz"))
        assert varz["jetstream"]["config"]

        def from_nats_server(route):
            path = "/" + route.request.url.rsplit("/", 1)[1]
            route.fulfill(status=200, content_type="application/json", body=_fetch(ns.http_port, path))

        page.route("**/varz", from_nats_server)
        page.route("**/jsz", from_nats_server)
        page.goto(f"http://127.0.0.1:{hub.http_port}/?refresh={REFRESH_MS}")
        until(lambda: page.locator("#jetstream-panel").is_visible())
        text = page.text_content("#jetstream")
        assert "Streams" in text and "Storage" in text
        page.screenshot(path=str(shots / "5-jetstream-nats-server-jsz.png"), full_page=True)
    finally:
        ns.stop()
        hub.stop()
    assert page.errors == []
