# cython: language_level=3, boundscheck=False, wraparound=False
"""python_floor.py's minimal per-message loop written as C in Cython syntax: what a compiled
parse-and-deliver kernel could reach on the same traffic (`python benchmarks/python_floor.py
--compiled` builds it with pyximport and runs both). A measurement, not broker code: it trusts
its input (the traffic python_floor.py makes) and checks only the trailer, as the Python loop.

Per message: memchr for the line's end and the space after the subject, the size read digit by
digit, one bytes object for the subject (the dict lookup needs it), and memcpy of the MSG line's
pieces and the payload into the output buffer."""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from libc.string cimport memchr, memcpy


cdef inline void _append(bytearray out, const char* src, Py_ssize_t n):
    cdef Py_ssize_t old = PyByteArray_GET_SIZE(out)
    PyByteArray_Resize(out, old + n)
    memcpy(PyByteArray_AS_STRING(out) + old, src, n)


def floor_pass(bytearray buf, dict receivers, bytearray out, list tails):
    """The same contract as python_floor.floor_pass, with the MSG line's size tails passed in."""
    cdef const char* p = PyByteArray_AS_STRING(buf)
    cdef Py_ssize_t end = PyByteArray_GET_SIZE(buf)
    cdef Py_ssize_t pos = 0, eol, sstart, send, size, pstart, pend, i, delivered = 0
    cdef PyObject* head
    cdef bytes tail
    while pos < end:
        eol = <const char*>memchr(p + pos, 10, end - pos) - p
        sstart = pos + 4  # after "PUB "
        send = <const char*>memchr(p + sstart, 32, eol - sstart) - p
        size = 0
        for i in range(send + 1, eol - 1):  # the digits before "\r\n"
            size = size * 10 + (p[i] - 48)
        pstart = eol + 1
        pend = pstart + size
        if p[pend] != 13 or p[pend + 1] != 10:
            raise ValueError("bad trailer")
        subject = PyBytes_FromStringAndSize(p + sstart, send - sstart)
        head = PyDict_GetItem(receivers, subject)
        if head is not NULL:
            _append(out, PyBytes_AS_STRING(<bytes>head), PyBytes_GET_SIZE(<bytes>head))
            tail = <bytes>tails[size]
            _append(out, PyBytes_AS_STRING(tail), PyBytes_GET_SIZE(tail))
            _append(out, p + pstart, size + 2)  # the payload and its CRLF
            delivered += 1
        pos = pend + 2
    return delivered
