"""The memory store (`storage: memory`): the shared index holding the messages themselves.

Headers and data are copied into `bytes` at store time (the caller's buffers are reused), and
loads hand those same objects out without a copy. Accounting follows nats-server's memstore."""

from __future__ import annotations

from collections.abc import Callable

from .consumer_state import MemConsumerStore
from .index import IndexedStore
from .store import (
    ConsumerStore,
    ConsumerStoreConfig,
    StorageType,
    StoreConfig,
    StoredMsg,
    msg_size_memory,
    stored_msg,
)

__all__ = ["MemStore"]

# Entry: (subject, ts, size, expires, headers, data)
_HDR, _DATA = 4, 5


class MemStore(IndexedStore):
    """A stream's messages in memory. `call_later` (an event loop's) runs max_age / TTL expiry on
    a timer; without it expiry happens on access."""

    def __init__(self, config: StoreConfig, call_later: Callable | None = None) -> None:
        super().__init__(config, call_later)
        if config.max_age or config.allow_msg_ttl:
            self.update_config(config)

    @property
    def type(self) -> StorageType:
        return StorageType.MEMORY

    _size = staticmethod(msg_size_memory)  # (subject, headers, data): one call, not two, per store

    def _put(self, subject, headers, data, seq, ts, expires, size) -> tuple:
        if headers is not None and type(headers) is not bytes:
            headers = bytes(headers)
        if type(data) is not bytes:
            data = bytes(data)
        return (subject if type(subject) is bytes else bytes(subject), ts, size, expires, headers, data)

    def _get(self, seq: int, entry: tuple) -> StoredMsg:
        return stored_msg(entry[0], seq, entry[_HDR], entry[_DATA], entry[1])

    def _get_headers(self, seq: int, entry: tuple):
        return entry[_HDR]

    def stop(self) -> None:
        if not self._closed:
            for c in list(self._consumers.values()):
                c.stop()
            self._close()

    def delete(self) -> None:
        for c in list(self._consumers.values()):
            c.delete()
        self._consumers.clear()
        self._msgs = {}
        self._fss = {}
        self._close()

    def consumer_store(
        self, name: str, created: int, config: ConsumerStoreConfig, metadata: bytes | None = None
    ) -> ConsumerStore:
        self._check_open()
        cs = MemConsumerStore(name, created, config, metadata)
        self._consumers[name] = cs
        return cs
