"""TLS on the client port, configured alike for zats and the real nats-server: the upgrade
after the plain-text INFO, handshake_first, and client certificate verification. Certificates are
made at test time with trustme; no private key is committed."""

from __future__ import annotations

import json
import signal
import socket
import ssl

import nats
import pytest
import trustme

from support.servers import write_config
from support.wire import Wire
from zats.broker import Broker
from zats.broker.options import TLSConfig


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def pki(ca, tmp_path):
    """Server certificate, CA file and a client certificate, as files."""
    server = ca.issue_cert("localhost", "127.0.0.1")
    client = ca.issue_cert("client.example")
    paths = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "ca", "client_cert", "client_key")}
    server.cert_chain_pems[0].write_to_path(paths["cert"])
    server.private_key_pem.write_to_path(paths["key"])
    ca.cert_pem.write_to_path(paths["ca"])
    client.cert_chain_pems[0].write_to_path(paths["client_cert"])
    client.private_key_pem.write_to_path(paths["client_key"])
    return {k: str(v) for k, v in paths.items()}


def client_context(pki, with_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki["ca"])
    if with_cert:
        ctx.load_cert_chain(pki["client_cert"], pki["client_key"])
    return ctx


def tls_conf(pki, **extra) -> str:
    lines = [f'cert_file: "{pki["cert"]}"', f'key_file: "{pki["key"]}"']
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return "tls {\n  " + "\n  ".join(lines) + "\n}\n"


async def pubsub_over(url: str, ctx: ssl.SSLContext, **kw) -> bytes:
    nc = await nats.connect(url, tls=ctx, allow_reconnect=False, connect_timeout=3, **kw)
    try:
        sub = await nc.subscribe("secure")
        await nc.publish("secure", b"x" * 70000)  # larger than one TLS record
        return (await sub.next_msg(timeout=3)).data
    finally:
        await nc.close()


async def test_tls_upgrade_after_info(kind, spawn, tmp_path, pki):
    srv = spawn(kind, "-c", write_config(tmp_path, tls_conf(pki)))
    with Wire(srv.host, srv.port) as w:
        info = json.loads(w.read_info()[5:])
        assert info["tls_required"] is True
    data = await pubsub_over(f"tls://localhost:{srv.port}", client_context(pki))
    assert data == b"x" * 70000


async def test_tls_handshake_first(kind, spawn, tmp_path, pki):
    srv = spawn(kind, "-c", write_config(tmp_path, tls_conf(pki, handshake_first="true")))
    data = await pubsub_over(f"tls://localhost:{srv.port}", client_context(pki),
                             tls_handshake_first=True)
    assert data == b"x" * 70000


async def test_client_certificate_verification(kind, spawn, tmp_path, pki):
    conf = tls_conf(pki, ca_file=f'"{pki["ca"]}"', verify="true")
    srv = spawn(kind, "-c", write_config(tmp_path, conf))
    with Wire(srv.host, srv.port) as w:
        info = json.loads(w.read_info()[5:])
        assert info["tls_verify"] is True
    data = await pubsub_over(f"tls://localhost:{srv.port}", client_context(pki, with_cert=True))
    assert data == b"x" * 70000
    with pytest.raises((nats.errors.Error, OSError)):
        await pubsub_over(f"tls://localhost:{srv.port}", client_context(pki), max_reconnect_attempts=0)


def test_plain_text_client_is_refused(kind, spawn, tmp_path, pki):
    srv = spawn(kind, "-c", write_config(tmp_path, tls_conf(pki)))
    with Wire(srv.host, srv.port) as w:
        w.read_info()
        w.send(b'CONNECT {"verbose":false}\r\nPING\r\n')
        rest = w.expect_closed()
        assert b"PONG" not in rest


def test_sigterm_does_not_wait_for_a_silent_tls_clients_close_notify(kind, spawn, tmp_path, pki):
    """A TLS client that has everything it was sent but reads no more (its loop busy, say): on
    SIGTERM the server sends its close_notify and exits, as nats-server does, without waiting for
    the client's. zats waited for it, up to the write deadline (60 s here)."""
    srv = spawn(kind, "-c", write_config(tmp_path, 'write_deadline: "60s"\n' + tls_conf(pki)))
    raw = socket.create_connection((srv.host, srv.port), timeout=5)
    raw.recv(4096)  # the plain-text INFO
    with client_context(pki).wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b'CONNECT {"verbose":false}\r\nSUB quiet 1\r\nPING\r\n')
        got = b""
        while not got.endswith(b"PONG\r\n"):
            got += tls.recv(4096)
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(30)  # subprocess.TimeoutExpired if the server is still waiting


async def test_stop_with_a_tls_connection_already_closing(tmp_path, pki):
    """A TLS connection whose transport is already closing when the broker stops (the TLS layer
    closes it itself when the client's close_notify comes): the stop closes it no second time,
    which on asyncio's loop left a TLS transport that raised when asked what it still held."""
    tls = TLSConfig(cert_file=pki["cert"], key_file=pki["key"])
    broker = Broker(port=0, host="127.0.0.1", tls=tls)
    await broker.start()
    nc = await nats.connect(f"tls://localhost:{broker.port}", tls=client_context(pki),
                            allow_reconnect=False)
    try:
        await nc.flush()
        (conn,) = broker.connections.values()
        conn.transport.close()
        await broker.stop(quiet=True)
        assert not broker.connections
    finally:
        await nc.close()
