# The compiled build's declarations for endpoint.py (see zats.compiled): DeliveryState, Endpoint
# and WireState as C structs, whose fields compiled delivery and read code reads directly.
from zats.broker.sublist cimport Sublist
from zats.protocol.buffer cimport ReceiveBuffer

cdef class DeliveryState:
    cdef public list touched
    cdef public object origin
    cdef public object held
    cdef public Py_ssize_t out_msgs
    cdef public Py_ssize_t out_bytes
    cdef public object options
    cdef public object log

cdef class Endpoint:
    cdef public DeliveryState broker
    cdef public bint closed
    cdef public bint touched
    cdef public object perms
    cdef public bint echo
    cdef public bint headers
    cdef public bint verbose
    cdef public bint no_responders
    cdef public Sublist sublist
    cdef public object out
    cdef public Py_ssize_t in_msgs
    cdef public Py_ssize_t in_bytes
    cdef public Py_ssize_t out_msgs
    cdef public Py_ssize_t out_bytes
    cdef public object msg_subject
    cdef public object msg_reply
    cdef public Py_ssize_t msg_size
    cdef public object msg_head
    cdef public object msg_tail
    cdef public bint holds_output
    cdef public bint paused

cdef class WireState(Endpoint):
    cdef public object transport
    cdef public ReceiveBuffer rbuf
    cdef public object parser
    cdef public bint closing
    cdef public bint held
    cdef public Py_ssize_t slice_work
    cdef public object next_slice
    cdef public double last_activity
    cdef public object auth_check
    cdef public bint upgrading
    cdef public bint tls_pending
    cdef public bint room_as_arrives
