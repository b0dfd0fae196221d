"""The JetStream API on `$JS.API.>` of each JetStream-enabled account, served by the account's
internal client, answered as nats-server 2.15 answers: `{"type": "io.nats.jetstream.api.v1.
<kind>_response", ...}` with its JSON shapes, or `"error": {"code", "err_code", "description"}`
with its errors (errors.py).

The account subscribes the API's own subjects (not `$JS.API.>` as a whole): as with nats-server,
a DIRECT.GET on a stream without allow_direct and a MSG.NEXT for a consumer that does not exist
find no responders, since those subjects belong to the stream and the consumer. Streams live in
JsAccount.streams (stream.py), consumers in each stream (consumer.py)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from zats.protocol.subjects import is_literal, is_subset_match, subjects_collide

from . import consumerconfig, directget, storage, streamconfig
from . import store as st
from .common import encode, has_interest, now_ns, parse_rfc3339, rfc3339
from .consumer import Consumer
from .errors import ApiError
from .stream import Stream
from .structs import (
    API_LEVEL,
    DEFAULT_INACTIVE_THRESHOLD,
    CreateConsumerRequest,
    ListRequest,
    MsgDeleteRequest,
    MsgGetRequest,
    PauseRequest,
    PurgeRequest,
    StreamConfig,
    StreamInfoRequest,
    go_error,
)

_T = "io.nats.jetstream.api.v1."
_NAMES_LIMIT = 1024
_LIST_LIMIT = 256
_MAX_SUBJECT_DETAILS = 100_000
_ADVISORY = "$JS.EVENT.ADVISORY."
_AUDIT = b"$JS.EVENT.ADVISORY.API"

# The subjects the account's API subscription takes (see the module docstring).
API_SUBJECTS = (
    b"$JS.API.*",
    b"$JS.API.STREAM.>",
    b"$JS.API.CONSUMER.CREATE.>",
    b"$JS.API.CONSUMER.DURABLE.CREATE.>",
    b"$JS.API.CONSUMER.NAMES.*",
    b"$JS.API.CONSUMER.LIST.*",
    b"$JS.API.CONSUMER.INFO.*.*",
    b"$JS.API.CONSUMER.DELETE.*.*",
    b"$JS.API.CONSUMER.PAUSE.*.*",
)


# The API's requests: (subject tokens after $JS.API) -> the kind of their answer.
KINDS = {
    (b"INFO",): "account_info_response",
    (b"STREAM", b"CREATE"): "stream_create_response",
    (b"STREAM", b"UPDATE"): "stream_update_response",
    (b"STREAM", b"INFO"): "stream_info_response",
    (b"STREAM", b"DELETE"): "stream_delete_response",
    (b"STREAM", b"NAMES"): "stream_names_response",
    (b"STREAM", b"LIST"): "stream_list_response",
    (b"STREAM", b"PURGE"): "stream_purge_response",
    (b"STREAM", b"MSG", b"GET"): "stream_msg_get_response",
    (b"STREAM", b"MSG", b"DELETE"): "stream_msg_delete_response",
    (b"CONSUMER", b"CREATE"): "consumer_create_response",
    (b"CONSUMER", b"DURABLE", b"CREATE"): "consumer_create_response",
    (b"CONSUMER", b"INFO"): "consumer_info_response",
    (b"CONSUMER", b"DELETE"): "consumer_delete_response",
    (b"CONSUMER", b"NAMES"): "consumer_names_response",
    (b"CONSUMER", b"LIST"): "consumer_list_response",
    (b"CONSUMER", b"PAUSE"): "consumer_pause_response",
}


def _optional(payload, typ):
    """An optional request body: read only when it looks like a JSON object or array (else
    ignored, as nats-server's isJSONObjectOrArray)."""
    if bytes(payload[:64]).lstrip()[:1] in (b"{", b"["):
        return _decode(payload, typ)
    return typ()


def request_of(subject: bytes) -> tuple[tuple, list[bytes]] | None:
    """The request's key in KINDS and the tokens after it, or None for other subjects."""
    tokens = subject.split(b".")[2:]
    for size in (3, 2, 1):
        key = tuple(tokens[:size])
        if key in KINDS:
            return key, tokens[size:]
    return None


def paged_empty(kind: str) -> dict:
    """What nats-server adds to an error answer of some requests (their zero values)."""
    if kind == "stream_purge_response":
        return {"purged": 0}
    if kind == "stream_info_response":
        return {"total": 0, "offset": 0, "limit": 0}
    if kind in ("stream_names_response", "stream_list_response"):
        return {"total": 0, "offset": 0, "limit": 0, "streams": None}
    if kind in ("consumer_names_response", "consumer_list_response"):
        return {"total": 0, "offset": 0, "limit": 0, "consumers": None}
    return {}


def _decode(payload, typ):
    """Decodes a request body; ApiError InvalidJSON as nats-server words it."""
    try:
        return msgspec.json.decode(payload, type=typ)
    except msgspec.ValidationError as exc:
        raise ApiError.of("InvalidJSON", err=go_error(exc)) from None
    except msgspec.DecodeError as exc:
        text = "unexpected end of JSON input" if not len(payload) else str(exc)
        raise ApiError.of("InvalidJSON", err=text) from None


class JsAccount:
    """JetStream in one account: its API, its streams and their consumers."""

    def __init__(self, service, account, client, limits: dict):
        self.service = service
        self.broker = service.broker
        self.account = account
        self.client = client
        self.limits = limits
        self.domain = service.domain
        self.streams: dict[str, Stream] = {}
        # Push consumers whose deliver subject has no subscriber, by that subject: a new
        # subscription wakes them at once (nats-py subscribes after creating the consumer).
        self.awaiting_interest: dict[bytes, Consumer] = {}
        account.listen(self._interest_changed)
        self.api_total = 0
        self.api_errors = 0
        self._handlers = {
            (b"INFO",): self._account_info,
            (b"STREAM", b"CREATE"): self._stream_create,
            (b"STREAM", b"UPDATE"): self._stream_update,
            (b"STREAM", b"INFO"): self._stream_info,
            (b"STREAM", b"DELETE"): self._stream_delete,
            (b"STREAM", b"NAMES"): self._stream_names,
            (b"STREAM", b"LIST"): self._stream_list,
            (b"STREAM", b"PURGE"): self._stream_purge,
            (b"STREAM", b"MSG", b"GET"): self._msg_get,
            (b"STREAM", b"MSG", b"DELETE"): self._msg_delete,
            (b"CONSUMER", b"CREATE"): self._consumer_create,
            (b"CONSUMER", b"DURABLE", b"CREATE"): self._consumer_create,
            (b"CONSUMER", b"INFO"): self._consumer_info,
            (b"CONSUMER", b"DELETE"): self._consumer_delete,
            (b"CONSUMER", b"NAMES"): self._consumer_names,
            (b"CONSUMER", b"LIST"): self._consumer_list,
            (b"CONSUMER", b"PAUSE"): self._consumer_pause,
        }

    def start(self) -> None:
        for subject in API_SUBJECTS:
            self.client.subscribe(subject, self.on_api)
        for cfg, created in storage.recovered_streams(self.service, self.account.name):
            try:
                self._add_stream(cfg, created, recovering=True)
            except Exception as exc:  # a stream that cannot be opened must not stop the server
                self.broker.log.error("JetStream stream %s/%s could not be recovered: %r",
                                      self.account.name, cfg.name, exc)

    def stop(self) -> None:
        for stream in list(self.streams.values()):
            stream.close(delete=False)
        self.streams.clear()

    # -- dispatch ---------------------------------------------------------------------------------

    def on_api(self, subject: bytes, reply: bytes | None, hdr, payload: memoryview) -> None:
        found = request_of(subject)
        if found is None or not reply:
            return
        key, args = found
        origin = self.broker.origin
        kind, body = self._handlers[key](args, payload, subject)
        if "error" in body:
            body = {**paged_empty(kind), **body}
        self.api_total += 1
        response = self._response(kind, body)
        self.client.publish(reply, None, response, once=True)
        if has_interest(self.client, _AUDIT):
            self._audit(origin, subject, payload, response)

    def _audit(self, origin, subject: bytes, payload, response: bytes) -> None:
        """nats-server's API audit advisory, for each API request answered."""
        body = {"type": "io.nats.jetstream.advisory.v1.api_audit",
                "server": self.broker.server_name}
        client = _client_info(origin, self.broker)
        if client is not None:
            body["client"] = client
        body["subject"] = subject.decode(errors="replace")
        if len(payload):
            body["request"] = bytes(payload).decode(errors="replace")
        body["response"] = response.decode(errors="replace")
        self.advisory(_AUDIT.decode(), body)

    def _response(self, kind: str, body: dict) -> bytes:
        return encode({"type": _T + kind, **body})

    def _error(self, exc: ApiError, extra: dict | None = None) -> dict:
        self.api_errors += 1
        return {**(extra or {}), "error": exc.to_json()}

    def _stream(self, name: bytes | str) -> Stream:
        stream = self.streams.get(name.decode(errors="replace") if isinstance(name, bytes) else name)
        if stream is None:
            raise ApiError.of("StreamNotFound")
        return stream

    # -- account ----------------------------------------------------------------------------------

    def usage(self) -> tuple[int, int, int]:
        """(memory bytes, file bytes, consumers)."""
        memory = storage = consumers = 0
        for stream in self.streams.values():
            nbytes = stream.store.state().bytes
            if stream.cfg.storage == "memory":
                memory += nbytes
            else:
                storage += nbytes
            consumers += len(stream.consumers)
        return memory, storage, consumers

    def _account_info(self, args, payload, subject):
        memory, storage, consumers = self.usage()
        lim = self.limits
        body = {"memory": memory, "storage": storage, "reserved_memory": 0, "reserved_storage": 0,
                "streams": len(self.streams), "consumers": consumers,
                "limits": {"max_memory": lim.get("max_memory", -1),
                           "max_storage": lim.get("max_storage", -1),
                           "max_streams": lim.get("max_streams", -1),
                           "max_consumers": lim.get("max_consumers", -1),
                           "max_ack_pending": lim.get("max_ack_pending", -1),
                           "memory_max_stream_bytes": -1, "storage_max_stream_bytes": -1,
                           "max_bytes_required": False},
                "api": {"level": API_LEVEL, "total": self.api_total, "errors": self.api_errors}}
        if self.domain:
            body["domain"] = self.domain
        return "account_info_response", body

    # -- streams ----------------------------------------------------------------------------------

    def _stream_info_body(self, stream: Stream, deleted=False, subjects_filter="",
                          cluster: bool = True) -> dict:
        info = stream.info(deleted, subjects_filter)
        if cluster:
            info["cluster"] = self._cluster_json()
        if self.domain:
            info["domain"] = self.domain
        info["ts"] = rfc3339(now_ns())
        return info

    def _cluster_json(self) -> dict:
        out = {}
        cluster = self.broker.cluster
        if cluster is not None and cluster.name:
            out["name"] = cluster.name
        out["leader"] = self.broker.server_name
        return out

    def _check_create(self, args, payload, creating: bool = False) -> StreamConfig:
        try:
            cfg = _decode(payload, StreamConfig)
        finally:
            streamconfig.check_enums_raw(payload)  # the first error in document order
        name = args[0].decode(errors="replace") if args else ""
        if cfg.name and cfg.name != name:
            raise ApiError.of("StreamMismatch")
        cfg.name = name
        streamconfig.check_enums(cfg)
        if any(c in name for c in "/\\"):
            raise ApiError.of("StreamNameContainsPathSeparators")
        if creating and cfg.sealed:
            raise ApiError.of("StreamInvalidConfig",
                              err="stream configuration for create can not be sealed")
        cfg = streamconfig.check(cfg, self.broker.options.max_payload)
        if creating:
            streamconfig.check_single_replica(cfg)
        return cfg

    def _stream_create(self, args, payload, subject):
        kind = "stream_create_response"
        try:
            cfg = self._check_create(args, payload, creating=True)
            existing = self.streams.get(cfg.name)
            if existing is not None:
                if not streamconfig.same_config(existing.cfg, cfg):
                    raise ApiError.of("StreamNameExist")
                return kind, {**existing.info(), "ts": rfc3339(now_ns()), "did_create": True}
            stream = self._add_stream(cfg, now_ns())
        except ApiError as exc:
            return kind, self._error(exc)
        return kind, {**stream.info(), "ts": rfc3339(now_ns()), "did_create": True}

    def _add_stream(self, cfg: StreamConfig, created: int, recovering: bool = False) -> Stream:
        lim = self.limits
        if not recovering:
            if lim.get("max_streams", -1) > 0 and len(self.streams) >= lim["max_streams"]:
                raise ApiError.of("MaximumStreamsLimit")
            self._check_overlap(cfg)
            self._check_resources(cfg)
        store = storage.open_stream_store(self.service, self.account.name, cfg, self.client)
        stream = Stream(self, cfg, store, created)
        self.streams[cfg.name] = stream
        if not recovering:
            storage.save_stream_meta(store, cfg, created)
        stream.subscribe()
        if cfg.allow_direct:
            self._direct_subscribe(stream)
        if recovering:
            for cs, ccfg, ccreated in storage.recovered_consumers(store):
                try:
                    self._add_consumer(stream, cs.name, ccfg, ccreated, durable=True, cstore=cs)
                except Exception as exc:
                    self.broker.log.error("JetStream consumer %s > %s could not be recovered: %r",
                                          cfg.name, cs.name, exc)
        else:
            self.advisory_stream(cfg.name, "CREATED", "create")
        return stream

    def _check_overlap(self, cfg: StreamConfig, skip: str = "") -> None:
        for other in self.streams.values():
            if other.name == skip or other.name == cfg.name:
                continue
            for a in cfg.subjects:
                for b in other.cfg.subjects:
                    if subjects_collide(a.encode(), b.encode()):
                        raise ApiError.of("StreamSubjectOverlap")

    def _check_resources(self, cfg: StreamConfig) -> None:
        service = self.service
        limit = service.max_memory if cfg.storage == "memory" else service.max_file
        if limit > 0 and cfg.max_bytes > limit:
            raise ApiError.of("StorageResourcesExceeded")
        acc_limit = self.limits.get("max_memory" if cfg.storage == "memory" else "max_storage", -1)
        if acc_limit > 0 and cfg.max_bytes > acc_limit:
            raise ApiError.of("StorageResourcesExceeded")

    def _direct_subscribe(self, stream: Stream) -> None:
        base = b"$JS.API.DIRECT.GET." + stream.name.encode()
        stream.direct_subs = [self.client.subscribe(base, self._direct_get(stream, False)),
                              self.client.subscribe(base + b".>", self._direct_get(stream, True))]

    def _direct_unsubscribe(self, stream: Stream) -> None:
        for sub in stream.direct_subs:
            self.client.remove_sub(sub)
        stream.direct_subs = []

    def _stream_update(self, args, payload, subject):
        kind = "stream_update_response"
        try:
            cfg = self._check_create(args, payload)
            stream = self._stream(cfg.name)
            streamconfig.check_single_replica(cfg)
            old = stream.cfg
            if cfg.num_replicas != old.num_replicas:
                raise ApiError.of("StreamReplicasNotUpdatable")
            streamconfig.check_update(old, cfg)
            self._check_overlap(cfg, skip=cfg.name)
            had_direct = old.allow_direct
            stream.update(cfg)
            if had_direct != cfg.allow_direct:
                (self._direct_subscribe if cfg.allow_direct else self._direct_unsubscribe)(stream)
            storage.save_stream_meta(stream.store, cfg, stream.created)
            self.advisory_stream(cfg.name, "UPDATED", "modify")
        except ApiError as exc:
            return kind, self._error(exc)
        return kind, self._stream_info_body(stream, cluster=False)

    def _stream_info(self, args, payload, subject):
        kind = "stream_info_response"
        paged = {"total": 0, "offset": 0, "limit": 0}
        try:
            req = _optional(payload, StreamInfoRequest)
            stream = self._stream(args[0] if args else b"")
        except ApiError as exc:
            return kind, self._error(exc, paged)
        info = self._stream_info_body(stream, req.deleted_details, req.subjects_filter)
        if req.subjects_filter:  # the subjects are paged
            paged = {"total": len(info["state"].get("subjects", ())), "offset": req.offset,
                     "limit": _MAX_SUBJECT_DETAILS}
        return kind, {**paged, **info}

    def _stream_delete(self, args, payload, subject):
        kind = "stream_delete_response"
        try:
            stream = self._stream(args[0] if args else b"")
        except ApiError as exc:
            return kind, self._error(exc)
        self.delete_stream(stream)
        return kind, {"success": True}

    def delete_stream(self, stream: Stream) -> None:
        self._direct_unsubscribe(stream)
        self.streams.pop(stream.name, None)
        stream.close(delete=True)
        self.advisory_stream(stream.name, "DELETED", "delete")

    def _list_request(self, payload) -> ListRequest:
        return _optional(payload, ListRequest)

    def _selected_streams(self, req: ListRequest) -> list[Stream]:
        streams = sorted(self.streams.values(), key=lambda s: s.name)
        if req.subject:
            filt = req.subject.encode()
            streams = [s for s in streams
                       if any(subjects_collide(filt, x.encode()) for x in s.cfg.subjects)]
        return streams

    def _stream_names(self, args, payload, subject):
        kind = "stream_names_response"
        try:
            req = self._list_request(payload)
        except ApiError as exc:
            return kind, self._error(exc)
        streams = self._selected_streams(req)
        page = streams[req.offset:req.offset + _NAMES_LIMIT]
        return kind, {"total": len(streams), "offset": req.offset, "limit": _NAMES_LIMIT,
                      "streams": [s.name for s in page] or None}

    def _stream_list(self, args, payload, subject):
        kind = "stream_list_response"
        try:
            req = self._list_request(payload)
        except ApiError as exc:
            return kind, self._error(exc)
        streams = self._selected_streams(req)
        page = streams[req.offset:req.offset + _LIST_LIMIT]
        return kind, {"total": len(streams), "offset": req.offset, "limit": _LIST_LIMIT,
                      "streams": [self._stream_info_body(s) for s in page], "missing": None}

    def _stream_purge(self, args, payload, subject):
        kind = "stream_purge_response"
        try:
            req = _optional(payload, PurgeRequest)  # checked before the stream is looked up
            if req.seq > 0 and req.keep > 0:
                raise ApiError.of("BadRequest")
            stream = self._stream(args[0] if args else b"")
            if stream.cfg.sealed:
                raise ApiError.of("StreamSealed")
            if stream.cfg.deny_purge:
                raise ApiError.of("StreamPurgeFailed", err="stream purge not permitted")
            purged = stream.purge(req)
        except ApiError as exc:
            return kind, self._error(exc)
        self.retention_check(stream)
        return kind, {"success": True, "purged": purged}

    def _msg_get(self, args, payload, subject):
        kind = "stream_msg_get_response"
        try:
            # nats-server checks the request before it looks the stream up.
            if not bytes(payload).strip():
                raise ApiError.of("BadRequest")
            req = _decode(payload, MsgGetRequest)
            if req.batch > 0 or req.max_bytes > 0 or \
                    (req.seq and (req.last_by_subj or req.start_time)) or \
                    (req.last_by_subj and (req.next_by_subj or req.start_time)) or \
                    not (req.seq or req.last_by_subj or req.next_by_subj or req.start_time):
                raise ApiError.of("BadRequest")
            stream = self._stream(args[0] if args else b"")
            sm = stream.get_msg(req)
        except ApiError as exc:
            return kind, self._error(exc)
        return kind, {"message": stream.message_json(sm, req.no_hdr)}

    def _msg_delete(self, args, payload, subject):
        kind = "stream_msg_delete_response"
        try:
            if not bytes(payload).strip():  # checked before the stream is looked up
                raise ApiError.of("BadRequest")
            req = _decode(payload, MsgDeleteRequest)
            stream = self._stream(args[0] if args else b"")
            if stream.cfg.sealed:
                raise ApiError.of("StreamSealed")
            if stream.cfg.deny_delete:
                raise ApiError.of("StreamMsgDeleteFailed", err="message delete not permitted")
            _check_file_store_range(stream, req.seq)
            if not stream.delete_msg(req.seq, req.no_erase):
                raise ApiError.of("SequenceNotFound", seq=req.seq)
        except ApiError as exc:
            return kind, self._error(exc)
        self.retention_check(stream)
        return kind, {"success": True}

    def _direct_get(self, stream: Stream, by_subject: bool):
        def on_request(subject: bytes, reply: bytes | None, hdr, payload: memoryview) -> None:
            if not reply:
                return
            client = self.client

            def out(hdr_out: bytes, data: bytes) -> None:
                # `once`: a request's inbox, its match not cached (see InternalClient.publish)
                client.publish(reply, None, data, hdr_out or None, once=True)

            req = directget.parse(subject, payload, by_subject)
            if isinstance(req, bytes):
                return out(req, b"")
            directget.answer(stream, req, out)

        return on_request

    def _interest_changed(self, account, sub, delta: int) -> None:
        if delta <= 0 or not self.awaiting_interest:
            return
        subject = bytes(sub.subject)
        if subject in self.awaiting_interest:
            self.awaiting_interest[subject].on_interest()
        elif not is_literal(subject):
            for deliver, consumer in list(self.awaiting_interest.items()):
                if is_subset_match(deliver, subject):
                    consumer.on_interest()

    # -- consumers --------------------------------------------------------------------------------

    def _consumer_create(self, args, payload, subject):
        kind = "consumer_create_response"
        try:
            try:
                req = _decode(payload, CreateConsumerRequest)
            finally:
                consumerconfig.check_enums_raw(payload)  # the first error in document order
            if req.config is not None:
                consumerconfig.check_enums(req.config)
            legacy = subject.startswith(b"$JS.API.CONSUMER.DURABLE.")
            stream_name = args[0].decode(errors="replace") if args else ""
            consumer_name = ""
            filtered = ""
            if legacy:
                if len(args) < 2:
                    raise ApiError.of("ConsumerDurableNameNotInSubject")
                consumer_name = args[1].decode(errors="replace")
            elif len(args) >= 2:
                consumer_name = args[1].decode(errors="replace")
                if len(args) > 2:
                    filtered = b".".join(args[2:]).decode(errors="replace")
            elif req.config is not None and req.config.name is not UNSET:
                consumer_name = req.config.name
            if stream_name != req.stream_name:
                raise ApiError.of("StreamMismatch")
            if consumer_name and any(c in consumer_name for c in "\\/"):
                raise ApiError.of("ConsumerNameContainsPathSeparators")
            cfg = req.config
            if cfg is None:
                raise ApiError.of("ConsumerConfigRequired")
            if legacy:
                if cfg.durable_name is UNSET or not cfg.durable_name:
                    raise ApiError.of("ConsumerDurableNameNotSet")
                if cfg.durable_name != consumer_name:
                    raise ApiError.of("ConsumerDurableNameNotMatchSubject")
                cfg.name = consumer_name
            elif len(args) >= 2:
                if cfg.durable_name not in (UNSET, "") and cfg.durable_name != consumer_name:
                    raise ApiError.of("ConsumerDurableNameNotMatchSubject")
                cfg.name = consumer_name
            elif cfg.durable_name not in (UNSET, ""):
                raise ApiError.of("ConsumerEphemeralWithDurableName")
            if filtered and cfg.filter_subjects not in (UNSET, None) and cfg.filter_subjects:
                raise ApiError.of("ConsumerMultipleFiltersNotAllowed")
            if filtered and cfg.filter_subject != filtered:
                raise ApiError.of("ConsumerCreateFilterSubjectMismatch")
            if cfg.num_replicas > 1:
                raise ApiError.of("StreamReplicasNotSupported")
            stream = self._stream(stream_name)
            consumer = self._create_or_update(stream, cfg, req.action)
        except ApiError as exc:
            return kind, self._error(exc)
        return kind, {**consumer.info(), "ts": rfc3339(now_ns())}

    def _create_or_update(self, stream: Stream, cfg, action: str) -> Consumer:
        cfg = consumerconfig.set_defaults(cfg, stream.cfg)
        consumerconfig.check(cfg, stream.cfg)
        durable = cfg.durable_name is not UNSET
        name = cfg.name if cfg.name is not UNSET else (cfg.durable_name if durable else "")
        if not durable and cfg.inactive_threshold is UNSET:
            cfg.inactive_threshold = DEFAULT_INACTIVE_THRESHOLD
        if durable:
            cfg.name = name
        existing = stream.consumers.get(name) if name else None
        if existing is not None:
            new_cfg = consumerconfig.with_metadata(cfg)
            if _same(existing.cfg, new_cfg):
                return existing
            if action == "create":
                raise ApiError.of("ConsumerAlreadyExists")
            consumerconfig.check_update(existing.cfg, new_cfg)
            existing.update(new_cfg)
            return existing
        if action == "update":
            raise ApiError.of("ConsumerDoesNotExist")
        if stream.cfg.retention == "workqueue":
            self._check_workqueue(stream, cfg)
        limit = stream.cfg.max_consumers
        acc_limit = self.limits.get("max_consumers", -1)
        if (limit > 0 and len(stream.consumers) >= limit) or \
                (acc_limit > 0 and self.usage()[2] >= acc_limit):
            raise ApiError.of("MaximumConsumersLimit")
        if not name:  # an ephemeral without a name: its config keeps none (as nats-server)
            name = self.service.new_name()
        return self._add_consumer(stream, name, cfg, now_ns(), durable)

    def _check_workqueue(self, stream: Stream, cfg) -> None:
        """A new consumer of a workqueue stream (an existing one's update gets the update
        checks instead, as nats-server's)."""
        if cfg.ack_policy != "explicit":
            raise ApiError.of("ConsumerWQRequiresExplicitAck")
        if cfg.deliver_policy != "all":
            raise ApiError.of("ConsumerWQConsumerNotDeliverAll")
        filters = _effective_filters(cfg, stream)
        for other in stream.consumers.values():
            theirs = _effective_filters(other.cfg, stream)
            if not consumerconfig.filters_of(cfg):
                # No filter given, beside any other consumer (one filtering on the whole
                # stream or not): nats-server's "multiple non-filtered" refusal.
                raise ApiError.of("ConsumerWQMultipleUnfiltered")
            if not filters or not theirs or any(
                    subjects_collide(a.encode(), b.encode()) for a in filters for b in theirs):
                raise ApiError.of("ConsumerWQConsumerNotUnique")

    def _add_consumer(self, stream: Stream, name: str, cfg, created: int, durable: bool,
                      cstore=None) -> Consumer:
        """A new consumer, or (with `cstore`) one a restart recovered with its state."""
        cfg = consumerconfig.with_metadata(cfg)
        consumer = Consumer(stream, name, cfg, created, durable)
        stream.consumers[name] = consumer
        stream.consumers_changed()
        if cstore is None:
            consumer.store = stream.store.consumer_store(
                name, created, storage.consumer_store_config(cfg), storage.consumer_metadata(consumer))
            consumer.start()
            self.advisory_consumer(consumer, "CREATED", "create")
        else:
            consumer.store = cstore
            consumer.start(cstore.state())
        return consumer

    def _consumer(self, args) -> tuple[Stream, Consumer]:
        stream = self._stream(args[0] if args else b"")
        name = args[1].decode(errors="replace") if len(args) > 1 else ""
        consumer = stream.consumers.get(name)
        if consumer is None:
            raise ApiError.of("ConsumerNotFound")
        return stream, consumer

    def _consumer_info(self, args, payload, subject):
        kind = "consumer_info_response"
        try:
            _, consumer = self._consumer(args)
        except ApiError as exc:
            return kind, self._error(exc)
        return kind, {**consumer.info(), "ts": rfc3339(now_ns())}

    def _consumer_delete(self, args, payload, subject):
        kind = "consumer_delete_response"
        try:
            stream, consumer = self._consumer(args)
        except ApiError as exc:
            return kind, self._error(exc)
        self.delete_consumer(stream, consumer)
        return kind, {"success": True}

    def delete_consumer(self, stream: Stream, consumer: Consumer) -> None:
        consumer.close(delete=True)
        cs = consumer.store
        if cs is not None:
            cs.delete()
            stream.store.remove_consumer(cs)

    def _consumer_names(self, args, payload, subject):
        kind = "consumer_names_response"
        try:
            req = self._list_request(payload)
            stream = self._stream(args[0] if args else b"")
        except ApiError as exc:
            return kind, self._error(exc)
        names = sorted(stream.consumers)
        page = names[req.offset:req.offset + _NAMES_LIMIT]
        return kind, {"total": len(names), "offset": req.offset, "limit": _NAMES_LIMIT,
                      "consumers": page}

    def _consumer_list(self, args, payload, subject):
        kind = "consumer_list_response"
        try:
            req = self._list_request(payload)
            stream = self._stream(args[0] if args else b"")
        except ApiError as exc:
            return kind, self._error(exc)
        consumers = [stream.consumers[n] for n in sorted(stream.consumers)]
        page = consumers[req.offset:req.offset + _LIST_LIMIT]
        now = rfc3339(now_ns())
        return kind, {"total": len(consumers), "offset": req.offset, "limit": _LIST_LIMIT,
                      "consumers": [{**c.info(), "ts": now} for c in page], "missing": None}

    def _consumer_pause(self, args, payload, subject):
        kind = "consumer_pause_response"
        try:
            _, consumer = self._consumer(args)
            req = _decode(payload, PauseRequest) if len(payload) else PauseRequest()
            until = parse_rfc3339(req.pause_until) if req.pause_until else 0
        except ValueError as exc:
            return kind, self._error(ApiError.of("InvalidJSON", err=str(exc)))
        except ApiError as exc:
            return kind, self._error(exc)
        consumer.set_pause(until)
        now = now_ns()
        body = {"paused": bool(until and until > now), "pause_until": rfc3339(until)}
        if until > now:
            body["pause_remaining"] = until - now
        return kind, body

    # -- stream events --------------------------------------------------------------------------

    def stored(self, stream: Stream, seq: int, subject: bytes) -> None:
        """A message was stored: the consumers whose filters take it deliver it (nats-server
        signals no other: a KV bucket's put wakes the watchers of its key, not every watcher).
        The stream calls it only when it has consumers."""
        for consumer in stream.consumers_taking(subject):
            consumer.wake()

    def acked(self, stream: Stream, consumer: Consumer, seqs: list[int]) -> None:
        retention = stream.cfg.retention
        if retention == "workqueue":
            for seq in seqs:
                stream.store.remove_msg(seq)
        elif retention == "interest":
            self._drop_if_unwanted(stream, seqs, None)

    def _drop_if_unwanted(self, stream: Stream, seqs: list[int], subject: bytes | None) -> None:
        consumers = list(stream.consumers.values())
        for seq in seqs:
            subj = subject
            if subj is None:
                try:
                    subj = stream.store.subject_for_seq(seq)
                except st.StoreError:
                    continue
            if not any(c.needs(seq, subj) for c in consumers):
                stream.store.remove_msg(seq)

    def retention_check(self, stream: Stream) -> None:
        """After a consumer went away or changed its filters: an interest stream drops what no
        consumer still needs."""
        if stream.cfg.retention != "interest" or stream.closed:
            return
        store = stream.store
        if not stream.consumers:
            # The last one: nats-server purges the stream (an empty one too, whose first
            # sequence then moves past its last, as any purge's).
            store.purge()
            return
        state = store.state()
        consumers = list(stream.consumers.values())
        seq = state.first_seq
        while seq and seq <= state.last_seq:
            try:
                sm = store.load_next_msg(b"", seq)
            except Exception:
                break
            if not any(c.needs(sm.seq, sm.subject) for c in consumers):
                store.remove_msg(sm.seq)
            seq = sm.seq + 1

    # -- advisories -------------------------------------------------------------------------------

    def advisory(self, subject: str, body: dict) -> None:
        body = {"type": body.pop("type"), "id": self.service.new_name(22),
                "timestamp": rfc3339(now_ns()), **body}
        if self.domain:
            body["domain"] = self.domain
        self.client.publish(subject.encode(), None, encode(body))

    def advisory_stream(self, name: str, event: str, action: str) -> None:
        self.advisory(f"{_ADVISORY}STREAM.{event}.{name}", {
            "type": "io.nats.jetstream.advisory.v1.stream_action", "stream": name,
            "action": action})

    def advisory_consumer(self, consumer: Consumer, event: str, action: str) -> None:
        self.advisory(f"{_ADVISORY}CONSUMER.{event}.{consumer.stream.name}.{consumer.name}", {
            "type": "io.nats.jetstream.advisory.v1.consumer_action",
            "stream": consumer.stream.name, "consumer": consumer.name, "action": action})

    def advisory_pause(self, consumer: Consumer, paused: bool) -> None:
        body = {"type": "io.nats.jetstream.advisory.v1.consumer_pause",
                "stream": consumer.stream.name, "consumer": consumer.name, "paused": paused}
        if paused:
            body["pause_until"] = rfc3339(consumer.pause_until)
        self.advisory(f"{_ADVISORY}CONSUMER.PAUSE.{consumer.stream.name}.{consumer.name}", body)


def _effective_filters(cfg, stream: Stream) -> list[str]:
    """A consumer's filters, none when they take every subject of the stream (nats-server
    counts such a consumer as unfiltered)."""
    filters = consumerconfig.filters_of(cfg)
    raw = [f.encode() for f in filters]
    if filters and all(consumerconfig.is_subset(s.encode(), raw) for s in stream.cfg.subjects):
        return []
    return filters


def _client_info(conn, broker) -> dict | None:
    """The requesting client as nats-server describes it in advisories (ClientInfo)."""
    start = getattr(conn, "start", None)
    if start is None:
        return None
    out = {"start": rfc3339(int(start * 1e9)), "host": conn.ip, "id": conn.cid,
           "acc": conn.account.name}
    opts = conn.connect_opts
    if opts is not None:
        if opts.lang:
            out["lang"] = opts.lang
        if opts.version:
            out["ver"] = opts.version
    out.update({"server": broker.server_name, "kind": "Client", "client_type": "nats"})
    return out


def _same(a, b) -> bool:
    return msgspec.structs.asdict(a) == msgspec.structs.asdict(b)


def _check_file_store_range(stream: Stream, seq: int) -> None:
    """nats-server's file store fails a delete outside the stored range with the store's error
    (sequence 0 or before the first: "no message found"; after the last: "stream store EOF"),
    where its memory store, like an interior gap, answers "sequence N not found"."""
    if stream.cfg.storage != "file":
        return
    state = stream.store.state()
    if seq == 0 or seq < state.first_seq or seq > state.last_seq or not state.msgs:
        text = "stream store EOF" if seq > state.last_seq else "no message found"
        raise ApiError.of("StreamMsgDeleteFailed", err=text)
