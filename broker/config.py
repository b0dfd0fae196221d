"""A nats-server configuration file (`zats-server -c FILE`) read into ServerOptions.

conf_syntax reads the file into plain values; this module gives the keys nats-server's meaning:

    listen: 127.0.0.1:4222          # or host/net and port; http: host:port, http_port, http_host
    server_name: zats-1
    client_advertise: "nats.example.com:4222"   # what clients are told (INFO, connect_urls)
    max_payload: 1MB                # max_pending, max_control_line, max_connections (max_conn),
    ping_interval: "2m"             #   max_subscriptions (max_subs), ping_max, write_deadline
    authorization { users [ {user: a, password: b, permissions: {publish: "a.>"}} ] }
    accounts { A { users [ {user: c, password: d} ] } }
    no_auth_user: c
    system_account: SYS             # (alias system) an account above, or $SYS (the default),
    no_system_account: false        #   made if missing; or no system account at all
    tls { cert_file: s.pem, key_file: s.key, ca_file: ca.pem, verify: true, timeout: 2 }
    debug, trace, logtime, logtime_utc, log_file, pid_file, lame_duck_duration, lame_duck_grace_period
    cluster { name: C1, listen: 127.0.0.1:6222, routes: [nats-route://127.0.0.1:6223],
              authorization { user: r, password: s, timeout: 2 }, no_advertise, connect_retries }

Keys are case-insensitive, as in nats-server, and take nats-server's aliases (`pass`, `max_conn`,
`pub`/`sub` ...). Durations are Go duration strings ("2m", "500ms"); ping_interval and
write_deadline also take plain seconds with nats-server's warning. Every problem is collected
and reported together, each as `file:line:col: message` with nats-server's wording where it has
one: an unknown key (`unknown field "foo"`), a value of the wrong type, an invalid subject, a
bad nkey, a duplicate user... A key that nats-server supports but zats does not is unknown too,
with a note saying so.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zats.protocol.nkeys import PREFIX_USER, NkeyError, decode_public
from zats.protocol.subjects import is_valid_subject

from .account import GLOBAL_ACCOUNT, SYSTEM_ACCOUNT
from .conf_syntax import ConfList, ConfMap, ConfSyntaxError, Pos, digest, parse_file
from .durations import format_duration, parse_duration
from .options import (
    AccountConfig,
    Authorization,
    ClusterConfig,
    JetStreamConfig,
    LeafConfig,
    LeafRemote,
    OptionsError,
    Permissions,
    ResponsePermission,
    ServerOptions,
    SubjectPermission,
    TLSConfig,
    User,
    WebSocketConfig,
    validate,
)
from .urls import split_url

_MAX_INT32 = 2**31 - 1
_DEFAULT_HOST = ServerOptions().host
_MIN_LAME_DUCK = 30.0
_MAX_QUIET_AUTH_TIMEOUT = 60.0

# Keys nats-server knows that zats does not implement: refused all the same, but said so.
_NATS_ONLY = {
    "top level": {
        "gateway", "mqtt", "operator", "operators", "roots", "root",
        "root_operators", "root_operator", "resolver", "account_resolver", "accounts_resolver",
        "resolver_tls", "resolver_preload", "resolver_pinned_accounts", "trusted", "trusted_keys", "https",
        "https_port", "http_base_path", "syslog", "remote_syslog", "ports_file_dir", "prof_port",
        "max_traced_msg_len", "max_sub_tokens", "max_subscription_tokens", "trace_verbose",
        "connect_error_reports", "reconnect_error_reports", "no_header_support", "ocsp",
        "ocsp_cache", "allow_non_tls", "server_tags", "default_js_domain", "mappings", "maps",
        "disable_sublist_cache", "no_sublist_cache", "logfile_size_limit", "log_size_limit",
        "logfile_max_num", "log_max_num", "max_closed_clients", "max_connection_rate",
        "max_tracked_dups", "pidfile_dir", "syslog_name",
    },
    "authorization": {"auth_callout", "callout", "auth_users"},
    "user": {"allowed_connection_types", "connection_types", "clients"},
    "account": {"nkey", "imports", "exports", "mappings", "maps", "limits", "msg_trace"},
    "jetstream": {"strict", "key", "ek", "encryption_key", "prev_key", "prev_ek",
                  "prev_encryption_key", "cipher", "extension_hint", "limits", "tpm", "unique_tag",
                  "max_outstanding_catchup", "max_buffered_size", "max_buffered_msgs",
                  "request_queue_limit"},
    "account jetstream": {"max_bytes_required", "max_stream_bytes", "memory_max_stream_bytes",
                          "storage_max_stream_bytes", "tiers"},
    "cluster": {"tls", "permissions", "pool_size", "accounts", "compression", "connect_backoff",
                "ping_interval", "ping_max", "write_deadline", "no_system_account", "pinned_accounts"},
    "cluster authorization": set(),
    "leafnodes": {"tls", "advertise", "no_advertise", "compression", "min_version",
                  "isolate_leafnode_interest", "write_deadline"},
    "leafnodes authorization": {"users", "nkey", "token"},
    "leafnodes remote": {"tls", "hub", "deny_imports", "deny_exports", "ws_compression",
                         "ws_no_masking", "compression", "first_info_timeout", "nkey", "local",
                         "no_randomize", "dont_randomize", "jetstream_cluster_migrate",
                         "disabled", "proxy"},
    "websocket": {"headers", "ping_interval", "tls_map", "verify_and_map"},
    "websocket authorization": {"users", "nkeys"},
    "tls": {"insecure", "verify_and_map", "verify_cert_and_check_known_urls", "cipher_suites",
            "curve_preferences", "pinned_certs", "connection_rate_limit", "cert_store", "cert_match",
            "cert_match_by", "ca_certs_match", "cert_match_skip_invalid", "min_version",
            "ocsp_peer", "certs"},
}

_KINDS = {"integer": "an integer", "number": "a number", "boolean": "a boolean", "string": "a string",
          "map": "a map", "array": "an array", "duration": 'a duration (e.g. "2s")'}


class ConfigError(ValueError):
    """A configuration file zats cannot start with; one message per problem."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


@dataclass
class LoadedConfig:
    """A configuration file read: the options, nats-server's warnings, and its digest."""

    path: str
    options: ServerOptions
    warnings: list[str] = field(default_factory=list)
    digest: str = ""
    empty: bool = False


def load_config(path: str, *, environ: Mapping[str, str] | None = None,
                base: ServerOptions | None = None) -> LoadedConfig:
    """Reads `path` onto `base` (default: nats-server's defaults). Raises ConfigError."""
    try:
        tree = parse_file(path, environ=environ)
    except OSError as exc:
        raise ConfigError([f"open {path}: {_strerror(exc)}"]) from None
    except ConfSyntaxError as exc:
        raise ConfigError([str(exc)]) from None
    opts = base if base is not None else ServerOptions()
    loader = _Loader(opts)
    loader.top(tree)
    if loader.errors:
        raise ConfigError(loader.errors + loader.warnings)
    opts.config_file = path
    return LoadedConfig(path, opts, loader.warnings, digest(tree), empty=not tree)


def check_config(loaded: LoadedConfig, opts: ServerOptions) -> list[str]:
    """What `-t` reports besides the file's errors: nats-server fails the check on warnings too,
    and zats also validates the options as they will start (flags applied)."""
    problems = list(loaded.warnings)
    if loaded.empty:
        problems.append(f"{loaded.path}: config has no values or is empty")
    try:
        validate(opts)
    except OptionsError as exc:
        problems.append(str(exc))
    return problems


def valid_message(loaded: LoadedConfig) -> str:
    return f"configuration file {loaded.path} is valid ({loaded.digest})"


def _strerror(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


# -- values ----------------------------------------------------------------------------------------


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, str):
        return f'string "{value}"' if len(value) <= 40 else f'string "{value[:37]}..."'
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, _dt.datetime):
        return f"datetime {value:%Y-%m-%dT%H:%M:%SZ}"
    return type(value).__name__


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, {"boolean": bool, "string": str, "map": dict, "array": list}[kind])


def _go_value(value: Any) -> str:
    """A number or string as Go's %v prints it: floats shortest, in e-notation from 1e+06."""
    if not isinstance(value, float):
        return str(value)
    d = decimal.Decimal(repr(value)).normalize()
    sign, digits, exponent = d.as_tuple()
    exp10 = len(digits) + exponent - 1
    if value == 0 or -4 <= exp10 < 6:
        return format(d, "f")
    mantissa = "".join(map(str, digits))
    mantissa = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"


def _user_nkey_ok(key: str) -> bool:
    try:
        return decode_public(key)[0] == PREFIX_USER
    except (NkeyError, ValueError):
        return False


def _subject_ok(subject: str) -> bool:
    """nats-server's check for permission subjects: a valid subject, or `subject queue`."""
    if is_valid_subject(subject.encode()):
        return True
    parts = subject.split()
    return len(parts) == 2 and is_valid_subject(parts[0].encode())


# -- keys onto options -----------------------------------------------------------------------------


class _Loader:
    """Walks the parsed tree onto `opts`, collecting errors and warnings as it goes."""

    def __init__(self, opts: ServerOptions):
        self.opts = opts
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.users_seen: dict[str, str] = {}  # user name or nkey -> "user"/"nkey"
        self.no_auth_user_pos: Pos | None = None

    def error(self, pos: Pos, message: str) -> None:
        self.errors.append(f"{pos}: {message}")

    def warn(self, pos: Pos, message: str) -> None:
        self.warnings.append(f"{pos}: {message}")

    def want(self, key: str, value: Any, pos: Pos, kind: str) -> bool:
        """True when `value` is of `kind`; else an error naming the key."""
        if _is(value, kind):
            return True
        self.type_error(key, value, pos, kind)
        return False

    def type_error(self, key: str, value: Any, pos: Pos, kind: str) -> None:
        self.error(pos, f'field "{key}": expected {_KINDS[kind]}, got {_describe(value)}')

    def unknown(self, block: ConfMap, key: str, where: str, prefix: str = "") -> None:
        """A key this block does not have, unless it was only a `$variable` definition."""
        if key in block.used:
            return
        note = " (a nats-server option that zats does not support)" if key.lower() in _NATS_ONLY[where] else ""
        self.error(block.pos[key], f'{prefix}unknown field "{key}"{note}')

    # -- the top level -------------------------------------------------------------------------

    def top(self, tree: ConfMap) -> None:
        for key, value in tree.items():
            handler = _TOP_LEVEL.get(key.lower())
            if handler is None:
                self.unknown(tree, key, "top level")
            else:
                handler(self, key, value, tree.pos[key])
        self.check_no_auth_user()
        self.check_system_account()

    def listen(self, key: str, value: Any, pos: Pos) -> tuple[str, int] | None:
        """`port` or `host:port` ("[::1]:4222", ":4222"), as nats-server's parseListen."""
        if _is(value, "integer"):
            return "", value
        if not isinstance(value, str):
            self.error(pos, f"expected port or host:port, got {_describe(value)}")
            return None
        m = re.fullmatch(r"\[([^\[\]]*)\]:([^:\[\]]*)|([^:\[\]]*):([^:\[\]]*)", value)
        if m is None:
            self.error(pos, f'could not parse address string "{value}"')
            return None
        host, port = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
        if not re.fullmatch(r"[+-]?[0-9]+", port):
            self.error(pos, f'could not parse port "{port}"')
            return None
        return host, int(port)

    def port_ok(self, key: str, port: int, pos: Pos) -> bool:
        if -1 <= port <= 65535:
            return True
        self.error(pos, f'field "{key}": port {port} is not between -1 (random) and 65535')
        return False

    def client_listen(self, key: str, value: Any, pos: Pos) -> None:
        hp = self.listen(key, value, pos)
        if hp and self.port_ok(key, hp[1], pos):
            self.opts.host = hp[0] or _DEFAULT_HOST
            self.opts.port = hp[1]

    def http_listen(self, key: str, value: Any, pos: Pos) -> None:
        hp = self.listen(key, value, pos)
        if hp and self.port_ok(key, hp[1], pos):
            self.opts.http_host, self.opts.http_port = hp

    def port(self, key: str, value: Any, pos: Pos) -> None:
        if self.want(key, value, pos, "integer") and self.port_ok(key, value, pos):
            self.opts.port = value

    def http_port(self, key: str, value: Any, pos: Pos) -> None:
        if self.want(key, value, pos, "integer") and self.port_ok(key, value, pos):
            self.opts.http_port = value

    def server_name(self, key: str, value: Any, pos: Pos) -> None:
        if not self.want(key, value, pos, "string"):
            return
        if " " in value:
            self.error(pos, "server name cannot contain spaces")
            return
        self.opts.server_name = value

    def no_auth_user(self, key: str, value: Any, pos: Pos) -> None:
        if self.want(key, value, pos, "string"):
            self.opts.no_auth_user = value
            self.no_auth_user_pos = pos

    def check_no_auth_user(self) -> None:
        name = self.opts.no_auth_user
        if not name or self.no_auth_user_pos is None:
            return
        if not self.users_seen:
            self.error(self.no_auth_user_pos, f'no_auth_user: "{name}" present, but users/nkeys are not defined')
        elif self.users_seen.get(name) != "user":
            self.error(self.no_auth_user_pos, f'no_auth_user: "{name}" not present as user or nkey in '
                                              "authorization block or account configuration")

    def system_account(self, key: str, value: Any, pos: Pos) -> None:
        if self.want(key, value, pos, "string"):
            self.opts.system_account = value
            self.system_account_pos = pos

    def check_system_account(self) -> None:
        """nats-server creates only `$SYS` by itself: another system account must be configured."""
        name = self.opts.system_account
        if name and name != SYSTEM_ACCOUNT and name not in {a.name for a in self.opts.accounts}:
            self.error(self.system_account_pos, "error resolving system account: account missing")

    # -- durations -----------------------------------------------------------------------------

    def duration(self, key: str, value: Any, pos: Pos, *, seconds_ok: bool = False) -> float | None:
        """A Go duration string; with `seconds_ok` also a plain number of seconds, which
        nats-server takes with a warning."""
        if isinstance(value, str):
            try:
                return parse_duration(value)
            except ValueError as exc:
                self.error(pos, f"error parsing {key}: {exc}")
                return None
        if seconds_ok and _is(value, "integer"):
            self.warn(pos, f'invalid use of field "{key}": {key} should be converted to a duration')
            return float(value)
        self.type_error(key, value, pos, "duration")
        return None

    def interval(self, key: str, value: Any, pos: Pos) -> None:
        seconds = self.duration(key, value, pos, seconds_ok=True)
        if seconds:  # 0: nats-server's default
            setattr(self.opts, _ATTR[key.lower()], seconds)

    def lame_duck_duration(self, key: str, value: Any, pos: Pos) -> None:
        seconds = self.duration(key, value, pos)
        if seconds is None:
            return
        if seconds < _MIN_LAME_DUCK:
            self.error(pos, f"invalid lame_duck_duration of {format_duration(seconds)}, minimum is 30 seconds")
            return
        self.opts.lame_duck_duration = seconds

    def lame_duck_grace_period(self, key: str, value: Any, pos: Pos) -> None:
        seconds = self.duration(key, value, pos)
        if seconds is None:
            return
        if seconds < 0:
            self.error(pos, "invalid lame_duck_grace_period, needs to be positive")
            return
        self.opts.lame_duck_grace_period = seconds

    # -- authorization, users, permissions -------------------------------------------------------

    def authorization(self, key: str, value: Any, pos: Pos) -> None:
        if not self.want(key, value, pos, "map"):
            return
        auth = Authorization()
        users: list[User] | None = None
        defaults: Permissions | None = None
        for k, v in value.items():
            p, lk = value.pos[k], k.lower()
            if lk in ("user", "username", "pass", "password", "token"):
                if self.want(k, v, p, "string"):
                    setattr(auth, _AUTH_ATTR[lk], v)
            elif lk == "timeout":
                auth.timeout = self.auth_timeout(k, v, p, auth.timeout)
            elif lk == "users":
                users = self.users(k, v, p, None)
            elif lk in ("default_permission", "default_permissions", "permissions"):
                defaults = self.permissions(k, v, p)
            else:
                self.unknown(value, k, "authorization")
        self.check_auth_combination(auth, users, pos)
        auth.users = _with_defaults(users or [], defaults)
        self.opts.authorization = auth

    def check_auth_combination(self, auth: Authorization, users: list[User] | None, pos: Pos) -> None:
        if (auth.user or auth.password) and auth.token:
            self.error(pos, "Cannot have a user/pass and token")
        elif users is not None and auth.user:
            self.error(pos, "Can not have a single user/pass and a users array")
        elif users is not None and auth.token:
            self.error(pos, "Can not have a token and a users array")

    def auth_timeout(self, key: str, value: Any, pos: Pos, default: float) -> float:
        """Seconds, or a duration string; over a minute draws nats-server's warning."""
        if _is(value, "number"):
            seconds = float(value)
        elif isinstance(value, str):
            seconds = self.duration(key, value, pos) or 0.0
        else:
            self.error(pos, "error parsing authorization config, 'timeout' wrong type")
            return default
        if seconds > _MAX_QUIET_AUTH_TIMEOUT:
            self.warn(pos, f'invalid use of field "{key}": timeout of {_go_value(value)} ({seconds:.6f} seconds) '
                           "is high, consider keeping it under 60 seconds. possibly caused by unquoted "
                           "duration; use '1m' instead of 1m, for example")
        return seconds or default

    def users(self, key: str, value: Any, pos: Pos, account: str | None) -> list[User]:
        if not isinstance(value, list):
            self.error(pos, f"Expected users field to be an array, got {_describe(value)}")
            return []
        users = []
        for entry, p in zip(value, _positions(value, pos), strict=True):
            if not isinstance(entry, dict):
                self.error(p, f"Expected user entry to be a map/struct, got {_describe(entry)}")
                continue
            user = self.user(entry, p, account)
            if user is not None and self.unique(user, pos):
                users.append(user)
        return users

    def user(self, entry: ConfMap, pos: Pos, account: str | None) -> User | None:
        user = User(account=account)
        for k, v in entry.items():
            p, lk = entry.pos[k], k.lower()
            if lk in ("user", "username", "pass", "password", "nkey"):
                if self.want(k, v, p, "string"):
                    setattr(user, _USER_ATTR[lk], v)
            elif lk in ("permission", "permissions", "authorization"):
                user.permissions = self.permissions(k, v, p)
            else:
                self.unknown(entry, k, "user")
        if user.nkey is None and user.user is None:
            self.error(pos, "User entry requires a user")
        elif user.nkey is not None and not _user_nkey_ok(user.nkey):
            self.error(pos, "Not a valid public nkey for a user")
        elif user.nkey is not None and (user.user is not None or user.password is not None):
            self.error(pos, "Nkey users do not take usernames or passwords")
        else:
            return user
        return None

    def unique(self, user: User, pos: Pos) -> bool:
        kind, name = ("nkey", user.nkey) if user.nkey else ("user", user.user)
        if name in self.users_seen:
            self.error(pos, f'Duplicate {kind} "{name}" detected')
            return False
        self.users_seen[name] = kind
        return True

    def permissions(self, key: str, value: Any, pos: Pos) -> Permissions | None:
        if not isinstance(value, dict):
            self.error(pos, f"Expected permissions to be a map/struct, got {_describe(value)}")
            return None
        perms = Permissions()
        for k, v in value.items():
            p, lk = value.pos[k], k.lower()
            if lk in ("pub", "publish", "import"):
                perms.publish = self.subject_permission(k, v, p)
            elif lk in ("sub", "subscribe", "export"):
                perms.subscribe = self.subject_permission(k, v, p)
            elif lk in ("publish_allow_responses", "allow_responses"):
                perms.allow_responses = self.response_permission(k, v, p)
            elif k not in value.used:
                self.error(p, f'Unknown field "{k}" parsing permissions')
        return perms

    def subject_permission(self, key: str, value: Any, pos: Pos) -> SubjectPermission | None:
        """`"a.>"` or `["a", "b"]` (an allow list) or `{allow: ..., deny: ...}`."""
        if not isinstance(value, dict):
            return SubjectPermission(allow=self.subjects(key, value, pos))
        if not value:
            return None
        perm = SubjectPermission()
        for k, v in value.items():
            if k.lower() in ("allow", "deny"):
                setattr(perm, k.lower(), self.subjects(k, v, value.pos[k]))
            elif k not in value.used:
                self.error(value.pos[k], f'Unknown field name "{k}" parsing subject permissions, '
                                         "only 'allow' or 'deny' are permitted")
        return perm

    def subjects(self, key: str, value: Any, pos: Pos) -> list[str]:
        if isinstance(value, str):
            value, positions = [value], [pos]
        elif isinstance(value, list):
            positions = _positions(value, pos)
        else:
            self.error(pos, "Expected subject permissions to be a subject, or array of subjects, "
                            f"got {_describe(value)}")
            return []
        subjects = []
        for subject, p in zip(value, positions, strict=True):
            if not isinstance(subject, str):
                self.error(p, f"Subject in permissions array cannot be cast to string: {_describe(subject)}")
            elif not _subject_ok(subject):
                self.error(p, f'subject "{subject}" is not a valid subject')
            else:
                subjects.append(subject)
        return subjects

    def response_permission(self, key: str, value: Any, pos: Pos) -> ResponsePermission | None:
        """`true` (one response, no expiry) or `{max: N, expires: "1m"}`."""
        if isinstance(value, bool):
            return ResponsePermission() if value else None
        if not isinstance(value, dict):
            self.error(pos, "error parsing response permissions, expected a boolean or a map")
            return None
        rp = ResponsePermission()
        for k, v in value.items():
            p, lk = value.pos[k], k.lower()
            if lk in ("max", "max_msgs", "max_messages", "max_responses"):
                if self.want(k, v, p, "integer") and v:
                    rp.max = v
            elif lk in ("expires", "expiration", "ttl"):
                if not isinstance(v, str):
                    self.error(p, "error parsing expires, not a duration string")
                else:
                    rp.expires = self.duration(k, v, p) or rp.expires
            elif k not in value.used:
                self.error(p, f'Unknown field "{k}" parsing permissions')
        return rp

    # -- accounts ------------------------------------------------------------------------------

    def accounts(self, key: str, value: Any, pos: Pos) -> None:
        """`accounts { NAME { users [...], default_permissions {...} } }` or `accounts [A, B]`."""
        if isinstance(value, list):
            self.account_names(value, pos)
        elif self.want(key, value, pos, "map"):
            for name, body in value.items():
                if name not in value.used:
                    self.account(name, body, value.pos[name])

    def account_names(self, names: ConfList, pos: Pos) -> None:
        seen = {a.name for a in self.opts.accounts}
        for name, p in zip(names, _positions(names, pos), strict=True):
            if not self.want("accounts", name, p, "string"):
                continue
            if name == GLOBAL_ACCOUNT:
                self.error(p, f'"{name}" is a Reserved Account')
            elif name in seen:
                self.error(p, f"Duplicate Account Entry: {name}")
            else:
                seen.add(name)
                self.opts.accounts.append(AccountConfig(name=name))

    def account(self, name: str, body: Any, pos: Pos) -> None:
        if not isinstance(body, dict):
            self.error(pos, "Expected map entries for accounts")
            return
        if name == GLOBAL_ACCOUNT:
            self.error(pos, f'"{name}" is a Reserved Account')
            return
        users: list[User] = []
        defaults = None
        js = None
        for k, v in body.items():
            lk = k.lower()
            if lk == "users":
                users = self.users(k, v, body.pos[k], name)
            elif lk == "default_permissions":
                defaults = self.permissions(k, v, body.pos[k])
            elif lk == "jetstream":
                js = self.account_jetstream(k, v, body.pos[k])
            else:
                self.unknown(body, k, "account")
        self.opts.accounts.append(AccountConfig(name=name, users=_with_defaults(users, defaults),
                                                jetstream=js))

    # -- jetstream -----------------------------------------------------------------------------

    def jetstream(self, key: str, value: Any, pos: Pos) -> None:
        """`jetstream: enabled | disabled | true | false` or `jetstream { store_dir, max_memory_store,
        max_file_store, domain, sync_interval, enabled }`, as nats-server's parseJetStream."""
        if isinstance(value, bool):
            self.opts.jetstream = JetStreamConfig() if value else None
            return
        if isinstance(value, str):
            word = value.lower()
            if word in ("enabled", "enable"):
                self.opts.jetstream = JetStreamConfig()
            elif word in ("disabled", "disable"):
                self.opts.jetstream = None
            else:
                self.error(pos, f"Expected 'enabled' or 'disabled' for string value, got '{value}'")
            return
        if not self.want(key, value, pos, "map"):
            return
        js = JetStreamConfig()
        enabled = True
        for k, v in value.items():
            lk, p = k.lower(), value.pos[k]
            if lk in ("store", "store_dir", "storedir"):
                if self.opts.store_dir:
                    self.error(p, "Duplicate 'store_dir' configuration")
                elif self.want(k, v, p, "string"):
                    self.opts.store_dir = v
            elif lk in ("max_memory_store", "max_mem_store", "max_mem"):
                if self.want(k, v, p, "integer"):
                    js.max_memory_store = v
            elif lk in ("max_file_store", "max_file"):
                if self.want(k, v, p, "integer"):
                    js.max_file_store = v
            elif lk == "domain":
                if self.want(k, v, p, "string"):
                    js.domain = v
            elif lk in ("enable", "enabled"):
                if self.want(k, v, p, "boolean"):
                    enabled = v
            elif lk in ("sync", "sync_interval"):
                if isinstance(v, str) and v.lower() == "always":
                    js.sync_interval = 0.0
                else:
                    seconds = self.duration(k, v, p)
                    if seconds is not None:
                        js.sync_interval = seconds
            else:
                self.unknown(value, k, "jetstream")
        self.opts.jetstream = js if enabled else None

    def store_dir(self, key: str, value: Any, pos: Pos) -> None:
        if self.opts.store_dir:
            self.error(pos, "Duplicate 'store_dir' configuration")
        elif self.want(key, value, pos, "string"):
            self.opts.store_dir = value

    def account_jetstream(self, key: str, value: Any, pos: Pos) -> dict | None:
        """An account's `jetstream: enabled` or its limits `{max_mem, max_file, max_streams,
        max_consumers, max_ack_pending}` (-1: unlimited)."""
        if isinstance(value, bool):
            return {} if value else None
        if isinstance(value, str):
            word = value.lower()
            if word in ("enabled", "enable"):
                return {}
            if word in ("disabled", "disable"):
                return None
            self.error(pos, f"Expected 'enabled' or 'disabled' for string value, got '{value}'")
            return None
        if not self.want(key, value, pos, "map"):
            return None
        limits = {}
        names = {"max_memory": "max_memory", "max_mem": "max_memory",
                 "max_file": "max_storage", "max_store": "max_storage", "max_disk": "max_storage",
                 "max_streams": "max_streams", "max_consumers": "max_consumers",
                 "max_ack_pending": "max_ack_pending"}
        for k, v in value.items():
            lk, p = k.lower(), value.pos[k]
            if lk in names:
                if self.want(k, v, p, "integer"):
                    limits[names[lk]] = v
            else:
                self.unknown(value, k, "account jetstream")
        return limits

    # -- cluster -------------------------------------------------------------------------------

    def cluster(self, key: str, value: Any, pos: Pos) -> None:
        """`cluster { name, listen | host/net + port, routes [...], authorization { user,
        password, timeout }, advertise, no_advertise, connect_retries }`."""
        if not self.want(key, value, pos, "map"):
            return
        cluster = self.opts.cluster or ClusterConfig()
        for k, v in value.items():
            p, lk = value.pos[k], k.lower()
            if lk == "name":
                if self.want(k, v, p, "string"):
                    if " " in v or "\n" in v:
                        self.error(p, "cluster name cannot contain spaces")
                    else:
                        cluster.name = v
            elif lk == "listen":
                hp = self.listen(k, v, p)
                if hp and self.port_ok(k, hp[1], p):
                    cluster.host = hp[0] or cluster.host
                    cluster.port = hp[1]
            elif lk == "port":
                if self.want(k, v, p, "integer") and self.port_ok(k, v, p):
                    cluster.port = v
            elif lk in ("host", "net"):
                if self.want(k, v, p, "string"):
                    cluster.host = v
            elif lk == "routes":
                cluster.routes = self.route_urls(k, v, p)
            elif lk == "authorization":
                self.cluster_authorization(cluster, k, v, p)
            elif lk in ("advertise", "cluster_advertise"):
                if self.want(k, v, p, "string"):
                    cluster.advertise = v
            elif lk == "no_advertise":
                if self.want(k, v, p, "boolean"):
                    cluster.no_advertise = v
            elif lk == "connect_retries":
                if self.want(k, v, p, "integer"):
                    cluster.connect_retries = v
            else:
                self.unknown(value, k, "cluster")
        self.opts.cluster = cluster

    def route_urls(self, key: str, value: Any, pos: Pos) -> list[str]:
        if isinstance(value, str):
            value, positions = [value], [pos]
        elif isinstance(value, list):
            positions = _positions(value, pos)
        else:
            self.type_error(key, value, pos, "array")
            return []
        urls = []
        for url, p in zip(value, positions, strict=True):
            if not isinstance(url, str):
                self.error(p, f"error parsing route url: expected a string, got {_describe(url)}")
                continue
            try:
                split_url(url)
            except ValueError:
                self.error(p, f'error parsing route url ["{url}"]')
                continue
            urls.append(url)
        return urls

    def cluster_authorization(self, cluster: ClusterConfig, key: str, value: Any, pos: Pos) -> None:
        if not self.want(key, value, pos, "map"):
            return
        for k, v in value.items():
            p, lk = value.pos[k], k.lower()
            if lk in ("user", "username"):
                if self.want(k, v, p, "string"):
                    cluster.user = v
            elif lk in ("pass", "password"):
                if self.want(k, v, p, "string"):
                    cluster.password = v
            elif lk == "timeout":
                cluster.auth_timeout = self.auth_timeout(k, v, p, cluster.auth_timeout)
            elif lk == "users":
                self.error(pos, "Cluster authorization does not allow multiple users")
            elif lk == "token":
                self.error(pos, "Cluster authorization does not support tokens")
            else:
                self.unknown(value, k, "cluster authorization")

    # -- leafnodes -----------------------------------------------------------------------------

    def leafnodes(self, key: str, value: Any, pos: Pos) -> None:
        """`leafnodes { listen | host/net + port, authorization { user, password, account,
        timeout }, reconnect_delay, remotes [ { url | urls, account, credentials } ] }`."""
        if not self.want(key, value, pos, "map"):
            return
        leaf = self.opts.leafnodes or LeafConfig()
        for k, v in value.items():
            p, lk = value.pos[k], k.lower()
            if lk == "listen":
                hp = self.listen(k, v, p)
                if hp and self.port_ok(k, hp[1], p):
                    leaf.host = hp[0] or leaf.host
                    leaf.port = hp[1]
            elif lk == "port":
                if self.want(k, v, p, "integer") and self.port_ok(k, v, p):
                    leaf.port = v
            elif lk in ("host", "net"):
                if self.want(k, v, p, "string"):
                    leaf.host = v
            elif lk in ("reconnect", "reconnect_delay", "reconnect_interval"):
                d = self.duration(k, v, p, seconds_ok=True)
                if d is not None:
                    leaf.reconnect = d
            elif lk == "authorization":
                self.leaf_authorization(leaf, k, v, p)
            elif lk == "remotes":
                if self.want(k, v, p, "array"):
                    for entry, ep in zip(v, _positions(v, p), strict=True):
                        remote = self.leaf_remote(entry, ep)
                        if remote is not None:
                            leaf.remotes.append(remote)
            else:
                self.unknown(value, k, "leafnodes")
        self.opts.leafnodes = leaf

    def leaf_authorization(self, leaf: LeafConfig, key: str, value: Any, pos: Pos) -> None:
        if not self.want(key, value, pos, "map"):
            return
        for k, v in value.items():
            p, lk = value.pos[k], k.lower()
            if lk in ("user", "username"):
                if self.want(k, v, p, "string"):
                    leaf.user = v
            elif lk in ("pass", "password"):
                if self.want(k, v, p, "string"):
                    leaf.password = v
            elif lk == "account":
                if self.want(k, v, p, "string"):
                    leaf.account = v
            elif lk == "timeout":
                leaf.auth_timeout = self.auth_timeout(k, v, p, leaf.auth_timeout)
            else:
                self.unknown(value, k, "leafnodes authorization")

    def leaf_remote(self, entry: Any, pos: Pos) -> LeafRemote | None:
        if not isinstance(entry, ConfMap):
            self.error(pos, f"Expected remote leafnode entry to be a map/struct, got {_describe(entry)}")
            return None
        remote = LeafRemote()
        for k, v in entry.items():
            p, lk = entry.pos[k], k.lower()
            if lk in ("url", "urls"):
                urls = [v] if isinstance(v, str) else v
                if not isinstance(urls, list):
                    self.type_error(k, v, p, "array")
                    continue
                for url, up in zip(urls, _positions(urls, p), strict=True):
                    try:
                        if not isinstance(url, str):
                            raise ValueError
                        split_url(url)
                    except ValueError:
                        self.error(up, f"error parsing leafnode remote url [{url!r}]")
                        continue
                    remote.urls.append(url)
            elif lk == "account":
                if self.want(k, v, p, "string"):
                    remote.account = v
            elif lk in ("credentials", "creds"):
                if self.want(k, v, p, "string"):
                    remote.credentials = v
            else:
                self.unknown(entry, k, "leafnodes remote")
        if not remote.urls:
            self.error(pos, "leafnode remote requires a url")
            return None
        return remote

    # -- websocket -----------------------------------------------------------------------------

    def websocket(self, key: str, value: Any, pos: Pos) -> None:
        """`websocket { listen | host/net + port, advertise, no_tls, tls {}, compression,
        same_origin, allowed_origins, handshake_timeout, no_auth_user, jwt_cookie, user_cookie,
        pass_cookie, token_cookie, authorization { user, password, token, timeout } }`, with
        nats-server's key names and aliases (opts.go parseWebsocket)."""
        if not self.want(key, value, pos, "map"):
            return
        ws = self.opts.websocket or WebSocketConfig()
        for k, v in value.items():
            p, lk = value.pos[k], k.lower()
            if lk == "listen":
                hp = self.listen(k, v, p)
                if hp and self.port_ok(k, hp[1], p):
                    ws.host = hp[0] or ws.host
                    ws.port = hp[1]
            elif lk == "port":
                if self.want(k, v, p, "integer") and self.port_ok(k, v, p):
                    ws.port = v
            elif lk in ("host", "net", "advertise"):
                if self.want(k, v, p, "string"):
                    setattr(ws, "advertise" if lk == "advertise" else "host", v)
            elif lk in ("no_tls", "same_origin", "compress", "compression"):
                if self.want(k, v, p, "boolean"):
                    setattr(ws, "compression" if lk.startswith("compress") else lk, v)
            elif lk == "tls":
                if self.want(k, v, p, "map"):
                    tls = TLSConfig()
                    for tk, tv in v.items():
                        self.tls_field(tls, tk, tv, v.pos[tk], v)
                    if self.tls_files_ok(tls, p):
                        ws.tls = tls
            elif lk in ("allowed_origins", "allowed_origin", "allow_origins", "allow_origin",
                        "origins", "origin"):
                origins = [v] if isinstance(v, str) else v
                if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
                    self.error(p, f"error parsing allowed origins: unsupported type {_describe(v)}")
                else:
                    ws.allowed_origins = list(origins)
            elif lk == "handshake_timeout":
                d = self.duration(k, v, p, seconds_ok=True)
                if d is not None:
                    ws.handshake_timeout = d
            elif lk in ("jwt_cookie", "user_cookie", "pass_cookie", "token_cookie", "no_auth_user"):
                if self.want(k, v, p, "string"):
                    setattr(ws, _WS_NAMES.get(lk, lk), v)
            elif lk in ("authorization", "authentication"):
                ws.authorization = self.ws_authorization(k, v, p)
            else:
                self.unknown(value, k, "websocket")
        self.opts.websocket = ws

    def ws_authorization(self, key: str, value: Any, pos: Pos) -> Authorization | None:
        if not self.want(key, value, pos, "map"):
            return None
        auth = Authorization()
        for k, v in value.items():
            p, lk = value.pos[k], k.lower()
            if lk in _AUTH_ATTR:
                if self.want(k, v, p, "string"):
                    setattr(auth, _AUTH_ATTR[lk], v)
            elif lk == "timeout":
                auth.timeout = self.auth_timeout(k, v, p, auth.timeout)
            else:
                self.unknown(value, k, "websocket authorization")
        self.check_auth_combination(auth, None, pos)
        return auth

    # -- tls -----------------------------------------------------------------------------------

    def tls(self, key: str, value: Any, pos: Pos) -> None:
        if not self.want(key, value, pos, "map"):
            return
        tls = TLSConfig()
        for k, v in value.items():
            self.tls_field(tls, k, v, value.pos[k], value)
        if self.tls_files_ok(tls, pos):
            self.opts.tls = tls

    def tls_field(self, tls: TLSConfig, key: str, value: Any, pos: Pos, block: ConfMap) -> None:
        lk = key.lower()
        if lk in ("cert_file", "key_file", "ca_file"):
            if isinstance(value, str):
                setattr(tls, lk, value)
            else:
                self.error(pos, f"error parsing tls config, expected '{lk}' to be filename")
        elif lk in ("verify", "handshake_first", "first"):
            if isinstance(value, bool):
                setattr(tls, "verify" if lk == "verify" else "handshake_first", value)
            elif lk == "verify":
                self.error(pos, "error parsing tls config, expected 'verify' to be a boolean")
            else:
                self.error(pos, f"error parsing tls config, zats takes only true or false for '{lk}' "
                                f"(got {_describe(value)})")
        elif lk == "timeout":
            self.tls_timeout(tls, key, value, pos)
        else:
            self.unknown(block, key, "tls", "error parsing tls config, ")

    def tls_timeout(self, tls: TLSConfig, key: str, value: Any, pos: Pos) -> None:
        if _is(value, "number"):
            tls.timeout = float(value) or tls.timeout
        elif isinstance(value, str):
            try:
                tls.timeout = parse_duration(value) or tls.timeout
            except ValueError as exc:
                self.error(pos, f"error parsing tls config, 'timeout' {exc}")
        else:
            self.error(pos, "error parsing tls config, 'timeout' wrong type")

    def tls_files_ok(self, tls: TLSConfig, pos: Pos) -> bool:
        """As nats-server's GenTLSConfig: certificate and key come together and must load."""
        if tls.cert_file and not tls.key_file:
            self.error(pos, "missing 'key_file' in TLS configuration")
            return False
        if tls.key_file and not tls.cert_file:
            self.error(pos, "missing 'cert_file' in TLS configuration")
            return False
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        problem = None
        if tls.cert_file:
            problem = _tls_load(ctx.load_cert_chain, tls.cert_file, tls.key_file)
            if problem:
                self.error(pos, f"error parsing X509 certificate/key pair: {problem}")
        if tls.ca_file and not problem:
            problem = _tls_load(ctx.load_verify_locations, tls.ca_file)
            if problem:
                self.error(pos, f"failed to parse root ca certificate: {problem}")
        return problem is None


def _tls_load(load: Callable[..., None], *paths: str) -> str | None:
    """Why certificate files do not load (Go's wording for a file that cannot be opened)."""
    for path in paths:
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            return f"open {path}: {_strerror(exc)}"
    try:
        load(*paths)
    except (OSError, ssl.SSLError) as exc:
        return str(exc)
    return None


def _positions(values: list, pos: Pos) -> list[Pos]:
    """Each array value's position (a list from an environment variable has none: its key's)."""
    return values.pos if isinstance(values, ConfList) else [pos] * len(values)


def _with_defaults(users: list[User], defaults: Permissions | None) -> list[User]:
    """default_permissions go to the users that have none of their own."""
    if defaults is not None:
        for user in users:
            if user.permissions is None:
                user.permissions = defaults
    return users


_AUTH_ATTR = {"user": "user", "username": "user", "pass": "password", "password": "password", "token": "token"}
_USER_ATTR = {"user": "user", "username": "user", "pass": "password", "password": "password", "nkey": "nkey"}
_WS_NAMES = {"user_cookie": "username_cookie", "pass_cookie": "password_cookie"}
_ATTR = {"ping_interval": "ping_interval", "write_deadline": "write_deadline"}


def _simple(attr: str, kind: str, *, zero_is_default: bool = False,
            limit: int | None = None) -> Callable[[_Loader, str, Any, Pos], None]:
    """A key that sets one option from a value of one kind. `zero_is_default`: nats-server reads
    0 as "the default"; `limit`: the largest value nats-server takes."""

    def handler(loader: _Loader, key: str, value: Any, pos: Pos) -> None:
        if not loader.want(key, value, pos, kind):
            return
        if limit is not None and value > limit:
            loader.error(pos, f"{key} value is too big")
        elif not (zero_is_default and value == 0):
            setattr(loader.opts, attr, value)

    return handler


_TOP_LEVEL: dict[str, Callable[[_Loader, str, Any, Pos], None]] = {
    "listen": _Loader.client_listen,
    "host": _simple("host", "string"),
    "net": _simple("host", "string"),
    "port": _Loader.port,
    "http": _Loader.http_listen,
    "http_port": _Loader.http_port,
    "monitor_port": _Loader.http_port,
    "http_host": _simple("http_host", "string"),
    "server_name": _Loader.server_name,
    "client_advertise": _simple("client_advertise", "string"),
    "max_payload": _simple("max_payload", "integer", zero_is_default=True, limit=_MAX_INT32),
    "max_pending": _simple("max_pending", "integer", zero_is_default=True),
    "max_control_line": _simple("max_control_line", "integer", zero_is_default=True, limit=_MAX_INT32),
    "max_connections": _simple("max_connections", "integer", zero_is_default=True),
    "max_conn": _simple("max_connections", "integer", zero_is_default=True),
    "max_subscriptions": _simple("max_subscriptions", "integer"),
    "max_subs": _simple("max_subscriptions", "integer"),
    "ping_interval": _Loader.interval,
    "ping_max": _simple("ping_max", "integer", zero_is_default=True),
    "write_deadline": _Loader.interval,
    "authorization": _Loader.authorization,
    "accounts": _Loader.accounts,
    "no_auth_user": _Loader.no_auth_user,
    "system_account": _Loader.system_account,
    "system": _Loader.system_account,
    "no_system_account": _simple("no_system_account", "boolean"),
    "no_system": _simple("no_system_account", "boolean"),
    "no_sys_acc": _simple("no_system_account", "boolean"),
    "tls": _Loader.tls,
    "cluster": _Loader.cluster,
    "leafnodes": _Loader.leafnodes,
    "leaf": _Loader.leafnodes,
    "jetstream": _Loader.jetstream,
    "websocket": _Loader.websocket,
    "ws": _Loader.websocket,
    "store_dir": _Loader.store_dir,
    "storedir": _Loader.store_dir,
    "debug": _simple("debug", "boolean"),
    "trace": _simple("trace", "boolean"),
    "logtime": _simple("logtime", "boolean"),
    "logtime_utc": _simple("logtime_utc", "boolean"),
    "log_file": _simple("log_file", "string"),
    "logfile": _simple("log_file", "string"),
    "pid_file": _simple("pid_file", "string"),
    "pidfile": _simple("pid_file", "string"),
    "lame_duck_duration": _Loader.lame_duck_duration,
    "lame_duck_grace_period": _Loader.lame_duck_grace_period,
}

