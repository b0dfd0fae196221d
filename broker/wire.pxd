# The compiled build's declarations for wire.py (see zats.compiled): the read path's receive
# buffer and held output as C structs, its sizes as C integers, and its functions called as C.
cimport cython
from zats.broker.endpoint cimport DeliveryState, WireState
from zats.broker.outbound cimport HeldOutput, flush_touched
from zats.protocol.buffer cimport ReceiveBuffer

@cython.locals(rbuf=ReceiveBuffer, wire=object)
cdef _on_read(WireState conn, Py_ssize_t nbytes)

@cython.locals(rbuf=ReceiveBuffer, held=HeldOutput, consumed=Py_ssize_t, need=Py_ssize_t,
               large=bint, wire=object, broker=DeliveryState)
cdef _parse_read(WireState conn, first)
