"""`JsMsg`, a message a JetStream consumer delivered: the acknowledgements (`ack`, `ack_sync`,
`nak`, `in_progress`, `term`) published to its reply subject, and `metadata` parsed from that
subject, which has two forms (ADR-15):

* v1: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`
* v2: `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]`
  (domain `_` when there is none)."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec

from ..msg import DONE, Msg
from .errors import MsgAlreadyAckdError, NotJSMessageError

_ACK = b"+ACK"
_NAK = b"-NAK"
_WPI = b"+WPI"
_TERM = b"+TERM"


class SequencePair(msgspec.Struct, frozen=True):
    """The message's sequence in the stream and in the consumer's delivery order."""

    stream: int
    consumer: int


class Metadata(msgspec.Struct, frozen=True):
    """What the ack subject says about a delivered message. `timestamp` is when the stream stored
    it (nanoseconds since the epoch; `time` is it as a datetime)."""

    sequence: SequencePair
    num_delivered: int
    num_pending: int
    timestamp: int
    stream: str
    consumer: str
    domain: str | None = None
    account_hash: str | None = None

    @property
    def time(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.timestamp / 1e9, tz=datetime.UTC)


def parse_metadata(reply: str) -> Metadata:
    """The metadata of an ack subject; raises `NotJSMessageError` when `reply` is not one."""
    tokens = reply.split(".")
    n = len(tokens)
    if n < 9 or tokens[0] != "$JS" or tokens[1] != "ACK":
        raise NotJSMessageError(f"not a JetStream ack subject: {reply!r}")
    try:
        if n == 9:
            domain = hash_ = None
            rest = tokens[2:]
        elif n >= 11:
            domain = None if tokens[2] == "_" else tokens[2]
            hash_ = tokens[3]
            rest = tokens[4:11]
        else:
            raise ValueError
        stream, consumer, delivered, sseq, cseq, ts, pending = rest
        return Metadata(SequencePair(int(sseq), int(cseq)), int(delivered), int(pending), int(ts),
                        stream, consumer, domain, hash_)
    except ValueError:
        raise NotJSMessageError(f"not a JetStream ack subject: {reply!r}") from None


class JsMsg(Msg):
    """A message from a JetStream consumer (a `Msg` with its acknowledgements). Each of `ack`,
    `nak`, `term` may be called once; `in_progress` any number of times before them. They are
    plain calls (the acknowledgement is batched into the outbound buffer like any publish) that
    may be awaited, as in nats-py; `ack_sync` waits for the server's confirmation."""

    _acked: bool = False

    @property
    def metadata(self) -> Metadata:
        """Stream, consumer, sequences, delivery count, pending count and time, parsed from the
        ack subject."""
        return parse_metadata(self.reply)

    @property
    def is_acked(self) -> bool:
        return self._acked

    def _send(self, body: bytes, final: bool = True) -> Any:
        if self._acked:
            raise MsgAlreadyAckdError(f"message already acknowledged: {self.reply!r}")
        if not self.reply:
            raise NotJSMessageError("message has no ack subject")
        if final:
            self._acked = True
        self._sub.client._publish_ack(self.reply.encode(), body)
        return DONE

    def ack(self) -> Any:
        """Acknowledges the message."""
        return self._send(_ACK)

    def nak(self, delay: float | None = None) -> Any:
        """Negative acknowledgement: redeliver, after `delay` seconds when given."""
        if delay is None:
            return self._send(_NAK)
        return self._send(_NAK + b' {"delay": %d}' % int(delay * 1e9))

    def in_progress(self) -> Any:
        """Tells the server work is under way: the ack wait starts over."""
        return self._send(_WPI, final=False)

    def term(self, reason: str | None = None) -> Any:
        """Stops redelivery of the message (with a reason the server puts in its advisory)."""
        return self._send(_TERM if not reason else _TERM + b" " + reason.encode())

    async def ack_sync(self, timeout: float = 5.0) -> None:
        """Acknowledges the message and waits until the server confirms it stored the ack."""
        if self._acked:
            raise MsgAlreadyAckdError(f"message already acknowledged: {self.reply!r}")
        if not self.reply:
            raise NotJSMessageError("message has no ack subject")
        await self._sub.client.request(self.reply, _ACK, timeout=timeout)
        self._acked = True

    def __repr__(self) -> str:
        return f"<JsMsg subject={self.subject!r} reply={self.reply!r} data={bytes(self.data[:64])!r}>"
