# The compiled build's declarations for connection.py (see zats.compiled): a publish reads its
# connection as the C struct of endpoint.pxd and calls deliver() as C.
cimport cython
from zats.broker.delivery cimport deliver
from zats.broker.endpoint cimport Endpoint

cdef int _RESERVED_A, _RESERVED_B, _HEAVY_FANOUT

@cython.locals(n=Py_ssize_t, first=int, reply_first=int)
cdef bint _publish(Endpoint conn, bytes subject, bytes reply, message, Py_ssize_t header_len) except -1
