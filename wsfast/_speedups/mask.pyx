# cython: language_level=3, boundscheck=False, wraparound=False
"""WebSocket masking (RFC 6455 section 5.3), Cython twin of ``wsfast._pure.mask``.

Every function works on any C-contiguous buffer and never keeps a reference to it. The hot
loop is ``mask_copy`` in ``mask.pxd`` (also used by the parser and the builder).
"""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE


cdef inline int _load_key(object key, unsigned char* out) except -1:
    cdef Py_buffer kv
    PyObject_GetBuffer(key, &kv, PyBUF_SIMPLE)
    try:
        if kv.len != 4:
            raise ValueError(f"mask key must be 4 bytes, not {kv.len}")
        out[0] = (<unsigned char*>kv.buf)[0]
        out[1] = (<unsigned char*>kv.buf)[1]
        out[2] = (<unsigned char*>kv.buf)[2]
        out[3] = (<unsigned char*>kv.buf)[3]
    finally:
        PyBuffer_Release(&kv)
    return 0


cdef inline Py_ssize_t _check_phase(Py_ssize_t phase) except -1:
    if phase < 0 or phase > 3:
        raise ValueError(f"phase must be 0-3, not {phase}")
    return phase


cdef bytes _mask_to_bytes(object data, const unsigned char* key, Py_ssize_t phase):
    cdef Py_buffer view
    cdef bytes out
    if PyBytes_CheckExact(data):
        n = PyBytes_GET_SIZE(data)
        out = PyBytes_FromStringAndSize(NULL, n)
        mask_copy(<unsigned char*>PyBytes_AS_STRING(out),
                  <const unsigned char*>PyBytes_AS_STRING(data), n, key, phase)
        return out
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        out = PyBytes_FromStringAndSize(NULL, view.len)
        mask_copy(<unsigned char*>PyBytes_AS_STRING(out),
                  <const unsigned char*>view.buf, view.len, key, phase)
    finally:
        PyBuffer_Release(&view)
    return out


cdef Py_ssize_t _mask_inplace(object buf, const unsigned char* key, Py_ssize_t phase) except -1:
    cdef Py_buffer view
    cdef Py_ssize_t n
    PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
    try:
        n = view.len
        mask_copy(<unsigned char*>view.buf, <const unsigned char*>view.buf, n, key, phase)
    finally:
        PyBuffer_Release(&view)
    return (phase + n) & 3


def apply_mask(data, key, Py_ssize_t phase=0):
    """Return ``data`` XORed with the 4-byte ``key``, starting at key index ``phase`` (0-3).

    ``data`` is any C-contiguous buffer (bytes, bytearray, memoryview); a new ``bytes`` is
    returned and ``data`` is left untouched. Masking is its own inverse, so the caller uses
    this both to mask outgoing and to unmask incoming payloads. Raises ValueError for a key
    that is not 4 bytes or a phase outside 0-3.
    """
    cdef unsigned char k[4]
    _load_key(key, k)
    _check_phase(phase)
    return _mask_to_bytes(data, k, phase)


def apply_mask_inplace(buf, key, Py_ssize_t phase=0):
    """XOR the writable buffer ``buf`` with ``key`` in place, starting at key index ``phase``.

    Returns the key phase after the last byte, ``(phase + len(buf)) % 4``: the caller passes
    it back in to continue masking the same frame payload in the next buffer.
    """
    cdef unsigned char k[4]
    _load_key(key, k)
    _check_phase(phase)
    return _mask_inplace(buf, k, phase)


cdef class Masker:
    """Streaming masker: masks consecutive chunks of one payload, carrying the key phase.

    ``process(chunk)`` returns a new ``bytes``; ``process_inplace(buf)`` XORs a writable
    buffer; ``phase`` is the key index the next chunk starts at.
    """

    def __init__(self, key):
        _load_key(key, self._key)
        self._phase = 0

    @property
    def phase(self):
        """Key index (0-3) the next byte is masked with."""
        return self._phase

    def process(self, data):
        """Mask ``data`` (any buffer) and return the result as new ``bytes``."""
        cdef bytes out = _mask_to_bytes(data, self._key, self._phase)
        self._phase = (self._phase + len(out)) & 3
        return out

    def process_inplace(self, buf):
        """Mask the writable buffer ``buf`` in place."""
        self._phase = _mask_inplace(buf, self._key, self._phase)
