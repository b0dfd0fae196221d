# The compiled build's declarations for parser.py (see zats.compiled): the C-API names and the
# C types of the locals of _scan_pub, which only runs compiled.
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize

cdef extern from *:
    """
    #define ZATS_BYTEARRAY_UCHARS(o) ((unsigned char *)PyByteArray_AS_STRING(o))
    """
    unsigned char *BYTEARRAY_UCHARS "ZATS_BYTEARRAY_UCHARS" (object o)
    char *BYTEARRAY_CHARS "PyByteArray_AS_STRING" (object o)
    unsigned char *find_byte "(unsigned char *)memchr" (const void *s, int c, size_t n)

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, p=cython.p_uchar, lf=cython.p_uchar, eol=Py_ssize_t,
               tokens=int, start=Py_ssize_t,
               first_start=Py_ssize_t, first_end=Py_ssize_t, second_start=Py_ssize_t,
               second_end=Py_ssize_t, third_start=Py_ssize_t, third_end=Py_ssize_t,
               size_start=Py_ssize_t, size_end=Py_ssize_t, size=Py_ssize_t)
cdef object _scan_pub(bytearray buf, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t mcl)
