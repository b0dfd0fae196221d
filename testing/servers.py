"""In-process zats brokers for tests: `start_server()` and `start_cluster()`, the handles they
return, and `ServerFactory`, which stops everything it started (the pytest fixtures' object).

A broker is `zats.broker.Broker` on the shared background loop (see `loop.py`), listening on
127.0.0.1 on a free port. The options are the broker's own (`ServerOptions` fields, passed
through as keywords), plus shortcuts for what tests configure most: credentials, TLS from the
caller's certificate files, JetStream with a temporary store directory, and clusters."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import msgspec

from zats.broker import Broker, ServerOptions
from zats.broker.log import Logger
from zats.broker.options import Authorization, ClusterConfig, JetStreamConfig, TLSConfig, User

from . import loop

T = TypeVar("T")
HOST = "127.0.0.1"


class _QuietLogger(Logger):
    """The broker's log, dropped: tests read state, not log lines (`log=True` keeps them)."""

    def _write(self, level: str, fmt: str, args: tuple[Any, ...]) -> None:
        pass


def server_options(
    *,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    users: Iterable[Mapping[str, Any] | User] | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    tls_ca: str | None = None,
    tls_verify: bool = False,
    jetstream: bool = False,
    store_dir: str | None = None,
    **options: Any,
) -> ServerOptions:
    """The `ServerOptions` of a test broker. `users`: dicts (or `User`s) with `user`,
    `password` or `nkey`, and `permissions` as in an `authorization { users [...] }` block.
    `tls_cert`/`tls_key`: the server's certificate and key files; `tls_ca` and `tls_verify`:
    require client certificates signed by that CA. `jetstream`: JetStream with its store in
    `store_dir` (see `start_server`). Anything else is a `ServerOptions` field."""
    options.setdefault("host", HOST)
    options.setdefault("port", 0)
    if user is not None or token is not None or users:
        options["authorization"] = Authorization(
            user=user, password=password, token=token,
            users=[u if isinstance(u, User) else msgspec.convert(dict(u), User) for u in users or ()])
    elif password is not None:
        raise ValueError("password without user")
    if tls_cert or tls_key:
        if not (tls_cert and tls_key):
            raise ValueError("TLS needs both tls_cert and tls_key")
        options["tls"] = TLSConfig(cert_file=tls_cert, key_file=tls_key, ca_file=tls_ca or "",
                                   verify=tls_verify)
    elif tls_ca or tls_verify:
        raise ValueError("tls_ca/tls_verify without tls_cert and tls_key")
    if jetstream:
        if store_dir is None:
            raise ValueError("jetstream=True needs a store_dir (start_server() makes one)")
        options["jetstream"] = JetStreamConfig()
        options["store_dir"] = store_dir
    elif store_dir is not None:
        raise ValueError("store_dir without jetstream=True")
    return ServerOptions(**options)


class NatsServer:
    """A broker running in this process. `url` is what clients connect to (tls:// when it
    has TLS); `broker` is the `zats.broker.Broker` itself, which lives on the background loop:
    read or change its state through `call()`/`run()`. Stop it with `stop()` or a `with`
    block; it is stopped when the factory that made it closes."""

    def __init__(self, broker: Broker, store_dir: str | None = None, owns_store: bool = False):
        self.broker = broker
        self.store_dir = store_dir
        self._owns_store = owns_store
        self.stopped = False

    @property
    def host(self) -> str:
        return HOST if self.broker.options.host in ("0.0.0.0", "::", "") else self.broker.options.host

    @property
    def port(self) -> int:
        return self.broker.port

    @property
    def url(self) -> str:
        scheme = "tls" if self.broker.options.tls is not None else "nats"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def cluster_url(self) -> str | None:
        """The route URL other nodes dial, when it is clustered."""
        cluster = self.broker.cluster
        return None if cluster is None else f"nats://{HOST}:{cluster.port}"

    @property
    def num_connections(self) -> int:
        """Client connections open now."""
        return self.call(lambda: len(self.broker.connections))

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the broker's loop, its result returned here."""
        return loop.call(fn, *args)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Runs a coroutine on the broker's loop (for example `server.run(server.broker.lame_duck())`)."""
        return loop.run(coro, timeout)

    def stop(self) -> None:
        """Stops the broker: clients see their connection close. Safe to call more than once."""
        if self.stopped:
            return
        self.stopped = True
        try:
            loop.run(self.broker.stop(quiet=True))
        finally:
            if self._owns_store and self.store_dir:
                shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<zats.testing.NatsServer {self.url}{' stopped' if self.stopped else ''}>"


def start_server(*, log: bool = False, jetstream: bool = False, store_dir: str | None = None,
                 **options: Any) -> NatsServer:
    """Starts a broker on a free loopback port and returns when it accepts connections.
    Options: see `server_options()`. With `jetstream=True` and no `store_dir`, the store is a
    new temporary directory, removed when the server stops. `log=True` writes the broker's log
    to stderr."""
    owns_store = jetstream and store_dir is None
    if owns_store:
        store_dir = tempfile.mkdtemp(prefix="zats-js-")
    try:
        opts = server_options(jetstream=jetstream, store_dir=store_dir, **options)
    except BaseException:
        if owns_store and store_dir:
            shutil.rmtree(store_dir, ignore_errors=True)
        raise
    broker = Broker(opts, log=None if log else _QuietLogger())
    loop.run(broker.start())
    return NatsServer(broker, store_dir, owns_store)


class NatsCluster:
    """`size` brokers joined by routes into one cluster (a full mesh). `servers` are the nodes,
    `urls` their client URLs (give them all to a client, or one to pin it to a node)."""

    def __init__(self, servers: list[NatsServer]):
        self.servers = servers

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def __getitem__(self, i: int) -> NatsServer:
        return self.servers[i]

    def __len__(self) -> int:
        return len(self.servers)

    def stop(self) -> None:
        errors = []
        for s in self.servers:
            try:
                s.stop()
            except Exception as exc:  # stop the others all the same
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> NatsCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_cluster(size: int = 3, *, name: str = "zats-testing", timeout: float = 10.0,
                  **options: Any) -> NatsCluster:
    """Starts `size` brokers, each with a route to the first (gossip completes the mesh), and
    returns once every node has a route to every other. Options as `start_server()`, for every
    node; each node gets the server name `NAME-i`."""
    if size < 1:
        raise ValueError("a cluster needs at least one node")
    servers: list[NatsServer] = []
    try:
        for i in range(size):
            seed = servers[0].cluster_url if servers else None
            routes = [seed] if seed is not None else []
            cluster = ClusterConfig(name=name, host=HOST, port=-1, routes=routes)
            servers.append(start_server(cluster=cluster, server_name=f"{name}-{i}", **options))
        loop.run(_meshed([s.broker for s in servers], timeout))
    except BaseException:
        NatsCluster(servers).stop()
        raise
    return NatsCluster(servers)


async def _meshed(brokers: list[Broker], timeout: float) -> None:
    want = len(brokers) - 1
    try:
        async with asyncio.timeout(timeout):
            while any(len(b.cluster.routes) < want for b in brokers if b.cluster is not None):
                await asyncio.sleep(0.005)
    except TimeoutError:
        counts = [len(b.cluster.routes) if b.cluster else 0 for b in brokers]
        raise TimeoutError(f"cluster not meshed after {timeout}s (routes per node: {counts})") from None


class ServerFactory:
    """Starts servers and clusters (`factory(**options)`, `factory.cluster(n, **options)`) and
    stops them all on `close()`: what the `nats_server_factory` fixtures yield."""

    def __init__(self) -> None:
        self._started: list[NatsServer | NatsCluster] = []

    def __call__(self, **options: Any) -> NatsServer:
        """A new server; options as `start_server()`."""
        server = start_server(**options)
        self._started.append(server)
        return server

    def cluster(self, size: int = 3, **options: Any) -> NatsCluster:
        """A new cluster of `size` nodes; options as `start_cluster()`."""
        cluster = start_cluster(size, **options)
        self._started.append(cluster)
        return cluster

    def close(self) -> None:
        started, self._started = self._started, []
        for item in reversed(started):
            item.stop()
