# The compiled build's declarations for store.py (see zats.compiled): a stored message as a C
# struct, made per read and per delivery.

cdef class StoredMsg:
    cdef public object subject
    cdef public object seq
    cdef public object headers
    cdef public object data
    cdef public object ts
