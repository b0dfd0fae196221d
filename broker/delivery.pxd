# The compiled build's declarations for delivery.py (see zats.compiled): the C-API names its
# COMPILED branches call, the C types of their locals, and the publisher, receivers, their
# connections, the broker and the match result as the C structs of endpoint.pxd, subscription.pxd
# and sublist.pxd.
cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBuffer_IsContiguous
from cpython.memoryview cimport PyMemoryView_GET_BUFFER
from cpython.ref cimport Py_REFCNT
from libc.string cimport memcpy

from zats.broker.endpoint cimport DeliveryState, Endpoint
from zats.broker.sublist cimport SublistResult
from zats.broker.subscription cimport Interest

cdef extern from *:
    """
    #define ZATS_BYTEARRAY_ALLOC(o) (((PyByteArrayObject *)(o))->ob_alloc)
    /* xorshift64* (Vigna): the queue-group picker's random numbers. */
    static unsigned long long zats_picker_state = 1;
    static inline void zats_seed_picker(unsigned long long seed) { zats_picker_state = seed ? seed : 1; }
    static inline Py_ssize_t zats_pick_below(Py_ssize_t n) {
        unsigned long long x = zats_picker_state;
        x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
        zats_picker_state = x;
        return (Py_ssize_t)((double)((x * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0) * n);
    }
    /* An outbound buffer's memory, kept and handed over (recycle, _grow): only with no buffer
       exports (no view points into it); emptied without giving its memory back; two empty
       buffers' memories swapped. */
    #define ZATS_BYTEARRAY_UNVIEWED(o) (((PyByteArrayObject *)(o))->ob_exports == 0)
    /* Room for n bytes from where its content starts, and the NUL a bytearray keeps after. */
    #define ZATS_BYTEARRAY_ROOM(o, n) ((((PyByteArrayObject *)(o))->ob_start \
        - ((PyByteArrayObject *)(o))->ob_bytes) + (n) < ((PyByteArrayObject *)(o))->ob_alloc)
    /* The length set to n, within the room (ZATS_BYTEARRAY_ROOM). */
    static inline void zats_bytearray_set_size(PyObject *o, Py_ssize_t n) {
        PyByteArrayObject *b = (PyByteArrayObject *)o;
        Py_SET_SIZE(b, n);
        b->ob_start[n] = 0;
    }
    static inline void zats_bytearray_empty(PyObject *o) {
        PyByteArrayObject *b = (PyByteArrayObject *)o;
        Py_SET_SIZE(b, 0);
        b->ob_start = b->ob_bytes;
        if (b->ob_bytes) b->ob_bytes[0] = 0;
    }
    static inline void zats_bytearray_swap(PyObject *x, PyObject *y) {
        PyByteArrayObject *a = (PyByteArrayObject *)x, *b = (PyByteArrayObject *)y;
        Py_ssize_t alloc = a->ob_alloc; char *bytes = a->ob_bytes, *start = a->ob_start;
        a->ob_alloc = b->ob_alloc; a->ob_bytes = b->ob_bytes; a->ob_start = b->ob_start;
        b->ob_alloc = alloc; b->ob_bytes = bytes; b->ob_start = start;
    }
    #define ZATS_FLAT_PTR(o) (PyBytes_CheckExact(o) ? (void *)PyBytes_AS_STRING(o) \
                              : PyMemoryView_GET_BUFFER(o)->buf)
    #define ZATS_FLAT_LEN(o) (PyBytes_CheckExact(o) ? PyBytes_GET_SIZE(o) \
                              : PyMemoryView_GET_BUFFER(o)->len)
    """
    Py_ssize_t BYTEARRAY_ALLOC "ZATS_BYTEARRAY_ALLOC" (object o)
    bint BYTEARRAY_UNVIEWED "ZATS_BYTEARRAY_UNVIEWED" (object o)
    bint BYTEARRAY_ROOM "ZATS_BYTEARRAY_ROOM" (object o, Py_ssize_t n)
    void BYTEARRAY_SET_SIZE "zats_bytearray_set_size" (object o, Py_ssize_t n)
    void BYTEARRAY_EMPTY "zats_bytearray_empty" (object o)
    void BYTEARRAY_SWAP "zats_bytearray_swap" (object a, object b)
    void SEED_PICKER "zats_seed_picker" (unsigned long long seed)
    Py_ssize_t PICK_BELOW "zats_pick_below" (Py_ssize_t n)
    # The memory of what _flat returns (bytes or a contiguous memoryview of bytes).
    void *FLAT_PTR "ZATS_FLAT_PTR" (object o)
    Py_ssize_t FLAT_LEN "ZATS_FLAT_LEN" (object o)
    char *NO_BYTES "NULL"  # PyBytes_FromStringAndSize(NULL, n): n bytes to fill in

cdef bint COMPILED
cdef int _INTERNAL_SUB

@cython.locals(na=Py_ssize_t, nb=Py_ssize_t, nc=Py_ssize_t, dst=cython.p_char)
cdef bytes _join3(bytes a, bytes b, bytes c)

@cython.locals(nhead=Py_ssize_t, nsid=Py_ssize_t, ntail=Py_ssize_t, nbody=Py_ssize_t,
               dst=cython.p_char)
cdef int _append_frame(bytearray out, bytes head, bytes sid, bytes tail, object body) except -1

@cython.locals(nsubject=Py_ssize_t, nsid=Py_ssize_t, nreply=Py_ssize_t, nbody=Py_ssize_t,
               ndigits=Py_ssize_t, rest=size_t, i=Py_ssize_t, dst=cython.p_char)
cdef int _append_msg(bytearray out, bytes subject, bytes sid, object reply, object body) except -1

cdef object _flat(object body)

@cython.locals(start=Py_ssize_t, end=Py_ssize_t)
cdef char *_grow(bytearray out, Py_ssize_t extra) except NULL

cpdef recycle(bytearray out)

@cython.locals(subs=tuple, sub=Interest, conn=Endpoint, broker=DeliveryState, touched=list,
               count=Py_ssize_t, size=Py_ssize_t, total=Py_ssize_t, with_headers=Py_ssize_t,
               in_place=bint, nbytes=Py_ssize_t, n=Py_ssize_t)
cpdef Py_ssize_t deliver(Endpoint origin, SublistResult result, subject, reply, message,
                         Py_ssize_t header_len=*) except -1

cdef Py_ssize_t _random_below(Py_ssize_t n) except -1

@cython.locals(sub=Interest, conn=Endpoint, n=Py_ssize_t, start=Py_ssize_t, i=Py_ssize_t)
cdef object _pick(group, Endpoint origin, subject)

@cython.locals(conn=Endpoint)
cdef bint _accepts(Interest sub, Endpoint origin, subject) except -1

cdef tuple _receivers(SublistResult result, Endpoint origin, subject)

@cython.locals(conn=Endpoint)
cdef Py_ssize_t _hand(Interest sub, subject, reply, Py_ssize_t header_len, message) except -1
