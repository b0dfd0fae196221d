"""Internal subscriptions: subscribers and publishers that are code inside the broker, not
network clients (nats-server's internal clients of kind SYSTEM or ACCOUNT).

Why a connection-shaped object: an InternalClient has every attribute delivery reads on a
receiver (`out`, `touched`, `closed`, `perms`, `echo`, `headers`, counters) and `flush()`, and
its subscriptions are of kind CLIENT_SUB, so delivery.py treats it as one more client and every
fan-out entry (deliver, deliver_run, deliver_sizes, queue picks) serves it unchanged: ordinary
deliveries pay nothing for the feature. Delivery writes MSG/HMSG frames into its `out` as for any
client; the broker flushes touched receivers at the end of each read, and this flush parses its
own frames back (protocol.ServerOpsParser) and calls each subscription's callback with the
subject, the reply, the header block (or None) and the payload as a memoryview valid during the
call. The cost of the frame round trip falls on internal traffic only, which is small.

Its subscriptions are ordinary Subscription objects in the account's Sublist, so routes and
leafnodes learn the interest as they do for a client's. Its publishes go through the same match
and delivery as a client's, the InternalClient being the publisher, so replies reach requesters
anywhere. A callback that raises is logged; the broker carries on."""

from __future__ import annotations

from collections.abc import Callable

from zats.protocol.parser import ServerOpsParser

from .delivery import deliver
from .subscription import Subscription

# callback(subject, reply | None, headers | None, payload: memoryview)
Callback = Callable[[bytes, "bytes | None", "bytes | None", memoryview], None]


class InternalClient:
    """A broker-internal client bound to one account."""

    is_route = False
    perms = None
    headers = True
    echo = True
    paused = False
    connected = True
    tls_pending = False

    def __init__(self, broker, account, cid: int, name: str = "internal"):
        self.broker = broker
        self.account = account
        self.cid = cid
        self.name = name
        self.out = bytearray()
        self.touched = False
        self.closed = False
        self.in_msgs = self.in_bytes = self.out_msgs = self.out_bytes = 0
        self.subs: dict[bytes, Subscription] = {}
        self.callbacks: dict[bytes, Callback] = {}
        self.next_sid = 1
        # Delivery keeps the last MSG line pieces on its publisher.
        self.msg_subject = self.msg_reply = self.msg_head = self.msg_tail = None
        self.msg_size = -1
        self.parser = ServerOpsParser(self)

    @property
    def sublist(self):
        return self.account.sublist

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(self, subject: bytes, callback: Callback, queue: bytes | None = None) -> Subscription:
        sid = b"%d" % self.next_sid
        self.next_sid += 1
        sub = Subscription(self, subject, queue, sid)
        self.subs[sid] = sub
        self.callbacks[sid] = callback
        self.sublist.insert(sub)
        return sub

    def remove_sub(self, sub: Subscription) -> None:
        """Unsubscribes. Messages delivered before (an UNSUB max reached within one read) still
        reach the callback at the next flush, which then forgets it."""
        if self.subs.pop(sub.sid, None) is not None:
            self.sublist.remove(sub)
            if not self.out:
                self.callbacks.pop(sub.sid, None)

    def close(self) -> None:
        """Drops every subscription (the broker is stopping)."""
        self.closed = True
        self.out = bytearray()
        for sub in list(self.subs.values()):
            self.remove_sub(sub)

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, subject: bytes, reply: bytes | None, payload: bytes,
                headers: bytes | None = None, to: bytes | None = None) -> int:
        """Publishes in this client's account as a client would; returns the deliveries. `to`:
        match the subscribers of that subject instead while the message line says `subject`
        (JetStream hands a stored message to a pull request's inbox this way). The receivers
        are flushed at once, or by the flush running (see Broker.flush_touched)."""
        if self.closed:
            return 0
        result = self.sublist.match(subject if to is None else to)
        if headers:
            n = deliver(self, result, subject, reply, memoryview(headers + payload), len(headers))
        else:
            n = deliver(self, result, subject, reply, memoryview(payload))
        self.broker.flush_touched()
        return n

    # -- receiving: the broker's flush of this "connection" -----------------------------------

    def flush(self) -> None:
        """Runs the callbacks for the frames delivery wrote since the last flush."""
        self.touched = False
        out = self.out
        if not out or self.closed:
            return
        self.out = bytearray()
        self.parser.parse(out, memoryview(out), len(out))
        if len(self.callbacks) != len(self.subs):
            self.callbacks = {sid: cb for sid, cb in self.callbacks.items() if sid in self.subs}

    def pending_bytes(self) -> int:
        return len(self.out)

    def on_msg(self, subject: bytes, sid: bytes, reply: bytes | None, payload: memoryview) -> None:
        self._call(sid, subject, reply, None, payload)

    def on_hmsg(self, subject: bytes, sid: bytes, reply: bytes | None, header_len: int,
                message: memoryview) -> None:
        self._call(sid, subject, reply, bytes(message[:header_len]), message[header_len:])

    def _call(self, sid: bytes, subject: bytes, reply: bytes | None, headers: bytes | None,
              payload: memoryview) -> None:
        callback = self.callbacks.get(sid)
        if callback is None:  # closed
            return
        self.in_msgs += 1
        self.in_bytes += len(payload)
        try:
            callback(subject, reply, headers, payload)
        except Exception as exc:  # a broken handler must not take the broker down
            self.broker.log.error("Internal subscription %s on %r failed: %r", self.name,
                                  subject.decode(errors="replace"), exc)

    # Delivery writes only MSG and HMSG frames here; the parser's other handlers have no use.
    def on_info(self, arg: bytes) -> None:
        pass

    def on_ok(self) -> None:
        pass

    def on_err(self, text: str) -> None:
        pass

    def on_ping(self) -> None:
        pass

    def on_pong(self) -> None:
        pass
