# The compiled build's declarations for consumer.py (see zats.compiled): a consumer and its
# pull requests as C structs; its stream, the stream's store and its own state store typed, so
# that a delivery and an ack read and update them with C calls.
cimport cython
from zats.broker.internal cimport InternalClient
from zats.broker.sublist cimport SublistResult
from zats.broker.jetstream.consumer_state cimport MemConsumerStore
from zats.broker.jetstream.index cimport IndexedStore
from zats.broker.jetstream.store cimport Pending, StoredMsg, pending_entry
from zats.broker.jetstream.stream cimport Stream

cdef extern from *:
    """
    #include <string.h>
    /* A non-negative int below 2**63 as an unsigned long long; 0 for anything else. */
    static int zats_ack_number(PyObject *o, unsigned long long *v) {
        int overflow = 0;
        long long x;
        if (!PyLong_CheckExact(o)) return 0;
        x = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (x == -1 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
        if (overflow || x < 0) return 0;
        *v = (unsigned long long)x;
        return 1;
    }
    /* consumer.ack_reply's subject, or None (not an error) when a number is out of range. */
    static PyObject *zats_ack_reply(PyObject *prefix, PyObject *a, PyObject *b, PyObject *c,
                                    PyObject *d, PyObject *e) {
        PyObject *numbers[5] = {a, b, c, d, e};
        char buf[5 * 21], tmp[20], *p = buf;
        Py_ssize_t plen = PyBytes_GET_SIZE(prefix);
        PyObject *reply;
        for (int i = 0; i < 5; i++) {
            unsigned long long v;
            int n = 0;
            if (!zats_ack_number(numbers[i], &v)) Py_RETURN_NONE;
            if (i) *p++ = '.';
            do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
            while (n) *p++ = tmp[--n];
        }
        reply = PyBytes_FromStringAndSize(NULL, plen + (p - buf));
        if (reply == NULL) return NULL;
        memcpy(PyBytes_AS_STRING(reply), PyBytes_AS_STRING(prefix), plen);
        memcpy(PyBytes_AS_STRING(reply) + plen, buf, p - buf);
        return reply;
    }
    """
    object _ack_reply "zats_ack_reply" (bytes prefix, object dc, object seq, object dseq,
                                        object ts, object pending)

cdef extern from *:
    """
    /* The digits of subject[*i:] up to the next '.' or the end as a number below 10**18;
       -1 for anything else (empty, a non-digit, too long). */
    static long long zats_ack_token(const char *s, Py_ssize_t n, Py_ssize_t *i) {
        long long v = 0;
        Py_ssize_t start = *i;
        while (*i < n && s[*i] != '.') {
            if (s[*i] < '0' || s[*i] > '9' || *i - start >= 18) return -1;
            v = v * 10 + (s[*i] - '0');
            (*i)++;
        }
        return *i > start ? v : -1;
    }
    /* consumer.ack_numbers' (seq, dseq) when both tokens are plain digits, else None (not an
       error: the general path decides). */
    static PyObject *zats_ack_numbers(PyObject *subject, Py_ssize_t start) {
        const char *s;
        Py_ssize_t n, i;
        long long seq, dseq;
        if (!PyBytes_CheckExact(subject) || start < 0) Py_RETURN_NONE;
        s = PyBytes_AS_STRING(subject);
        n = PyBytes_GET_SIZE(subject);
        i = start;
        while (i < n && s[i] != '.') i++;  /* the delivery count */
        if (i >= n) Py_RETURN_NONE;
        i++;
        seq = zats_ack_token(s, n, &i);
        if (seq < 0 || i >= n) Py_RETURN_NONE;
        i++;
        dseq = zats_ack_token(s, n, &i);
        if (dseq < 0) Py_RETURN_NONE;
        return Py_BuildValue("(LL)", seq, dseq);
    }
    """
    object _ack_numbers "zats_ack_numbers" (object subject, Py_ssize_t start)

cpdef bytes ack_reply(bytes prefix, dc, seq, dseq, ts, pending)
cpdef ack_numbers(subject, Py_ssize_t start)

cdef class PullRequest:
    cdef public object reply
    cdef public object batch
    cdef public object max_bytes
    cdef public object no_wait
    cdef public object expires
    cdef public object heartbeat
    cdef public object delivered
    cdef public object timer
    cdef public object hb_timer

cdef class Consumer:
    cdef public Stream stream
    cdef public object jsa
    cdef public object name
    cdef public object cfg
    cdef public bint is_push
    cdef public bint ack_none
    cdef public object created
    cdef public object durable
    cdef public bint closed
    cdef public object loop
    cdef public object sseq
    cdef public object _npc
    cdef public object dseq
    cdef public object delivered_sseq
    cdef public dict pending
    cdef public dict rdc
    cdef public object rdq
    cdef public object lps
    cdef public object floor_dseq
    cdef public object floor_sseq
    cdef public object waiting
    cdef public object last_active
    cdef public object pause_until
    cdef public object _ack_timer
    cdef public object _push_timer
    cdef public object _hb_timer
    cdef public object _inactive_timer
    cdef public object _pause_timer
    cdef public object _pace_timer
    cdef public bint _pumping
    cdef public list _missed
    cdef public object flow
    cdef public object fc_sub
    cdef public object rate
    cdef public object _replay_last
    cdef public object _replay_ts
    cdef public object _replay_due
    cdef public list filters
    cdef public object ack_sub
    cdef public object next_sub
    cdef public MemConsumerStore store
    cdef public bytes ack_prefix
    cdef public object _ack_pending_limit

    cpdef wake(self)
    cpdef num_pending(self)
    cpdef bint _at_max_ack_pending(self) except -1
    @cython.locals(sm=StoredMsg, req=PullRequest, receivers=SublistResult)
    cpdef _pump(self)
    @cython.locals(store=IndexedStore)
    cpdef _next_msg(self)
    @cython.locals(cs=MemConsumerStore, client=InternalClient, entry=Pending)
    cpdef _deliver(self, receivers, target, StoredMsg sm, dc, reply, hdr, data, size)
    @cython.locals(cs=MemConsumerStore, entry=Pending)
    cpdef _ack(self, seq, dseq)
    @cython.locals(pending=dict, entry=Pending)
    cpdef _raise_floor(self, seq, dseq)
