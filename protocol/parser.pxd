# The compiled build's declarations for parser.py (see zats.compiled): the C-API names and the
# C types of the locals of ClientOpsParser._scan_pub, which only runs compiled.
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize

cdef extern from *:
    """
    #define ZATS_BYTEARRAY_UCHARS(o) ((unsigned char *)PyByteArray_AS_STRING(o))
    /* A memoryview sliced from `view` that only the caller references and that is not
       released: _payload may point it at other bytes of the same buffer. */
    #define ZATS_VIEW_REUSABLE(o, whole) (Py_REFCNT(o) == 1 && PyMemoryView_Check(o) \
        && ((PyMemoryViewObject *)(o))->mbuf == ((PyMemoryViewObject *)(whole))->mbuf \
        && ((PyMemoryViewObject *)(o))->view.ndim == 1 \
        && !(((PyMemoryViewObject *)(o))->flags & _Py_MEMORYVIEW_RELEASED))
    static inline void zats_view_retarget(PyObject *o, PyObject *whole, Py_ssize_t start,
                                          Py_ssize_t end) {
        Py_buffer *b = &((PyMemoryViewObject *)o)->view;
        b->buf = (char *)PyMemoryView_GET_BUFFER(whole)->buf + start;
        b->len = end - start;
        b->shape[0] = end - start;
    }
    """
    unsigned char *BYTEARRAY_UCHARS "ZATS_BYTEARRAY_UCHARS" (object o)
    char *BYTEARRAY_CHARS "PyByteArray_AS_STRING" (object o)
    unsigned char *find_byte "(unsigned char *)memchr" (const void *s, int c, size_t n)
    bint VIEW_REUSABLE "ZATS_VIEW_REUSABLE" (object o, object view)
    void VIEW_RETARGET "zats_view_retarget" (object o, object view, Py_ssize_t start,
                                             Py_ssize_t end)


cdef object _payload(object view, object spare, Py_ssize_t start, Py_ssize_t end)

cdef class _Parser:
    cdef public Py_ssize_t max_control_line
    cdef public Py_ssize_t need
    cdef public object _table
    cdef public object _on_ping
    cdef public object _on_pong
    cdef public object _on_info
    cdef public object _on_ok
    cdef public object _on_err

cdef class ClientOpsParser(_Parser):
    cdef public Py_ssize_t max_payload
    cdef public bint headers
    cdef public bint auth_pending
    cdef public bint pedantic
    cdef public bint _line_checked
    cdef public object _on_connect
    cdef public object _on_pub
    cdef public object _on_hpub
    cdef public object _on_sub
    cdef public object _on_unsub
    cdef public object _on_pub_run
    cdef public object _on_pub_sizes
    cdef public object _on_publish_line
    cdef public object _on_client_err
    cdef object _scan_reply
    cdef Py_ssize_t _scan_size
    cdef Py_ssize_t _scan_eol

    @cython.locals(n=Py_ssize_t, i=Py_ssize_t, p=cython.p_uchar, lf=cython.p_uchar,
                   eol=Py_ssize_t, tokens=int, start=Py_ssize_t,
                   first_start=Py_ssize_t, first_end=Py_ssize_t, second_start=Py_ssize_t,
                   second_end=Py_ssize_t, third_start=Py_ssize_t, third_end=Py_ssize_t,
                   size_start=Py_ssize_t, size_end=Py_ssize_t, size=Py_ssize_t)
    cdef object _scan_pub(self, bytearray buf, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t mcl)

    @cython.locals(pos=Py_ssize_t, mcl=Py_ssize_t, max_payload=Py_ssize_t, rep_len=Py_ssize_t,
                   rep_size=Py_ssize_t, last_size=Py_ssize_t, stride=Py_ssize_t,
                   count=Py_ssize_t, p=Py_ssize_t, plen=Py_ssize_t, fstart=Py_ssize_t,
                   eol=Py_ssize_t, size=Py_ssize_t, pstart=Py_ssize_t, pend=Py_ssize_t,
                   code=int, n=Py_ssize_t, pedantic=bint, line_checked=bint, scan_pub=bint,
                   pub_code=int, cr=int, lf=int)
    cpdef Py_ssize_t parse(self, bytearray buf, object view, Py_ssize_t end) except -1
