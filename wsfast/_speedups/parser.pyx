# cython: language_level=3, boundscheck=False, wraparound=False
"""Incremental RFC 6455 frame parser, Cython twin of ``wsfast._pure.parser``.

One ``feed`` call per received chunk: the chunk is parsed in a C loop over a pointer, payload
bytes are unmasked straight into their destination (the output object when a whole frame is
in the chunk, else a message buffer grown as bytes arrive), text is validated with
``utf8_step`` as it streams in, and Python objects are created only for complete messages and
control frames. The rules, their order and the error messages are documented in
``wsfast/_pure/parser.py`` (CHECK ORDER) and are identical here.
"""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport (PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_CheckExact,
                            PyBytes_GET_SIZE)
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from libc.string cimport memcpy

from .mask cimport mask_copy
from wsfast.wire cimport COMPRESSED, ITEM_CLOSE, ITEM_TEXT, OP_CLOSE, OP_TEXT, RSV1
from .utf8 cimport Utf8State, utf8_init, utf8_step, ascii_span

from wsfast.wire import parse_close
from wsfast.exceptions import InvalidFrame, InvalidUTF8, PayloadTooBig, RemoteProtocolError


from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.mem cimport PyMem_Malloc, PyMem_Free

cdef extern from "Python.h":
    int _PyBytes_Resize(PyObject** bytes, Py_ssize_t newsize)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)


# The item kinds as Python ints, indexed by opcode (| COMPRESSED for compressed messages).
cdef tuple _OPCODES = tuple(range(0x50))
cdef object _ITEM_TEXT = ITEM_TEXT
cdef object _ITEM_CLOSE = ITEM_CLOSE

cdef str MSG_INVALID_UTF8 = "invalid UTF-8 in text message"
cdef str MSG_INCOMPLETE_UTF8 = "incomplete UTF-8 sequence at the end of a text message"


cdef inline int _header_size(unsigned char b1) noexcept nogil:
    cdef int len7 = b1 & 0x7F
    cdef int size = 2
    if len7 == 126:
        size = 4
    elif len7 == 127:
        size = 10
    if b1 & 0x80:
        size += 4
    return size


cdef inline long long _limit(object value, str name) except -2:
    if value is None:
        return -1
    if value < 0:
        raise ValueError(f"{name} must be >= 0 or None")
    return value


cdef class Parser:
    """Turns received bytes into complete WebSocket messages and control frames.

    The same constructor, ``feed``, items, ``error``, ``closed`` and ``special`` as the pure
    twin: ``wsfast._pure.parser.Parser`` documents them. ``feed_ptr`` is the C entry point of
    the Cython connection core (bytes straight from the loop's shared receive buffer).
    """

    def __cinit__(self):
        self._ctrl = NULL
        self._buf = NULL
        self._buf_len = 0
        self._buf_cap = 0

    def __init__(self, *, client, max_size=1 << 20, max_compressed_size=None,
                 max_fragments=1024, int rsv_allowed=0, decode_text=True):
        self._max_size = _limit(max_size, "max_size")
        self._max_csize = (self._max_size if max_compressed_size is None
                           else _limit(max_compressed_size, "max_compressed_size"))
        self._max_frags = _limit(max_fragments, "max_fragments")
        if rsv_allowed & ~0x70:
            raise ValueError("rsv_allowed must be a subset of 0x70")
        self._client = bool(client)
        self._rsv_allowed = rsv_allowed
        self._decode_text = bool(decode_text)
        self.error = None
        self.closed = False
        self._in_payload = False
        self._hlen = 0
        self._opcode = 0
        self._fin = True
        self._control = False
        self._masked = False
        self._phase = 0
        self._remaining = 0
        self._msg_op = 0
        self._msg_comp = False
        self._validating = False
        self._msg_size = 0
        self._msg_frames = 0
        self._ctrl_len = 0
        self._release()
        utf8_init(&self._u8)

    def __dealloc__(self):
        PyMem_Free(self._ctrl)
        Py_XDECREF(self._bufobj)
        self._bufobj = NULL
        self._buf = NULL

    def feed(self, data):
        """Parse the next received chunk (any buffer); return the items it completed."""
        cdef Py_buffer view
        if PyBytes_CheckExact(data):
            return self.feed_ptr(<const unsigned char*>PyBytes_AS_STRING(data),
                                 PyBytes_GET_SIZE(data))
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            return self.feed_ptr(<const unsigned char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    cpdef list feed_buffer(self, bytearray buffer, Py_ssize_t nbytes):
        """Parse the first ``nbytes`` of ``buffer`` (the loop's shared receive buffer)."""
        if nbytes < 0 or nbytes > PyByteArray_GET_SIZE(buffer):
            raise ValueError(f"nbytes {nbytes} outside a buffer of {len(buffer)}")
        return self.feed_ptr(<const unsigned char*>PyByteArray_AS_STRING(buffer), nbytes)

    cdef list feed_ptr(self, const unsigned char* p, Py_ssize_t n):
        """``feed`` for C callers (the connection core): ``n`` bytes at ``p``."""
        cdef list out = []
        self.special = 0
        if self.error is not None or self.closed:
            return out
        try:
            self._parse(p, n, out)
        except RemoteProtocolError as exc:
            self.error = exc
            self._release()
        return out

    # -------------------------------------------------------------------- internals

    cdef void _release(self) noexcept:
        Py_XDECREF(self._bufobj)
        self._bufobj = NULL
        self._buf = NULL
        self._buf_len = 0
        self._buf_cap = 0

    cdef int _lost_buffer(self) except -1:
        """_PyBytes_Resize failed and freed the buffer: forget it and raise its MemoryError."""
        self._bufobj = NULL
        self._buf = NULL
        self._buf_len = 0
        self._buf_cap = 0
        raise MemoryError()

    cdef int _grow(self, Py_ssize_t extra) except -1:
        """Make room for ``extra`` more bytes: at most double, never past the declared size."""
        cdef Py_ssize_t need = self._buf_len + extra
        cdef Py_ssize_t cap
        cdef object obj
        if need <= self._buf_cap:
            return 0
        cap = self._buf_cap * 2
        if cap < need:
            cap = need
        if <unsigned long long>cap > self._msg_size:
            cap = <Py_ssize_t>self._msg_size      # >= need: need counts declared bytes only
        if self._bufobj == NULL:
            obj = PyBytes_FromStringAndSize(NULL, cap)
            Py_INCREF(obj)
            self._bufobj = <PyObject*>obj
        else:
            # realloc underneath: large blocks are moved by mremap, not copied
            if _PyBytes_Resize(&self._bufobj, cap) < 0:
                self._lost_buffer()
        self._buf = <unsigned char*>PyBytes_AS_STRING(<object>self._bufobj)
        self._buf_cap = cap
        return 0

    cdef int _parse(self, const unsigned char* p, Py_ssize_t n, list out) except -1:
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t size, k, take
        cdef const unsigned char* h
        cdef unsigned char* dst
        cdef Py_ssize_t r
        while pos < n:
            if not self._in_payload:
                # ---- header: straight from the chunk, or completed in _hdr
                if self._hlen == 0 and n - pos >= 2 and n - pos >= _header_size(p[pos + 1]):
                    h = p + pos
                    pos += _header_size(p[pos + 1])
                else:
                    while self._hlen < 2 and pos < n:
                        self._hdr[self._hlen] = p[pos]
                        self._hlen += 1
                        pos += 1
                    if self._hlen < 2:
                        return 0
                    size = _header_size(self._hdr[1])
                    k = size - self._hlen
                    if k > n - pos:
                        k = n - pos
                    memcpy(self._hdr + self._hlen, p + pos, k)
                    self._hlen += <int>k
                    pos += k
                    if self._hlen < size:
                        return 0
                    self._hlen = 0
                    h = self._hdr
                self._header(h)
                self._in_payload = True
                if (not self._control and self._fin and self._msg_frames == 1
                        and <unsigned long long>(n - pos) >= self._remaining):
                    # A whole single-frame message in this chunk: build the item directly.
                    take = <Py_ssize_t>self._remaining
                    self._in_payload = False
                    self._remaining = 0
                    self._single(p + pos, take, out)
                    pos += take
                    continue
            else:
                # ---- payload bytes of the current frame
                take = n - pos
                if <unsigned long long>take > self._remaining:
                    take = <Py_ssize_t>self._remaining
                if take:
                    if self._control:
                        if self._ctrl == NULL:
                            # Allocated per control frame, not kept: an idle connection
                            # holds no control buffer.
                            self._ctrl = <unsigned char*>PyMem_Malloc(125)
                            if self._ctrl == NULL:
                                raise MemoryError()
                        dst = self._ctrl + self._ctrl_len
                        self._ctrl_len += <int>take
                    else:
                        self._grow(take)
                        dst = self._buf + self._buf_len
                        self._buf_len += take
                    if self._masked:
                        mask_copy(dst, p + pos, take, self._key, self._phase)
                        self._phase = (self._phase + take) & 3
                    else:
                        memcpy(dst, p + pos, take)
                    pos += take
                    self._remaining -= <unsigned long long>take
                    if self._validating and not self._control:
                        r = utf8_step(&self._u8, dst, take)
                        if r >= 0:
                            raise InvalidUTF8(MSG_INVALID_UTF8)
            if self._remaining == 0:
                self._in_payload = False
                if self._frame_done(out):
                    return 0
        return 0

    cdef inline int _header(self, const unsigned char* h) except -1:
        """Check a complete header (rules 1-11 of CHECK ORDER); set up the frame state."""
        cdef unsigned char b0 = h[0]
        cdef unsigned char b1 = h[1]
        cdef int opcode = b0 & 0x0F
        cdef int rsv = b0 & 0x70
        cdef bint fin = (b0 & 0x80) != 0
        cdef bint masked = (b1 & 0x80) != 0
        cdef int len7 = b1 & 0x7F
        cdef bint control = opcode >= 8
        cdef unsigned long long length
        cdef unsigned long long total
        cdef long long limit
        cdef long long frames
        cdef bint compressed
        cdef int i
        cdef const unsigned char* key = h + 2
        if len7 == 126:
            length = (<unsigned long long>h[2] << 8) | h[3]
            key = h + 4
        elif len7 == 127:
            length = 0
            for i in range(8):
                length = (length << 8) | h[2 + i]
            key = h + 10
        else:
            length = len7
        if rsv & ~self._rsv_allowed:
            raise InvalidFrame("reserved bits must be 0")
        if (3 <= opcode <= 7) or opcode >= 0xB:
            raise InvalidFrame(f"reserved opcode {opcode}")
        if control:
            if not fin:
                raise InvalidFrame("fragmented control frame")
            if rsv & RSV1:
                raise InvalidFrame("RSV1 set on a control frame")
            if len7 > 125:
                raise InvalidFrame("control frame too long")
        if self._client:
            if masked:
                raise InvalidFrame("frame from server is masked")
        elif not masked:
            raise InvalidFrame("frame from client is not masked")
        if not control:
            if opcode == 0:
                if self._msg_op == 0:
                    raise InvalidFrame("unexpected continuation frame")
                if rsv & RSV1:
                    raise InvalidFrame("RSV1 set on a continuation frame")
                frames = self._msg_frames + 1
            else:
                if self._msg_op != 0:
                    raise InvalidFrame("expected a continuation frame")
                frames = 1
            if self._max_frags >= 0 and frames > self._max_frags:
                raise PayloadTooBig(f"more than {self._max_frags} fragments in a message")
            if length >> 63:
                raise InvalidFrame("frame length has the most significant bit set")
            compressed = (rsv & RSV1) != 0 if opcode else self._msg_comp
            limit = self._max_csize if compressed else self._max_size
            total = length + (self._msg_size if opcode == 0 else 0)
            if limit >= 0:
                if length > <unsigned long long>limit:
                    raise PayloadTooBig(f"frame of {length} bytes exceeds limit of {limit} bytes")
                if total > <unsigned long long>limit:
                    raise PayloadTooBig(f"message of {total} bytes exceeds limit of {limit} bytes")
            if opcode:
                self._msg_op = opcode
                self._msg_comp = compressed
                self._validating = opcode == OP_TEXT and not compressed
                if self._buf != NULL:
                    self._release()
                if self._validating:
                    utf8_init(&self._u8)
            self._msg_frames = frames
            self._msg_size = total
        else:
            self._ctrl_len = 0
        self._opcode = opcode
        self._fin = fin
        self._control = control
        self._masked = masked
        if masked:
            memcpy(self._key, key, 4)
        self._phase = 0
        self._remaining = length
        return 0

    cdef int _frame_done(self, list out) except -1:
        """The current frame is complete: emit what it finished. Returns 1 once closed."""
        cdef int opcode
        cdef object value
        if self._control:
            value = PyBytes_FromStringAndSize(<char*>self._ctrl, self._ctrl_len)
            self._ctrl_len = 0
            PyMem_Free(self._ctrl)
            self._ctrl = NULL
            self.special += 1
            if self._opcode == OP_CLOSE:
                out.append((_ITEM_CLOSE, parse_close(value)))
                self.closed = True
                self._release()
                return 1
            out.append((_OPCODES[self._opcode], value))
            return 0
        if not self._fin:
            return 0
        opcode = self._msg_op
        self._msg_op = 0
        self._msg_frames = 0
        self._msg_size = 0
        if self._validating:
            self._validating = False
            if self._u8.need:
                raise InvalidUTF8(MSG_INCOMPLETE_UTF8)
            if self._decode_text:
                if self._u8.nonascii:
                    value = PyUnicode_DecodeUTF8(<char*>self._buf, self._buf_len, NULL)
                else:
                    value = PyUnicode_New(self._buf_len, 127)
                    if self._buf_len:
                        memcpy(PyUnicode_DATA(value), self._buf, self._buf_len)
                self._release()
                out.append((_ITEM_TEXT, value))
                return 0
        if self._bufobj == NULL:
            value = b""
        else:
            if self._buf_len != self._buf_cap and _PyBytes_Resize(&self._bufobj, self._buf_len) < 0:
                self._lost_buffer()
            value = <object>self._bufobj   # a new reference; ours is dropped by _release
        self._release()
        if self._msg_comp:
            opcode |= COMPRESSED
            self.special += 1
        out.append((_OPCODES[opcode], value))
        return 0

    cdef inline int _single(self, const unsigned char* p, Py_ssize_t length, list out) except -1:
        """A whole single-frame data message (checked header, payload at ``p``)."""
        cdef int opcode = self._msg_op
        cdef object value
        cdef unsigned char* dst
        cdef Utf8State st
        cdef Py_ssize_t r
        self._msg_op = 0
        self._msg_frames = 0
        self._msg_size = 0
        if self._validating:
            self._validating = False
            if self._decode_text:
                # Unmask into a new ASCII str; keep it if it is ASCII, else decode the bytes.
                value = PyUnicode_New(length, 127)
                dst = <unsigned char*>PyUnicode_DATA(value)
                if self._masked:
                    mask_copy(dst, p, length, self._key, 0)
                else:
                    memcpy(dst, p, length)
                if ascii_span(dst, length) == length:
                    out.append((_ITEM_TEXT, value))
                    return 0
                try:
                    value = PyUnicode_DecodeUTF8(<char*>dst, length, NULL)
                except UnicodeDecodeError:
                    utf8_init(&st)
                    if utf8_step(&st, dst, length) >= 0:
                        raise InvalidUTF8(MSG_INVALID_UTF8) from None
                    raise InvalidUTF8(MSG_INCOMPLETE_UTF8) from None
                out.append((_ITEM_TEXT, value))
                return 0
        value = PyBytes_FromStringAndSize(NULL, length)
        dst = <unsigned char*>PyBytes_AS_STRING(value)
        if self._masked:
            mask_copy(dst, p, length, self._key, 0)
        else:
            memcpy(dst, p, length)
        if opcode == OP_TEXT and not self._msg_comp:
            utf8_init(&st)
            r = utf8_step(&st, dst, length)
            if r >= 0:
                raise InvalidUTF8(MSG_INVALID_UTF8)
            if st.need:
                raise InvalidUTF8(MSG_INCOMPLETE_UTF8)
        if self._msg_comp:
            opcode |= COMPRESSED
            self.special += 1
        out.append((_OPCODES[opcode], value))
        return 0
