"""A consumer's delivered/ack state: the ConsumerStore logic (nats-server's consumerMemStore
rules for deliveries, acks under each ack policy, redelivery counts and ack floors) and the
state's encoding. `MemConsumerStore` keeps it in memory; the file store's consumer store adds
persistence on top."""

from __future__ import annotations

import msgspec

from .store import (
    AckPolicy,
    ConsumerState,
    ConsumerStore,
    ConsumerStoreConfig,
    CorruptState,
    MsgNotFound,
    NoAckPolicy,
    OldUpdate,
    Pending,
    SequencePair,
    StoreError,
    pending_entry,
)

__all__ = ["MemConsumerStore", "encode_consumer_state", "decode_consumer_state", "copy_state"]

_VERSION = 1
# The policies as module constants: in 3.11 every read of an enum class's member goes through
# its metaclass's __getattr__ hook, a cost per delivery and per ack.
_ACK_NONE, _ACK_ALL = AckPolicy.NONE, AckPolicy.ALL


def encode_consumer_state(state: ConsumerState) -> bytes:
    return msgspec.msgpack.encode(
        (
            _VERSION,
            state.ack_floor.consumer,
            state.ack_floor.stream,
            state.delivered.consumer,
            state.delivered.stream,
            [(s, p.sequence, p.timestamp) for s, p in state.pending.items()],
            list(state.redelivered.items()),
        )
    )


def decode_consumer_state(buf: bytes) -> ConsumerState:
    try:
        version, afc, afs, dc, ds, pending, redelivered = msgspec.msgpack.decode(buf)
        if version != _VERSION:
            raise CorruptState(f"unknown consumer state version {version}")
        return ConsumerState(
            delivered=SequencePair(int(dc), int(ds)),
            ack_floor=SequencePair(int(afc), int(afs)),
            pending={int(s): Pending(_int64(d), _int64(t)) for s, d, t in sorted(pending)},
            redelivered={int(s): int(n) for s, n in redelivered},
        )
    except CorruptState:
        raise
    except (msgspec.DecodeError, TypeError, ValueError) as exc:
        raise CorruptState(f"consumer state is corrupt: {exc}") from None


def _int64(value) -> int:
    """A Pending field of a saved state: an integer that a C long long holds (store.pxd)."""
    n = int(value)
    if not -(1 << 63) <= n < 1 << 63:
        raise ValueError(f"{n} out of range")
    return n


def copy_state(state: ConsumerState) -> ConsumerState:
    return ConsumerState(
        delivered=SequencePair(state.delivered.consumer, state.delivered.stream),
        ack_floor=SequencePair(state.ack_floor.consumer, state.ack_floor.stream),
        pending={s: Pending(p.sequence, p.timestamp) for s, p in sorted(state.pending.items())},
        redelivered=dict(state.redelivered),
    )


def _check(state: ConsumerState) -> None:
    if state.ack_floor.consumer > state.delivered.consumer:
        raise StoreError("bad ack floor for consumer")
    if state.ack_floor.stream > state.delivered.stream:
        raise StoreError("bad ack floor for stream")
    for seq in state.pending:
        if seq <= state.ack_floor.stream or seq > state.delivered.stream:
            raise StoreError(f"bad pending entry, sequence [{seq}] out of range")


class MemConsumerStore:
    """A consumer's state in memory. `_changed()` is called after every change (the file
    store's subclass marks itself dirty there). A ConsumerStore by registration: in the
    compiled build it is a C struct (consumer_state.pxd), which cannot derive from an ABC."""

    on_disk = False

    def __init__(self, name: str, created: int, config: ConsumerStoreConfig, metadata: bytes | None = None):
        self.name = name
        self.created = created
        self.config = config
        self._metadata = metadata
        # Its pending dict is in ascending order of stream sequence: a state taken in is
        # sorted (copy_state, decode_consumer_state), and update_delivered adds only above
        # the delivered sequence, which every pending entry is at or below.
        self._state = ConsumerState()
        self._closed = False

    def _changed(self) -> None:
        pass

    def set_starting(self, sseq: int) -> None:
        self._state.delivered.stream = sseq
        self._state.ack_floor.stream = sseq
        self._changed()

    def update_starting(self, sseq: int) -> None:
        st = self._state
        if sseq > st.delivered.stream:
            st.delivered.stream = sseq
            if self.config.ack_policy == _ACK_NONE:
                st.ack_floor.stream = sseq
            self._changed()

    def reset(self, sseq: int) -> None:
        self._state = ConsumerState()
        self.set_starting(sseq)

    def has_state(self) -> bool:
        return self._state.delivered.consumer != 0 or self._state.delivered.stream != 0

    def update_delivered(self, dseq: int, sseq: int, dc: int, ts: int) -> None:
        policy = self.config.ack_policy
        if dc != 1 and policy == _ACK_NONE:
            raise NoAckPolicy("ack policy is none")
        st = self._state
        if dseq <= st.ack_floor.consumer:
            return
        if policy != _ACK_NONE:
            if sseq <= st.delivered.stream:
                p = st.pending.get(sseq)
                if p is not None:
                    p.timestamp = ts
            else:
                st.pending[sseq] = pending_entry(dseq, ts)
            if dseq > st.delivered.consumer:
                st.delivered.consumer = dseq
            if sseq > st.delivered.stream:
                st.delivered.stream = sseq
            if dc > 1:
                if 0 < self.config.max_deliver < dc:
                    st.pending.pop(sseq, None)
                if st.redelivered.get(sseq, 0) < dc - 1:
                    st.redelivered[sseq] = dc - 1
        else:
            if dseq > st.delivered.consumer:
                st.delivered.consumer = st.ack_floor.consumer = dseq
            if sseq > st.delivered.stream:
                st.delivered.stream = st.ack_floor.stream = sseq
        self._changed()

    def update_acks(self, dseq: int, sseq: int) -> None:
        policy = self.config.ack_policy
        if policy == _ACK_NONE:
            raise NoAckPolicy("ack policy is none")
        st = self._state
        st.redelivered.pop(sseq, None)
        if dseq <= st.ack_floor.consumer:
            self._changed()
            return
        pending = st.pending
        if sseq not in pending:
            raise MsgNotFound("no message found")
        if policy == _ACK_ALL:
            st.ack_floor.consumer = dseq
            st.ack_floor.stream = sseq
            for seq in [s for s in pending if s <= sseq]:
                del pending[seq]
                st.redelivered.pop(seq, None)
            self._changed()
            return
        p = pending.pop(sseq)
        if dseq > p.sequence > 0:
            dseq = p.sequence
        if not pending:
            st.ack_floor.consumer = st.delivered.consumer
            st.ack_floor.stream = st.delivered.stream
        elif dseq == st.ack_floor.consumer + 1:
            in_order = sseq == st.ack_floor.stream + 1  # then nothing pending is below sseq
            st.ack_floor.consumer = dseq
            st.ack_floor.stream = sseq
            if st.delivered.consumer > dseq:
                # The floor moves up to just below the oldest message still pending: the
                # first key, as pending is kept in ascending order (see _state). Acks in order
                # find it at sseq + 1 without iterating, which would step over every key
                # deleted since the dict last resized.
                low = sseq + 1 if in_order and sseq + 1 in pending else next(iter(pending))
                p = pending[low]
                if p.sequence > 0:
                    st.ack_floor.consumer = p.sequence - 1
                    st.ack_floor.stream = low - 1
        self._changed()

    def remove_redelivered_below(self, seq: int) -> None:
        if seq:
            rd = self._state.redelivered
            for s in [s for s in rd if s < seq]:
                del rd[s]
            self._changed()

    def update(self, state: ConsumerState) -> None:
        _check(state)
        cur = self._state
        if state.delivered.consumer < cur.delivered.consumer or state.ack_floor.stream < cur.ack_floor.stream:
            raise OldUpdate("old update ignored")
        self._state = copy_state(state)
        self._changed()

    def force_update(self, state: ConsumerState) -> None:
        _check(state)
        self._state = copy_state(state)
        self._changed()

    def state(self) -> ConsumerState:
        return copy_state(self._state)

    def encoded_state(self) -> bytes:
        return encode_consumer_state(self._state)

    def update_config(self, config: ConsumerStoreConfig, metadata: bytes | None = None) -> None:
        self.config = config
        if metadata is not None:
            self._metadata = metadata
        self._changed()

    def metadata(self) -> bytes | None:
        return self._metadata

    def flush(self) -> None:
        pass

    def stop(self) -> None:
        self._closed = True

    def delete(self) -> None:
        self._closed = True


ConsumerStore.register(MemConsumerStore)
