"""Where streams keep their messages and what survives a restart: a memory store for `storage:
memory`, the file store for `storage: file` under `<store_dir>/jetstream/<account>/streams/<name>`
(nats-server's layout), the stream's configuration beside it in `meta.inf` (JSON: config and
creation time), read back at start. Consumers' state lives in the stream store's consumer stores,
their configuration in the metadata those keep."""

from __future__ import annotations

import json
import os
import shutil

import msgspec

from .memstore import MemStore
from .store import AckPolicy, ConsumerStoreConfig
from .stream import store_config
from .structs import ConsumerConfig, StreamConfig

try:  # the file store lands separately; until then file streams are kept in memory
    from .filestore import FileStore
except ImportError:  # pragma: no cover - depends on the storage layer's progress
    FileStore = None

_META = "meta.inf"


def stream_dir(service, account: str, name: str) -> str:
    return os.path.join(service.store_dir, "jetstream", account, "streams", name)


def persistent(cfg: StreamConfig) -> bool:
    return cfg.storage == "file" and FileStore is not None


def open_stream_store(service, account: str, cfg: StreamConfig):
    scfg = store_config(cfg)
    call_later = service.loop.call_later
    if persistent(cfg):
        directory = stream_dir(service, account, cfg.name)
        os.makedirs(directory, exist_ok=True)
        return FileStore(directory, scfg, call_later=call_later, **service.file_options)
    return MemStore(scfg, call_later=call_later)


def save_stream_meta(service, account: str, cfg: StreamConfig, created: int) -> None:
    if not persistent(cfg):
        return
    directory = stream_dir(service, account, cfg.name)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, _META)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(msgspec.json.encode({"config": cfg, "created": created}))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def remove_stream_meta(service, account: str, name: str) -> None:
    directory = stream_dir(service, account, name)
    shutil.rmtree(directory, ignore_errors=True)


def recovered_streams(service, account: str) -> list[tuple[StreamConfig, int]]:
    """The file streams an earlier run of this store dir left for `account`."""
    if FileStore is None or not service.store_dir:
        return []
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
        except (OSError, ValueError, KeyError, msgspec.ValidationError) as exc:
            service.broker.log.error("JetStream stream %s/%s: bad %s: %r", account, name, _META, exc)
    return out


def consumer_store_config(cfg: ConsumerConfig) -> ConsumerStoreConfig:
    policy = {"none": AckPolicy.NONE, "all": AckPolicy.ALL}.get(cfg.ack_policy, AckPolicy.EXPLICIT)
    return ConsumerStoreConfig(ack_policy=policy, max_deliver=cfg.max_deliver or -1)


def consumer_metadata(consumer) -> bytes:
    return msgspec.json.encode({"config": consumer.cfg, "durable": consumer.durable})


def recovered_consumers(store) -> list:
    """(name, config, created, state) of the durable consumers kept by a recovered store."""
    out = []
    for cs in store.consumers():
        meta = cs.metadata()
        if not meta:
            continue
        try:
            doc = json.loads(meta)
            cfg = msgspec.convert(doc["config"], ConsumerConfig)
        except (ValueError, KeyError, msgspec.ValidationError):
            continue
        out.append((cs.name, cfg, getattr(cs, "created", 0), cs.state()))
    return out
