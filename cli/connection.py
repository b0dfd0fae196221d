"""The connection options every connecting command takes, as the nats CLI's (`-s/--server`
with comma-separated URLs or NATS_URL, `--user`, `--password`, `--token`, `--creds`, `--nkey`,
`--tlscert`, `--tlskey`, `--tlsca`, `--tlsfirst`, `--timeout`, `--context`, `--no-context`, each
with the nats CLI's environment variable), merged over the selected context, and connecting with
zats.client, every failure turned into one line for the user."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import click

import zats.client
from zats.client import errors

from . import contexts
from .output import CliError, log

DEFAULT_URL = "nats://127.0.0.1:4222"
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a Go duration (`5s`, `500ms`, `1m30s`) or a plain number of seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r} (examples: 5s, 500ms, 1m30s)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text:
        raise ValueError("empty duration")
    return total


class Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = Duration()


@dataclasses.dataclass
class Settings:
    """Where and how to connect; the field names of a context file are in CONTEXT_KEYS."""

    servers: str = DEFAULT_URL
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds: str | None = None
    nkey: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None
    tlsca: str | None = None
    tlsfirst: bool = False
    inbox_prefix: str | None = None
    timeout: float = 5.0
    context: str | None = None  # the context these came from, if any


# Settings field -> key in a context file (the nats CLI's names).
CONTEXT_KEYS = {"servers": "url", "user": "user", "password": "password", "token": "token",
                "creds": "creds", "nkey": "nkey", "tlscert": "cert", "tlskey": "key", "tlsca": "ca",
                "tlsfirst": "tls_first", "inbox_prefix": "inbox_prefix"}

# (option declarations, Settings field, environment variable, help)
_OPTIONS = [
    (("-s", "--server"), "servers", "NATS_URL", "NATS server URLs, comma-separated"),
    (("--user",), "user", "NATS_USER", "Username (a token when given without --password)"),
    (("--password",), "password", "NATS_PASSWORD", "Password"),
    (("--token",), "token", "NATS_TOKEN", "Token"),
    (("--creds",), "creds", "NATS_CREDS", "User credentials file"),
    (("--nkey",), "nkey", "NATS_NKEY", "User NKEY seed file"),
    (("--tlscert",), "tlscert", "NATS_CERT", "TLS client certificate"),
    (("--tlskey",), "tlskey", "NATS_KEY", "TLS client private key"),
    (("--tlsca",), "tlsca", "NATS_CA", "TLS certificate authority chain"),
]


_METAVARS = {"servers": "URL", "creds": "FILE", "nkey": "FILE", "tlscert": "FILE", "tlskey": "FILE",
             "tlsca": "FILE"}


def connection_flags(func: Callable, *, context_options: bool = True) -> Callable:
    """Adds the connection options to a command, which gets them as `flags` (Settings field ->
    value, None when not given) and, with `context_options`, `context`/`no_context`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        flags = {field: kwargs.pop(f"opt_{field}") for _, field, _, _ in _OPTIONS}
        flags["tlsfirst"] = kwargs.pop("opt_tlsfirst") or None
        flags["timeout"] = kwargs.pop("opt_timeout")
        kwargs["flags"] = flags
        return func(*args, **kwargs)

    options = [click.option("--timeout", "opt_timeout", type=DURATION, envvar="NATS_TIMEOUT",
                            help="Time to wait for connections and responses [default: 5s]"),
               click.option("--tlsfirst", "opt_tlsfirst", is_flag=True,
                            help="TLS handshake before the server's greeting")]
    if context_options:
        options[:0] = [click.option("--no-context", is_flag=True, help="Ignore the selected context"),
                       click.option("--context", envvar="NATS_CONTEXT", metavar="NAME",
                                    help="Saved context to use")]
    for decls, field, env, help_ in reversed(_OPTIONS):
        options.append(click.option(*decls, f"opt_{field}", envvar=env, help=help_,
                                    metavar=_METAVARS.get(field, "TEXT")))
    for option in options:
        wrapper = option(wrapper)
    return wrapper


def connection_options(func: Callable) -> Callable:
    """Adds the connection options to a command, which gets them merged over the context as
    `settings: Settings`."""

    @functools.wraps(func)
    def wrapper(*args, flags, context, no_context, **kwargs):
        return func(*args, settings=resolve(flags, context, no_context), **kwargs)

    return connection_flags(wrapper)


def context_values(name: str) -> dict:
    """The Settings fields a saved context sets."""
    data = contexts.load(name)
    return {field: data[key] for field, key in CONTEXT_KEYS.items() if data.get(key) not in (None, "")}


def resolve(flags: dict, context: str | None = None, no_context: bool = False) -> Settings:
    """Settings from the flags (and their environment variables) over the context named, or the
    selected one unless `no_context`, over the defaults."""
    if context is None and not no_context:
        context = contexts.selected()
        if context is not None and not contexts.exists(context):
            context = None  # a selection whose file was removed by hand
    values = context_values(context) if context else {}
    values.update({k: v for k, v in flags.items() if v is not None})
    if values.get("user") and not values.get("password") and not values.get("token"):
        values["token"] = values.pop("user")  # as the nats CLI: a lone user is a token
    return Settings(**values, context=context)


def tls_context(s: Settings) -> ssl.SSLContext | None:
    if not (s.tlscert or s.tlskey or s.tlsca):
        return None
    if bool(s.tlscert) != bool(s.tlskey):
        raise CliError("--tlscert and --tlskey go together")
    try:
        ctx = ssl.create_default_context(cafile=s.tlsca)
        if s.tlscert:
            ctx.load_cert_chain(s.tlscert, s.tlskey)
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"cannot load TLS files: {_reason(exc)}") from None
    return ctx


def version() -> str:
    from importlib import metadata  # only here: it costs every other command's start

    try:
        return metadata.version("zats")
    except metadata.PackageNotFoundError:
        return zats.client.__version__


def client_options(s: Settings, **extra) -> dict:
    opts = dict(name=f"zats CLI {zats.client.__version__}", connect_timeout=s.timeout, user=s.user,
                password=s.password, token=s.token, tls=tls_context(s), tls_handshake_first=s.tlsfirst,
                max_reconnect_attempts=-1)
    if s.creds:
        opts["user_credentials"] = _readable(s.creds, "credentials")
    if s.nkey:
        opts["nkeys_seed"] = _readable(s.nkey, "nkey seed")
    if s.inbox_prefix:
        opts["inbox_prefix"] = s.inbox_prefix
    opts.update(extra)
    return opts


def _readable(path: str, what: str) -> str:
    path = os.path.expanduser(path)
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise CliError(f"cannot read {what} file {path}")
    return path


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def describe(exc: BaseException, s: Settings | None = None) -> str:
    """One line for an error of zats.client."""
    if isinstance(exc, errors.AuthorizationError):
        return "authorization violation: the server refused the credentials"
    if isinstance(exc, errors.NoServersError):
        where = s.servers if s is not None else "the server"
        cause = exc.__cause__
        if isinstance(cause, errors.NoServersError) or cause is None:
            return f"no servers available for connection to {where}"
        if isinstance(cause, TimeoutError):
            return f"could not connect to {where}: timed out"
        return f"could not connect to {where}: {_reason(cause)}"
    if isinstance(exc, errors.NoRespondersError):
        return f"no responders are available for {exc.subject!r}" if exc.subject else "no responders are available"
    if isinstance(exc, errors.SecureConnRequiredError | errors.SecureConnFailedError | ssl.SSLError):
        return f"TLS failed: {_reason(exc)}"
    return _reason(exc)


@asynccontextmanager
async def connect(s: Settings, *, log_events: bool = False, **extra) -> AsyncIterator[zats.client.Client]:
    """A connected client, closed on exit; failing to connect raises CliError. `log_events`:
    log losing the server and reconnecting (for the commands that run until stopped)."""
    closing = False
    if log_events:
        def disconnected() -> None:
            if not closing:
                log("Disconnected, reconnecting")

        def reconnected() -> None:
            uri = nc.connected_url
            log(f"Reconnected to {uri.scheme}://{uri.hostname}:{uri.port}" if uri else "Reconnected")

        extra.update(disconnected_cb=disconnected, reconnected_cb=reconnected)
    try:
        nc = await zats.client.connect(s.servers, **client_options(s, **extra))
    except (errors.ZatsError, OSError, ssl.SSLError, TimeoutError) as exc:
        raise CliError(describe(exc, s)) from None
    try:
        yield nc
    finally:
        closing = True
        await nc.close()
