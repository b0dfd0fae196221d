# The compiled build's declarations for records.py (see zats.compiled): a MSG record written
# whole in C (the layout of records.HEADER, little-endian), its CRC-32 by zlib's crc32, which
# setup.py links. Only `message_pieces`' COMPILED branch calls it, with bytes arguments.

cdef extern from *:
    """
    #include <string.h>
    #include <zlib.h>
    static inline unsigned char *zats_put_le(unsigned char *p, unsigned long long v, int n) {
        for (int i = 0; i < n; i++) { p[i] = (unsigned char)(v >> (8 * i)); }
        return p + n;
    }
    static PyObject *zats_msg_record(PyObject *subject, PyObject *headers, PyObject *data,
                                     int kind, unsigned long long seq, long long ts,
                                     long long expires, Py_ssize_t hlen, Py_ssize_t rlen) {
        Py_ssize_t slen = PyBytes_GET_SIZE(subject), dlen = PyBytes_GET_SIZE(data);
        PyObject *rec = PyBytes_FromStringAndSize(NULL, rlen);
        if (rec == NULL) return NULL;
        unsigned char *start = (unsigned char *)PyBytes_AS_STRING(rec), *p = start;
        p = zats_put_le(p, (unsigned long long)rlen, 4);
        *p++ = (unsigned char)kind;
        p = zats_put_le(p, seq, 8);
        p = zats_put_le(p, (unsigned long long)ts, 8);
        p = zats_put_le(p, (unsigned long long)expires, 8);
        p = zats_put_le(p, (unsigned long long)slen, 2);
        p = zats_put_le(p, (unsigned long long)hlen, 4);
        memcpy(p, PyBytes_AS_STRING(subject), slen);
        p += slen;
        if (hlen) {
            memcpy(p, PyBytes_AS_STRING(headers), hlen);
            p += hlen;
        }
        memcpy(p, PyBytes_AS_STRING(data), dlen);
        p += dlen;
        zats_put_le(p, crc32(0L, start, (uInt)(p - start)), 4);
        return rec;
    }
    """
    object _msg_record "zats_msg_record" (object subject, object headers, object data, int kind,
                                          unsigned long long seq, long long ts,
                                          long long expires, Py_ssize_t hlen, Py_ssize_t rlen)

cpdef tuple message_pieces(subject, headers, data, seq, ts, expires)
