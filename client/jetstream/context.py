"""`JetStreamContext`, what `nc.jetstream()` returns: the management API (`JetStreamManager`),
publishing with acknowledgements, and the pull, push and ordered consumers, under nats-py's
names, and key/value and object store buckets."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from zats.protocol.headers import HeadersLike

from .api import Api, check_name
from .errors import NotFoundError, StreamNotFoundError
from .kv import BucketNotFoundError, KeyValue, KeyValueConfig, stream_config
from .manager import JetStreamManager
from .object_store import BucketNotFoundError as ObjectBucketNotFoundError
from .object_store import ObjectStore, ObjectStoreConfig
from .object_store import stream_config as object_stream_config
from .publish import AsyncPublisher, publish_headers, publish_sync
from .pull import PullSubscription
from .push import PushSubscription
from .structs import AckPolicy, ConsumerConfig, PubAck

Client = Any  # zats.client.Client (not imported: client.py imports this package)


class JetStreamContext(JetStreamManager):
    """JetStream over one connection. `prefix` is the API prefix (`$JS.API`), `domain` selects
    `$JS.<domain>.API`; `timeout` is that of API requests and `publish()`;
    `publish_async_max_pending` the window of `publish_async()`."""

    def __init__(self, nc: Client, prefix: str = "$JS.API", domain: str | None = None,
                 timeout: float = 5.0, publish_async_max_pending: int = 4000):
        if domain:
            prefix = f"$JS.{domain}.API"
        super().__init__(Api(nc, prefix, timeout))
        self._nc = nc
        self._timeout = timeout
        self._async = AsyncPublisher(nc, publish_async_max_pending)

    # ---------------------------------------------------------------------------- publish

    async def publish(self, subject: str, payload: Any = b"", timeout: float | None = None,
                      stream: str | None = None, headers: HeadersLike | None = None, *,
                      msg_id: str | None = None, expected_stream: str | None = None,
                      expected_last_seq: int | None = None, expected_last_subject_seq: int | None = None,
                      expected_last_msg_id: str | None = None) -> PubAck:
        """Publishes to a stream and returns its `PubAck`. `msg_id` (Nats-Msg-Id) makes a
        repeat within the duplicate window a no-op (`duplicate=True`); the `expected_*`
        checks fail with `StreamMismatchError`, `WrongLastSequenceError`,
        `WrongLastMsgIDError`. `NoStreamResponseError` when no stream stores `subject`.
        `stream` is a shortcut for `expected_stream`."""
        hdrs = publish_headers(headers, msg_id, expected_stream or stream, expected_last_seq,
                               expected_last_subject_seq, expected_last_msg_id)
        return await publish_sync(self._nc, subject, payload, self._timeout if timeout is None else timeout, hdrs)

    async def publish_async(self, subject: str, payload: Any = b"", *, wait_stall: float | None = None,
                            headers: HeadersLike | None = None, msg_id: str | None = None,
                            expected_stream: str | None = None, expected_last_seq: int | None = None,
                            expected_last_subject_seq: int | None = None,
                            expected_last_msg_id: str | None = None) -> asyncio.Future[PubAck]:
        """Publishes without waiting for the acknowledgement: returns a future of the `PubAck`
        (or of the typed error). With `publish_async_max_pending` acks outstanding, waits for
        room first (`TimeoutError` after `wait_stall` seconds)."""
        if (msg_id is not None or expected_stream is not None or expected_last_seq is not None
                or expected_last_subject_seq is not None or expected_last_msg_id is not None):
            headers = publish_headers(headers, msg_id, expected_stream, expected_last_seq,
                                      expected_last_subject_seq, expected_last_msg_id)
        pub = self._async
        if pub.full():
            await pub.wait_room(wait_stall)
        return pub.send(subject, payload, headers)

    def publish_async_pending(self) -> int:
        """How many async publishes wait for their acknowledgement."""
        return self._async.outstanding

    async def publish_async_completed(self, timeout: float | None = None) -> None:
        """Returns once every async publish so far has its acknowledgement (or error);
        `TimeoutError` after `timeout` seconds."""
        await self._async.completed(timeout)

    # ---------------------------------------------------------------------------- pull

    async def pull_subscribe(self, subject: str, durable: str | None = None, stream: str | None = None,
                             config: ConsumerConfig | None = None) -> PullSubscription:
        """A pull consumer on `subject` (its stream found by subject unless `stream` is given):
        the durable `durable` (created when missing), or an ephemeral one. `config` sets the
        consumer's other fields (explicit ack by default)."""
        if stream is None:
            stream = await self.find_stream_name_by_subject(subject)
        cfg = config if config is not None else ConsumerConfig()
        changes: dict[str, Any] = {}
        if durable:
            changes["durable_name"] = durable
        if cfg.ack_policy is None:
            changes["ack_policy"] = AckPolicy.EXPLICIT
        if cfg.filter_subject is None and not cfg.filter_subjects and subject:
            changes["filter_subject"] = subject
        cfg = cfg.evolve(**changes) if changes else cfg
        name = cfg.durable_name or cfg.name
        if name:
            try:
                info = await self.consumer_info(stream, name)
            except NotFoundError:
                info = await self.add_consumer(stream, cfg)
        else:
            info = await self.add_consumer(stream, cfg)
        return PullSubscription(self._nc, self._api, stream, info.name)

    async def pull_subscribe_bind(self, durable: str, stream: str) -> PullSubscription:
        """A pull consumer that exists already (not checked here: a missing one gives no
        messages)."""
        return PullSubscription(self._nc, self._api, check_name(stream, "stream name"),
                                check_name(durable, "consumer name"))

    # ---------------------------------------------------------------------------- push

    async def subscribe(self, subject: str, queue: str | None = None, cb: Any = None, durable: str | None = None,
                        stream: str | None = None, config: ConsumerConfig | None = None, manual_ack: bool = False,
                        ordered_consumer: bool = False, idle_heartbeat: float | None = None,
                        flow_control: bool = False, deliver_policy: str | None = None,
                        pending_msgs_limit: int = 512 * 1024,
                        pending_bytes_limit: int = 128 * 1024 * 1024) -> PushSubscription:
        """A push consumer on `subject` (its stream found by subject unless `stream` is given):
        the durable `durable` (bound to when it exists, created when missing), an ephemeral one,
        or with `ordered_consumer` an ordered one (see push.py). `queue` makes it a deliver
        group. `cb` as for `nc.subscribe`; an async callback's message is acked after it returns
        unless `manual_ack`."""
        if stream is None:
            stream = await self.find_stream_name_by_subject(subject)
        check_name(stream, "stream name")
        cfg = config if config is not None else ConsumerConfig()
        changes: dict[str, Any] = {}
        if cfg.filter_subject is None and not cfg.filter_subjects and subject:
            changes["filter_subject"] = subject
        if deliver_policy is not None:
            changes["deliver_policy"] = deliver_policy
        if idle_heartbeat is not None:
            changes["idle_heartbeat"] = idle_heartbeat
        if flow_control:
            changes["flow_control"] = True
        if ordered_consumer:
            if durable or queue:
                raise ValueError("an ordered consumer has neither a durable name nor a queue group")
            changes.update(ack_policy=AckPolicy.NONE, max_deliver=1, flow_control=True,
                           idle_heartbeat=cfg.idle_heartbeat or idle_heartbeat or 5.0, mem_storage=True,
                           num_replicas=1, inactive_threshold=cfg.inactive_threshold or 300.0)
        else:
            if durable:
                changes["durable_name"] = durable
            if queue:
                changes["deliver_group"] = queue
                if not durable and not cfg.durable_name:
                    changes["durable_name"] = queue
            if cfg.ack_policy is None:
                changes["ack_policy"] = AckPolicy.EXPLICIT
        cfg = cfg.evolve(**changes) if changes else cfg
        deliver_subject: str | None = None
        name = cfg.durable_name or cfg.name
        if name:
            try:
                info = await self.consumer_info(stream, name)
            except NotFoundError:
                pass
            else:
                if not info.config.deliver_subject:
                    raise ValueError(f"consumer {name!r} is a pull consumer")
                deliver_subject = info.config.deliver_subject
                cfg = info.config
        sub = PushSubscription(self, stream, cfg, queue or "", cb, manual_ack=manual_ack,
                               ordered=ordered_consumer, delete_on_unsubscribe=not name,
                               pending_msgs_limit=pending_msgs_limit, pending_bytes_limit=pending_bytes_limit)
        if deliver_subject is not None:
            sub.consumer = name or ""
        await sub._start(deliver_subject)
        return sub

    # ---------------------------------------------------------------------------- key/value

    async def key_value(self, bucket: str, type: Any = None) -> KeyValue:
        """The bucket `bucket` (`BucketNotFoundError` when there is none). With `type`, values
        are encoded and decoded with msgspec JSON as that type."""
        try:
            info = await self.stream_info(f"KV_{check_name(bucket, 'bucket name')}")
        except StreamNotFoundError:
            raise BucketNotFoundError(f"bucket {bucket!r} not found") from None
        return KeyValue(self, bucket, info, type)

    async def create_key_value(self, config: KeyValueConfig | None = None, type: Any = None,
                               **params: Any) -> KeyValue:
        """Creates a bucket (`config`, or its fields as keywords: bucket, history, ttl,
        max_value_size, max_bytes, storage, replicas, limit_marker_ttl, description)."""
        cfg = config if config is not None else KeyValueConfig(**params)
        info = await self.add_stream(stream_config(cfg))
        return KeyValue(self, cfg.bucket, info, type)

    async def delete_key_value(self, bucket: str) -> bool:
        try:
            return await self.delete_stream(f"KV_{check_name(bucket, 'bucket name')}")
        except StreamNotFoundError:
            raise BucketNotFoundError(f"bucket {bucket!r} not found") from None

    # ---------------------------------------------------------------------------- object stores

    async def object_store(self, bucket: str) -> ObjectStore:
        """The object store `bucket` (`BucketNotFoundError` when there is none)."""
        try:
            info = await self.stream_info(f"OBJ_{check_name(bucket, 'bucket name')}")
        except StreamNotFoundError:
            raise ObjectBucketNotFoundError(f"object store {bucket!r} not found") from None
        return ObjectStore(self, bucket, info)

    async def create_object_store(self, bucket: str | None = None, config: ObjectStoreConfig | None = None,
                                  **params: Any) -> ObjectStore:
        """Creates an object store (`config`, or its fields as keywords: bucket, description,
        ttl, max_bytes, storage, replicas, placement, compression, metadata)."""
        if config is None:
            config = ObjectStoreConfig(bucket=bucket or params.pop("bucket", ""), **params)
        elif bucket or params:
            config = msgspec.structs.replace(config, **({"bucket": bucket} if bucket else {}), **params)
        info = await self.add_stream(object_stream_config(config))
        return ObjectStore(self, config.bucket, info)

    async def delete_object_store(self, bucket: str) -> bool:
        try:
            return await self.delete_stream(f"OBJ_{check_name(bucket, 'bucket name')}")
        except StreamNotFoundError:
            raise ObjectBucketNotFoundError(f"object store {bucket!r} not found") from None
