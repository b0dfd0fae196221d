"""Client authentication as nats-server does it: a token, one user/password, a list of users
(plain or bcrypt passwords, or nkeys that sign the nonce from INFO), users grouped into accounts,
and `no_auth_user` for clients that present no credentials. `authenticate` turns a CONNECT into
the identity a connection runs as (user, account, permissions), or None for a violation.

A bcrypt check costs a tenth of a second or more of CPU: a connection runs it in `check_pool`
(bcrypt releases the GIL) when `costly` says it would, so that bad logins cannot block the event
loop. Successful checks are remembered (bounded), so reconnects and the re-authentication of
every connection after a reload cost bcrypt once per password, not once per connection."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import msgspec

from zats.protocol import nkeys
from zats.protocol.structs import Connect

from .account import GLOBAL_ACCOUNT
from .options import Authorization, OptionsError, ServerOptions, User
from .permissions import UserPermissions


class Identity:
    """Who a connection authenticated as; `name` is shown in /connz, never a secret."""

    __slots__ = ("name", "account", "permissions")

    def __init__(self, name: str, account: str, permissions: UserPermissions | None):
        self.name = name
        self.account = account
        self.permissions = permissions


ANONYMOUS = Identity("", GLOBAL_ACCOUNT, None)


_BCRYPT = re.compile(r"\$2[abxy]\$\d\d\$")  # what nats-server takes for a bcrypt hash
_VERIFIED_MAX = 4096
# Successful bcrypt checks, keyed by a keyed hash of the stored hash and the given password (no
# password is kept); oldest first, for eviction.
_verified: dict[bytes, None] = {}
_verified_lock = threading.Lock()
_verified_key = os.urandom(32)
_pool: ThreadPoolExecutor | None = None


def check_pool() -> ThreadPoolExecutor:
    """The threads that run bcrypt checks: few (a flood of bad logins queues behind them instead
    of taking every core), with at most one check queued per connection (a connection parses
    nothing more until its check returns), and none for a connection that is gone (closing, at
    the auth timeout too, cancels a check not yet started)."""
    global _pool
    if _pool is None:
        workers = max(1, min(4, (os.cpu_count() or 2) - 1))
        _pool = ThreadPoolExecutor(workers, thread_name_prefix="bcrypt")
    return _pool


def _verified_id(stored: str, given: str) -> bytes:
    return hmac.new(_verified_key, stored.encode() + b"\0" + given.encode(), hashlib.sha256).digest()


def _password_matches(stored: str, given: str | None) -> bool:
    """nats-server's comparePasswords: bcrypt when the stored secret is a bcrypt hash, else a
    constant-time comparison. May run bcrypt: see Authenticator.costly."""
    if given is None:
        return False
    if not _BCRYPT.match(stored):
        return hmac.compare_digest(stored.encode(), given.encode())
    key = _verified_id(stored, given)
    if key in _verified:
        return True
    try:
        ok = bcrypt.checkpw(given.encode(), stored.encode())
    except ValueError:
        return False
    if ok:
        with _verified_lock:
            _verified[key] = None
            if len(_verified) > _VERIFIED_MAX:
                del _verified[next(iter(_verified))]
    return ok


def _is_costly(stored: str, given: str | None) -> bool:
    return given is not None and _BCRYPT.match(stored) is not None and \
        _verified_id(stored, given) not in _verified


class _Entry:
    __slots__ = ("user", "identity")

    def __init__(self, user: User, account: str):
        self.user = user
        perms = UserPermissions(user.permissions) if user.permissions else None
        self.identity = Identity(user.user or user.nkey or "", account, perms)


class Authenticator:
    """Built from ServerOptions; `required` when any credential is configured."""

    def __init__(self, opts: ServerOptions):
        auth = opts.authorization
        self.token = auth.token if auth else None
        self.timeout = auth.timeout if auth else 2.0
        self.by_user: dict[str, _Entry] = {}
        self.by_nkey: dict[str, _Entry] = {}
        users: list[tuple[User, str]] = []
        if auth is not None:
            if auth.user is not None:
                users.append((User(user=auth.user, password=auth.password or ""), GLOBAL_ACCOUNT))
            users.extend((u, u.account or GLOBAL_ACCOUNT) for u in auth.users)
        for account in opts.accounts:
            users.extend((u, account.name) for u in account.users)
        for user, account in users:
            entry = _Entry(user, account)
            if user.nkey:
                self.by_nkey[user.nkey] = entry
            elif user.user is not None:
                self.by_user[user.user] = entry
        self.accounts = {GLOBAL_ACCOUNT} | {a.name for a in opts.accounts}
        self.no_auth_user = opts.no_auth_user or None
        if self.no_auth_user and self.no_auth_user not in self.by_user:
            raise OptionsError(f'no_auth_user: "{self.no_auth_user}" not present as user or nkey '
                             f"in authorization block or account configuration")
        self.required = bool(self.token or self.by_user or self.by_nkey)
        self.needs_nonce = bool(self.by_nkey)

    @staticmethod
    def new_nonce() -> str:
        """11 random bytes, base64url as nats-server's nonces are."""
        return base64.urlsafe_b64encode(os.urandom(11)).decode().rstrip("=")

    def with_no_auth_user(self, connect: Connect) -> Connect:
        """The CONNECT options as nats-server keeps them: without a user, password or token,
        and with a no_auth_user configured, they take that user's name and password (so a later
        CONNECT on the connection, merged into them, still carries them)."""
        if not self.no_auth_user or connect.user or connect.password or connect.auth_token:
            return connect
        user = self.by_user[self.no_auth_user].user
        return msgspec.structs.replace(connect, user=user.user, password=user.password)

    def authenticate(self, connect: Connect, nonce: str | None) -> Identity | None:
        """The identity for CONNECT options, or None: a violation. The options must have been
        through with_no_auth_user (that is how an anonymous client becomes that user)."""
        if not self.required:
            return ANONYMOUS
        if connect.nkey and self.by_nkey:  # nats-server looks at nkey only when it has nkeys
            entry = self.by_nkey.get(connect.nkey)
            if entry is None or not nonce or not connect.sig:
                return None
            try:
                ok = nkeys.verify(connect.nkey, nonce.encode(), connect.sig)
            except nkeys.NkeyError:
                return None
            return entry.identity if ok else None
        if connect.user and self.by_user:
            entry = self.by_user.get(connect.user)
            if entry is None or not _password_matches(entry.user.password or "", connect.password):
                return None
            return entry.identity
        if connect.auth_token is not None and self.token is not None and \
                _password_matches(self.token, connect.auth_token):
            return ANONYMOUS
        return None

    def moved(self, connect: Connect, account: str) -> bool:
        """After a reload: whether the user or nkey these options name is gone or now belongs
        to another account than `account` (nats-server closes such a connection silently)."""
        if connect.nkey:
            entry = self.by_nkey.get(connect.nkey)
        elif connect.user:
            entry = self.by_user.get(connect.user)
        else:
            return False
        return entry is None or entry.identity.account != account

    def costly(self, connect: Connect) -> bool:
        """Whether `authenticate` would run a bcrypt check (one not remembered) for these
        options: then it belongs in check_pool, not on the event loop."""
        if not self.required or (connect.nkey and self.by_nkey):
            return False
        if connect.user and self.by_user:
            entry = self.by_user.get(connect.user)
            return entry is not None and _is_costly(entry.user.password or "", connect.password)
        if connect.auth_token is not None and self.token is not None:
            return _is_costly(self.token, connect.auth_token)
        return False


def ws_authenticator(opts: ServerOptions) -> Authenticator | None:
    """The Authenticator for WebSocket clients when the websocket block overrides the server's
    (its own user/password, token or no_auth_user: nats-server's authOverride); else None, and
    they authenticate as every client does. The server's users stay known (no_auth_user names
    one of them)."""
    ws = opts.websocket
    if ws is None or not ws.port:
        return None
    own = ws.authorization or Authorization()
    if not (own.user or own.token or ws.no_auth_user):
        return None
    users = opts.authorization.users if opts.authorization else []  # (validate() refused
    # a websocket user or token beside them)
    auth = Authorization(user=own.user, password=own.password, token=own.token,
                         users=users, timeout=own.timeout)
    return Authenticator(msgspec.structs.replace(opts, authorization=auth,
                                                 no_auth_user=ws.no_auth_user))
