"""`zats-server` / `python -m zats.broker`: nats-server's command-line flags (over the `-c`
configuration file, see config.py; `-t` only checks it) turned into ServerOptions, then the broker
run on uvloop until SIGINT/SIGTERM. nats-server flags that zats does not support yet are refused
with exit status 1, never ignored."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .config import ConfigError, LoadedConfig, check_config, load_config, valid_message
from .listeners import ListenError
from .log import LogFileError
from .options import (
    Authorization,
    ClusterConfig,
    JetStreamConfig,
    OptionsError,
    ServerOptions,
    TLSConfig,
)
from .server import Broker
from .signals import send_signal
from .urls import split_url
from .version import VERSION, ZATS_VERSION, build_mode

# nats-server flags that exist but that zats does not implement yet.
UNSUPPORTED = {
    "--ms", "--https_port",
    "--ports_file_dir", "-r", "--remote_syslog", "-s", "--syslog", "--max_traced_msg_len",
    "--trace_verbose", "-VV", "-DVV", "--log_size_limit", "--log_max_archives", "--profile", "--help_tls",
}

# Short flags of more than one letter (everything else with one dash is a long name).
_SHORT_MULTI_LETTER = {"-DV", "-VD", "-VV", "-DVV", "-js", "-sd", "-sl", "-ms"}

BOOL_WORDS = {"true": True, "1": True, "t": True, "false": False, "0": False, "f": False}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit status 1, as the issue asks, not argparse's 2
        sys.stderr.write(f"zats-server: {message}\n")
        sys.exit(1)


def _normalise(argv: list[str]) -> list[str]:
    """Go's flag package accepts `-name` and `--name`, and `-name=value`; argparse wants long
    names with two dashes. Negative numbers (`-p -1`) stay values."""
    out = []
    for arg in argv:
        name = arg.split("=", 1)[0]
        if arg.startswith("-") and not arg.startswith("--") and len(name) > 2:
            if not name[1:].isdigit() and name not in _SHORT_MULTI_LETTER:
                arg = "-" + arg
        out.append(arg)
    return out


def _bool(value: str) -> bool:
    try:
        return BOOL_WORDS[value.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="zats-server", add_help=False,
                description="A NATS-wire-compatible broker; accepts nats-server's flags.")
    p.add_argument("-h", "--help", action="store_true", help="show this help")
    p.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    p.add_argument("-a", "--addr", "--net", dest="host", help="bind to host address (0.0.0.0)")
    p.add_argument("-p", "--port", type=int, help="use port for clients (4222; -1 for random)")
    p.add_argument("-n", "--name", "--server_name", dest="server_name", help="server name")
    p.add_argument("--client_advertise", help="client URL to advertise to other servers")
    p.add_argument("-m", "--http_port", type=int, help="use port for http monitoring")
    p.add_argument("-P", "--pid", dest="pid_file", help="file to store the PID")
    p.add_argument("-l", "--log", dest="log_file", help="file to redirect log output")
    p.add_argument("-T", "--logtime", nargs="?", const=True, type=_bool,
                   help="timestamp log entries (default true)")
    p.add_argument("-D", "--debug", nargs="?", const=True, type=_bool, help="enable debugging output")
    p.add_argument("-V", "--trace", nargs="?", const=True, type=_bool, help="trace the raw protocol")
    p.add_argument("-DV", "-VD", dest="debug_trace", action="store_true", help="debug and trace")
    p.add_argument("--logtime_utc", nargs="?", const=True, type=_bool,
                   help="timestamps in UTC instead of local time")
    p.add_argument("-c", "--config", help="configuration file (command-line flags override it)")
    p.add_argument("--user", help="user required for connections")
    p.add_argument("--pass", dest="password", help="password required for connections")
    p.add_argument("--auth", help="authorization token required for connections")
    p.add_argument("--tls", nargs="?", const=True, type=_bool, help="enable TLS, do not verify clients")
    p.add_argument("--tlscert", help="server certificate file")
    p.add_argument("--tlskey", help="private key for server certificate")
    p.add_argument("--tlsverify", nargs="?", const=True, type=_bool,
                   help="enable TLS, verify client certificates")
    p.add_argument("--tlscacert", help="client certificate CA for verification")
    p.add_argument("--routes", help="routes to solicit and connect (comma-separated URLs)")
    p.add_argument("--cluster", "--cluster_listen", dest="cluster",
                   help="cluster URL from which members can solicit routes")
    p.add_argument("--cluster_name", help="cluster name (dynamically generated if not set)")
    p.add_argument("--cluster_advertise", help="cluster URL to advertise to other servers")
    p.add_argument("--no_advertise", nargs="?", const=True, type=_bool,
                   help="do not advertise known cluster information to clients")
    p.add_argument("--connect_retries", type=int, help="for implicit routes, number of connect retries")
    p.add_argument("-js", "--jetstream", nargs="?", const=True, type=_bool,
                   help="enable JetStream functionality")
    p.add_argument("-sd", "--store_dir", help="set the storage directory")
    p.add_argument("-sl", "--signal", help="send a signal to a zats-server process "
                   "(stop, quit, term, reload, ldm, reopen)[=PID|PIDFILE]")
    p.add_argument("-t", dest="check_config", action="store_true",
                   help="test the configuration file and exit")
    return p


def _fail(message: str) -> None:
    sys.stderr.write(f"zats-server: {message}\n")
    sys.exit(1)


def _from_config(ns: argparse.Namespace) -> tuple[ServerOptions, LoadedConfig | None]:
    """The options of the -c file (nats-server's defaults without one); exits on errors."""
    if not ns.config:
        if ns.check_config:
            _fail("must specify [-c, --config] option to check configuration file syntax")
        return ServerOptions(), None
    try:
        loaded = load_config(ns.config)
    except ConfigError as exc:
        _fail(str(exc))
    if not ns.check_config:
        for warning in loaded.warnings:  # nats-server prints these and starts
            sys.stderr.write(warning + "\n")
    return loaded.options, loaded


def parse_args(argv: list[str]) -> ServerOptions | None:
    """ServerOptions from nats-server flags; None after printing help or version."""
    argv = _normalise(argv)
    for arg in argv:
        name = arg.split("=", 1)[0]
        if name in UNSUPPORTED:
            sys.stderr.write(f"zats-server: flag {name} is a nats-server flag that zats does not "
                             f"support yet\n")
            sys.exit(1)
    parser = build_parser()
    ns, rest = parser.parse_known_args(argv)
    if rest:
        parser.error(f"flag provided but not defined: {rest[0]}")
    if ns.help:
        parser.print_help()
        return None
    if ns.version:
        print(f"zats-server: v{ZATS_VERSION} (nats-server protocol {VERSION}), {build_mode()}")
        return None
    if ns.signal:
        sys.exit(send_signal(ns.signal))
    opts, loaded = _from_config(ns)
    apply_flags(opts, ns)
    if ns.check_config:  # -t: as nats-server, warnings fail the check too
        problems = check_config(loaded, opts)
        if problems:
            _fail("\n".join(problems))
        sys.stderr.write(f"zats-server: {valid_message(loaded)}\n")
        return None
    opts.flags = ns
    return opts


def apply_flags(opts: ServerOptions, ns: argparse.Namespace) -> None:
    """Command-line flags over the options from the file (also after a reload)."""
    if ns.host is not None:
        opts.host = ns.host
    if ns.port is not None:
        opts.port = ns.port
    if ns.server_name:
        opts.server_name = ns.server_name
    if ns.client_advertise is not None:
        opts.client_advertise = ns.client_advertise
    if ns.http_port is not None:
        opts.http_port = ns.http_port
    if ns.pid_file:
        opts.pid_file = ns.pid_file
    if ns.log_file:
        opts.log_file = ns.log_file
    if ns.logtime is not None:
        opts.logtime = ns.logtime
    if ns.debug is not None:
        opts.debug = ns.debug
    if ns.trace is not None:
        opts.trace = ns.trace
    if ns.debug_trace:
        opts.debug = opts.trace = True
    if ns.logtime_utc is not None:
        opts.logtime_utc = ns.logtime_utc
    if ns.user is not None or ns.password is not None or ns.auth is not None:
        auth = opts.authorization or Authorization()
        if ns.user is not None:
            auth.user = ns.user
        if ns.password is not None:
            auth.password = ns.password
        if ns.auth is not None:
            auth.token = ns.auth
        opts.authorization = auth
    _apply_cluster_flags(opts, ns)
    if ns.jetstream is not None:
        if ns.jetstream:
            opts.jetstream = opts.jetstream or JetStreamConfig()
        else:
            opts.jetstream = None
    if ns.store_dir:
        opts.store_dir = ns.store_dir
    if ns.tls or ns.tlsverify or ns.tlscert or ns.tlskey or ns.tlscacert:
        tls = opts.tls or TLSConfig()
        tls.cert_file = ns.tlscert or tls.cert_file
        tls.key_file = ns.tlskey or tls.key_file
        tls.ca_file = ns.tlscacert or tls.ca_file
        if ns.tlsverify is not None:
            tls.verify = ns.tlsverify
        opts.tls = tls


def _apply_cluster_flags(opts: ServerOptions, ns: argparse.Namespace) -> None:
    """--cluster/--cluster_listen URL (credentials in it become the cluster authorization, as
    nats-server takes them), --routes, --cluster_name, --cluster_advertise, --no_advertise,
    --connect_retries, over the cluster block of the file."""
    given = (ns.cluster, ns.routes, ns.cluster_name, ns.cluster_advertise, ns.no_advertise,
             ns.connect_retries)
    if all(v is None for v in given):
        return
    cluster = opts.cluster or ClusterConfig()
    if ns.cluster is not None:
        if not ns.cluster:  # an empty URL turns the cluster listener off
            cluster.host, cluster.port = ClusterConfig().host, 0
        else:
            refused = _url_parse_error(ns.cluster)
            if refused:
                _fail(refused)
            try:
                host, port, user, password = split_url(ns.cluster)
            except ValueError as exc:
                _fail(f"error parsing cluster url {ns.cluster!r}: {exc}")
            cluster.host = host or cluster.host
            cluster.port = port
            if user is not None:
                cluster.user, cluster.password = user, password
    if ns.routes is not None:
        cluster.routes = [r.strip() for r in ns.routes.split(",") if r.strip()]
        if cluster.routes and not cluster.port:  # (a file's routes without a port are ignored)
            _fail("solicited routes require cluster capabilities, e.g. --cluster")
    if ns.cluster_name is not None:
        if " " in ns.cluster_name or "\n" in ns.cluster_name:
            _fail("cluster name cannot contain spaces")
        cluster.name = ns.cluster_name
    if ns.cluster_advertise is not None:
        cluster.advertise = ns.cluster_advertise
    if ns.no_advertise is not None:
        cluster.no_advertise = ns.no_advertise
    if ns.connect_retries is not None:
        cluster.connect_retries = ns.connect_retries
    opts.cluster = cluster


def _url_parse_error(text: str) -> str | None:
    """What nats-server says of a --cluster URL without `scheme://`, where Go's URL parser
    refuses it (`127.0.0.1:6222`, `:6222`) or finds a scheme and no host (`localhost:6222`);
    None for URLs it takes."""
    if "://" in text:
        return None
    for i, c in enumerate(text):  # a scheme: a letter, then letters, digits, '+', '-', '.'
        if c.isascii() and c.isalpha() or (i and c in "0123456789+-."):
            continue
        if c == ":":
            return f'parse "{text}": missing protocol scheme' if i == 0 else "missing port in address"
        break
    if ":" in text.split("/", 1)[0]:
        return f'parse "{text}": first path segment in URL cannot contain colon'
    return None


def reload_options(opts: ServerOptions) -> ServerOptions:
    """The options after SIGHUP: the configuration file read again, the flags applied over it.
    Raises ConfigError for a bad file."""
    if not opts.config_file:
        fresh = ServerOptions()
    else:
        fresh = load_config(opts.config_file).options
    if opts.flags is not None:
        apply_flags(fresh, opts.flags)
        fresh.flags = opts.flags
    return fresh


async def serve(opts: ServerOptions) -> None:
    try:
        broker = Broker(opts)
    except (OptionsError, LogFileError) as exc:
        sys.stderr.write(f"zats-server: {exc}\n")
        raise SystemExit(1) from None
    loop = asyncio.get_running_loop()
    stopping = []

    def on_stop(signum: int) -> None:
        if stopping:
            return
        stopping.append(signum)
        broker.log.notice('Trapped "%s" signal', _signal_name(signum))
        loop.create_task(broker.stop())

    def on_reload() -> None:
        broker.log.notice('Trapped "%s" signal', _signal_name(signal.SIGHUP))
        try:
            broker.reload(reload_options(broker.options))
        except (ConfigError, OptionsError) as exc:
            broker.log.error("Failed to reload server configuration: %s", exc)

    def on_lame_duck() -> None:
        broker.log.notice('Trapped "%s" signal', _signal_name(signal.SIGUSR2))
        loop.create_task(broker.lame_duck())

    # Handlers before the listeners: a signal as soon as the server is ready is not fatal.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_stop, signum)
    loop.add_signal_handler(signal.SIGHUP, on_reload)
    loop.add_signal_handler(signal.SIGUSR2, on_lame_duck)
    loop.add_signal_handler(signal.SIGUSR1, broker.log.reopen)
    try:
        await broker.start()
    except ListenError as exc:
        broker.log.fatal("%s", exc)
        raise SystemExit(1) from None
    await broker.wait_stopped()


def _signal_name(signum: int) -> str:
    """The signal as nats-server (Go) logs it: "interrupt", "terminated", "hangup"."""
    return (signal.strsignal(signum) or str(signum)).lower()


def _run(coro) -> None:
    try:
        import uvloop
    except ImportError:  # platforms without uvloop still run, slower
        asyncio.run(coro)
        return
    uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    if opts is None:
        return 0
    _run(serve(opts))
    return 0
