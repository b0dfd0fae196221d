"""zats.client over TLS: the upgrade after INFO (nats-server `--tls`), `handshake_first` (TLS
before INFO), host name checks and `tls_hostname`, client certificates, failures, and a
reconnect over TLS, against zats and nats-server. Certificates are made at test time with
trustme."""

from __future__ import annotations

import ssl

import pytest
from test_client_support import TIMEOUT, Recorder

import zats.client as zc

trustme = pytest.importorskip("trustme")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def certs(ca, tmp_path):
    """Server certificate for 127.0.0.1 and localhost, written to files, and a client context
    that trusts the CA."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return dict(cert=str(cert_file), key=str(key_file), ctx=ctx, dir=tmp_path)


async def _round_trip(nc: zc.Client, subject: str) -> None:
    async def handler(msg):
        msg.respond(b"re:" + msg.data)

    await nc.subscribe(subject, cb=handler)
    big = b"z" * 300_000
    reply = await nc.request(subject, big, timeout=TIMEOUT)
    assert reply.data == b"re:" + big


async def test_tls_upgrade_after_info(kind, spawn, certs):
    srv = spawn(kind, "--tls", "--tlscert", certs["cert"], "--tlskey", certs["key"])
    nc = await zc.connect(srv.url, tls=certs["ctx"], allow_reconnect=False)
    try:
        assert nc.server_info.tls_required
        assert nc._conn.tls
        await _round_trip(nc, "tls.upgrade")
    finally:
        await nc.close()


async def test_tls_url_scheme_uses_the_given_context(kind, spawn, certs):
    srv = spawn(kind, "--tls", "--tlscert", certs["cert"], "--tlskey", certs["key"])
    async with zc.connect(f"tls://127.0.0.1:{srv.port}", tls=certs["ctx"], allow_reconnect=False) as nc:
        await _round_trip(nc, "tls.scheme")


async def test_untrusted_certificate_fails(kind, spawn, certs):
    srv = spawn(kind, "--tls", "--tlscert", certs["cert"], "--tlskey", certs["key"])
    # No context given: the server requires TLS, the default context does not trust the CA.
    with pytest.raises(zc.NoServersError) as info:
        await zc.connect(srv.url, allow_reconnect=False, connect_timeout=2)
    assert isinstance(info.value.__cause__, zc.errors.SecureConnFailedError)


async def test_tls_hostname_option(kind, spawn, ca, tmp_path):
    cert = ca.issue_cert("nats.example.test")
    cert_file, key_file = tmp_path / "c.pem", tmp_path / "c.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    srv = spawn(kind, "--tls", "--tlscert", str(cert_file), "--tlskey", str(key_file))
    with pytest.raises(zc.NoServersError):
        await zc.connect(srv.url, tls=ctx, allow_reconnect=False)
    async with zc.connect(srv.url, tls=ctx, tls_hostname="nats.example.test",
                          allow_reconnect=False) as nc:
        await nc.flush()


async def test_client_certificate_verified_by_server(kind, spawn, ca, certs):
    ca_file = certs["dir"] / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    srv = spawn(kind, "--tlsverify", "--tlscert", certs["cert"], "--tlskey", certs["key"],
                "--tlscacert", str(ca_file))
    with pytest.raises(zc.NoServersError):
        await zc.connect(srv.url, tls=certs["ctx"], allow_reconnect=False, connect_timeout=2)
    client_cert = ca.issue_cert("client@zats.test")
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    client_cert.configure_cert(ctx)
    async with zc.connect(srv.url, tls=ctx, allow_reconnect=False) as nc:
        await _round_trip(nc, "tls.mtls")


async def test_tls_handshake_first(kind, spawn, certs):
    conf = certs["dir"] / "hf.conf"
    conf.write_text(
        "tls {\n"
        f'  cert_file: "{certs["cert"]}"\n'
        f'  key_file: "{certs["key"]}"\n'
        "  handshake_first: true\n"
        "}\n")
    srv = spawn(kind, "-c", str(conf))
    async with zc.connect(srv.url, tls=certs["ctx"], tls_handshake_first=True,
                          allow_reconnect=False) as nc:
        assert nc._conn.tls
        await _round_trip(nc, "tls.first")
    # Without handshake_first the client waits for an INFO that never comes in clear text.
    with pytest.raises(zc.NoServersError):
        await zc.connect(srv.url, tls=certs["ctx"], allow_reconnect=False, connect_timeout=0.5)


async def test_reconnect_over_tls(kind, spawn, certs):
    srv = spawn(kind, "--tls", "--tlscert", certs["cert"], "--tlskey", certs["key"])
    rec = Recorder()
    nc = await zc.connect(srv.url, tls=certs["ctx"], reconnect_time_wait=0.05,
                          reconnect_jitter_tls=0.05, max_reconnect_attempts=-1,
                          **rec.callbacks())
    try:
        got: list[bytes] = []
        await nc.subscribe("tls.rc", cb=lambda m: got.append(bytes(m.data)))
        nc.publish("tls.rc", b"before")
        await nc.flush()
        srv.restart()
        await rec.wait("reconnected", timeout=30)
        nc.publish("tls.rc", b"after")
        await nc.flush()
        assert got == [b"before", b"after"]
        assert nc._conn.tls
    finally:
        await nc.close()
