# The compiled build's declarations for filestore.py (see zats.compiled): blocks, the file
# store and its consumer stores as C structs.
cimport cython
from zats.broker.jetstream.consumer_state cimport MemConsumerStore
from zats.broker.jetstream.index cimport IndexedStore
from zats.broker.jetstream.records cimport message_pieces
from zats.broker.jetstream.store cimport StoredMsg, stored_msg

cdef extern from *:
    """
    /* filestore._copy: bytes of a memoryview's [start, end), copied from its buffer. */
    static PyObject *zats_view_copy(PyObject *view, Py_ssize_t start, Py_ssize_t end) {
        Py_buffer *b;
        if (!PyMemoryView_Check(view)) {
            PyErr_SetString(PyExc_TypeError, "a memoryview is needed");
            return NULL;
        }
        b = PyMemoryView_GET_BUFFER(view);
        if (start < 0 || start > end || end > b->len || b->itemsize != 1) {
            PyErr_SetString(PyExc_ValueError, "span out of the view");
            return NULL;
        }
        return PyBytes_FromStringAndSize((const char *)b->buf + start, end - start);
    }
    """
    object _view_copy "zats_view_copy" (object view, Py_ssize_t start, Py_ssize_t end)

cdef bint COMPILED
cdef Py_ssize_t _BLK, _OFF, _RLEN, _HLEN, _HEAD_LEN, _CRC_LEN, _COPY_MAX, _TOMB_LEN

cpdef bytes _copy(view, Py_ssize_t start, Py_ssize_t end)

cdef class _Block:
    cdef public Py_ssize_t index
    cdef public object path
    cdef public int fd
    cdef public Py_ssize_t written
    cdef public Py_ssize_t end
    cdef public Py_ssize_t live
    cdef public Py_ssize_t live_bytes
    cdef public object max_ref
    cdef public set dead
    cdef public Py_ssize_t needed
    cdef public object _map
    cdef public object _view

    cpdef mapped(self, Py_ssize_t end)

cdef class FileStore(IndexedStore):
    cdef public object options
    cdef public object directory
    cdef public object _log
    cdef public object _mdir
    cdef public list _blocks
    cdef public dict _by_index
    cdef public list _wbuf
    cdef public Py_ssize_t _wlen
    cdef public dict _unflushed
    cdef public object _unflushed_first
    cdef public bint _flush_scheduled
    cdef public bint _write_through
    cdef public object _failed
    cdef public set _compact_candidates
    cdef public dict _dead
    cdef public set _dirty_consumers
    cdef public object _floor_seq
    cdef public object _state_last
    cdef public object _last_sync
    cdef public object _sync_timer
    cdef public bint _unsynced
    cdef public bint _sync_always
    cdef public Py_ssize_t _block_size
    cdef public object _call_soon

    @cython.locals(blk=_Block, blocks=list)
    cpdef _Block _active_for(self, Py_ssize_t rlen)
    cpdef _append(self, pieces, Py_ssize_t rlen)
    @cython.locals(blk=_Block, start=Py_ssize_t, total=Py_ssize_t, n=Py_ssize_t, i=Py_ssize_t)
    cpdef _flush_writes(self)
    @cython.locals(blk=_Block)
    cpdef _Block _control(self, kind, seq, arg=*)
    @cython.locals(blk=_Block)
    cpdef _mark_dead(self, seq, tuple e, _Block tomb)
    @cython.locals(blk=_Block, rlen=Py_ssize_t, off=Py_ssize_t)
    cpdef _put(self, subject, headers, data, seq, ts, expires, size)
    @cython.locals(blk=_Block, off=Py_ssize_t, end=Py_ssize_t, h0=Py_ssize_t, hlen=Py_ssize_t,
                   d0=Py_ssize_t, d1=Py_ssize_t, subject=bytes)
    cpdef StoredMsg _get(self, seq, tuple e)

cdef class FileConsumerStore(MemConsumerStore):
    cdef public FileStore _stream
    cdef public object _dir

    cpdef _changed(self)
