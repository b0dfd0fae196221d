# The compiled build's declarations for consumer_state.py (see zats.compiled): a consumer's
# state as a C struct, its per-delivery and per-ack updates as C calls.
cimport cython
from zats.broker.jetstream.store cimport ConsumerState, Pending, pending_entry

cdef class MemConsumerStore:
    cdef public object name
    cdef public object created
    cdef public object config
    cdef public object _metadata
    cdef public ConsumerState _state
    cdef public bint _closed

    cpdef _changed(self)
    @cython.locals(st=ConsumerState, p=Pending)
    cpdef update_delivered(self, dseq, sseq, dc, ts)
    @cython.locals(st=ConsumerState, p=Pending, pending=dict, in_order=bint)
    cpdef update_acks(self, dseq, sseq)
