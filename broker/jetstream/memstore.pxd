# The compiled build's declarations for memstore.py (see zats.compiled).
from zats.broker.jetstream.index cimport IndexedStore
from zats.broker.jetstream.store cimport StoredMsg, stored_msg

cdef class MemStore(IndexedStore):
    cpdef _put(self, subject, headers, data, seq, ts, expires, size)
    cpdef StoredMsg _get(self, seq, tuple entry)
