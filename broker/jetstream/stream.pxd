# The compiled build's declarations for stream.py (see zats.compiled): a stream as a C struct,
# its store typed so that a publish stores with C calls.
cimport cython
from zats.broker.internal cimport InternalClient
from zats.broker.jetstream.index cimport IndexedStore

cdef class Stream:
    cdef public object jsa
    cdef public InternalClient client
    cdef public object cfg
    cdef public IndexedStore store
    cdef public object created
    cdef public dict consumers
    cdef public dict _taking
    cdef public list subs
    cdef public object dedupe
    cdef public object last_msg_id
    cdef public bint closed
    cdef public list _answers
    cdef public bytes _ack_head
    cdef public tuple _ack_tails
    cdef public object _max_msg_size
    cdef public bint _sealed
    cdef public bint _interest
    cdef public object direct_subs

    @cython.locals(seq="long long", duplicate=bint, tails=tuple)
    cpdef on_publish(self, subject, reply, hdr, payload)
    cpdef _answer(self, reply, body, seq)
    cpdef tuple _store(self, subject, hdr, payload)
