# The compiled build's declarations for buffer.py (see zats.compiled): the receive buffer as a C
# struct whose per-read methods compiled connections call as C.

cimport cython

cdef class ReceiveBuffer:
    cdef public bytearray buf
    cdef public object view
    cdef public Py_ssize_t filled
    cdef public Py_ssize_t min_size
    cdef public Py_ssize_t max_size
    cdef public Py_ssize_t _short_reads
    cdef public bint _large

    cpdef get_buffer(self)
    @cython.locals(size=Py_ssize_t, free=Py_ssize_t, cap=Py_ssize_t)
    cpdef received(self, Py_ssize_t nbytes)
    @cython.locals(filled=Py_ssize_t, rest=Py_ssize_t, size=Py_ssize_t)
    cpdef consume(self, Py_ssize_t upto, Py_ssize_t need=*)
    cpdef _resize(self, Py_ssize_t size)
    cpdef _replace(self, Py_ssize_t size, Py_ssize_t keep)
