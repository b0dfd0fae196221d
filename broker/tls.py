"""The server-side TLS context from the tls settings: certificate and key, optional client
certificate verification against a CA file. Connections use it either after the plain-text INFO
(the NATS upgrade) or before anything is sent (`handshake_first`)."""

from __future__ import annotations

import ssl

from .log import go_strerror
from .options import OptionsError, TLSConfig


def server_context(tls: TLSConfig) -> ssl.SSLContext:
    if not tls.cert_file or not tls.key_file:
        raise OptionsError("missing 'cert_file' and 'key_file' in TLS configuration")
    for path in (tls.cert_file, tls.key_file, tls.ca_file):
        if path:  # ssl's own error does not name the file
            try:
                open(path, "rb").close()
            except OSError as exc:
                raise OptionsError(f"error parsing X509 certificate/key pair: open {path}: "
                                   f"{go_strerror(exc)}") from None
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
