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
    cpdef SublistResult match_once(self, subject)
    cpdef SublistResult _match_miss(self, bytes subject, bint cache=*)

cdef extern from *:
    """
    #include <string.h>
    /* The end of the token at `start`: the next '.' of the bytes, or `size`. */
    static inline Py_ssize_t zats_dot_or_end(PyObject *subject, Py_ssize_t start, Py_ssize_t size) {
        const char *s = PyBytes_AS_STRING(subject);
        const char *dot = (const char *)memchr(s + start, '.', (size_t)(size - start));
        return dot == NULL ? size : dot - s;
    }
    /* A new bytes of subject[start:end]. */
    static inline PyObject *zats_span(PyObject *subject, Py_ssize_t start, Py_ssize_t end) {
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(subject) + start, end - start);
    }
    /* Whether the subject has an empty token: it is empty, or starts or ends with '.', or has
       two in a row. */
    static inline int zats_empty_token(PyObject *subject) {
        const char *s = PyBytes_AS_STRING(subject), *end = s + PyBytes_GET_SIZE(subject), *dot;
        if (s == end || *s == '.' || end[-1] == '.') return 1;
        for (dot = memchr(s, '.', end - s); dot != NULL; dot = memchr(dot + 1, '.', end - dot - 1)) {
            if (dot[1] == '.') return 1;
        }
        return 0;
    }
    """
    Py_ssize_t _dot_or_end "zats_dot_or_end" (bytes subject, Py_ssize_t start, Py_ssize_t size)
    bytes _span "zats_span" (bytes subject, Py_ssize_t start, Py_ssize_t end)
    bint _empty_token "zats_empty_token" (bytes subject)

cdef bint COMPILED

@cython.locals(node=_Node, pwc=_Node, child=_Node, start=Py_ssize_t, end=Py_ssize_t,
               size=Py_ssize_t, deferred=list)
cdef _collect_nodes(_Node root, bytes subject, list matched)

cdef Py_ssize_t _token_end(bytes subject, Py_ssize_t start, Py_ssize_t size) except -1
cdef bytes _token(bytes subject, Py_ssize_t start, Py_ssize_t end)
cdef bint _has_empty_token(bytes subject) except -1
