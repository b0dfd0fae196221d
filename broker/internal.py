"""Internal subscriptions: subscribers and publishers that are code inside the broker, not
network clients (nats-server's internal clients of kind SYSTEM or ACCOUNT).

Why a connection-shaped object: an InternalClient has every attribute delivery reads on a
receiver (`touched`, `closed`, `perms`, `echo`, `headers`, counters) and `flush()`, so every
fan-out entry (deliver, deliver_run, deliver_sizes, queue picks) serves it. Its subscriptions are
of kind INTERNAL_SUB: delivery takes them out of its per-receiver loop as it does peers'
interest (ordinary deliveries pay nothing for the feature) and queues each message, copied, on
the client's `inbox` (delivery._hand). The broker flushes touched receivers at the end of each
read, and this flush calls each subscription's callback with the subject, the reply, the header
block (or None) and the payload (a read-only bytes-like object; a memoryview is valid during the
call only). No frame is written and
parsed back: JetStream's publishes, acks and API requests all come this way.

Its subscriptions are ordinary Subscription objects in the account's Sublist, so routes and
leafnodes learn the interest as they do for a client's. Its publishes go through the same match
and delivery as a client's, the InternalClient being the publisher, so replies reach requesters
anywhere. A callback that raises is logged; the broker carries on."""

from __future__ import annotations

from collections.abc import Callable

from .delivery import deliver
from .endpoint import Endpoint
from .outbound import flush_touched
from .subscription import InternalSub

# callback(subject, reply | None, headers | None, payload: memoryview or bytes, read-only)
Callback = Callable[[bytes, "bytes | None", "bytes | None", memoryview], None]


class InternalClient(Endpoint):
    """A broker-internal client bound to one account."""

    is_route = False
    connected = True
    tls_pending = False

    def __init__(self, broker, account, cid: int, name: str = "internal"):
        Endpoint.__init__(self, broker)
        self.headers = True
        self.account = account
        self.sublist = account.sublist  # an account keeps its Sublist for life
        self.cid = cid
        self.name = name
        self.inbox: list = []  # (sid, subject, reply, message, header length), to flush
        self._after: list | None = None  # while flushing: what runs after the callbacks
        self.subs: dict[bytes, InternalSub] = {}
        self.callbacks: dict[bytes, Callback] = {}
        self.next_sid = 1

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(self, subject: bytes, callback: Callback, queue: bytes | None = None) -> InternalSub:
        sid = b"%d" % self.next_sid
        self.next_sid += 1
        sub = InternalSub(self, subject, queue, sid)
        self.subs[sid] = sub
        self.callbacks[sid] = callback
        self.sublist.insert(sub)
        return sub

    def remove_sub(self, sub: InternalSub) -> None:
        """Unsubscribes. Messages delivered before (an UNSUB max reached within one read) still
        reach the callback at the next flush, which then forgets it."""
        if self.subs.pop(sub.sid, None) is not None:
            self.sublist.remove(sub)
            if not self.inbox:
                self.callbacks.pop(sub.sid, None)

    def close(self) -> None:
        """Drops every subscription (the broker is stopping)."""
        self.closed = True
        self.inbox = []
        for sub in list(self.subs.values()):
            self.remove_sub(sub)

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, subject: bytes, reply: bytes | None, payload: bytes,
                headers: bytes | None = None, to: bytes | None = None,
                once: bool = False) -> int:
        """Publishes in this client's account as a client would; returns the deliveries. `to`:
        match the subscribers of that subject instead while the message line says `subject`
        (JetStream hands a stored message to a pull request's inbox this way). `once`: the
        subject is a one-off (the answer to a request), its match not cached. The receivers
        are flushed at once, or by the flush running (see Broker.flush_touched)."""
        if self.closed:
            return 0
        target = subject if to is None else to
        result = self.sublist.match_once(target) if once else self.sublist.match(target)
        n = self.deliver_to(result, subject, reply, payload, headers)
        flush_touched(self.broker)
        return n

    def deliver_to(self, result, subject: bytes, reply: bytes | None, payload,
                   headers: bytes | None = None) -> int:
        """publish() to the subscriptions of `result`, a match the caller made of the subject
        it delivers to (a consumer checks its inbox's interest with that very match), without
        the flush: the caller flushes the receivers (Broker.flush_touched) after a batch."""
        if self.closed:
            return 0
        if headers:
            return deliver(self, result, subject, reply, memoryview(headers + payload), len(headers))
        # deliver() only slices and appends the message: bytes or a view alike
        return deliver(self, result, subject, reply, payload)

    def publish_answers(self, answers: list) -> None:
        """Publishes answers to requests, (reply subject, payload, ...) each, no headers, their
        matches not cached (see `once`), and flushes the receivers once after the last: a
        stream's PubAcks of one loop iteration leave in one write per connection."""
        if self.closed:
            return
        sublist = self.sublist
        for answer in answers:
            subject = answer[0]
            deliver(self, sublist.match_once(subject), subject, None, answer[1])
        flush_touched(self.broker)

    # -- receiving: the broker's flush of this "connection" -----------------------------------

    def flush(self) -> None:
        """Runs the callbacks for the messages delivery queued since the last flush."""
        self.touched = False
        inbox = self.inbox
        if not inbox or self.closed:
            return
        self.inbox = []
        callbacks = self.callbacks
        self._after = after = []
        for sid, subject, reply, message, header_len in inbox:
            callback = callbacks.get(sid)
            if callback is None:  # unsubscribed
                continue
            self.in_msgs += 1
            self.in_bytes += len(message) - header_len
            try:
                if header_len:
                    callback(subject, reply, message[:header_len], memoryview(message)[header_len:])
                else:  # the copy itself: a stream stores it as it is (bytes() of bytes is free)
                    callback(subject, reply, None, message)
            except Exception as exc:  # a broken handler must not take the broker down
                self.broker.log.error("Internal subscription %s on %r failed: %r", self.name,
                                      subject.decode(errors="replace"), exc)
        self._after = None
        for fn in after:
            try:
                fn()
            except Exception as exc:
                self.broker.log.error("Internal client %s: %r after its callbacks failed: %r",
                                      self.name, fn, exc)
        if len(callbacks) != len(self.subs):
            self.callbacks = {sid: cb for sid, cb in callbacks.items() if sid in self.subs}

    def defer(self, fn: Callable[[], None]) -> None:
        """Runs `fn` once the callbacks of the flush running now are done (what they queued
        then leaves with this read's flush), or in the loop's next iteration when no flush is
        running."""
        if self._after is not None:
            self._after.append(fn)
        else:
            self.broker.loop.call_soon(fn)

    def pending_bytes(self) -> int:
        return sum(len(item[3]) for item in self.inbox)
