# The compiled build's declarations for store.py (see zats.compiled): a stored message and a
# consumer's state as C structs, made and updated per read, delivery and ack.

cdef class StoredMsg:
    cdef public object subject
    cdef public object seq
    cdef public object headers
    cdef public object data
    cdef public object ts

cdef class SequencePair:
    cdef public object consumer
    cdef public object stream

cdef class Pending:
    cdef public object sequence
    cdef public object timestamp

cdef class ConsumerState:
    cdef public SequencePair delivered
    cdef public SequencePair ack_floor
    cdef public dict pending
    cdef public dict redelivered
