# The compiled build's declarations for subscription.py (see zats.compiled): the entries of the
# index as C structs, whose fields compiled delivery code reads directly.

cdef class Interest:
    cdef public object conn
    cdef public int kind
    cdef public object subject
    cdef public object queue
    cdef public object sid
    cdef public Py_ssize_t max
    cdef public Py_ssize_t delivered

cdef class Subscription(Interest):
    cdef public object line
    cdef public object line_head
    cdef public object line_tail

cdef class PeerSub(Interest):
    cdef public object account
    cdef public object weight
    cdef public object last_resort
