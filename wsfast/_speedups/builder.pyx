# cython: language_level=3, boundscheck=False, wraparound=False
"""Frame encoding (RFC 6455 section 5.2), Cython twin of ``wsfast._pure.builder``.

Server frames (``mask=False``) are deterministic: the same bytes for every recipient, so a
broadcast encodes once. Client frames (``mask=True``) get a fresh mask key per frame, taken
from a pool filled by ``os.urandom`` (refilled when used up, and after ``fork`` so that a
child never repeats its parent's keys).
"""
import os

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_Check, PyUnicode_AsUTF8String
from libc.string cimport memcpy

from .builder cimport write_header
from .mask cimport mask_copy

from wsfast.exceptions import LocalProtocolError

# Unmasked payloads of at least this many bytes are returned by encode_frame_parts as
# (header, payload) instead of being copied into one frame buffer (measured: below ~8 KiB the
# copy is cheaper than a second buffer in the transport).
PARTS_THRESHOLD = 8192
cdef Py_ssize_t _PARTS_THRESHOLD = PARTS_THRESHOLD

cdef enum:
    POOL_SIZE = 4096
cdef bytes _pool = b""
cdef Py_ssize_t _pool_pos = POOL_SIZE


def _reset_pool():
    """Drop the unused keys (after fork: the child must not reuse the parent's keys)."""
    global _pool, _pool_pos
    _pool = b""
    _pool_pos = POOL_SIZE


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pool)


cdef inline const unsigned char* _next_key() except NULL:
    global _pool, _pool_pos
    if _pool_pos + 4 > POOL_SIZE:
        _pool = os.urandom(POOL_SIZE)
        _pool_pos = 0
    _pool_pos += 4
    return <const unsigned char*>PyBytes_AS_STRING(_pool) + _pool_pos - 4


cdef inline int _check(object opcode, object rsv, object fin, object length) except -1:
    if not isinstance(opcode, int) or not 0 <= opcode <= 15:
        raise ValueError(f"invalid opcode {opcode!r}")
    if not isinstance(rsv, int) or rsv & ~0x70:
        raise ValueError(f"invalid rsv bits {rsv!r}")
    if not isinstance(length, int) or not 0 <= length < (1 << 63):
        raise ValueError(f"invalid payload length {length!r}")
    if opcode & 8:
        if not fin:
            raise LocalProtocolError("control frames cannot be fragmented")
        if length > 125:
            raise LocalProtocolError(f"control frame payload of {length} bytes; at most 125")
    return 0


cdef object _frame(object opcode, object payload, object fin, object rsv, bint mask):
    """One buffer: header + (masked) payload."""
    cdef Py_buffer view
    cdef const unsigned char* src
    cdef Py_ssize_t n, hsize
    cdef unsigned char h[14]
    cdef const unsigned char* key = NULL
    cdef bint release = False
    cdef bytes frame
    cdef unsigned char* dst
    if PyUnicode_Check(payload):
        payload = PyUnicode_AsUTF8String(payload)
    if PyBytes_CheckExact(payload):
        src = <const unsigned char*>PyBytes_AS_STRING(payload)
        n = PyBytes_GET_SIZE(payload)
    else:
        PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        release = True
        src = <const unsigned char*>view.buf
        n = view.len
    try:
        _check(opcode, rsv, fin, n)
        if mask:
            key = _next_key()
        hsize = write_header(h, opcode, fin, rsv, n, key)
        frame = PyBytes_FromStringAndSize(NULL, hsize + n)
        dst = <unsigned char*>PyBytes_AS_STRING(frame)
        memcpy(dst, h, hsize)
        if mask:
            mask_copy(dst + hsize, src, n, key, 0)
        else:
            memcpy(dst + hsize, src, n)
    finally:
        if release:
            PyBuffer_Release(&view)
    return frame


def encode_frame(opcode, payload, *, fin=True, rsv=0, mask=False):
    """Return one complete frame (header + payload) as ``bytes``.

    ``payload`` is bytes-like or ``str`` (sent as UTF-8). ``mask=True`` is for client frames:
    a fresh random key per frame and the payload masked. ``rsv`` is the RSV bits (subset of
    0x70). Raises ValueError for an invalid opcode/rsv, LocalProtocolError for a fragmented
    or over-125-byte control frame. The caller writes the result to the transport.
    """
    return _frame(opcode, payload, fin, rsv, mask)


def encode_frame_parts(opcode, payload, *, fin=True, rsv=0, mask=False):
    """Like ``encode_frame`` but return a tuple of buffers to write in order.

    ``(frame,)`` for masked frames and payloads under ``PARTS_THRESHOLD``; ``(header,
    payload)`` for larger unmasked payloads, so they are never copied (``payload`` is the
    caller's object, or the UTF-8 bytes of a ``str``; it must not change until written).
    The caller passes the parts to ``transport.writelines``.
    """
    cdef list out = []
    append_parts(out, opcode, payload, fin, rsv, mask)
    return tuple(out)


cpdef int append_parts(list out, object opcode, object payload, object fin, object rsv,
                       bint mask) except -1:
    """``out.extend(encode_frame_parts(...))`` without the tuple: the connection's send path."""
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef unsigned char h[14]
    cdef Py_ssize_t hsize
    if mask:
        out.append(_frame(opcode, payload, fin, rsv, True))
        return 0
    if PyUnicode_Check(payload):
        payload = PyUnicode_AsUTF8String(payload)
    if PyBytes_CheckExact(payload):
        n = PyBytes_GET_SIZE(payload)
    else:
        PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        n = view.len
        PyBuffer_Release(&view)
    if n < _PARTS_THRESHOLD:
        out.append(_frame(opcode, payload, fin, rsv, False))
        return 0
    _check(opcode, rsv, fin, n)
    hsize = write_header(h, opcode, fin, rsv, n, NULL)
    out.append(PyBytes_FromStringAndSize(<char*>h, hsize))
    out.append(payload)
    return 0


def encode_header(opcode, length, *, fin=True, rsv=0, mask_key=None):
    """Return just a frame header for a payload of ``length`` bytes.

    ``mask_key`` (4 bytes) sets the mask bit and is appended; the caller then sends the
    payload masked with it (``mask.apply_mask``). Validation as in ``encode_frame``.
    """
    cdef unsigned char h[14]
    cdef Py_buffer kv
    cdef unsigned char key[4]
    cdef Py_ssize_t hsize
    _check(opcode, rsv, fin, length)
    if mask_key is None:
        hsize = write_header(h, opcode, fin, rsv, length, NULL)
    else:
        PyObject_GetBuffer(mask_key, &kv, PyBUF_SIMPLE)
        try:
            if kv.len != 4:
                raise ValueError(f"mask key must be 4 bytes, not {kv.len}")
            memcpy(key, kv.buf, 4)
        finally:
            PyBuffer_Release(&kv)
        hsize = write_header(h, opcode, fin, rsv, length, key)
    return PyBytes_FromStringAndSize(<char*>h, hsize)
