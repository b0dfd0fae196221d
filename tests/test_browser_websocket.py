"""nats.ws in a real browser: headless Chromium (Playwright driving the system's chromium, as in
tests/test_dashboard.py) loads tests/js/browser.html and the package's ESM bundle from a local
HTTP server, connects to the websocket listener of zats or nats-server (configured alike),
subscribes, publishes with and without headers, and sends a request to a responder this test
runs with zats.client in a thread. The page writes each result into the DOM; the test reads them,
checks the console stayed clean, and saves a screenshot (its path is printed)."""

from __future__ import annotations

import asyncio
import http.server
import threading

import pytest
from test_dashboard import browser, page, shots, until  # noqa: F401  (fixtures)

import zats.client as zc
from support.js import JS_DIR, js_modules  # noqa: F401  (js_modules is a fixture)
from support.servers import KINDS
from support.websocket import start_ws_server

pytestmark = pytest.mark.timeout(90)


class _Files(http.server.SimpleHTTPRequestHandler):
    """The page and the nats.ws bundle, nothing else."""

    FILES = {"/browser.html": "browser.html", "/nats.js": "node_modules/nats.ws/esm/nats.js"}

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = self.FILES.get(self.path.split("?", 1)[0])
        if path is None:
            self.send_error(404)
            return
        body = (JS_DIR / path).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript" if path.endswith(".js") else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def site(js_modules):  # noqa: F811
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class Responder:
    """zats.client in its own thread and loop, answering svc.browser over TCP."""

    def __init__(self, url: str):
        self.url = url
        self.asked: list[str | None] = []
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Responder:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self.nc = await zc.connect(self.url, allow_reconnect=False)

        def respond(msg):
            self.asked.append(msg.headers.get("X-Asked-By"))
            msg.respond(b"pong:" + msg.data, headers={"Served-By": "zats.client"})

        await self.nc.subscribe("svc.browser", cb=respond)
        await self.nc.flush()

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.nc.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.mark.parametrize("kind", KINDS)
def test_nats_ws_in_chromium(kind, tmp_path, site, page, shots):  # noqa: F811
    srv = start_ws_server(kind, tmp_path)
    try:
        with Responder(srv.url) as responder:
            page.goto(f"{site}/browser.html?ws={srv.ws_url}")
            status = until(lambda: (s := page.text_content("#status")) != "starting" and s)
            shot = shots / f"browser-ws-{kind}.png"
            page.screenshot(path=str(shot))
            print(f"browser screenshot: {shot}")
            assert status == "done", status
            assert page.text_content("#server") == f"127.0.0.1:{srv.ws_port}"
            assert page.text_content("#received") == (
                "browser.plain=hello/- browser.hdr=with headers/chromium")
            assert page.text_content("#reply") == "pong:ping/zats.client"
            assert responder.asked == ["chromium"]
            assert page.errors == []
    finally:
        srv.proc.stop()
