# The compiled build's declarations for sublist.py (see zats.compiled): the index and its match
# results as C structs, so that compiled code calls match() and reads a result directly.

cdef class SublistResult:
    cdef public tuple plain
    cdef public tuple queues

cdef class Sublist:
    cdef public object _root
    cdef public dict _cache
    cdef public bint _cache_enabled
    cdef public Py_ssize_t _count
    cdef public Py_ssize_t _num_inserts
    cdef public Py_ssize_t _num_removes
    cdef public Py_ssize_t _num_matches
    cdef public Py_ssize_t _num_misses
    cdef public object on_change

    cpdef SublistResult match(self, subject)
