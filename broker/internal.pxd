# The compiled build's declarations for internal.py (see zats.compiled): the internal client as
# a C struct on top of endpoint.pxd's Endpoint.
cimport cython
from zats.broker.delivery cimport deliver
from zats.broker.endpoint cimport Endpoint
from zats.broker.sublist cimport Sublist
from zats.broker.outbound cimport flush_touched

cdef class InternalClient(Endpoint):
    cdef public object account
    cdef public object cid
    cdef public object name
    cdef public list inbox
    cdef public list _after
    cdef public dict subs
    cdef public dict callbacks
    cdef public object next_sid

    cpdef deliver_to(self, result, subject, reply, payload, headers=*)
    @cython.locals(sublist=Sublist, answer=tuple)
    cpdef publish_answers(self, list answers)
    cpdef defer(self, fn)
