# cython: language_level=3, boundscheck=False, wraparound=False
"""UTF-8 validation, Cython twin of ``wsfast._pure.utf8``.

The scanning loop is ``utf8_step`` in ``utf8.pxd``; the parser calls it directly on payload
ranges as they arrive.
"""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE


def validate(data):
    """Return True if the whole buffer ``data`` is valid UTF-8 (no sequence left incomplete).

    ``data`` is any C-contiguous buffer; nothing is decoded or copied.
    """
    cdef Utf8State st
    cdef Py_buffer view
    cdef Py_ssize_t r
    utf8_init(&st)
    if PyBytes_CheckExact(data):
        r = utf8_step(&st, <const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        return r < 0 and st.need == 0
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    r = utf8_step(&st, <const unsigned char*>view.buf, view.len)
    PyBuffer_Release(&view)
    return r < 0 and st.need == 0


cdef class Utf8Validator:
    """Incremental UTF-8 validator for a message arriving in chunks.

    ``feed(chunk)`` returns -1 while the input so far can still be valid, else the index in
    *this chunk* of the first byte that makes it invalid (it never points into an earlier
    chunk). Once failed it stays failed: every later ``feed`` returns 0 and ``finish`` False.
    At the end of the message the caller calls ``finish()``: True if valid and complete.
    ``reset()`` starts a new message.
    """

    def __init__(self):
        utf8_init(&self._st)
        self._failed = False

    def feed(self, data):
        """Validate the next chunk; return -1, or the index of the failing byte in it."""
        cdef Py_buffer view
        cdef Py_ssize_t r
        if self._failed:
            return 0
        if PyBytes_CheckExact(data):
            r = utf8_step(&self._st, <const unsigned char*>PyBytes_AS_STRING(data),
                          PyBytes_GET_SIZE(data))
        else:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            r = utf8_step(&self._st, <const unsigned char*>view.buf, view.len)
            PyBuffer_Release(&view)
        if r >= 0:
            self._failed = True
        return r

    def finish(self):
        """True if nothing failed and no sequence is left incomplete (call at message end)."""
        return not self._failed and self._st.need == 0

    def reset(self):
        """Forget everything: ready for a new message."""
        utf8_init(&self._st)
        self._failed = False

    @property
    def failed(self):
        """True once invalid input has been seen."""
        return self._failed
