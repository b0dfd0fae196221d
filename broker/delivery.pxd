# The compiled build's declarations for delivery.py (see zats.compiled): the C-API names its
# COMPILED branch calls, the C types of that branch's locals, and deliver's publisher, receivers
# and their connections as the C structs of endpoint.pxd and subscription.pxd.
cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.memoryview cimport PyMemoryView_GET_BUFFER
from libc.string cimport memcpy

cdef extern from *:
    """
    #define ZATS_BYTEARRAY_ALLOC(o) (((PyByteArrayObject *)(o))->ob_alloc)
    """
    Py_ssize_t BYTEARRAY_ALLOC "ZATS_BYTEARRAY_ALLOC" (object o)

@cython.locals(nhead=Py_ssize_t, nsid=Py_ssize_t, ntail=Py_ssize_t, nbody=Py_ssize_t,
               start=Py_ssize_t, end=Py_ssize_t, src=cython.p_void, dst=cython.p_char)
cdef int _append_frame(bytearray out, bytes head, bytes sid, bytes tail, object body) except -1

from zats.broker.endpoint cimport Endpoint
from zats.broker.subscription cimport Interest

@cython.locals(sub=Interest, conn=Endpoint, count=Py_ssize_t, size=Py_ssize_t, total=Py_ssize_t,
               with_headers=Py_ssize_t)
cpdef deliver(Endpoint origin, result, subject, reply, message, Py_ssize_t header_len=*)

@cython.locals(sub=Interest, conn=Endpoint, n=Py_ssize_t, start=Py_ssize_t, i=Py_ssize_t)
cdef object _pick(group, Endpoint origin, subject)

@cython.locals(conn=Endpoint)
cdef bint _accepts(Interest sub, Endpoint origin, subject) except -1

cdef tuple _receivers(result, Endpoint origin, subject)
