"""The server-side TLS context from the tls settings: certificate and key, optional client
certificate verification against a CA file. Connections use it either after the plain-text INFO
(the NATS upgrade) or before anything is sent (`handshake_first`)."""

from __future__ import annotations

import ssl

from .options import OptionsError, TLSConfig


def server_context(tls: TLSConfig) -> ssl.SSLContext:
    if not tls.cert_file or not tls.key_file:
        raise OptionsError("missing 'cert_file' and 'key_file' in TLS configuration")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.ca_file:
            ctx.load_verify_locations(tls.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise OptionsError(f"error parsing TLS config: {exc}") from None
    if tls.verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
