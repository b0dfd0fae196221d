# The compiled build's declarations for index.py (see zats.compiled): the index both stores
# share as a C struct, and the calls of a store and a read as C calls.
cimport cython
from zats.broker.jetstream.store cimport StoreConfig, StoredMsg

cdef class IndexedStore:
    cdef public StoreConfig config
    cdef public object _maxp
    cdef public dict _msgs
    cdef public dict _fss
    cdef public object _first
    cdef public object _last
    cdef public object _first_ts
    cdef public object _last_ts
    cdef public object _bytes
    cdef public bint _closed
    cdef public dict _consumers
    cdef public object _on_update
    cdef public object _on_process
    cdef public list _ttls
    cdef public object _call_later
    cdef public object _timer
    cdef public object _timer_at
    cdef public object _next_expiry

    cpdef _put(self, subject, headers, data, seq, ts, expires, size)
    cpdef StoredMsg _get(self, seq, tuple entry)
    cpdef tuple store_msg(self, subject, headers, data, ttl=*)
    @cython.locals(cfg=StoreConfig)
    cpdef _store(self, subject, headers, data, seq, ts, ttl, check)
    cpdef StoredMsg load_msg(self, seq)
    cpdef StoredMsg _next(self, filter, match, start)
    cpdef StoredMsg load_next_msg(self, filter, start)
