"""Where streams keep their messages and what survives a restart: a memory store for `storage:
memory`, the file store for `storage: file` under `<store_dir>/jetstream/<account>/streams/<name>`
(nats-server's layout), the stream's configuration kept by the file store in `meta.inf` (JSON:
config and creation time) and read back at start. Consumers' state lives in the stream store's
consumer stores, their configuration and creation time in the metadata those keep; ephemeral
consumers are not recovered."""

from __future__ import annotations

import json
import os

import msgspec

from .filestore import FileStore, FileStoreOptions
from .memstore import MemStore
from .store import AckPolicy, ConsumerStoreConfig
from .stream import store_config
from .structs import ConsumerConfig, StreamConfig

_META = "meta.inf"


def stream_dir(service, account: str, name: str) -> str:
    return os.path.join(service.store_dir, "jetstream", account, "streams", name)


def open_stream_store(service, account: str, cfg: StreamConfig, client):
    """The store of stream `cfg`; `client`: the account's internal client. A file store defers
    its write to the end of that client's flush when one is running (the publishes of a read
    are stored there, and their write then leaves before that read's PubAcks, in the same loop
    iteration), else to the loop's next iteration (InternalClient.defer)."""
    scfg = store_config(cfg)
    loop = service.loop
    if cfg.storage == "file":
        sync = service.sync_interval
        options = FileStoreOptions(sync_always=sync == 0, sync_interval=sync or 120.0,
                                   call_soon=client.defer, call_later=loop.call_later,
                                   logger=service.broker.log)
        return FileStore(stream_dir(service, account, cfg.name), scfg, options)
    return MemStore(scfg, call_later=loop.call_later)


def save_stream_meta(store, cfg: StreamConfig, created: int) -> None:
    """Keeps a file stream's config with its messages (nothing for memory streams)."""
    if isinstance(store, FileStore):
        store.write_metadata(msgspec.json.encode({"config": cfg, "created": created}))


def recovered_streams(service, account: str) -> list[tuple[StreamConfig, int]]:
    """The file streams an earlier run of this store dir left for `account`."""
    base = os.path.join(service.store_dir, "jetstream", account, "streams")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    out = []
    for name in names:
        try:
            with open(os.path.join(base, name, _META), "rb") as f:
                meta = json.loads(f.read())
            out.append((msgspec.convert(meta["config"], StreamConfig), int(meta["created"])))
        except (OSError, ValueError, KeyError, TypeError, msgspec.ValidationError) as exc:
            service.broker.log.error("JetStream stream %s > %s: unreadable %s: %r",
                                     account, name, _META, exc)
    return out


def consumer_store_config(cfg: ConsumerConfig) -> ConsumerStoreConfig:
    policy = {"none": AckPolicy.NONE, "all": AckPolicy.ALL}.get(cfg.ack_policy, AckPolicy.EXPLICIT)
    return ConsumerStoreConfig(ack_policy=policy, max_deliver=cfg.max_deliver or -1)


def consumer_metadata(consumer) -> bytes:
    return msgspec.json.encode({"config": consumer.cfg, "created": consumer.created})


def recovered_consumers(store) -> list:
    """(consumer store, config, created) of the durable consumers a file store kept."""
    if not isinstance(store, FileStore):
        return []
    out = []
    for name in store.consumer_names():
        cs = store.consumer_store(name, 0, ConsumerStoreConfig())
        try:
            doc = json.loads(cs.metadata() or b"")
            cfg = msgspec.convert(doc["config"], ConsumerConfig)
        except (ValueError, KeyError, TypeError, msgspec.ValidationError):
            store.remove_consumer(cs)
            continue
        if cfg.durable_name is msgspec.UNSET:  # ephemerals do not outlive the server
            cs.delete()
            store.remove_consumer(cs)
            continue
        cs.update_config(consumer_store_config(cfg))
        out.append((cs, cfg, int(doc.get("created", 0))))
    return out
