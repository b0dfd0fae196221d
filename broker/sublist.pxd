# The compiled build's declarations for sublist.py (see zats.compiled): the index, its trie nodes
# and its match results as C structs, so that compiled code calls match() and reads a result
# directly, and a match that misses the cache walks the trie in C.

cimport cython


cdef class SublistResult:
    cdef public tuple plain
    cdef public tuple queues

cdef class _Node:
    cdef public dict children
    cdef public _Node pwc
    cdef public _Node fwc
    cdef public dict psubs
    cdef public dict qsubs
    cdef public SublistResult result

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
    cpdef SublistResult _match_miss(self, bytes subject, bint cache=*)

@cython.locals(node=_Node, pwc=_Node, child=_Node, i=Py_ssize_t, deferred=list)
cdef _collect_nodes(_Node root, list tokens, Py_ssize_t n, list matched)
