# The compiled build's declarations for outbound.py (see zats.compiled): a flush holds its buffer
# in a C-typed variable and hands it to delivery's recycle() as a C call.
cimport cython
from zats.broker.delivery cimport recycle

@cython.locals(out=bytearray)
cdef _flush(conn)
