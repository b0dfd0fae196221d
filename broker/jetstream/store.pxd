# The compiled build's declarations for store.py (see zats.compiled): a stored message and a
# consumer's state as C structs, made and updated per read, delivery and ack.

cimport cython

cdef class StoredMsg:
    cdef public object subject
    cdef public object seq
    cdef public object headers
    cdef public object data
    cdef public object ts

@cython.locals(m=StoredMsg)
cpdef StoredMsg stored_msg(subject, seq, headers, data, ts)

cdef class SequencePair:
    cdef public object consumer
    cdef public object stream

# Two C integers: no reference to follow, so the cyclic garbage collector does not track it (a
# consumer holds one per message delivered and not yet acknowledged).
cdef class Pending:
    cdef public long long sequence
    cdef public long long timestamp

@cython.locals(p=Pending)
cpdef Pending pending_entry(long long sequence, long long timestamp)

cdef class ConsumerState:
    cdef public SequencePair delivered
    cdef public SequencePair ack_floor
    cdef public dict pending
    cdef public dict redelivered

cdef class StoreConfig:
    cdef public object name
    cdef public object storage
    cdef public object max_msgs
    cdef public object max_bytes
    cdef public object max_age
    cdef public object max_msgs_per_subject
    cdef public object max_msg_size
    cdef public object discard
    cdef public object discard_new_per_subject
    cdef public object allow_msg_ttl
    cdef public object subject_delete_marker_ttl
