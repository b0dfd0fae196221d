"""A consumer: a cursor over a stream that delivers its messages to pull requests
(CONSUMER.MSG.NEXT) or to a deliver subject (push), and tracks their acknowledgements.

The state follows nats-server's: `sseq` is the next stream sequence to look at, `dseq` the last
delivery sequence; `pending` maps the stream sequence of each delivered, unacknowledged message
to its store.Pending (first delivery sequence, last delivery time); `rdc` counts deliveries of
redelivered messages; `rdq` holds the stream sequences waiting for redelivery (ack wait passed,
or a NAK). Every delivery carries the reply subject `$JS.ACK.<stream>.<consumer>.<delivery
count>.<stream seq>.<delivery seq>.<timestamp>.<pending>` that clients ack on.

Pull requests wait in `waiting` (at most max_waiting) until served, expired (408 Request
Timeout), or, with no_wait, the stream has nothing more (404 No Messages); nats-server's 409
answers refuse requests over the consumer's limits. Timers (asyncio handles on the broker's
loop) drive ack-wait redelivery, request expiry, idle heartbeats, the inactive threshold of
ephemeral consumers, and pause."""

from __future__ import annotations

import asyncio
import collections
import json

from msgspec import UNSET

from zats.protocol.subjects import is_subset_match

from . import store as st
from .common import encode, has_interest, now_ns, parse_rfc3339, rfc3339, send, status_headers
from .consumerconfig import filters_of, is_subset
from .pacing import FlowControl, RateLimiter
from .store import pending_entry
from .structs import ConsumerConfig

_MAX_DELIVERIES_T = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.%s.%s"
_TERMINATED_T = "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.%s.%s"
_PUSH_RETRY = 0.1  # seconds between interest checks of a push consumer nobody listens to
COMPILED = not __file__.endswith(".py")


def ack_reply(prefix: bytes, dc: int, seq: int, dseq: int, ts: int, pending: int) -> bytes:
    """A delivery's ack subject: `<prefix><dc>.<seq>.<dseq>.<ts>.<pending>`, the prefix being
    `$JS.ACK.<stream>.<consumer>.`. Compiled, C writes it when every number is in 0..2**63-1
    (consumer.pxd); the format below does the rest, and all of it uncompiled."""
    if COMPILED:
        reply = _ack_reply(prefix, dc, seq, dseq, ts, pending)  # noqa: F821
        if reply is not None:
            return reply
    return b"%s%d.%d.%d.%d.%d" % (prefix, dc, seq, dseq, ts, pending)


def ack_numbers(subject: bytes, start: int) -> tuple[int, int] | None:
    """The stream and delivery sequences an ack subject names: its second and third tokens
    from `start` (the end of the consumer's ack prefix); None when it has fewer than three
    tokens or they are no integers. Compiled, C reads tokens of plain digits (consumer.pxd);
    any other form, and all of them uncompiled, goes through the split below."""
    if COMPILED:
        numbers = _ack_numbers(subject, start)  # noqa: F821
        if numbers is not None:
            return numbers
    tokens = subject[start:].split(b".")
    if len(tokens) < 3:
        return None
    try:
        return int(tokens[1]), int(tokens[2])
    except ValueError:
        return None


def _headers_only(hdr: bytes | None, size: int) -> tuple[bytes, bytes]:
    """A headers_only delivery's header block (the message's, plus Nats-Msg-Size) and payload."""
    extra = b"Nats-Msg-Size: %d\r\n" % size
    return (hdr[:-2] + extra + b"\r\n") if hdr else b"NATS/1.0\r\n" + extra + b"\r\n", b""


class PullRequest:
    __slots__ = ("reply", "batch", "max_bytes", "no_wait", "expires", "heartbeat", "delivered",
                 "timer", "hb_timer")

    def __init__(self, reply: bytes, batch: int, max_bytes: int, no_wait: bool, expires: int,
                 heartbeat: int):
        self.reply = reply
        self.batch = batch
        self.max_bytes = max_bytes
        self.no_wait = no_wait
        self.expires = expires  # ns deadline, 0: none
        self.heartbeat = heartbeat
        self.delivered = 0
        self.timer = None
        self.hb_timer = None

    def cancel(self) -> None:
        for handle in (self.timer, self.hb_timer):
            if handle is not None:
                handle.cancel()
        self.timer = self.hb_timer = None


class Consumer:
    def __init__(self, stream, name: str, cfg: ConsumerConfig, created: int, durable: bool):
        self.stream = stream
        self.jsa = stream.jsa
        self.name = name
        self.cfg = cfg
        # Neither changes on an update (nats-server refuses it): read on every delivery.
        self.is_push = cfg.deliver_subject is not UNSET
        self.ack_none = cfg.ack_policy == "none"
        self._set_ack_pending_limit()
        self.created = created
        self.durable = durable
        self.closed = False
        self.loop = asyncio.get_running_loop()
        self.sseq = 1
        self._npc: int | None = None  # see num_pending
        self.dseq = 0
        self.delivered_sseq = 0
        # sseq -> store.Pending (first delivery sequence, last delivery time): compiled, a C
        # struct of two integers, which the cyclic garbage collector does not track.
        self.pending: dict[int, st.Pending] = {}
        self.rdc: dict[int, int] = {}
        self.rdq: collections.deque[int] = collections.deque()
        self.lps: collections.deque[int] = collections.deque()  # last-per-subject start set
        self.floor_dseq = 0
        self.floor_sseq = 0
        self.waiting: collections.deque[PullRequest] = collections.deque()
        self.last_active = 0
        self.pause_until = 0
        self._ack_timer = None
        self._push_timer = None
        self._hb_timer = None
        self._inactive_timer = None
        self._pause_timer = None
        self._pace_timer = None  # rate limit or replay delay before the next delivery
        self._pumping = False
        self._missed: list[int] = []  # see _requeue_missed
        self.flow = FlowControl(f"$JS.FC.{stream.name}.{name}.") if (
            cfg.deliver_subject is not UNSET and cfg.flow_control is True) else None
        self.fc_sub = None
        self.rate: RateLimiter | None = None
        self._set_rate_limit()
        # replay_policy original: until the stream's last message at start is delivered, each
        # waits as long after the previous as it was stored after it (nats-server's lseq/lts).
        self._replay_last = 0
        self._replay_ts = 0
        self._replay_due = False
        self.filters = [f.encode() for f in filters_of(cfg)]
        self.ack_sub = None
        self.next_sub = None
        self.store: st.ConsumerStore | None = None
        self.ack_prefix = f"$JS.ACK.{stream.name}.{name}.".encode()
        if cfg.pause_until is not UNSET:
            self.pause_until = parse_rfc3339(cfg.pause_until)

    # -- setup ------------------------------------------------------------------------------------

    def start(self, saved: st.ConsumerState | None = None) -> None:
        """Sets the starting point from the deliver policy, or from the state a restart
        recovered; subscribes; delivers what it can."""
        if saved is not None:
            self._restore(saved)
        else:
            self._set_start()
            self._persist(lambda cs: cs.set_starting(self.delivered_sseq))
        client = self.jsa.client
        if not self.ack_none:
            self.ack_sub = client.subscribe(self.ack_prefix + b">", self.on_ack)
        if self.flow is not None:
            self.fc_sub = client.subscribe(self.flow.prefix.encode() + b"*", self.on_flow_control)
        if self.cfg.replay_policy == "original":
            self._replay_last = self.stream.store.state().last_seq
        # Push consumers too: they answer 409 "Consumer is push based".
        self.next_sub = client.subscribe(
            b"$JS.API.CONSUMER.MSG.NEXT.%s.%s" % (self.stream.name.encode(), self.name.encode()),
            lambda subject, reply, hdr, payload: self.on_next(reply, payload))
        self.last_active = now_ns()
        self._arm_inactive()
        if self.pause_until:
            self._arm_pause()
        if self.is_push and self.cfg.idle_heartbeat is not UNSET:
            self._arm_push_heartbeat()
        self._arm_ack_timer()
        self.wake()

    def _restore(self, saved: st.ConsumerState) -> None:
        self.dseq = saved.delivered.consumer
        self.delivered_sseq = saved.delivered.stream
        self.sseq = saved.delivered.stream + 1
        self.floor_dseq, self.floor_sseq = saved.ack_floor.consumer, saved.ack_floor.stream
        self.pending = {seq: st.Pending(p.sequence, p.timestamp)
                        for seq, p in sorted(saved.pending.items())}
        self.rdc = dict(saved.redelivered)

    def _persist(self, action) -> None:
        cs = self.store
        if cs is None:
            return
        try:
            action(cs)
        except st.StoreError:
            pass

    def _set_start(self) -> None:
        store = self.stream.store
        state = store.state()
        dp = self.cfg.deliver_policy
        if dp == "all":
            self.sseq = max(state.first_seq, 1)
        elif dp == "new":
            self.sseq = state.last_seq + 1
        elif dp == "last":
            # As nats-server: unfiltered, the stream's last sequence even when that message
            # is gone; filtered, the last match, or where "all" starts when none matches.
            if self.filters:
                self.sseq = self._last_seq() or max(state.first_seq, 1)
            else:
                self.sseq = max(state.last_seq, state.first_seq, 1)
        elif dp == "by_start_sequence":
            self.sseq = max(self.cfg.opt_start_seq, state.first_seq)
        elif dp == "by_start_time":
            self.sseq = store.get_seq_from_time(parse_rfc3339(self.cfg.opt_start_time))
        elif dp == "last_per_subject":
            seqs = (store.multi_last_seqs(self.filters) if self.filters else store.all_last_seqs())
            self.lps.extend(seqs)
            # With nothing matching yet nats-server starts at the last sequence, which the
            # filter does not take.
            self.sseq = state.last_seq + 1 if seqs else max(state.last_seq, state.first_seq, 1)
        self.delivered_sseq = self.floor_sseq = max(self.sseq - 1, 0)
        if self.lps:
            self.delivered_sseq = self.floor_sseq = max(self.lps[0] - 1, 0)

    def _last_seq(self) -> int:
        store = self.stream.store
        best = 0
        for f in self.filters or [b""]:
            try:
                best = max(best, store.load_last_msg(f).seq)
            except st.StoreError:
                pass
        return best

    def _set_rate_limit(self) -> None:
        bps = self.cfg.rate_limit_bps
        if bps is UNSET or not bps:
            self.rate = None
            return
        burst = self.stream.cfg.max_msg_size
        if burst is UNSET or burst <= 0:
            burst = self.jsa.broker.options.max_payload
        self.rate = RateLimiter(bps, burst)

    def update(self, cfg: ConsumerConfig) -> None:
        old_bps = self.cfg.rate_limit_bps
        self.cfg = cfg
        self.is_push = cfg.deliver_subject is not UNSET
        self.ack_none = cfg.ack_policy == "none"
        self._set_ack_pending_limit()
        if cfg.rate_limit_bps != old_bps:
            self._set_rate_limit()
        filters = [f.encode() for f in filters_of(cfg)]
        refiltered = filters != self.filters
        self.filters = filters
        self._npc = None
        self.pause_until = parse_rfc3339(cfg.pause_until) if cfg.pause_until is not UNSET else 0
        if refiltered:
            self.stream.consumers_changed()
            # As nats-server: an interest stream drops what no consumer now needs.
            self.jsa.retention_check(self.stream)
        self.wake()

    def close(self, delete: bool = True, notify: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        for handle in (self._ack_timer, self._push_timer, self._hb_timer, self._inactive_timer,
                       self._pause_timer, self._pace_timer):
            if handle is not None:
                handle.cancel()
        if self.is_push and self.jsa.awaiting_interest.get(self.cfg.deliver_subject.encode()) is self:
            del self.jsa.awaiting_interest[self.cfg.deliver_subject.encode()]
        for sub in (self.ack_sub, self.next_sub, self.fc_sub):
            if sub is not None:
                self.jsa.client.remove_sub(sub)
        if not delete and self.store is not None:
            self._persist(lambda cs: cs.stop())
        hdr = status_headers(409, "Consumer Deleted")
        for req in self.waiting:
            req.cancel()
            if notify:
                send(self.jsa.client, req.reply, req.reply, None, hdr, b"")
        self.waiting.clear()
        if delete:
            self.stream.consumers.pop(self.name, None)
            self.stream.consumers_changed()
            self.jsa.advisory_consumer(self, "DELETED", "delete")
            self.jsa.retention_check(self.stream)

    # -- numbers ----------------------------------------------------------------------------------

    def num_pending(self) -> int:
        """Matching messages at or after sseq (plus the last-per-subject start set). Counted by
        the store once, then kept up to date as messages come and go (nats-server's npc): a
        count per delivery would cost a scan of the stream."""
        if self._npc is None:
            store = self.stream.store
            if self.filters and len(self.filters) > 1:
                self._npc = store.num_pending_multi(self.sseq, self.filters)[0]
            else:
                self._npc = store.num_pending(self.sseq, self.filters[0] if self.filters else b"")[0]
        return self._npc + len(self.lps)

    def on_stream_change(self, msgs: int, seq: int, subject: bytes) -> None:
        """The stream stored (msgs > 0) or removed messages: the pending count follows, and a
        pending message removed (limits, delete) is taken as acknowledged (on_removed)."""
        if msgs < 0 and seq and seq in self.pending:
            # After the store is done (as nats-server, asynchronously): a purge (or rollup)
            # under way settles what it removed its own way first.
            self.loop.call_soon(self.on_removed, seq)
        if self._npc is None:
            return
        if not seq:  # several at once
            self._npc = None
        elif seq >= self.sseq and (not self.filters or is_subset(subject, self.filters)):
            self._npc += msgs

    def num_redelivered(self) -> int:
        return sum(1 for seq in self.pending if self.rdc.get(seq, 1) > 1)

    def info(self) -> dict:
        if self.waiting:
            self._expire_waiting()  # num_waiting counts live requests only, as nats-server's
        delivered = {"consumer_seq": self.dseq, "stream_seq": self.delivered_sseq}
        if not self.dseq and not self.delivered_sseq and not self.lps and \
                (self.store is None or not self.store.on_disk):
            # A memory store with nothing in it yet (started on an empty stream, nothing
            # delivered): as nats-server, the live position shows, past what it skipped.
            delivered["stream_seq"] = max(self.sseq - 1, 0)
        if self.dseq:
            delivered["last_active"] = rfc3339(self.last_active)
        floor = ((self.dseq, self.delivered_sseq) if self.ack_none
                 else (self.floor_dseq, self.floor_sseq))
        out = {"stream_name": self.stream.name, "name": self.name, "created": rfc3339(self.created),
               "config": self.cfg, "delivered": delivered,
               "ack_floor": {"consumer_seq": floor[0], "stream_seq": floor[1]},
               "num_ack_pending": len(self.pending), "num_redelivered": self.num_redelivered(),
               "num_waiting": len(self.waiting), "num_pending": self.num_pending()}
        if self.is_push and has_interest(self.jsa.client, self.cfg.deliver_subject.encode()):
            out["push_bound"] = True  # omitted when false, as nats-server
        if self.pause_until and self.pause_until > now_ns():
            out["paused"] = True
            out["pause_remaining"] = self.pause_until - now_ns()
        return out

    # -- pull requests ----------------------------------------------------------------------------

    def on_next(self, reply: bytes | None, payload: memoryview) -> None:
        if not reply:
            return
        client = self.jsa.client
        if self.is_push:
            send(client, reply, reply, None, status_headers(409, "Consumer is push based"), b"")
            return
        batch, max_bytes, no_wait, expires, hb = 1, 0, False, 0, 0
        body = bytes(payload).strip()
        if body:
            if body.isdigit():
                batch = int(body)
            else:
                try:
                    req = json.loads(body)
                    if not isinstance(req, dict):
                        raise ValueError("not an object")
                    batch = int(req.get("batch", 0) or 0)
                    max_bytes = int(req.get("max_bytes", 0) or 0)
                    no_wait = bool(req.get("no_wait", False))
                    expires = int(req.get("expires", 0) or 0)
                    hb = int(req.get("idle_heartbeat", 0) or 0)
                except (ValueError, TypeError) as exc:
                    send(client, reply, reply, None,
                         status_headers(400, f"Bad Request - {exc}"), b"")
                    return
                if hb > 0 and (expires == 0 or hb * 2 > expires):
                    send(client, reply, reply, None, status_headers(
                        400, "Bad Request - heartbeat value too large"), b"")
                    return
        if batch <= 0:
            batch = 1
        cfg = self.cfg
        if cfg.max_batch is not UNSET and batch > cfg.max_batch:
            send(client, reply, reply, None,
                 status_headers(409, f"Exceeded MaxRequestBatch of {cfg.max_batch}"), b"")
            return
        if expires and cfg.max_expires is not UNSET and expires > cfg.max_expires:
            send(client, reply, reply, None, status_headers(
                409, f"Exceeded MaxRequestExpires of {_go_duration(cfg.max_expires)}"), b"")
            return
        if max_bytes and cfg.max_bytes is not UNSET and max_bytes > cfg.max_bytes:
            send(client, reply, reply, None,
                 status_headers(409, f"Exceeded MaxRequestMaxBytes of {cfg.max_bytes}"), b"")
            return
        self.last_active = now_ns()
        if no_wait:
            available = self.num_pending() + len(self.rdq)
            if available == 0 and not expires:
                send(client, reply, reply, None, status_headers(404, "No Messages"), b"")
                return
            if available:
                # Fewer messages than the requests already waiting will take: nats-server
                # refuses the one-shot request rather than leave it waiting for nothing.
                self._expire_waiting()
                if available < sum(r.batch for r in self.waiting):
                    send(client, reply, reply, None, status_headers(408, "Requests Pending"), b"")
                    return
        max_waiting = cfg.max_waiting if cfg.max_waiting is not UNSET else 0
        if max_waiting and len(self.waiting) >= max_waiting:
            self._expire_waiting()
            if len(self.waiting) >= max_waiting:
                if not hb:
                    send(client, reply, reply, None, status_headers(409, "Exceeded MaxWaiting"), b"")
                return
        deadline = now_ns() + expires if expires > 0 else 0
        req = PullRequest(reply, batch, max_bytes, no_wait, deadline, hb)
        self.waiting.append(req)
        if deadline:
            req.timer = self.loop.call_later(expires / 1e9, self._on_request_expired, req)
        if hb:
            req.hb_timer = self.loop.call_later(hb / 1e9, self._pull_heartbeat, req)
        self.wake()

    def _on_request_expired(self, req: PullRequest) -> None:
        """A request's expiry ends it with 408 and, as nats-server's end of stream pass, ends
        the one-shot (no_wait) requests left waiting at max_ack_pending too, in queue order."""
        req.timer = None
        if req not in self.waiting or self.closed:
            return
        now = now_ns()
        for other in list(self.waiting):
            if other is req or (other.expires and other.expires <= now):
                self.waiting.remove(other)
                other.cancel()
                self._timeout(other)
            elif self._one_shot_done(other):
                self._no_messages(other)

    @staticmethod
    def _one_shot_done(req: PullRequest) -> bool:
        """Whether a no_wait request ends when there is nothing (more) to deliver: one that
        also has an expiry and got nothing yet waits for its first message or its expiry."""
        return req.no_wait and not (req.expires and req.delivered == 0)

    def _no_messages(self, req: PullRequest) -> None:
        self.waiting.remove(req)
        req.cancel()
        send(self.jsa.client, req.reply, req.reply, None, status_headers(404, "No Messages"), b"")

    def _timeout(self, req: PullRequest) -> None:
        send(self.jsa.client, req.reply, req.reply, None, status_headers(
            408, "Request Timeout", [("Nats-Pending-Messages", req.batch),
                                     ("Nats-Pending-Bytes", req.max_bytes)]), b"")

    def _expire_waiting(self) -> None:
        now = now_ns()
        for req in list(self.waiting):
            if req.expires and req.expires <= now:
                self.waiting.remove(req)
                req.cancel()
                self._timeout(req)
            elif not has_interest(self.jsa.client, req.reply):
                self.waiting.remove(req)
                req.cancel()

    def _pull_heartbeat(self, req: PullRequest) -> None:
        req.hb_timer = None
        if self.closed or req not in self.waiting:
            return
        send(self.jsa.client, req.reply, req.reply, None, self._heartbeat_headers(), b"")
        req.hb_timer = self.loop.call_later(req.heartbeat / 1e9, self._pull_heartbeat, req)

    # -- delivery ---------------------------------------------------------------------------------

    def wake(self) -> None:
        """Delivers what can be delivered now."""
        if self.closed or self._pumping:
            return
        self._pumping = True
        try:
            self._pump()
        finally:
            self._pumping = False
        if self._missed:
            self._requeue_missed()
        # The deliveries of this pass leave together (at once unless a flush is running).
        self.jsa.client.broker.flush_touched()

    def _requeue_missed(self) -> None:
        """Pull deliveries of the pass that reached nobody (the inbox ended mid-batch): as
        nats-server's didNotDeliver, each still pending is queued for redelivery, after the pass
        (not within it, where it would go to the same gone inbox again), to the next request."""
        missed, self._missed = self._missed, []
        for seq in missed:
            if seq in self.pending:
                self._queue_redelivery(seq)

    def paused(self) -> bool:
        return bool(self.pause_until) and self.pause_until > now_ns()

    def _pump(self) -> None:
        if self.paused() or self._pace_timer is not None:
            return
        client = self.jsa.client
        match = client.sublist.match
        push = self.is_push
        if push:
            target = self.cfg.deliver_subject.encode()
            receivers = match(target)
            if not (receivers.plain or receivers.queues):
                self._retry_push_later()
                return
        headers_only = self.cfg.headers_only is True
        measured = self.rate is not None or self.flow is not None
        req = None
        while True:
            # The interest check and the delivery share one match of the target, made when the
            # pass starts (push) or takes a pull request up, as nats-server checks interest: a
            # subscriber whose UNSUB max ends it mid-pass still has the whole pass counted as
            # delivered (what reached nobody waits for ack_wait).
            if push:
                if self.flow is not None and self.flow.stalled():
                    return  # until the client answers the flow-control request
            elif req is None:
                waiting = self.waiting
                while waiting:
                    req = waiting[0]
                    receivers = match(req.reply)
                    if receivers.plain or receivers.queues:
                        break
                    waiting.popleft()  # its client is gone
                    req.cancel()
                else:
                    return
                target = req.reply
            if self.rate is not None and self._pace(self.rate.delay()):
                return
            item = self._next_msg()
            if item is None:
                break
            sm, dc = item
            if self._replay_last and self._replay_wait(sm, dc):
                return
            hdr = bytes(sm.headers) if sm.headers else None
            data = sm.data  # a view of the store's, copied once, into the receivers' buffers
            if headers_only:
                hdr, data = _headers_only(hdr, len(data))
            reply = ack_reply(self.ack_prefix, dc, sm.seq, self.dseq + 1, sm.ts, self.num_pending())
            # The size counts against a request's max_bytes, the rate limit and flow control.
            size = len(sm.subject) + len(reply) + len(data) + (len(hdr) if hdr else 0) \
                if measured or req is not None and req.max_bytes else 0
            if req is not None and req.max_bytes:
                if size > req.max_bytes:
                    self._unread(sm.seq, dc)
                    self.waiting.remove(req)
                    req.cancel()
                    send(client, req.reply, req.reply, None, status_headers(
                        409, "Message Size Exceeds MaxBytes",
                        [("Nats-Pending-Messages", req.batch), ("Nats-Pending-Bytes", req.max_bytes)]), b"")
                    req = None
                    continue
                req.max_bytes -= size
                if req.max_bytes == 0:
                    req.batch = 1
            self._deliver(receivers, target, sm, dc, reply, hdr, data, size)
            if req is not None:
                req.batch -= 1
                req.delivered += 1
                if req.batch <= 0:
                    self.waiting.remove(req)
                    req.cancel()
                    if req.max_bytes > 0:  # the batch ended before the byte budget did
                        send(client, req.reply, req.reply, None, status_headers(
                            409, "Batch Completed", [("Nats-Pending-Messages", 0),
                                                     ("Nats-Pending-Bytes", req.max_bytes)]), b"")
                    req = None
                elif req.hb_timer is not None:
                    req.hb_timer.cancel()
                    req.hb_timer = self.loop.call_later(req.heartbeat / 1e9, self._pull_heartbeat, req)
        # Nothing more to deliver: no_wait requests end here. Not when max_ack_pending holds
        # delivery back: nats-server leaves them waiting for acks (or a request's expiry).
        if not self.is_push and self.waiting and not self._at_max_ack_pending():
            for req in [r for r in self.waiting if self._one_shot_done(r)]:
                self._no_messages(req)

    def _at_max_ack_pending(self) -> bool:
        limit = self._ack_pending_limit
        return limit > 0 and len(self.pending) >= limit

    def _set_ack_pending_limit(self) -> None:
        """max_ack_pending as the pump reads it per delivery: 0 for no limit."""
        limit = self.cfg.max_ack_pending
        self._ack_pending_limit = 0 if self.ack_none or limit is UNSET or limit <= 0 else limit

    def _next_msg(self):
        """(message, delivery count) to deliver next, or None."""
        store = self.stream.store
        while self.rdq:
            seq = self.rdq.popleft()
            if seq not in self.pending or self._delivered_enough(seq):
                continue
            try:
                sm = store.load_msg(seq)
            except st.StoreError:
                self.pending.pop(seq, None)
                self.rdc.pop(seq, None)
                continue
            dc = self.rdc.get(seq, 1) + 1
            self.rdc[seq] = dc
            return sm, dc
        if self._at_max_ack_pending():
            return None
        while self.lps:
            seq = self.lps.popleft()
            try:
                return store.load_msg(seq), 1
            except st.StoreError:
                continue
        try:
            if len(self.filters) > 1:
                sm = store.load_next_msg_multi(self.filters, self.sseq)
            else:
                sm = store.load_next_msg(self.filters[0] if self.filters else b"", self.sseq)
        except st.StoreError:
            return None
        self.sseq = sm.seq + 1
        if self._npc is not None:
            self._npc -= 1
        return sm, 1

    def _unread(self, seq: int, dc: int) -> None:
        """Puts back a message taken by _next_msg and not delivered."""
        if dc > 1:
            self.rdc[seq] = dc - 1
            self.rdq.appendleft(seq)
        else:
            self.sseq = min(self.sseq, seq)
            self._npc = None

    def _pace(self, delay: float) -> bool:
        """Holds deliveries back for `delay` seconds; False when there is no need."""
        if delay <= 0:
            return False
        self._pace_timer = self.loop.call_later(delay, self._paced)
        return True

    def _paced(self) -> None:
        self._pace_timer = None
        self.wake()

    def _replay_wait(self, sm: st.StoredMsg, dc: int) -> bool:
        """replay_policy original: True (message put back) when `sm` is not due yet."""
        if self._replay_due:
            self._replay_due = False
        elif self._replay_ts and sm.ts - self._replay_ts > 1_000_000:
            self._unread(sm.seq, dc)
            self._replay_due = True
            return self._pace((sm.ts - self._replay_ts) / 1e9)
        self._replay_ts = sm.ts
        if sm.seq >= self._replay_last:
            self._replay_last = 0  # caught up: instant from here on
        return False

    def _deliver(self, receivers, target: bytes, sm: st.StoredMsg, dc: int, reply: bytes,
                 hdr: bytes | None, data, size: int) -> None:
        """Sends `sm` to `receivers`, the match of `target` (the deliver subject or a pull
        request's inbox), and records the delivery."""
        self.dseq += 1
        ts = now_ns()
        seq = sm.seq
        if seq > self.delivered_sseq:
            self.delivered_sseq = seq
        self.last_active = ts
        if not self.ack_none:
            entry = self.pending.get(seq)
            if entry is None:
                self.pending[seq] = pending_entry(self.dseq, ts)
            else:
                entry.timestamp = ts  # a redelivery keeps its first delivery sequence (the ack floor's)
            if self._ack_timer is None:
                self._arm_ack_timer()
        cs = self.store
        if cs is not None:  # _persist, inline: no closure per delivery
            try:
                cs.update_delivered(self.dseq, seq, dc, ts)
            except st.StoreError:
                pass
        client = self.jsa.client
        if not client.deliver_to(receivers, sm.subject, reply, data, hdr) and \
                not self.is_push:  # (wake() flushes)
            self._missed.append(seq)
        if self.rate is not None:
            self.rate.take(size)
        if self.flow is not None:
            fc_reply = self.flow.delivered(size)
            if fc_reply is not None:
                send(self.jsa.client, target, target, fc_reply.encode(),
                     b"NATS/1.0 100 FlowControl Request\r\n\r\n", b"")
        if self.ack_none:
            self.jsa.acked(self.stream, self, [seq])
        if self.is_push and self.cfg.idle_heartbeat is not UNSET:
            self._arm_push_heartbeat()

    def _retry_push_later(self) -> None:
        """Nobody listens on the deliver subject: delivery resumes when a subscription for it
        appears (the account's interest listener calls on_interest, as nats-server delivers
        the moment a push consumer gains interest), or at the next periodic check."""
        if self._push_timer is None and not self.closed:
            self._push_timer = self.loop.call_later(_PUSH_RETRY, self._push_retry)
            self.jsa.awaiting_interest[self.cfg.deliver_subject.encode()] = self

    def on_interest(self) -> None:
        """A subscription matching the deliver subject appeared (see _retry_push_later)."""
        if self._push_timer is not None:
            self._push_timer.cancel()
            self._push_timer = self.loop.call_soon(self._push_retry)

    def _push_retry(self) -> None:
        self._push_timer = None
        if self.jsa.awaiting_interest.get(self.cfg.deliver_subject.encode()) is self:
            del self.jsa.awaiting_interest[self.cfg.deliver_subject.encode()]
        if self.has_work():
            self.wake()

    def has_work(self) -> bool:
        return bool(self.rdq or self.lps) or self.num_pending() > 0

    # -- acks -------------------------------------------------------------------------------------

    def on_ack(self, subject: bytes, reply: bytes | None, hdr, payload: memoryview) -> None:
        numbers = ack_numbers(subject, len(self.ack_prefix))
        if numbers is None:
            return
        seq, dseq = numbers
        body = payload if type(payload) is bytes else bytes(payload)
        kind, _, rest = body.partition(b" ")
        if not body or kind == b"+ACK":
            self._ack(seq, dseq)
        elif kind == b"-NAK":
            self._nak(seq, rest.strip())
        elif kind == b"+WPI":
            entry = self.pending.get(seq)
            if entry is not None:
                entry.timestamp = now_ns()
                self._arm_ack_timer()
        elif kind == b"+NXT":
            self._ack(seq, dseq)
            if reply:
                self.on_next(reply, memoryview(rest.strip() or b"1"))
            reply = None
        elif kind == b"+TERM":
            if seq in self.pending:
                dc = self.rdc.get(seq, 1)
                self._ack(seq, dseq)  # as nats-server: an ack (of all below, under ack all)
                self._terminated(seq, dc, rest.strip().decode(errors="replace"))
        if reply:
            send(self.jsa.client, reply, reply, None, None, b"")
        if self.waiting or self.is_push:  # else a pull consumer has nobody to deliver to
            self.wake()

    def _terminated(self, seq: int, dc: int, reason: str) -> None:
        self.jsa.advisory(_TERMINATED_T % (self.stream.name, self.name), {
            "type": "io.nats.jetstream.advisory.v1.terminated",
            "stream": self.stream.name, "consumer": self.name, "consumer_seq": 0,
            "stream_seq": seq, "deliveries": dc, "reason": reason})

    def _ack(self, seq: int, dseq: int) -> None:
        """Acknowledges message `seq` from the delivery `dseq` (the ack subject's) and moves
        the ack floor as nats-server does: ack all sets it to that delivery; an explicit ack
        moves it only when nothing is left pending (to the last delivery) or when it acks the
        delivery just above the floor (then up to below the next message still pending)."""
        pending = self.pending
        cs = self.store
        if self.cfg.ack_policy != "all":  # explicit: this message alone
            entry = pending.pop(seq, None)
            if entry is None:
                return
            first = entry.sequence
            if self.rdc:
                self.rdc.pop(seq, None)
            if cs is not None:  # _persist, inline: no closure per ack
                try:
                    cs.update_acks(first, seq)
                except st.StoreError:
                    pass
            self._raise_floor(seq, first)
            if self.stream.cfg.retention != "limits":  # (an ack changes nothing under limits)
                self.jsa.acked(self.stream, self, [seq])
            return
        if dseq <= self.floor_dseq or seq <= self.floor_sseq:
            return
        self.floor_dseq, self.floor_sseq = dseq, seq
        done = [s for s in pending if s <= seq]
        for s in done:
            first = pending.pop(s).sequence
            self.rdc.pop(s, None)
            if cs is not None:
                try:
                    cs.update_acks(first, s)
                except st.StoreError:
                    pass
        if done:
            self.jsa.acked(self.stream, self, done)

    def _raise_floor(self, seq: int, dseq: int) -> None:
        """The explicit-ack floor rule of `_ack` for message `seq` first delivered as `dseq`."""
        pending = self.pending
        if not pending:
            self.floor_dseq, self.floor_sseq = self.dseq, max(self.sseq - 1, 0)
            return
        if dseq != self.floor_dseq + 1:
            return
        self.floor_dseq, self.floor_sseq = dseq, seq
        # The sequences above seq not yet delivered start at sseq: seq + 1 .. sseq - 1 may be
        # pending. Acks in order find seq + 1 pending; else walk whichever is shorter.
        # (Loops, not generator expressions: the compiled build makes this a C call, cpdef,
        # which cannot hold a closure.)
        above = 0
        if seq + 1 in pending:
            above = seq + 1
        elif self.sseq - seq - 1 > len(pending):
            for s in pending:
                if s > seq and (not above or s < above):
                    above = s
        else:
            for s in range(seq + 1, self.sseq):
                if s in pending:
                    above = s
                    break
        if above:
            entry = pending[above]
            self.floor_dseq, self.floor_sseq = entry.sequence - 1, above - 1

    def _nak(self, seq: int, arg: bytes) -> None:
        if seq not in self.pending:
            return
        delay = 0
        if arg:
            try:
                if arg.startswith(b"{"):
                    delay = int(json.loads(arg).get("delay", 0))
                else:
                    from ..durations import parse_duration
                    delay = int(parse_duration(arg.decode()) * 1e9)
            except (ValueError, TypeError, AttributeError):
                delay = 0
        if delay > 0:
            # Redelivered when the delay has passed: as if delivered now with that ack wait.
            entry = self.pending[seq]
            entry.timestamp = now_ns() - self._ack_wait(seq) + delay
            timer = self._ack_timer
            if timer is not None and timer.when() > self.loop.time() + delay / 1e9:
                timer.cancel()  # armed for a later ack wait: the delay ends first
                self._ack_timer = None
            self._arm_ack_timer()
        else:
            self._queue_redelivery(seq)

    def _queue_redelivery(self, seq: int) -> None:
        if seq not in self.rdq:
            self.rdq.append(seq)

    def _delivered_enough(self, seq: int) -> bool:
        """A message due for redelivery that has had max_deliver deliveries leaves pending
        (without moving the ack floor) when its turn comes, as nats-server drops it then."""
        dc = self.rdc.get(seq, 1)
        max_deliver = self.cfg.max_deliver
        if max_deliver is UNSET or max_deliver <= 0 or dc < max_deliver:
            return False
        self.pending.pop(seq, None)
        self.rdc.pop(seq, None)
        self.jsa.advisory(_MAX_DELIVERIES_T % (self.stream.name, self.name), {
            "type": "io.nats.jetstream.advisory.v1.max_deliver",
            "stream": self.stream.name, "consumer": self.name, "stream_seq": seq,
            "deliveries": dc})
        return True

    def _ack_wait(self, seq: int) -> int:
        backoff = self.cfg.backoff
        if backoff is not UNSET and backoff:
            dc = self.rdc.get(seq, 1)
            return backoff[min(dc - 1, len(backoff) - 1)]
        return self.cfg.ack_wait if self.cfg.ack_wait is not UNSET else 30_000_000_000

    def _arm_ack_timer(self) -> None:
        if self._ack_timer is not None or self.closed or not self.pending:
            return
        now = now_ns()
        first = min(entry.timestamp + self._ack_wait(seq) for seq, entry in self.pending.items())
        self._ack_timer = self.loop.call_later(max(first - now, 1_000_000) / 1e9, self._check_pending)

    def _check_pending(self) -> None:
        self._ack_timer = None
        if self.closed:
            return
        now = now_ns()
        due = sorted(seq for seq, entry in self.pending.items()
                     if entry.timestamp + self._ack_wait(seq) <= now and seq not in self.rdq)
        for seq in due:
            self.pending[seq].timestamp = now  # not due again before it is redelivered
            self._queue_redelivery(seq)
        self._arm_ack_timer()
        self.wake()

    # -- stream events ----------------------------------------------------------------------------

    def purge_scope(self, subject: str) -> tuple[bool, bool]:
        """(affected, wider) for a purge of `subject` ("" all): affected when the purge covers
        one of the filters, wider when the filters reach beyond it (nats-server's
        isEqualOrSubsetMatch / isFilteredMatch)."""
        if not subject:
            return True, False
        subj = subject.encode()
        if any(is_subset_match(f, subj) for f in self.filters):
            return True, False
        if not self.filters or any(is_subset_match(subj, f) for f in self.filters):
            return True, True
        return False, False

    def on_purge(self, start: int, last_seq: int, wider: bool) -> None:
        """The stream purged: delivery goes on from `start` (0: after `last_seq`), and what
        was pending below it counts as acknowledged (as nats-server's consumer purge)."""
        store = self.stream.store
        if start == 0 and not wider:
            start = last_seq + 1
        self.sseq = max(self.sseq, start)
        self._npc = None
        floor = start - 1
        moved = floor > self.floor_sseq
        self.floor_sseq = max(self.floor_sseq, floor)
        for seq in sorted(self.pending):
            gone = seq <= floor
            if not gone and wider:
                try:
                    store.load_msg(seq)
                except st.StoreError:
                    gone = True
            if gone:
                moved = True
                dseq = self.pending.pop(seq).sequence
                self.floor_dseq = max(self.floor_dseq, dseq)
                self.rdc.pop(seq, None)
                self._persist(lambda cs, d=dseq, s=seq: cs.update_acks(d, s))
        if not self.pending:
            self.delivered_sseq = max(self.delivered_sseq, self.sseq - 1)
            self._persist(lambda cs: cs.set_starting(self.delivered_sseq))
            self.floor_dseq, self.floor_sseq = self.dseq, self.sseq - 1
        elif moved and self.floor_sseq + 1 not in self.pending:
            # A gap of acknowledged messages above the floor the purge moved: it moves up to
            # below the next message still pending (what nats-server shows after such a purge).
            above = min(s for s in self.pending if s > self.floor_sseq)
            self.floor_dseq, self.floor_sseq = self.pending[above].sequence - 1, above - 1
        self.rdq = collections.deque(seq for seq in self.rdq if seq >= self.sseq)
        first = store.state().first_seq
        while self.lps and self.lps[0] < first:
            self.lps.popleft()

    def on_removed(self, seq: int) -> None:
        """Message `seq` was deleted while pending: nats-server takes it as terminated, so
        acknowledged (under ack all, with what is pending below it), ack floor included."""
        entry = self.pending.get(seq)
        if entry is None or self.closed:
            return
        self._terminated(seq, self.rdc.get(seq, 1), "Unacknowledged message was deleted")
        if self.cfg.ack_policy == "all":
            self._ack(seq, entry.sequence)
        else:
            del self.pending[seq]
            self.rdc.pop(seq, None)
            self._raise_floor(seq, entry.sequence)
        if self.waiting or self.is_push:  # one fewer pending: under max_ack_pending, more may go
            self.wake()

    def needs(self, seq: int, subject: bytes) -> bool:
        """Whether this consumer has yet to deliver or see acknowledged message `seq` (interest
        retention)."""
        if seq in self.pending:
            return True
        if seq < self.sseq and seq not in self.lps:
            return False
        if not self.filters:
            return True
        return any(is_subset_match(subject, f) for f in self.filters)

    # -- push heartbeats, inactivity, pause -------------------------------------------------------

    def _arm_push_heartbeat(self) -> None:
        if self._hb_timer is not None:
            self._hb_timer.cancel()
        self._hb_timer = self.loop.call_later(self.cfg.idle_heartbeat / 1e9, self._push_heartbeat)

    def _push_heartbeat(self) -> None:
        self._hb_timer = None
        if self.closed:
            return
        target = self.cfg.deliver_subject.encode()
        send(self.jsa.client, target, target, None, self._heartbeat_headers(), b"")
        self._arm_push_heartbeat()

    def _heartbeat_headers(self) -> bytes:
        """`100 Idle Heartbeat` with the last delivery and stream sequences, and the pending
        flow-control reply while stalled on it (nats-server's sendIdleHeartbeat)."""
        extra = [("Nats-Last-Consumer", self.dseq), ("Nats-Last-Stream", max(self.sseq - 1, 0))]
        if self.flow is not None and self.flow.request_id:
            extra.append(("Nats-Consumer-Stalled", self.flow.request_id))
        return status_headers(100, "Idle Heartbeat", extra)

    def on_flow_control(self, subject: bytes, reply, hdr, payload) -> None:
        if self.flow is not None and self.flow.answered(subject.decode()):
            self.wake()

    def _arm_inactive(self) -> None:
        threshold = self.cfg.inactive_threshold
        if threshold is UNSET or not threshold or self.closed:
            return
        self._inactive_timer = self.loop.call_later(threshold / 1e9, self._check_inactive)

    def _check_inactive(self) -> None:
        self._inactive_timer = None
        if self.closed:
            return
        threshold = self.cfg.inactive_threshold
        active = (self.waiting if not self.is_push
                  else has_interest(self.jsa.client, self.cfg.deliver_subject.encode()))
        if active or now_ns() - self.last_active < threshold:
            if active:
                self.last_active = now_ns()
            self._arm_inactive()
            return
        self.jsa.delete_consumer(self.stream, self)

    def _arm_pause(self) -> None:
        if self._pause_timer is not None:
            self._pause_timer.cancel()
            self._pause_timer = None
        remaining = self.pause_until - now_ns()
        if remaining > 0:
            self._pause_timer = self.loop.call_later(remaining / 1e9, self._resume)

    def _resume(self) -> None:
        self._pause_timer = None
        self.pause_until = 0
        self.cfg.pause_until = UNSET
        self.jsa.advisory_pause(self, False)
        self.wake()

    def set_pause(self, until: int) -> None:
        self.pause_until = until
        self.cfg.pause_until = rfc3339(until) if until else UNSET
        self._arm_pause()
        self.jsa.advisory_pause(self, bool(until and until > now_ns()))
        self.wake()


def _go_duration(ns: int) -> str:
    from ..durations import format_duration
    return format_duration(ns / 1e9)


__all__ = ["Consumer", "encode"]
