"""DIRECT.GET (ADR-31) on a stream with allow_direct: the request checks and the answers, as
nats-server gives them. `$JS.API.DIRECT.GET.<stream>` takes a JSON request (seq, last_by_subj,
next_by_subj, start_time; `batch` for several messages; `multi_last` for the last message of
each matching subject, as nats.js's KV uses); `$JS.API.DIRECT.GET.<stream>.<subject>` is the last
message on that subject. Answers are raw messages with Nats-Stream/Subject/Sequence/Time-Stamp
headers; batch answers add Nats-Num-Pending and Nats-Last-Sequence and end with a `204 EOB`
status; failures are status-only messages (404, 408, 413)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from . import store as st
from .common import parse_rfc3339
from .structs import MsgGetRequest

# nats-server answers at most this many subjects in one multi_last request (413 beyond).
MAX_MULTI_LAST = 1024
# A batch stops once it has sent this many bytes, unless the request says max_bytes
# (nats-server uses its max_pending, 64 MiB by default).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

# Send(headers, payload): one answer to the request's reply subject.
Send = Callable[[bytes, bytes], None]


def status(code: int, text: str) -> bytes:
    return b"NATS/1.0 %d %s\r\n\r\n" % (code, text.encode())


def parse(subject: bytes, payload: memoryview, by_subject: bool) -> MsgGetRequest | bytes:
    """The request, or the status header block refusing it."""
    if by_subject:
        key = subject.split(b".", 5)[5] if subject.count(b".") >= 5 else b""
        if not len(payload):  # the usual form (a KV get): the key alone
            if not key:
                return status(408, "Bad Request")
            return MsgGetRequest(last_by_subj=key.decode(errors="replace"))
        try:
            req = msgspec.json.decode(payload, type=MsgGetRequest)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return status(408, "Malformed Request")
        if not key:
            return status(408, "Bad Request")
        if (req.last_by_subj or req.next_by_subj or req.multi_last or req.seq or req.batch
                or req.start_time or req.up_to_seq or req.up_to_time):
            return status(408, "Bad Request")
        req.last_by_subj = key.decode(errors="replace")
        return req
    if not len(payload):
        return status(408, "Empty Request")
    try:
        req = msgspec.json.decode(payload, type=MsgGetRequest)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return status(408, "Malformed Request")
    if not (req.seq or req.last_by_subj or req.next_by_subj or req.multi_last or req.start_time):
        return status(408, "Empty Request")
    last, nxt, multi = req.last_by_subj, req.next_by_subj, bool(req.multi_last)
    if ((req.seq and last) or (req.seq and req.start_time) or (req.start_time and last)
            or (last and nxt) or (last and req.batch) or (last and multi) or (nxt and multi)
            or (req.up_to_seq and req.up_to_time)):
        return status(408, "Bad Request")
    return req


def answer(stream, req: MsgGetRequest, out: Send) -> None:
    """Answers a parsed request from `stream`'s store through `out`."""
    if req.multi_last:
        return _multi_last(stream, req, out)
    store = stream.store
    try:
        seq = store.get_seq_from_time(parse_rfc3339(req.start_time)) if req.start_time else req.seq
    except ValueError:
        return out(status(408, "Bad Request"), b"")
    is_batch = req.batch > 0
    pending = store.num_pending(seq, req.next_by_subj.encode(), False)[0] if is_batch else 0
    max_bytes = req.max_bytes or DEFAULT_MAX_BYTES
    sent_bytes = last_seq = 0
    for i in range(req.batch or 1):
        try:
            if seq > 0 and not req.next_by_subj:
                sm = store.load_msg(seq) if i == 0 and not is_batch else store.load_next_msg(b">", seq)
                seq = sm.seq + 1
            elif req.next_by_subj:
                sm = store.load_next_msg(req.next_by_subj.encode(), seq)
                seq = sm.seq + 1
            else:
                sm = store.load_last_msg(req.last_by_subj.encode())
        except st.StoreError:
            if is_batch and i > 0:
                break
            return out(status(404, "Message Not Found"), b"")
        hdr = b""
        if not req.no_hdr:
            if is_batch:
                pending = max(pending - 1, 0)
                hdr = stream.direct_headers(sm, (pending, last_seq))
            else:
                hdr = stream.direct_headers(sm)
        last_seq = sm.seq
        out(hdr, bytes(sm.data))
        sent_bytes += len(sm.subject) + len(sm.headers or b"") + len(sm.data)
        if sent_bytes >= max_bytes:
            break
    if is_batch:
        out(b"NATS/1.0 204 EOB\r\nNats-Num-Pending: %d\r\nNats-Last-Sequence: %d\r\n\r\n"
            % (pending, last_seq), b"")


def _multi_last(stream, req: MsgGetRequest, out: Send) -> None:
    """The last message of each subject matching `multi_last`, up to `up_to_seq` (or the
    sequence before `up_to_time`), oldest first, then a 204 EOB naming the ceiling used."""
    store = stream.store
    state = store.state()
    up_to = req.up_to_seq
    if req.up_to_time:
        try:
            up_to = store.get_seq_from_time(parse_rfc3339(req.up_to_time))
        except ValueError:
            return out(status(408, "Bad Request"), b"")
        if up_to <= state.first_seq:
            return out(status(404, "No Results"), b"")
        up_to -= 1
    if not up_to:
        up_to = state.last_seq
    try:
        seqs = store.multi_last_seqs([f.encode() for f in req.multi_last], up_to, MAX_MULTI_LAST)
    except st.TooManyResults:
        return out(status(413, "Too Many Results"), b"")
    seqs = [s for s in seqs if s >= req.seq]
    if not seqs:
        return out(status(404, "No Results"), b"")
    max_bytes = req.max_bytes or DEFAULT_MAX_BYTES
    sent = sent_bytes = last_seq = 0
    for seq in seqs:
        try:
            sm = store.load_msg(seq)
        except st.StoreError:
            return out(status(404, "Message Not Found"), b"")
        pending = len(seqs) - sent - 1
        out(stream.direct_headers(sm, (pending, last_seq)), bytes(sm.data))
        last_seq = sm.seq
        sent += 1
        sent_bytes += len(sm.subject) + len(sm.headers or b"") + len(sm.data)
        if sent_bytes >= max_bytes or (req.batch and sent >= req.batch):
            break
    out(b"NATS/1.0 204 EOB\r\nNats-Num-Pending: %d\r\nNats-Last-Sequence: %d\r\nNats-UpTo-Sequence: %d\r\n\r\n"
        % (len(seqs) - sent, last_seq, up_to), b"")
