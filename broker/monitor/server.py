"""The monitoring listener (`-m/--http_port`): one task per HTTP connection, requests routed as
nats-server's ServeMux routes them (exact paths, `/` the index, unclean paths redirected, any
method). Answers are built one at a time, so concurrent large requests queue instead of piling
up their memory (identical ones share one build), and each build yields to the event loop between
slices."""

from __future__ import annotations

import asyncio
import html
import inspect
import posixpath
from urllib.parse import quote

from ..version import ZATS_VERSION
from . import accounts, endpoints
from .http import HEADER_TIMEOUT, Connection, Refused, Request, expectation_failed, response
from .index import index_page
from .jsz import jsz
from .metrics import CONTENT_TYPE as _METRICS_TYPE
from .metrics import Metrics
from .params import BadParam, parse_query
from .subjects import BusiestSubjects

_JSON = [("Access-Control-Allow-Origin", "*"), ("Content-Type", "application/json")]
_TEXT = [("Content-Type", "text/plain; charset=utf-8")]
_HTML = [("Content-Type", "text/html; charset=utf-8")]
_LINGER = 0.5  # net/http's wait for the peer's close after refusing a request
_NOT_FOUND = [*_TEXT, ("X-Content-Type-Options", "nosniff")]
# A handler's own error text: net/http adds the type it sniffs after the length.
_ERROR = [("Date", None), ("Content-Length", None), *_TEXT]


def clean_path(path: str) -> str:
    """The path ServeMux redirects an unclean one to: no empty, `.` or `..` segments."""
    if not path.startswith("/"):
        path = "/" + path
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):  # normpath keeps a leading double slash
        cleaned = "/" + cleaned.lstrip("/")
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


async def _close_gently(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-closes after a refusal and discards what the peer still sends for a moment, as
    net/http does, so that closing with unread input (a reset) does not destroy the answer."""
    await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
    try:
        async with asyncio.timeout(_LINGER):
            while await reader.read(65536):
                pass
    except TimeoutError:
        pass


class MonitorServer:
    def __init__(self, broker):
        self.broker = broker
        self.cpu = endpoints.CPU()
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()  # connections, closed at stop
        self._building = asyncio.Lock()
        self._pending: dict[tuple[str, str], asyncio.Future] = {}
        self._index = index_page(ZATS_VERSION)
        self._metrics = Metrics(broker, self.cpu)
        self._subjects = BusiestSubjects(broker)
        self.routes = {
            "/varz": lambda q: endpoints.varz(broker, q, self.cpu),
            "/connz": lambda q: endpoints.connz(broker, q),
            "/subsz": lambda q: endpoints.subsz(broker, q),
            "/subscriptionsz": lambda q: endpoints.subsz(broker, q),
            "/routez": lambda q: endpoints.routez(broker, q),
            "/leafz": lambda q: endpoints.leafz(broker, q),
            "/healthz": lambda q: endpoints.healthz(broker, q),
            "/jsz": lambda q: jsz(broker, q),
            "/accountz": lambda q: accounts.accountz(broker, q),
            "/accstatz": lambda q: accounts.accstatz(broker, q),
            "/gatewayz": lambda q: accounts.gatewayz(broker, q),
            "/subjectz": self._subjects.subjectz,
            "/metrics": self._metrics.scrape,
        }
        self._content_types = {"/metrics": [("Content-Type", _METRICS_TYPE)]}

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):  # kept-alive connections have no idle limit
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        conn = Connection(reader)
        deadline = loop.time() + HEADER_TIMEOUT
        self._open.add(writer)
        try:
            while True:
                try:
                    req = await conn.next_request(deadline)
                except Refused as refused:
                    writer.write(refused.answer)
                    await _close_gently(reader, writer)
                    return
                if req is None:
                    return
                answer, close = await self._answer(req)
                writer.write(answer)
                await writer.drain()
                if close or req.close or not await conn.skip_body(req):
                    return
                if not await conn.wait_next():
                    return
                deadline = loop.time() + HEADER_TIMEOUT
        except (ConnectionError, OSError):
            return
        finally:
            self._open.discard(writer)
            writer.close()

    async def _build(self, path: str, query: str, handler) -> bytes:
        """The body for `path?query`. Builds run one at a time; a request identical to one whose
        build has not finished shares that build's answer instead of queueing its own."""
        key = (path, query)
        shared = self._pending.get(key)
        if shared is None:
            shared = self._pending[key] = asyncio.get_running_loop().create_future()
            try:
                async with self._building:
                    body = handler(parse_query(query))
                    if inspect.isawaitable(body):
                        body = await body
                shared.set_result((body, None))
            except Exception as exc:
                shared.set_result((None, exc))
            finally:
                del self._pending[key]
                if not shared.done():  # this build was cancelled: so are those sharing it
                    shared.cancel()
        body, error = await asyncio.shield(shared)
        if error is not None:
            raise error
        return body

    async def _answer(self, req: Request) -> tuple[bytes, bool]:
        """The response to one request, and whether the connection closes after it."""
        expect = req.header("expect")
        if expect and expect.lower() != "100-continue":
            return expectation_failed(), True
        if req.target == "*":  # the whole server as target: only OPTIONS means anything
            if req.method == "OPTIONS":
                return response(req, 200, [("Content-Length", None)], b""), False
            if req.minor >= 1:
                return response(req, 400, [("Connection", "close")], b""), True
            return response(req, 400, [], b""), True
        path = req.path
        clean = clean_path(path)
        if clean != path:
            location = quote(clean, safe="/:@!$&'()*+,;=~") + (f"?{req.query}" if req.query else "")
            if req.method in ("GET", "HEAD"):
                body = f'<a href="{html.escape(location)}">Temporary Redirect</a>.\n\n'.encode()
                return response(req, 307, [*_HTML, ("Location", location)], body), False
            return response(req, 307, [("Location", location)], b""), False
        if path == "/":
            return response(req, 200, _HTML, self._index), False
        handler = self.routes.get(path)
        if handler is None:
            return response(req, 404, _NOT_FOUND, b"404 page not found\n"), False
        try:
            body = await self._build(path, req.query, handler)
        except BadParam as bad:
            return response(req, 400, _ERROR, str(bad).encode()), False
        except Exception as exc:  # a bug here must cost one answer, never the server
            self.broker.log.error("monitoring %s: %r", path, exc)
            return response(req, 500, _TEXT, b"internal error"), True
        return response(req, 200, self._content_types.get(path, _JSON), body), False
