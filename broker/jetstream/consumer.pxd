# The compiled build's declarations for consumer.py (see zats.compiled): a consumer and its
# pull requests as C structs; its stream, the stream's store and its own state store typed, so
# that a delivery and an ack read and update them with C calls.
cimport cython
from zats.broker.jetstream.consumer_state cimport MemConsumerStore
from zats.broker.jetstream.index cimport IndexedStore
from zats.broker.jetstream.store cimport StoredMsg
from zats.broker.jetstream.stream cimport Stream

cdef class PullRequest:
    cdef public object reply
    cdef public object batch
    cdef public object max_bytes
    cdef public object no_wait
    cdef public object expires
    cdef public object heartbeat
    cdef public object delivered
    cdef public object timer
    cdef public object hb_timer

cdef class Consumer:
    cdef public Stream stream
    cdef public object jsa
    cdef public object name
    cdef public object cfg
    cdef public bint is_push
    cdef public bint ack_none
    cdef public object created
    cdef public object durable
    cdef public bint closed
    cdef public object loop
    cdef public object sseq
    cdef public object _npc
    cdef public object dseq
    cdef public object delivered_sseq
    cdef public dict pending
    cdef public dict rdc
    cdef public object rdq
    cdef public object lps
    cdef public object floor_dseq
    cdef public object floor_sseq
    cdef public object waiting
    cdef public object last_active
    cdef public object pause_until
    cdef public object _ack_timer
    cdef public object _push_timer
    cdef public object _hb_timer
    cdef public object _inactive_timer
    cdef public object _pause_timer
    cdef public object _pace_timer
    cdef public bint _pumping
    cdef public list _missed
    cdef public object flow
    cdef public object fc_sub
    cdef public object rate
    cdef public object _replay_last
    cdef public object _replay_ts
    cdef public object _replay_due
    cdef public list filters
    cdef public object ack_sub
    cdef public object next_sub
    cdef public MemConsumerStore store
    cdef public bytes ack_prefix
    cdef public object _ack_pending_limit

    @cython.locals(sm=StoredMsg)
    cpdef _pump(self)
    @cython.locals(store=IndexedStore)
    cpdef _next_msg(self)
    @cython.locals(cs=MemConsumerStore)
    cpdef _deliver(self, receivers, target, StoredMsg sm, dc, reply, hdr, data, size)
    @cython.locals(cs=MemConsumerStore)
    cpdef _ack(self, seq, dseq)
