"""JetStream in the broker: enabled by `-js` or a `jetstream {}` block, it serves the API in every
account that has JetStream (the global account when no accounts are configured, else the accounts
whose `jetstream` is enabled or limited, as nats-server), each through its own internal client.
Accounts without JetStream answer the API with nats-server's "JetStream not enabled for
account"."""

from __future__ import annotations

import os
import secrets
import string
import tempfile

from ..internal import InternalClient
from .api import API_SUBJECTS, KINDS, JsAccount, paged_empty, request_of
from .common import encode
from .errors import ApiError

_NAME_ALPHABET = string.ascii_letters + string.digits
_T = "io.nats.jetstream.api.v1."


class JetStream:
    def __init__(self, broker):
        self.broker = broker
        opts = broker.options.jetstream
        self.config = opts
        # nats-server's default: the system's temporary directory, `nats` in it.
        self.store_dir = broker.options.store_dir or os.path.join(tempfile.gettempdir(), "nats")
        self.max_memory = opts.max_memory_store
        self.max_file = opts.max_file_store
        self.domain = opts.domain
        self.sync_interval = opts.sync_interval  # 0: always
        self.loop = None
        self.accounts: dict[str, JsAccount] = {}
        self.disabled_clients: list[InternalClient] = []

    def start(self) -> None:
        import asyncio
        self.loop = asyncio.get_running_loop()
        b = self.broker
        log = b.log
        log.notice("Starting JetStream")
        log.notice("  Store Directory: \"%s\"", self.store_dir)
        if self.domain:
            log.notice("  Domain:          %s", self.domain)
        configured = {a.name: a for a in b.options.accounts}
        for name, account in b.accounts.items():
            if name == b.system_account:
                continue
            acc_cfg = configured.get(name)
            if not configured:
                limits = {}
            elif acc_cfg is not None and acc_cfg.jetstream is not None:
                limits = acc_cfg.jetstream
            else:
                limits = None
            client = InternalClient(b, account, b._new_cid(), name="jetstream")
            if limits is None:
                for subject in API_SUBJECTS:
                    client.subscribe(subject, self._not_enabled(client))
                self.disabled_clients.append(client)
                continue
            jsa = JsAccount(self, account, client, limits)
            self.accounts[name] = jsa
            jsa.start()

    def stop(self) -> None:
        for jsa in self.accounts.values():
            jsa.stop()
            jsa.client.close()
        for client in self.disabled_clients:
            client.close()

    def _not_enabled(self, client):
        def on_request(subject: bytes, reply: bytes | None, hdr, payload) -> None:
            found = request_of(subject)
            if not reply or found is None:
                return
            kind = KINDS[found[0]]
            error = ApiError.of("NotEnabledForAccount").to_json()
            client.publish(reply, None, encode({"type": _T + kind, "error": error,
                                                **paged_empty(kind)}))
        return on_request

    # -- helpers the accounts use -----------------------------------------------------------------

    @staticmethod
    def new_name(length: int = 8) -> str:
        return "".join(secrets.choice(_NAME_ALPHABET) for _ in range(length))

    # -- monitoring -------------------------------------------------------------------------------

    def usage(self) -> dict:
        memory = storage_bytes = streams = consumers = messages = nbytes = 0
        for jsa in self.accounts.values():
            mem, sto, cons = jsa.usage()
            memory += mem
            storage_bytes += sto
            consumers += cons
            streams += len(jsa.streams)
            for stream in jsa.streams.values():
                state = stream.store.state()
                messages += state.msgs
                nbytes += state.bytes
        return {"memory": memory, "storage": storage_bytes, "streams": streams,
                "consumers": consumers, "messages": messages, "bytes": nbytes}
