"""The in-memory index both stores share: sequence -> entry, per-subject state, limits, expiry.

`IndexedStore` implements every StreamStore operation over `_msgs`, a dict from sequence to an
entry tuple whose first four fields are (subject, ts, size, expires); the memory store keeps the
message itself in the rest of the tuple, the file store where its record lies. Subclasses
provide the storage hooks (`_put`, `_get`, `_forget`, `_floor`, `_truncated`, `_size`).

Sequences only ever grow (a message is stored at last_seq + 1), so the dict's insertion order is
sequence order: the first live message is the dict's first key, the last live one its last.

Behaviour follows nats-server's memstore (how limits, discard new, purge_ex, compact, truncate,
per-subject first/last and the delete-marker expiry behave); the per-subject first and last
sequences are recomputed lazily after a removal, as there.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from time import time_ns

from zats.protocol.subjects import is_literal

from .filters import Matcher, is_all, matcher, multi_matcher
from .store import (
    ConsumerStore,
    DiscardPolicy,
    MaxBytesExceeded,
    MaxMsgsExceeded,
    MaxMsgsPerSubjectExceeded,
    MsgNotFound,
    MsgTooLarge,
    ProcessMsgHandler,
    SequenceMismatch,
    SimpleState,
    StorageUpdateHandler,
    StoreClosed,
    StoreConfig,
    StoredMsg,
    StoreEOF,
    StreamState,
    StreamStore,
    TooManyResults,
)

__all__ = ["IndexedStore", "SUBJ", "TS", "SIZE", "EXPIRES", "NEVER", "marker_headers"]

# Entry tuple fields.
SUBJ, TS, SIZE, EXPIRES = 0, 1, 2, 3
NEVER = -1  # EXPIRES of a message with a negative TTL: max_age leaves it alone

_ROLLUP = b"Nats-Rollup:"
# As module constants: in 3.11 every read of an enum class's member goes through its
# metaclass's __getattr__ hook, a cost per stored message.
_DISCARD_NEW, _DISCARD_OLD = DiscardPolicy.NEW, DiscardPolicy.OLD
_MARKER = b"Nats-Marker-Reason:"


def _go_duration(ns: int) -> str:
    """A whole-second duration as Go prints it ("30s", "5m0s", "1h0m0s")."""
    s = ns // 1_000_000_000
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def marker_headers(ttl_ns: int) -> bytes:
    """The headers of a subject delete marker, as nats-server writes them on max_age."""
    return (
        b"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: %s\r\nNats-Rollup: sub\r\n\r\n"
        % _go_duration(ttl_ns).encode()
    )


class IndexedStore:
    """Shared StreamStore logic; see the module docstring. A StreamStore by registration: in
    the compiled build it is a C struct (index.pxd), which cannot derive from an ABC."""

    def __init__(self, config: StoreConfig, call_later: Callable | None = None) -> None:
        self.config = config
        self._maxp = config.max_msgs_per_subject  # the per-subject limit last enforced
        self._msgs: dict[int, tuple] = {}
        # subject -> [msgs, first, last, first_stale, last_stale]
        self._fss: dict[bytes, list] = {}
        self._first = 0
        self._last = 0
        self._first_ts = 0
        self._last_ts = 0
        self._bytes = 0
        self._closed = False
        self._consumers: dict[str, ConsumerStore] = {}
        self._on_update: StorageUpdateHandler | None = None
        self._on_process: ProcessMsgHandler | None = None
        self._ttls: list[tuple[int, int]] = []  # heap of (expires, seq)
        self._call_later = call_later
        self._timer = None
        self._timer_at = 0
        self._next_expiry = 0  # ns; 0: nothing to expire

    # --- hooks ---

    def _size(self, subject: bytes, headers, data) -> int:
        raise NotImplementedError

    def _put(self, subject: bytes, headers, data, seq: int, ts: int, expires: int, size: int) -> tuple:
        """Keep the message; return its entry."""
        raise NotImplementedError

    def _get(self, seq: int, entry: tuple) -> StoredMsg:
        raise NotImplementedError

    def _forget(self, seq: int, entry: tuple, erase: bool) -> None:
        """One message was removed from the index."""

    def _floor(self, first: int, last: int) -> None:
        """Every message below `first` is gone; last_seq is `last`."""

    def _truncated(self, seq: int) -> None:
        """Every message above `seq` is gone and last_seq is `seq`."""

    # --- writing ---

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("store is closed")

    def store_msg(self, subject: bytes, headers, data, ttl: int = 0) -> tuple[int, int]:
        seq = self._last + 1
        ts = time_ns()
        self._store(subject, headers, data, seq, ts, ttl, True)
        return seq, ts

    def store_raw_msg(
        self, subject, headers, data, seq: int, ts: int, ttl: int = 0, discard_new_check: bool = True
    ) -> None:
        if seq != self._last + 1:
            if seq > 0:
                raise SequenceMismatch("expected sequence does not match store")
            seq = self._last + 1
        self._store(subject, headers, data, seq, ts, ttl, discard_new_check)

    def _store(self, subject: bytes, headers, data, seq: int, ts: int, ttl: int, check: bool) -> None:
        if self._closed:
            raise StoreClosed("store is closed")
        if self._next_expiry and ts >= self._next_expiry and self._timer is None:
            self.expire()
        cfg = self.config
        if not headers:
            headers = None
        size = self._size(subject, headers, data)
        if cfg.max_msg_size >= 0 and len(data) + (len(headers) if headers else 0) > cfg.max_msg_size:
            raise MsgTooLarge("message too large")
        fss = self._fss
        ss = fss.get(subject)
        maxp = cfg.max_msgs_per_subject
        at_subject_limit = maxp > 0 and ss is not None and ss[0] >= maxp
        if check and cfg.discard == _DISCARD_NEW:
            if at_subject_limit and cfg.discard_new_per_subject and not (headers and _ROLLUP in headers):
                raise MaxMsgsPerSubjectExceeded("maximum messages per subject exceeded")
            if 0 < cfg.max_msgs <= len(self._msgs) and not at_subject_limit:
                raise MaxMsgsExceeded("maximum messages exceeded")
            if cfg.max_bytes > 0 and self._bytes + size > cfg.max_bytes:
                if not at_subject_limit:
                    raise MaxBytesExceeded("maximum bytes exceeded")
                self._recalc(subject, ss)
                old = self._msgs.get(ss[1])
                if old is None or old[SIZE] < size:
                    raise MaxBytesExceeded("maximum bytes exceeded")
        expires = 0
        if ttl:
            if ttl < 0:
                expires = NEVER
            elif cfg.allow_msg_ttl:
                expires = ts + ttl * 1_000_000_000
        entry = self._put(subject, headers, data, seq, ts, expires, size)
        msgs = self._msgs
        if not msgs:
            self._first = seq
            self._first_ts = ts
        msgs[seq] = entry
        self._bytes += size
        self._last = seq
        self._last_ts = ts
        if ss is None:
            fss[subject] = [1, seq, seq, False, False]
        else:
            ss[0] += 1
            ss[2] = seq
            ss[4] = False
            if maxp > 0 and ss[0] > maxp:
                self._enforce_per_subject(subject, ss)
        if self._on_update is not None:
            self._on_update(1, size, seq, subject)
        if cfg.discard == _DISCARD_OLD:
            if 0 < cfg.max_msgs < len(msgs):
                self._enforce_msgs()
            if 0 < cfg.max_bytes < self._bytes:
                self._enforce_bytes()
        if expires > 0:
            heapq.heappush(self._ttls, (expires, seq))
            self._schedule(expires)
        elif cfg.max_age > 0 and expires != NEVER:
            if not self._next_expiry:
                self._schedule(ts + cfg.max_age)

    def skip_msg(self, seq: int = 0) -> int:
        self._check_open()
        if seq != self._last + 1:
            if seq > 0:
                raise SequenceMismatch("expected sequence does not match store")
            seq = self._last + 1
        self._skip(seq, seq)
        return seq

    def skip_msgs(self, seq: int, num: int) -> None:
        self._check_open()
        if seq != self._last + 1:
            if seq > 0:
                raise SequenceMismatch("expected sequence does not match store")
            seq = self._last + 1
        if num > 0:
            self._skip(seq, seq + num - 1)

    def _skip(self, seq: int, last: int) -> None:
        self._last = last
        if not self._last_ts:
            self._last_ts = time_ns()
        if not self._msgs:
            self._first = last + 1
            self._first_ts = 0
        self._skipped(seq, last)

    def _skipped(self, seq: int, last: int) -> None:
        """Sequences seq..last were used up without a message."""

    def flush(self) -> None:
        pass

    def sync(self) -> None:
        self.flush()

    # --- limits ---

    def _enforce_per_subject(self, subject: bytes, ss: list) -> None:
        maxp = self.config.max_msgs_per_subject
        while ss[0] > maxp:
            self._recalc(subject, ss)
            if not self._remove(ss[1], False):
                break

    def _enforce_msgs(self) -> None:
        limit = self.config.max_msgs
        msgs = self._msgs
        while len(msgs) > limit:
            self._remove(self._first, False)

    def _enforce_bytes(self) -> None:
        limit = self.config.max_bytes
        while self._bytes > limit and self._msgs:
            self._remove(self._first, False)

    # --- removal ---

    def _remove(self, seq: int, erase: bool) -> bool:
        msgs = self._msgs
        entry = msgs.pop(seq, None)
        if entry is None:
            return False
        size = entry[SIZE]
        self._bytes -= size
        if seq == self._first:
            self._advance_first(seq + 1)
        subject = entry[SUBJ]
        ss = self._fss[subject]
        if ss[0] == 1:
            del self._fss[subject]
        else:
            ss[0] -= 1
            if seq == ss[1]:
                ss[3] = True
            if seq == ss[2]:
                ss[4] = True
        self._forget(seq, entry, erase)
        if self._on_update is not None:
            self._on_update(-1, -size, seq, subject)
        return True

    def _advance_first(self, likely: int) -> None:
        """The first message is gone: the lowest left becomes first. `likely`, the one just
        above what went, is looked up first (messages mostly leave in order): iterating the
        index steps over every key deleted since it last resized (a KV bucket's history limit
        deletes one on each put)."""
        msgs = self._msgs
        e = msgs.get(likely)
        if e is not None:
            self._first = likely
            self._first_ts = e[TS]
            return
        for seq in msgs:
            self._first = seq
            self._first_ts = msgs[seq][TS]
            return
        self._first = self._last + 1
        self._first_ts = 0

    def _recalc(self, subject: bytes, ss: list) -> None:
        """Bring a subject's stale first/last sequence up to date."""
        msgs = self._msgs
        if ss[3]:
            seq = max(ss[1] + 1, self._first)
            last = ss[2]
            while seq <= last:
                e = msgs.get(seq)
                if e is not None and e[SUBJ] == subject:
                    break
                seq += 1
            ss[1] = seq
            ss[3] = False
            if ss[0] == 1:
                ss[2], ss[4] = seq, False
                return
        if ss[4]:
            seq = min(ss[2] - 1, self._last)
            first = ss[1]
            while seq >= first:
                e = msgs.get(seq)
                if e is not None and e[SUBJ] == subject:
                    break
                seq -= 1
            ss[2] = seq
            ss[4] = False

    def remove_msg(self, seq: int) -> bool:
        self._check_open()
        return self._remove(seq, False)

    def erase_msg(self, seq: int) -> bool:
        self._check_open()
        return self._remove(seq, True)

    def purge(self) -> int:
        self._check_open()
        return self._purge_below(self._last + 1)

    def _purge_below(self, first: int) -> int:
        """Remove every message below `first`, which becomes first_seq (or last_seq + 1)."""
        msgs = self._msgs
        if first > self._last:
            purged, size = len(msgs), self._bytes
            self._msgs = {}
            self._fss = {}
            self._bytes = 0
            self._last = first - 1
            self._first = first
            self._first_ts = 0
            self._ttls = []
        else:
            gone = []
            for seq in msgs:
                if seq >= first:
                    break
                gone.append(seq)
            purged, size = len(gone), 0
            fss = self._fss
            for seq in gone:
                e = msgs.pop(seq)
                size += e[SIZE]
                ss = fss[e[SUBJ]]
                if ss[0] == 1:
                    del fss[e[SUBJ]]
                else:
                    ss[0] -= 1
                    if seq == ss[1]:
                        ss[3] = True
            self._bytes -= size
            if msgs:
                self._advance_first(first)
            else:  # (what was left above `first` was deleted already)
                self._first = self._last + 1
                self._first_ts = 0
        self._floor(self._first, self._last)
        if purged and self._on_update is not None:
            self._on_update(-purged, -size, 0, b"")
        return purged

    def compact(self, seq: int) -> int:
        self._check_open()
        if seq == 0:
            return self.purge()
        if seq <= self._first:
            return 0
        return self._purge_below(seq)

    def purge_ex(self, subject: bytes = b"", seq: int = 0, keep: int = 0) -> int:
        self._check_open()
        if seq == 1:
            return 0
        if is_all(subject):
            if keep == 0 and seq == 0:
                return self.purge()
            if seq > 1:
                return self.compact(seq)
            subject = b">"
        ss = self.filtered_state(1, subject)
        if ss.msgs == 0:
            return 0
        most = 0
        if keep > 0:
            if keep >= ss.msgs:
                return 0
            most = ss.msgs - keep
        last = ss.last if seq == 0 else min(seq - 1, ss.last)
        match = matcher(subject)
        msgs = self._msgs
        purged = 0
        for s in self._range(ss.first, last):
            if match is None or match(msgs[s][SUBJ]):
                if self._remove(s, False):
                    purged += 1
                    if most and purged >= most:
                        break
        return purged

    def truncate(self, seq: int) -> None:
        self._check_open()
        msgs = self._msgs
        if seq == 0:
            had = bool(msgs) or self._last
            purged, size = len(msgs), self._bytes
            self._msgs, self._fss, self._ttls = {}, {}, []
            self._bytes = 0
            self._first = self._last = 0
            self._first_ts = 0
            self._last_ts = time_ns()
            if had:
                self._truncated(0)
            if purged and self._on_update is not None:
                self._on_update(-purged, -size, 0, b"")
            return
        if seq >= self._last:
            return
        last_ts = msgs[seq][TS] if seq in msgs else self._last_ts
        gone = [s for s in reversed(msgs) if s > seq] if msgs else []
        size = 0
        for s in gone:
            e = msgs.pop(s)
            size += e[SIZE]
            sub = e[SUBJ]
            ss = self._fss[sub]
            if ss[0] == 1:
                del self._fss[sub]
            else:
                ss[0] -= 1
                ss[4] = True
        self._bytes -= size
        self._last = seq
        self._last_ts = last_ts
        if not msgs:
            self._first = seq + 1
            self._first_ts = 0
        self._truncated(seq)
        if gone and self._on_update is not None:
            self._on_update(-len(gone), -size, 0, b"")

    # --- expiry ---

    def _schedule(self, at: int) -> None:
        if self._next_expiry and self._next_expiry <= at:
            return
        self._next_expiry = at
        if self._call_later is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = max(0.0, (at - time_ns()) / 1e9)
        self._timer = self._call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._closed:
            self.expire()

    def expire(self) -> None:
        if self._closed:
            return
        now = time_ns()
        self._next_expiry = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        cfg = self.config
        msgs = self._msgs
        due: list[int] = []
        next_at = 0
        if cfg.max_age > 0:
            oldest = now - cfg.max_age
            for seq, e in msgs.items():
                if e[EXPIRES] == NEVER:
                    continue
                if e[TS] > oldest:
                    next_at = e[TS] + cfg.max_age
                    break
                due.append(seq)
        ttls = self._ttls
        while ttls and ttls[0][0] <= now:
            expires, seq = heapq.heappop(ttls)
            e = msgs.get(seq)
            if e is not None and e[EXPIRES] == expires:
                due.append(seq)
        if ttls and (not next_at or ttls[0][0] < next_at):
            next_at = ttls[0][0]
        marker_ttl = cfg.subject_delete_marker_ttl
        for seq in sorted(set(due)) if len(due) > 1 else due:
            e = msgs.get(seq)
            if e is None:
                continue
            subject = e[SUBJ]
            marker = marker_ttl > 0 and self._fss[subject][0] == 1 and self._on_process is not None
            if marker:
                hdr = self._get_headers(seq, e)
                marker = not (hdr and _MARKER in hdr)
            self._remove(seq, False)
            if marker:
                self._on_process(subject, marker_headers(marker_ttl))
        if next_at:
            self._schedule(next_at)

    def _get_headers(self, seq: int, entry: tuple):
        return None

    def _expire_on_access(self) -> None:
        if self._next_expiry and self._timer is None and time_ns() >= self._next_expiry:
            self.expire()

    # --- reading ---

    def _range(self, lo: int, hi: int) -> Iterator[int]:
        """Live sequences from lo to hi, ascending."""
        msgs = self._msgs
        lo = max(lo, self._first)
        hi = min(hi, self._last)
        if lo > hi:
            return
        if hi - lo > 2 * len(msgs):
            for s in list(msgs):
                if s > hi:
                    return
                if s >= lo:
                    yield s
            return
        get = msgs.get
        for s in range(lo, hi + 1):
            if get(s) is not None:
                yield s

    def _range_down(self, hi: int, lo: int) -> Iterator[int]:
        msgs = self._msgs
        lo = max(lo, self._first)
        hi = min(hi, self._last)
        if lo > hi:
            return
        if hi - lo > 2 * len(msgs):
            for s in reversed(list(msgs)):
                if s < lo:
                    return
                if s <= hi:
                    yield s
            return
        get = msgs.get
        for s in range(hi, lo - 1, -1):
            if get(s) is not None:
                yield s

    def load_msg(self, seq: int) -> StoredMsg:
        self._check_open()
        self._expire_on_access()
        e = self._msgs.get(seq)
        if e is None:
            if seq > self._last:
                raise StoreEOF("stream store EOF")
            raise MsgNotFound("no message found")
        return self._get(seq, e)

    def _bounds(self, match: Matcher, start: int) -> tuple[int, int]:
        """The range of sequences at or after `start` where subjects matching `match` lie."""
        lo = hi = 0
        for subject, ss in self._fss.items():
            if ss[2] >= start or ss[4]:
                if match(subject):
                    if ss[3] or ss[4]:
                        self._recalc(subject, ss)
                    if ss[2] < start:
                        continue
                    if not lo or ss[1] < lo:
                        lo = ss[1]
                    if ss[2] > hi:
                        hi = ss[2]
        return lo, hi

    def _next(self, filter: bytes, match: Matcher | None, start: int) -> StoredMsg:
        if self._closed:  # _check_open and _expire_on_access, inline: once per delivery
            raise StoreClosed("store is closed")
        if self._next_expiry:
            self._expire_on_access()
        if start < self._first:
            start = self._first
        hi = self._last
        if start > hi:
            raise StoreEOF("stream store EOF")
        msgs = self._msgs
        if match is None:
            e = msgs.get(start)  # a consumer reading along: the very next sequence
            if e is not None:
                return self._get(start, e)
            for s in self._range(start, hi):
                return self._get(s, msgs[s])
            raise StoreEOF("stream store EOF")
        if filter and is_literal(filter):
            ss = self._fss.get(filter)
            if ss is None:
                raise StoreEOF("stream store EOF")
            if ss[3] or ss[4]:
                self._recalc(filter, ss)
            start, hi = max(start, ss[1]), ss[2]
        else:
            # Matches are usually close: look a little way first, and only then narrow the
            # range with the per-subject bounds.
            get = msgs.get
            near = min(hi, start + 31)
            for s in range(start, near + 1):
                e = get(s)
                if e is not None and match(e[SUBJ]):
                    return self._get(s, e)
            start = near + 1
            if start > hi:
                raise StoreEOF("stream store EOF")
            if hi - start > 4 * len(self._fss):
                lo, hi = self._bounds(match, start)
                if not lo:
                    raise StoreEOF("stream store EOF")
                start = max(start, lo)
        for s in self._range(start, hi):
            e = msgs[s]
            if match(e[SUBJ]):
                return self._get(s, e)
        raise StoreEOF("stream store EOF")

    def load_next_msg(self, filter: bytes, start: int) -> StoredMsg:
        return self._next(filter, matcher(filter) if filter else None, start)

    def load_next_msg_multi(self, filters: Iterable[bytes], start: int) -> StoredMsg:
        filters = list(filters)
        if len(filters) == 1:
            return self.load_next_msg(filters[0], start)
        return self._next(None, multi_matcher(filters), start)

    def load_prev_msg(self, filter: bytes, start: int) -> StoredMsg:
        self._check_open()
        self._expire_on_access()
        match = matcher(filter)
        msgs = self._msgs
        for s in self._range_down(start, self._first):
            e = msgs[s]
            if match is None or match(e[SUBJ]):
                return self._get(s, e)
        raise StoreEOF("stream store EOF")

    def load_last_msg(self, filter: bytes) -> StoredMsg:
        self._check_open()
        self._expire_on_access()
        msgs = self._msgs
        if is_all(filter):
            for s in reversed(msgs):
                return self._get(s, msgs[s])
            raise MsgNotFound("no message found")
        seq = 0
        if is_literal(filter):  # (a KV get: no matcher to make for one key)
            ss = self._fss.get(filter)
            if ss is not None:
                if ss[4] or ss[3]:
                    self._recalc(filter, ss)
                seq = ss[2]
        else:
            seq = self._bounds(matcher(filter), 0)[1]
        if not seq:
            raise MsgNotFound("no message found")
        return self._get(seq, msgs[seq])

    def subject_for_seq(self, seq: int) -> bytes:
        self._check_open()
        e = self._msgs.get(seq)
        if e is None:
            raise MsgNotFound("no message found")
        return e[SUBJ]

    def get_seq_from_time(self, ts: int) -> int:
        self._check_open()
        for s, e in self._msgs.items():
            if e[TS] >= ts:
                return s
        return self._last + 1

    # --- state ---

    def state(self, deleted: bool = False) -> StreamState:
        self._check_open()
        self._expire_on_access()
        n = len(self._msgs)
        st = StreamState(
            msgs=n,
            bytes=self._bytes,
            first_seq=self._first,
            first_ts=self._first_ts,
            last_seq=self._last,
            last_ts=self._last_ts,
            num_subjects=len(self._fss),
            consumer_count=len(self._consumers),
        )
        if n:
            st.num_deleted = self._last - self._first + 1 - n
        if deleted and st.num_deleted:
            msgs = self._msgs
            st.deleted = [s for s in range(self._first, self._last + 1) if s not in msgs]
        return st

    def _subjects(self, filter: bytes) -> Iterator[tuple[bytes, list]]:
        """(subject, up-to-date state) for the subjects matching `filter`."""
        match = matcher(filter)
        if match is not None and is_literal(filter):
            ss = self._fss.get(filter)
            items = [] if ss is None else [(filter, ss)]
        else:
            items = list(self._fss.items())
        for subject, ss in items:
            if match is None or match(subject):
                if ss[3] or ss[4]:
                    self._recalc(subject, ss)
                yield subject, ss

    def subjects_state(self, filter: bytes = b"") -> dict[bytes, SimpleState]:
        self._check_open()
        return {s: SimpleState(ss[0], ss[1], ss[2]) for s, ss in self._subjects(filter)}

    def subjects_totals(self, filter: bytes = b"") -> dict[bytes, int]:
        self._check_open()
        return {s: ss[0] for s, ss in self._subjects(filter)}

    def filtered_state(self, seq: int, filter: bytes) -> SimpleState:
        self._check_open()
        return self._filtered([filter], seq, False)

    def num_pending(self, start: int, filter: bytes, last_per_subject: bool = False) -> tuple[int, int]:
        self._check_open()
        self._expire_on_access()
        return self._filtered([filter], start, last_per_subject).msgs, self._last

    def num_pending_multi(
        self, start: int, filters: Iterable[bytes], last_per_subject: bool = False
    ) -> tuple[int, int]:
        self._check_open()
        self._expire_on_access()
        return self._filtered(list(filters), start, last_per_subject).msgs, self._last

    def _filtered(self, filters: list[bytes], sseq: int, last_per_subject: bool) -> SimpleState:
        sseq = max(sseq, self._first)
        if sseq > self._last or not self._msgs:
            return SimpleState()
        match = multi_matcher(filters)
        if match is None and sseq <= self._first:
            n = len(self._fss) if last_per_subject else len(self._msgs)
            return SimpleState(n, self._first, self._last)
        if len(filters) == 1 and match is not None and is_literal(filters[0]):
            ss = self._fss.get(filters[0])
            subjects = [] if ss is None else [(filters[0], ss)]
        else:
            subjects = list(self._fss.items())
        total = first = last = 0
        partial: set[bytes] = set()
        partial_msgs = 0
        for subject, ss in subjects:
            if match is not None and not match(subject):
                continue
            if ss[3] or ss[4]:
                self._recalc(subject, ss)
            if ss[2] < sseq:
                continue
            if last_per_subject:
                total += 1
                if not first or ss[2] < first:
                    first = ss[2]
            elif ss[1] >= sseq:
                total += ss[0]
                if not first or ss[1] < first:
                    first = ss[1]
            else:
                partial.add(subject)
                partial_msgs += ss[0]
            if ss[2] > last:
                last = ss[2]
        if partial:
            msgs = self._msgs
            pfirst = 0
            if last - sseq <= sseq - self._first:
                count = 0
                for s in self._range(sseq, last):
                    if msgs[s][SUBJ] in partial:
                        count += 1
                        if not pfirst:
                            pfirst = s
            else:
                below = 0
                for s in self._range(self._first, sseq - 1):
                    if msgs[s][SUBJ] in partial:
                        below += 1
                count = partial_msgs - below
                for s in self._range(sseq, last):
                    if msgs[s][SUBJ] in partial:
                        pfirst = s
                        break
            total += count
            if pfirst and (not first or pfirst < first):
                first = pfirst
        return SimpleState(total, first, last)

    def multi_last_seqs(self, filters: Iterable[bytes], max_seq: int = 0, max_allowed: int = 0) -> list[int]:
        self._check_open()
        match = multi_matcher(filters)
        msgs = self._msgs
        seqs = []
        for subject, ss in list(self._fss.items()):
            if match is not None and not match(subject):
                continue
            if ss[3] or ss[4]:
                self._recalc(subject, ss)
            seq = ss[2]
            if max_seq and seq > max_seq:
                seq = 0
                for s in self._range_down(max_seq, ss[1]):
                    if msgs[s][SUBJ] == subject:
                        seq = s
                        break
                if not seq:
                    continue
            seqs.append(seq)
            if max_allowed > 0 and len(seqs) > max_allowed:
                raise TooManyResults("too many matching results for request")
        seqs.sort()
        return seqs

    def all_last_seqs(self) -> list[int]:
        return self.multi_last_seqs([b">"])

    # --- config, callbacks, consumers ---

    def update_config(self, config: StoreConfig) -> None:
        self._check_open()
        self.config = config
        if config.max_msgs_per_subject < -1:
            config.max_msgs_per_subject = -1
        if config.discard == DiscardPolicy.OLD:
            if 0 < config.max_msgs < len(self._msgs):
                self._enforce_msgs()
            if 0 < config.max_bytes < self._bytes:
                self._enforce_bytes()
        maxp, old = config.max_msgs_per_subject, self._maxp
        self._maxp = maxp
        if maxp > 0 and (old <= 0 or maxp < old):
            for subject, ss in list(self._fss.items()):
                if ss[0] > maxp:
                    self._enforce_per_subject(subject, ss)
        if config.max_age or config.allow_msg_ttl or self._next_expiry:
            self.expire()
            if config.max_age > 0 and not self._next_expiry:
                for e in self._msgs.values():
                    if e[EXPIRES] != NEVER:
                        self._schedule(e[TS] + config.max_age)
                        break

    def register_storage_updates(self, handler: StorageUpdateHandler | None) -> None:
        self._on_update = handler

    def register_process_msg(self, handler: ProcessMsgHandler | None) -> None:
        self._on_process = handler

    def remove_consumer(self, consumer: ConsumerStore) -> None:
        if self._consumers.get(consumer.name) is consumer:
            del self._consumers[consumer.name]

    def consumers(self) -> Iterator[ConsumerStore]:
        return iter(list(self._consumers.values()))

    def _close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


StreamStore.register(IndexedStore)
