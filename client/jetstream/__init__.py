"""zats.client.jetstream: JetStream for zats.client, with nats-py's names. `js = nc.jetstream()`
gives a `JetStreamContext`: streams and consumers (manager.py), publishing with acks
(publish.py), key/value buckets (kv.py), object stores (object_store.py, object_chunks.py),
bucket watchers (watch.py), pull consumers (pull.py), push and ordered consumers (push.py),
messages with acks and metadata (msg.py); the API's documents are msgspec Structs (structs.py)
and its errors typed exceptions (errors.py). The one request path is api.py."""

from __future__ import annotations

from . import errors
from .context import JetStreamContext
from .kv import Entry, KeyValue, KeyValueConfig, KeyWatcher
from .manager import JetStreamManager, StoredMsg
from .msg import JsMsg, Metadata, SequencePair
from .object_store import ObjectInfo, ObjectMeta, ObjectStore, ObjectStoreConfig
from .pull import ConsumeIterator, PullSubscription
from .push import PushSubscription
from .structs import (
    AccountInfo,
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    DeliverPolicy,
    DiscardPolicy,
    PubAck,
    ReplayPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
    StreamState,
)

__all__ = [
    "AccountInfo", "AckPolicy", "ConsumeIterator", "ConsumerConfig", "ConsumerInfo", "DeliverPolicy",
    "DiscardPolicy", "Entry", "JetStreamContext", "JetStreamManager", "JsMsg", "KeyValue", "KeyValueConfig", "KeyWatcher", "Metadata",
    "ObjectInfo", "ObjectMeta", "ObjectStore", "ObjectStoreConfig", "PubAck",
    "PullSubscription", "PushSubscription", "ReplayPolicy", "RetentionPolicy", "SequencePair", "StorageType", "StoredMsg",
    "StreamConfig", "StreamInfo", "StreamState", "errors",
]
