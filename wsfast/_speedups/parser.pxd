# cython: language_level=3
"""The Cython frame parser's state, all in C fields (see parser.pyx)."""
cimport cython
from cpython.object cimport PyObject

from .utf8 cimport Utf8State


@cython.final
cdef class Parser:
    # configuration; limits are -1 for "unlimited"
    cdef bint _client
    cdef bint _decode_text
    cdef long long _max_size
    cdef long long _max_csize
    cdef long long _max_frags
    cdef int _rsv_allowed
    # outcome
    cdef readonly object error
    cdef readonly bint closed
    # items of the last feed() that are not plain text/binary messages (control frames,
    # compressed messages): the protocol skips its per-item pass when this is 0
    cdef readonly int special
    # a header cut by the end of a chunk
    cdef bint _in_payload
    cdef int _hlen
    cdef unsigned char _hdr[14]
    # current frame
    cdef int _opcode
    cdef bint _fin
    cdef bint _control
    cdef bint _masked
    cdef unsigned char _key[4]
    cdef Py_ssize_t _phase
    cdef unsigned long long _remaining
    # current data message
    cdef int _msg_op                 # 0: none in progress, else 1 or 2
    cdef bint _msg_comp              # first frame had RSV1: not validated, reported | 0x40
    cdef bint _validating            # text, not compressed: UTF-8 checked as bytes arrive
    cdef unsigned long long _msg_size    # declared bytes so far (frames whose header arrived)
    cdef long long _msg_frames
    # payload received so far: a bytes object we own alone (refcount 1), grown with
    # _PyBytes_Resize as bytes arrive and shrunk to size when the message completes, so a
    # binary message is handed out without a final copy; _buf points into it
    cdef PyObject* _bufobj
    cdef unsigned char* _buf
    cdef Py_ssize_t _buf_len
    cdef Py_ssize_t _buf_cap
    cdef Utf8State _u8
    # current control frame
    cdef int _ctrl_len
    cdef unsigned char* _ctrl  # 125 bytes while a control frame's payload arrives, else NULL

    cpdef list feed_buffer(self, bytearray buffer, Py_ssize_t nbytes)
    cdef list feed_ptr(self, const unsigned char* p, Py_ssize_t n)
    cdef int _parse(self, const unsigned char* p, Py_ssize_t n, list out) except -1
    cdef inline int _header(self, const unsigned char* h) except -1
    cdef int _frame_done(self, list out) except -1
    cdef inline int _single(self, const unsigned char* p, Py_ssize_t length, list out) except -1
    cdef int _lost_buffer(self) except -1
    cdef int _grow(self, Py_ssize_t extra) except -1
    cdef void _release(self) noexcept
