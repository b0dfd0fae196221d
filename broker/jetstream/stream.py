"""A stream: the messages published on its subjects, captured by an internal subscription of the
account's JetStream client (so routes and leafnodes see the interest as a client's) and kept in a
store (store.py's interface: memory or file). Publishes are checked as nats-server checks them
(sealed, Nats-Expected-*, Nats-Msg-Id duplicates, Nats-Rollup, Nats-TTL, sizes, discard new) and
answered with nats-server's PubAck `{"stream", "seq"[, "duplicate"]}` or its error when they carry
a reply subject. Stored messages wake the stream's consumers."""

from __future__ import annotations

import base64
import collections
import json

from . import store as st
from .common import encode, header_value, now_ns, rfc3339
from .consumerconfig import is_subset
from .errors import ApiError
from .structs import PurgeRequest, StreamConfig

_MSG_ID = b"Nats-Msg-Id"
_EXP_STREAM = b"Nats-Expected-Stream"
_EXP_LAST_SEQ = b"Nats-Expected-Last-Sequence"
_EXP_LAST_SUBJ_SEQ = b"Nats-Expected-Last-Subject-Sequence"
_EXP_LAST_SUBJ_SEQ_SUBJ = b"Nats-Expected-Last-Subject-Sequence-Subject"
_EXP_LAST_MSG_ID = b"Nats-Expected-Last-Msg-Id"
_ROLLUP = b"Nats-Rollup"
_TTL = b"Nats-TTL"
_MAX_HEADER = 64 * 1024
_TAKING_CACHE = 4096  # subjects whose consumers `consumers_taking` keeps (then it starts over)

_LIMIT_ERRORS = {
    st.MaxMsgsExceeded: "maximum messages exceeded",
    st.MaxBytesExceeded: "maximum bytes exceeded",
    st.MaxMsgsPerSubjectExceeded: "maximum messages per subject exceeded",
    st.MsgTooLarge: "message size exceeds maximum allowed",
}


def store_config(cfg: StreamConfig) -> st.StoreConfig:
    return st.StoreConfig(
        name=cfg.name,
        storage=st.StorageType.FILE if cfg.storage == "file" else st.StorageType.MEMORY,
        max_msgs=cfg.max_msgs, max_bytes=cfg.max_bytes, max_age=cfg.max_age,
        max_msgs_per_subject=cfg.max_msgs_per_subject, max_msg_size=cfg.max_msg_size,
        discard=st.DiscardPolicy.NEW if cfg.discard == "new" else st.DiscardPolicy.OLD,
        discard_new_per_subject=cfg.discard_new_per_subject is True,
        allow_msg_ttl=cfg.allow_msg_ttl,
        subject_delete_marker_ttl=cfg.subject_delete_marker_ttl or 0)


def parse_ttl(value: bytes) -> int:
    """A Nats-TTL header as seconds (-1: never); ValueError when invalid. Takes "never", a
    number of seconds or a Go duration of at least one second."""
    text = value.decode(errors="replace").strip()
    if text == "never":
        return -1
    if text.isdigit():
        secs = int(text)
    else:
        from ..durations import parse_duration
        try:
            secs = parse_duration(text)
        except Exception:
            raise ValueError(text) from None
        if secs < 1:
            raise ValueError(text)
        secs = int(secs)
    if secs <= 0:
        raise ValueError(text)
    return secs


class Stream:
    """One stream of an account (see JsAccount in api.py)."""

    def __init__(self, jsa, cfg: StreamConfig, store: st.StreamStore, created: int):
        self.jsa = jsa
        self.client = jsa.client  # the account's internal client: subscribes, answers
        self._configure(cfg)
        self.store = store
        self.created = created
        self.consumers: dict[str, object] = {}
        # subject -> the consumers whose filters take it: a stored message concerns only those
        # (nats-server signals no other). Emptied whenever a consumer comes, goes or refilters.
        self._taking: dict[bytes, tuple] = {}
        self.subs = []
        self.direct_subs: list = []  # the DIRECT.GET subscriptions (JsAccount's)
        # Nats-Msg-Id -> (seq, ts), oldest first, for the duplicate window.
        self.dedupe: collections.OrderedDict[bytes, tuple[int, int]] = collections.OrderedDict()
        self.last_msg_id = b""
        self.closed = False
        # A file stream answers publishes once the store has written them: the answers wait
        # here, in order, for the end of the read that brought them (or of the loop
        # iteration: InternalClient.defer), then the store writes, then they leave.
        self._answers: list[tuple[bytes, bytes, int]] | None = (
            [] if store.type == st.StorageType.FILE else None)
        store.register_storage_updates(self._on_storage_update)
        store.register_process_msg(self._on_marker)
        # A PubAck's opening: a stream keeps its name for life.
        self._ack_head = b'{"stream":%s,"seq":' % encode(cfg.name)

    def _configure(self, cfg: StreamConfig) -> None:
        """Takes `cfg` on, and what a publish reads of it, as plain fields: `_ack_tails`, the
        ends of a PubAck (stored, duplicate; None under no_ack), `_max_msg_size` (0: none),
        `_sealed` and `_interest` (interest retention)."""
        self.cfg = cfg
        domain = self.jsa.domain
        where = b',"domain":' + encode(domain) if domain else b""
        self._ack_tails = None if cfg.no_ack is True else (where + b"}", where + b',"duplicate": true}')
        self._max_msg_size = cfg.max_msg_size if cfg.max_msg_size > 0 else 0
        self._sealed = bool(cfg.sealed)
        self._interest = cfg.retention == "interest"

    @property
    def name(self) -> str:
        return self.cfg.name

    # -- lifecycle --------------------------------------------------------------------------------

    def subscribe(self) -> None:
        client = self.client
        for subject in self.cfg.subjects:
            self.subs.append(client.subscribe(subject.encode(), self.on_publish))

    def unsubscribe(self) -> None:
        for sub in self.subs:
            self.client.remove_sub(sub)
        self.subs = []

    def update(self, cfg: StreamConfig) -> None:
        subjects_changed = cfg.subjects != self.cfg.subjects
        self._configure(cfg)
        self.store.update_config(store_config(cfg))
        if subjects_changed:
            self.unsubscribe()
            self.subscribe()
        for consumer in list(self.consumers.values()):
            consumer.wake()

    def close(self, delete: bool) -> None:
        self.closed = True
        self.unsubscribe()
        for consumer in list(self.consumers.values()):
            consumer.close(delete=False, notify=delete)
        self.consumers.clear()
        self.consumers_changed()
        if delete:
            self.store.delete()
        else:
            self.store.stop()

    # -- publishing -------------------------------------------------------------------------------

    def on_publish(self, subject: bytes, reply: bytes | None, hdr: bytes | None,
                   payload: memoryview) -> None:
        try:
            seq, duplicate = self._store(subject, hdr, payload)
        except ApiError as exc:
            if reply:
                self._answer(reply, encode({"error": exc.to_json(), "stream": self.name, "seq": 0}), 0)
            return
        tails = self._ack_tails
        if reply and tails is not None:
            # (Compiled, seq is a C integer whose digits the f-string writes in C, and one join
            # makes the body: half the cost of a bytes % format.)
            self._answer(reply, b"".join((self._ack_head, f"{seq}".encode("ascii"), tails[duplicate])),
                         0 if duplicate else seq)

    def _on_marker(self, subject: bytes, hdr: bytes) -> None:
        """The store expired the last message of `subject` on a stream with
        subject_delete_marker_ttl: the marker (Nats-Marker-Reason, Nats-TTL, Nats-Rollup) is
        stored as a publish, after the store's expiry pass, so consumers and KV watchers see
        it as nats-server's."""
        def store_marker() -> None:
            if not self.closed:
                self.on_publish(subject, None, hdr, memoryview(b""))
        self.jsa.service.loop.call_soon(store_marker)

    def _answer(self, reply: bytes, body: bytes, seq: int) -> None:
        """Answers a publish; `seq`: the sequence it stored (0: nothing stored)."""
        answers = self._answers
        if answers is None:
            self.client.publish(reply, None, body, once=True)
            return
        if not answers:
            self.client.defer(self._send_answers)
        answers.append((reply, body, seq))

    def _send_answers(self) -> None:
        answers, self._answers = self._answers, []
        if self.closed:
            return
        try:
            self.store.flush()
        except st.StoreError as exc:
            # The store took the failed batch out again: none of it may be acknowledged, and
            # its Nats-Msg-Ids are not duplicates of anything.
            full = isinstance(exc, st.StorageFull)
            lost = exc.first_lost if full and exc.first_lost else 1
            error = ApiError.of("InsufficientResources") if full else \
                ApiError.of("StreamStoreFailed", err=str(exc) or type(exc).__name__)
            failed = encode({"error": error.to_json(), "stream": self.name, "seq": 0})
            answers = [(reply, failed if seq >= lost else body, seq) for reply, body, seq in answers]
            for msg_id in [k for k, (seq, _) in self.dedupe.items() if seq >= lost]:
                del self.dedupe[msg_id]
        self.client.publish_answers(answers)

    def _store(self, subject: bytes, hdr: bytes | None, payload: memoryview) -> tuple[int, bool]:
        """Checks and stores a publish; returns (seq, duplicate). Raises ApiError."""
        cfg = self.cfg
        if self._sealed:
            raise ApiError.of("StreamSealed")
        ttl = 0
        msg_id = None
        rollup = None
        # The size first, as nats-server: an oversized publish gets this error whatever its
        # headers ask (expected sequences, rollup, TTL) and is no duplicate of anything.
        size = len(payload) + (len(hdr) if hdr else 0)
        if size > self.client.broker.options.max_payload or (
                self._max_msg_size and size > self._max_msg_size):
            raise ApiError.of("StreamMessageExceedsMaximum")
        if hdr:
            if len(hdr) > _MAX_HEADER:
                raise ApiError.of("StreamHeaderExceedsMaximum")
            expected = header_value(hdr, _EXP_STREAM)
            if expected is not None and expected and expected.decode(errors="replace") != self.name:
                raise ApiError.of("StreamNotMatch")
            raw_ttl = header_value(hdr, _TTL)
            if raw_ttl is not None:
                try:
                    ttl = parse_ttl(raw_ttl)
                except ValueError:
                    ttl = None
                if not cfg.allow_msg_ttl and ttl != 0:
                    raise ApiError.of("MessageTTLDisabled")
                if ttl is None:
                    raise ApiError.of("MessageTTLInvalid")
            self._check_expected_seqs(subject, hdr)
            msg_id = header_value(hdr, _MSG_ID)
            if msg_id:
                self._expire_dedupe()
                seen = self.dedupe.get(msg_id)
                if seen is not None:
                    return seen[0], True
            last_id = header_value(hdr, _EXP_LAST_MSG_ID)
            if last_id and last_id != self.last_msg_id:
                raise ApiError.of("StreamWrongLastMsgID", id=self.last_msg_id.decode(errors="replace"))
            rollup = header_value(hdr, _ROLLUP)
            if rollup:
                if not cfg.allow_rollup_hdrs or cfg.deny_purge:
                    raise ApiError.of("StreamRollupFailed", err="rollup not permitted")
                if rollup not in (b"sub", b"all"):
                    raise ApiError.of("StreamRollupFailed",
                                      err=f"rollup value invalid: {json.dumps(rollup.decode(errors='replace'))}")
        if self._interest and not self.consumers_taking(subject):
            # No consumer would see it: nats-server uses up the sequence and stores nothing.
            seq = self.store.skip_msg()
            if msg_id:  # still a duplicate for later publishes, as nats-server's
                self.dedupe[msg_id] = (seq, now_ns())
            self.last_msg_id = msg_id or b""
            return seq, False
        try:
            if type(payload) is not bytes:  # (bytes() of bytes is no copy, but still a call)
                payload = bytes(payload)
            seq, ts = self.store.store_msg(subject, hdr or None, payload, ttl)
        except tuple(_LIMIT_ERRORS) as exc:
            raise ApiError.of("StreamStoreFailed", err=_LIMIT_ERRORS[type(exc)]) from None
        except st.StorageFull:
            raise ApiError.of("InsufficientResources") from None
        except st.StoreError as exc:
            raise ApiError.of("StreamStoreFailed", err=str(exc) or type(exc).__name__) from None
        if msg_id:
            self.dedupe[msg_id] = (seq, ts)
        self.last_msg_id = msg_id or b""
        if rollup:
            # A purge up to the new message (of its subject for "sub"), consumers included, as
            # nats-server's rollup: what they had pending below it counts as acknowledged.
            self.purge(PurgeRequest(filter=subject.decode() if rollup == b"sub" else "", seq=seq))
        if self.consumers:  # the account wakes those whose filters take it
            self.jsa.stored(self, seq, subject)
        return seq, False

    def _check_expected_seqs(self, subject: bytes, hdr: bytes) -> None:
        raw = header_value(hdr, _EXP_LAST_SUBJ_SEQ)
        if raw:
            want = _expected_seq(raw)
            filt = header_value(hdr, _EXP_LAST_SUBJ_SEQ_SUBJ) or subject
            try:
                have = self.store.load_last_msg(filt).seq
            except st.StoreError:
                have = 0
            if have != want:
                raise ApiError.of("StreamWrongLastSequence", seq=have)
        elif header_value(hdr, _EXP_LAST_SUBJ_SEQ_SUBJ):
            raise ApiError.of("StreamExpectedLastSeqPerSubjectInvalid")
        raw = header_value(hdr, _EXP_LAST_SEQ)
        if raw:
            last = self.store.state().last_seq
            if _expected_seq(raw) != last:
                raise ApiError.of("StreamWrongLastSequence", seq=last)

    def _expire_dedupe(self) -> None:
        horizon = now_ns() - (self.cfg.duplicate_window or 0)
        dedupe = self.dedupe
        while dedupe:
            key, (_, ts) = next(iter(dedupe.items()))
            if ts >= horizon:
                break
            del dedupe[key]

    def consumers_changed(self) -> None:
        """A consumer was added or removed, or changed its filters."""
        self._taking.clear()

    def consumers_taking(self, subject: bytes) -> tuple:
        """The consumers whose filters take a message on `subject`."""
        taking = self._taking.get(subject)
        if taking is None:
            taking = tuple(c for c in self.consumers.values()
                           if not c.filters or is_subset(subject, c.filters))
            if len(self._taking) >= _TAKING_CACHE:
                self._taking.clear()
            self._taking[subject] = taking
        return taking

    def _on_storage_update(self, msgs: int, nbytes: int, seq: int, subject: bytes) -> None:
        if not msgs or not self.consumers:
            return
        if not seq:  # several messages at once
            for consumer in self.consumers.values():
                consumer.on_stream_change(msgs, seq, subject)
            return
        # One message concerns only the consumers whose filters take it, as in nats-server: even
        # its removal leaves it pending at a consumer that took it before a change of filters.
        for consumer in self.consumers_taking(subject):
            consumer.on_stream_change(msgs, seq, subject)

    # -- API answers ------------------------------------------------------------------------------

    def state_json(self, deleted_details: bool = False, subjects_filter: str = "") -> dict:
        s = self.store.state(deleted=deleted_details)
        out = {"messages": s.msgs, "bytes": s.bytes, "first_seq": s.first_seq,
               "first_ts": rfc3339(s.first_ts), "last_seq": s.last_seq,
               "last_ts": rfc3339(s.last_ts)}
        if subjects_filter:
            totals = self.store.subjects_totals(subjects_filter.encode())
            if totals:
                out["subjects"] = {k.decode(): v for k, v in totals.items()}
        if s.num_subjects:
            out["num_subjects"] = s.num_subjects
        if s.deleted:
            out["deleted"] = list(s.deleted)
        if s.num_deleted:
            out["num_deleted"] = s.num_deleted
        out["consumer_count"] = len(self.consumers)
        return out

    def info(self, deleted_details: bool = False, subjects_filter: str = "") -> dict:
        return {"config": self.cfg, "created": rfc3339(self.created),
                "state": self.state_json(deleted_details, subjects_filter)}

    def message_json(self, sm: st.StoredMsg, no_hdr: bool = False) -> dict:
        out = {"subject": sm.subject.decode(errors="replace"), "seq": sm.seq}
        if sm.headers and not no_hdr:
            out["hdrs"] = base64.b64encode(bytes(sm.headers)).decode()
        if len(sm.data):
            out["data"] = base64.b64encode(bytes(sm.data)).decode()
        out["time"] = rfc3339(sm.ts)
        return out

    def get_msg(self, req) -> st.StoredMsg:
        """STREAM.MSG.GET and DIRECT.GET's lookup; raises ApiError (no message found)."""
        try:
            if req.last_by_subj:
                return self.store.load_last_msg(req.last_by_subj.encode())
            if req.next_by_subj:
                return self.store.load_next_msg(req.next_by_subj.encode(), req.seq)
            if req.start_time:
                from .common import parse_rfc3339
                seq = self.store.get_seq_from_time(parse_rfc3339(req.start_time))
                return self.store.load_next_msg(b"", seq)
            return self.store.load_msg(req.seq)
        except st.StoreError:
            raise ApiError.of("NoMessageFound") from None
        except ValueError:
            raise ApiError.of("BadRequest") from None

    def direct_headers(self, sm: st.StoredMsg, batch: tuple[int, int] | None = None) -> bytes:
        """The header block of a DIRECT.GET answer: the message's headers plus Nats-Stream,
        Nats-Subject, Nats-Sequence and Nats-Time-Stamp, as nats-server adds them; in a batch
        answer also Nats-Num-Pending and Nats-Last-Sequence from `batch` (pending, last seq)."""
        base = bytes(sm.headers) if sm.headers else b"NATS/1.0\r\n\r\n"
        extra = (b"Nats-Stream: %s\r\nNats-Subject: %s\r\nNats-Sequence: %d\r\n"
                 b"Nats-Time-Stamp: %s\r\n") % (self.name.encode(), sm.subject, sm.seq,
                                                  _go_time(sm.ts).encode())
        if batch is not None:
            extra += b"Nats-Num-Pending: %d\r\nNats-Last-Sequence: %d\r\n" % batch
        return base[:-2] + extra + b"\r\n"

    def purge(self, req) -> int:
        if req.filter or req.seq or req.keep:
            if req.seq and req.keep:
                raise ApiError.of("BadRequest")
            purged = self.store.purge_ex(req.filter.encode(), req.seq, req.keep)
        else:
            purged = self.store.purge()
        state = self.store.state()
        start = state.first_seq
        if req.filter:  # consumers covered by the filter go on from its first message left
            try:
                start = self.store.load_next_msg(req.filter.encode(), state.first_seq).seq
            except st.StoreError:
                start = 0
        for consumer in list(self.consumers.values()):
            affected, wider = consumer.purge_scope(req.filter)
            if affected:
                consumer.on_purge(state.first_seq if wider else start, state.last_seq, wider)
        return purged

    def delete_msg(self, seq: int, no_erase: bool) -> bool:
        try:
            subject = self.store.load_msg(seq).subject
        except st.StoreError:
            return False
        removed = self.store.remove_msg(seq) if no_erase else self.store.erase_msg(seq)
        if removed:  # (at once, for the answer; on_stream_change's later call finds it done)
            for consumer in self.consumers_taking(bytes(subject)):
                consumer.on_removed(seq)
        return removed



def _expected_seq(raw: bytes) -> int:
    """A Nats-Expected-Last-*Sequence value: decimal digits only; anything else matches no
    sequence (nats-server reads it as -1, as unsigned the largest)."""
    return int(raw) if raw.isdigit() else -1


def _go_time(ns: int) -> str:
    """DIRECT.GET's Nats-Time-Stamp: RFC 3339 with nanoseconds, as Go's RFC3339Nano."""
    return rfc3339(ns)
