"""zats.client authentication against each server kind: user/password (options and URL),
token, nkey seeds (nonce signing) and `.creds` files (operator mode, with operator, account and
user JWTs made and signed here), and the refusal of wrong credentials."""

from __future__ import annotations

import base64
import json
import time

import pytest
from test_client_support import TIMEOUT

import zats.client as zc
from zats.client import nkeys

pytestmark = pytest.mark.timeout(60)


async def _works(nc: zc.Client) -> None:
    sub = await nc.subscribe("auth.check")
    nc.publish("auth.check", b"ok")
    assert (await sub.next_msg(TIMEOUT)).data == b"ok"
    await nc.close()


async def test_user_password(kind, spawn):
    srv = spawn(kind, "--user", "alice", "--pass", "s3cret")
    await _works(await zc.connect(srv.url, user="alice", password="s3cret", allow_reconnect=False))
    await _works(await zc.connect(f"nats://alice:s3cret@127.0.0.1:{srv.port}", allow_reconnect=False))
    with pytest.raises(zc.AuthorizationError):
        await zc.connect(srv.url, user="alice", password="wrong", allow_reconnect=False)
    with pytest.raises(zc.AuthorizationError):
        await zc.connect(srv.url, allow_reconnect=False)


async def test_token(kind, spawn):
    srv = spawn(kind, "--auth", "tok-123")
    await _works(await zc.connect(srv.url, token="tok-123", allow_reconnect=False))
    await _works(await zc.connect(f"nats://tok-123@127.0.0.1:{srv.port}", allow_reconnect=False))
    with pytest.raises(zc.AuthorizationError):
        await zc.connect(srv.url, token="nope", allow_reconnect=False)


async def test_nkey_seed(kind, spawn, tmp_path):
    seed = nkeys.create_seed(nkeys.PREFIX_USER)
    public = nkeys.KeyPair(seed).public_key
    assert public.startswith("U")
    conf = tmp_path / "nkey.conf"
    conf.write_text(f'authorization {{\n  users = [ {{ nkey: "{public}" }} ]\n}}\n')
    srv = spawn(kind, "-c", str(conf))
    await _works(await zc.connect(srv.url, nkeys_seed_str=seed, allow_reconnect=False))
    seed_file = tmp_path / "user.nk"
    seed_file.write_text(seed + "\n")
    await _works(await zc.connect(srv.url, nkeys_seed=str(seed_file), allow_reconnect=False))
    with pytest.raises(zc.AuthorizationError):
        await zc.connect(srv.url, nkeys_seed_str=nkeys.create_seed(), allow_reconnect=False)


# --------------------------------------------------------------------------------------------
# .creds: operator mode with JWTs signed here


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _jwt(claims: dict, issuer: nkeys.KeyPair) -> str:
    header = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = _b64(json.dumps(claims).encode())
    signing_input = f"{header}.{body}".encode()
    return f"{header}.{body}.{_b64(issuer.sign(signing_input))}"


def _claims(issuer: nkeys.KeyPair, subject: str, name: str, nats: dict) -> dict:
    return {"jti": _b64(subject.encode())[:40].upper(), "iat": int(time.time()),
            "iss": issuer.public_key, "name": name, "sub": subject, "nats": nats}


_NO_LIMITS = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
              "wildcards": True, "conn": -1, "leaf": -1}


def _operator_setup(tmp_path):
    op = nkeys.KeyPair(nkeys.create_seed(nkeys.PREFIX_OPERATOR))
    acc = nkeys.KeyPair(nkeys.create_seed(nkeys.PREFIX_ACCOUNT))
    sys_acc = nkeys.KeyPair(nkeys.create_seed(nkeys.PREFIX_ACCOUNT))
    user = nkeys.KeyPair(nkeys.create_seed(nkeys.PREFIX_USER))
    op_jwt = _jwt(_claims(op, op.public_key, "op", {"type": "operator", "version": 2}), op)
    acc_nats = {"limits": _NO_LIMITS, "default_permissions": {"pub": {}, "sub": {}},
                "type": "account", "version": 2}
    acc_jwt = _jwt(_claims(op, acc.public_key, "acc", acc_nats), op)
    sys_jwt = _jwt(_claims(op, sys_acc.public_key, "SYS", acc_nats), op)
    user_nats = {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                 "type": "user", "version": 2}
    user_jwt = _jwt(_claims(acc, user.public_key, "user", user_nats), acc)
    conf = tmp_path / "op.conf"
    conf.write_text(
        f"operator: {op_jwt}\n"
        f"system_account: {sys_acc.public_key}\n"
        "resolver: MEMORY\n"
        "resolver_preload: {\n"
        f"  {acc.public_key}: {acc_jwt}\n"
        f"  {sys_acc.public_key}: {sys_jwt}\n"
        "}\n")
    creds = tmp_path / "user.creds"
    creds.write_text(
        "-----BEGIN NATS USER JWT-----\n"
        f"{user_jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{user.seed}\n"
        "------END USER NKEY SEED------\n")
    return conf, creds, user_jwt


async def test_creds_file(kind, spawn, tmp_path):
    if kind == "zats":
        pytest.skip("zats has no operator mode (JWT account resolver); .creds need it")
    conf, creds, user_jwt = _operator_setup(tmp_path)
    assert nkeys.load_creds(str(creds))[0] == user_jwt
    srv = spawn(kind, "-c", str(conf))
    await _works(await zc.connect(srv.url, user_credentials=str(creds), allow_reconnect=False))
    # A user seed that does not match the JWT is refused.
    other = tmp_path / "other.creds"
    text = creds.read_text()
    other.write_text(text.replace(nkeys.load_creds(str(creds))[1], nkeys.create_seed()))
    with pytest.raises(zc.AuthorizationError):
        await zc.connect(srv.url, user_credentials=str(other), allow_reconnect=False)


async def test_permission_violations_are_reported_and_the_connection_stays(kind, spawn, tmp_path):
    conf = tmp_path / "perms.conf"
    conf.write_text(
        "authorization {\n"
        "  users = [\n"
        '    { user: "u", password: "p", permissions: {\n'
        '        publish: { deny: ["secret.>"] }, subscribe: { deny: ["hidden"] } } }\n'
        "  ]\n"
        "}\n")
    srv = spawn(kind, "-c", str(conf))
    errors: list[BaseException] = []
    nc = await zc.connect(srv.url, user="u", password="p", allow_reconnect=False,
                          error_cb=errors.append)
    try:
        nc.publish("secret.plans", b"x")
        await nc.subscribe("hidden")
        await nc.flush()
        await nc.flush()
        texts = sorted(e.text for e in errors if isinstance(e, zc.errors.ServerError))
        assert texts == ['Permissions Violation for Publish to "secret.plans"',
                         'Permissions Violation for Subscription to "hidden"']
        assert nc.stats["errors_received"] == 2
        assert nc.is_connected
        await _works(nc)
    finally:
        await nc.close()
