# The compiled build's declarations for outbound.py (see zats.compiled): a flush holds its buffer
# in a C-typed variable and hands it to delivery's recycle() as a C call; the flush at the end of
# a read reads the broker and its held output as C structs.
cimport cython
from zats.broker.delivery cimport recycle
from zats.broker.endpoint cimport DeliveryState, Endpoint, WireState

@cython.locals(out=bytearray, wire=object, broker=DeliveryState)
cdef _flush(WireState conn)

@cython.locals(touched=list, held=HeldOutput, stalled=list, conn=Endpoint)
cpdef flush_touched(DeliveryState broker, origin=*, bint hold=*)

cdef class HeldOutput:
    cdef public object loop
    cdef public list conns
    cdef public Py_ssize_t reads
    cdef public Py_ssize_t seen
    cdef public Py_ssize_t rounds
    cdef public bint scheduled

    cpdef hold(self, conn)
    cpdef release(self)
