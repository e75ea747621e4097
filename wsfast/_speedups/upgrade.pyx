# cython: language_level=3, boundscheck=False, wraparound=False
"""The server's upgrade-request head parser and its fast 101 answer, Cython twin of
``wsfast._pure.upgrade`` (the rules, limits, errors and the meaning of a *plain* upgrade are
documented there and are identical here).

Each chunk is scanned in C over a pointer (``memchr`` for line ends, lookup tables for token
characters); a head that arrives in one chunk is parsed in place, without a copy. While the
lines go by, the fields the fast answer needs are recognised by name and checked (counts, the
Upgrade value, every Connection list, the key's shape, the version), so that ``answer`` only
hashes the key (SHA-1, in C) and writes ``prefix + base64(digest) + suffix`` into one bytes
object. No Python object is made per header line; ``fields()`` decodes them when asked.
"""
from cpython.bytes cimport (PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_CheckExact,
                            PyBytes_GET_SIZE)
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from libc.stdint cimport uint32_t
from libc.string cimport memchr, memcpy, memcmp

from wsfast.exceptions import HeadersTooLarge, InvalidMessage, InvalidState

__all__ = ["RequestHead"]

cdef const char* GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
cdef const char* B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# tchar (RFC 7230 3.2.6) and the base64 alphabet, as 256-entry tables
cdef unsigned char TCHAR[256]
cdef unsigned char B64CHAR[256]


cdef void _tables() noexcept:
    cdef int c
    cdef const char* extra = b"!#$%&'*+-.^_`|~"
    for c in range(256):
        TCHAR[c] = (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)
        B64CHAR[c] = TCHAR[c] or c == 43 or c == 47
    for c in range(15):
        TCHAR[<unsigned char>extra[c]] = 1


_tables()


def _clip(line, size=80):
    text = repr(bytes(line[:size]))
    return text + "..." if len(line) > size else text


cdef inline bint _ieq(const unsigned char* p, Py_ssize_t n, const char* lower) noexcept nogil:
    """``p[:n]`` equals the lower-case ASCII ``lower`` (of length n), ignoring case."""
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(n):
        c = p[i]
        if 65 <= c <= 90:
            c += 32
        if c != <unsigned char>lower[i]:
            return False
    return True


cdef inline Py_ssize_t _skip(const unsigned char* p, Py_ssize_t i, Py_ssize_t end, bint commas) noexcept nogil:
    while i < end and (p[i] == 32 or p[i] == 9 or (commas and p[i] == 44)):
        i += 1
    return i


cdef int _connection(const unsigned char* p, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """A Connection value as wsfast.headers.parse_connection reads it: -1 when it is not a
    valid token list, 1 when one of its tokens is "upgrade" (any case), else 0."""
    cdef int found = 0, items = 0
    cdef Py_ssize_t t
    i = _skip(p, i, end, True)
    while i < end:
        t = i
        while i < end and TCHAR[p[i]]:
            i += 1
        if i == t:
            return -1
        items += 1
        if i - t == 7 and _ieq(p + t, 7, b"upgrade"):
            found = 1
        i = _skip(p, i, end, False)
        if i == end:
            break
        if p[i] != 44:
            return -1
        i = _skip(p, i, end, True)
    return found if items else -1


# ---------------------------------------------------------------------------------- SHA-1

cdef inline uint32_t _rol(uint32_t x, int n) noexcept nogil:
    return (x << n) | (x >> (32 - n))


cdef void _sha1_block(uint32_t* h, const unsigned char* block) noexcept nogil:
    cdef uint32_t w[80]
    cdef uint32_t a, b, c, d, e, f, k, t
    cdef int i
    for i in range(16):
        w[i] = ((<uint32_t>block[4 * i] << 24) | (<uint32_t>block[4 * i + 1] << 16)
                | (<uint32_t>block[4 * i + 2] << 8) | <uint32_t>block[4 * i + 3])
    for i in range(16, 80):
        w[i] = _rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1)
    a, b, c, d, e = h[0], h[1], h[2], h[3], h[4]
    for i in range(80):
        if i < 20:
            f = (b & c) | (~b & d)
            k = 0x5A827999
        elif i < 40:
            f = b ^ c ^ d
            k = 0x6ED9EBA1
        elif i < 60:
            f = (b & c) | (b & d) | (c & d)
            k = 0x8F1BBCDC
        else:
            f = b ^ c ^ d
            k = 0xCA62C1D6
        t = _rol(a, 5) + f + e + k + w[i]
        e = d
        d = c
        c = _rol(b, 30)
        b = a
        a = t
    h[0] += a
    h[1] += b
    h[2] += c
    h[3] += d
    h[4] += e


cdef void _accept_key(const unsigned char* key, unsigned char* out) noexcept nogil:
    """The 28 characters of base64(SHA-1(key + GUID)) for a 24-byte key."""
    cdef unsigned char msg[128]
    cdef unsigned char digest[21]
    cdef uint32_t h[5]
    cdef int i
    cdef uint32_t v
    memcpy(msg, key, 24)
    memcpy(msg + 24, GUID, 36)
    msg[60] = 0x80
    for i in range(61, 126):
        msg[i] = 0
    msg[126] = 0x01  # the message length in bits, 480, big-endian
    msg[127] = 0xE0
    h[0], h[1], h[2], h[3], h[4] = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
    _sha1_block(h, msg)
    _sha1_block(h, msg + 64)
    for i in range(5):
        digest[4 * i] = h[i] >> 24
        digest[4 * i + 1] = (h[i] >> 16) & 0xFF
        digest[4 * i + 2] = (h[i] >> 8) & 0xFF
        digest[4 * i + 3] = h[i] & 0xFF
    digest[20] = 0
    for i in range(7):  # 7 groups of 3 bytes; the last has 2 (and a zero byte)
        v = (<uint32_t>digest[3 * i] << 16) | (<uint32_t>digest[3 * i + 1] << 8) | digest[3 * i + 2]
        out[4 * i] = B64[v >> 18]
        out[4 * i + 1] = B64[(v >> 12) & 63]
        out[4 * i + 2] = B64[(v >> 6) & 63]
        out[4 * i + 3] = B64[v & 63]
    out[27] = 61  # "="


# ------------------------------------------------------------------------------- the head

cdef class RequestHead:
    """An upgrade request's head, parsed as it arrives (see ``wsfast._pure.upgrade``)."""

    def __init__(self, Py_ssize_t max_line, Py_ssize_t max_headers, Py_ssize_t max_size):
        self.max_line = max_line
        self.max_headers = max_headers
        self.max_size = max_size
        self.leftover = b""
        self.raw = b""
        self.method = None
        self.path = None

    def feed(self, data):
        """Parse ``data``; True once the head is complete."""
        cdef bytes chunk
        cdef bytearray buf
        cdef int done
        if self.complete:
            raise InvalidState("the request is already complete; read leftover instead")
        if self._error is not None:
            raise self._error
        chunk = data if PyBytes_CheckExact(data) else bytes(data)
        try:
            if self._buf is None:
                done = self._parse(<const unsigned char*>PyBytes_AS_STRING(chunk), PyBytes_GET_SIZE(chunk))
                if not done:
                    self._buf = bytearray(chunk)
                    return False
            else:
                buf = self._buf
                buf += chunk
                done = self._parse(<const unsigned char*>PyByteArray_AS_STRING(buf), PyByteArray_GET_SIZE(buf))
                if not done:
                    return False
                chunk = bytes(buf)
                self._buf = None
        except (InvalidMessage, HeadersTooLarge) as exc:
            self._error = exc
            if self._buf is None:
                self._buf = bytearray(chunk)  # fields() still lists the lines before the error
            raise
        if self._line_start == PyBytes_GET_SIZE(chunk):
            self.raw = chunk
        else:
            self.raw = chunk[:self._line_start]
            self.leftover = chunk[self._line_start:]
        self.complete = True
        return True

    cdef int _parse(self, const unsigned char* p, Py_ssize_t n) except -1:
        cdef const unsigned char* nl
        cdef Py_ssize_t start, end, partial
        while True:
            nl = <const unsigned char*>memchr(p + self._scan, 10, n - self._scan)
            if nl == NULL:
                self._scan = n
                partial = n - self._line_start
                if partial > self.max_line + 1 or (partial == self.max_line + 1 and n > 0 and p[n - 1] != 13):
                    raise HeadersTooLarge(f"line over {self.max_line} bytes")
                if n > self.max_size:
                    raise HeadersTooLarge(f"head over {self.max_size} bytes")
                return 0
            end = nl - p
            start = self._line_start
            if end == start or p[end - 1] != 13:
                raise InvalidMessage("line not terminated by CRLF")
            if end - 1 - start > self.max_line:
                raise HeadersTooLarge(f"line over {self.max_line} bytes")
            self._line_start = self._scan = end + 1
            if end + 1 > self.max_size:
                raise HeadersTooLarge(f"head over {self.max_size} bytes")
            if not self._start_done:
                self._request_line(p, start, end - 1)
                self._start_done = True
                self._fields_start = end + 1
            elif end - 1 == start:
                return 1
            else:
                self._header(p, start, end - 1)

    cdef int _request_line(self, const unsigned char* p, Py_ssize_t start, Py_ssize_t end) except -1:
        cdef Py_ssize_t i, sp1 = -1, sp2 = -1, spaces = 0
        cdef const unsigned char* v
        for i in range(start, end):
            if p[i] == 32:
                spaces += 1
                if spaces == 1:
                    sp1 = i
                elif spaces == 2:
                    sp2 = i
        line = (<const char*>p)[start:end]
        if spaces != 2 or sp1 == start or sp2 == sp1 + 1:
            raise InvalidMessage(f"invalid request line: {_clip(line)}")
        for i in range(start, sp1):
            if not TCHAR[p[i]]:
                raise InvalidMessage(f"invalid request line: {_clip(line)}")
        for i in range(sp1 + 1, sp2):
            if p[i] < 0x21 or p[i] > 0x7E:
                raise InvalidMessage(f"invalid request line: {_clip(line)}")
        v = p + sp2 + 1
        if end - sp2 - 1 != 8 or memcmp(v, b"HTTP/1.1", 8) != 0:
            if (end - sp2 - 1 != 8 or memcmp(v, b"HTTP/", 5) != 0 or not 48 <= v[5] <= 57
                    or v[6] != 46 or not 48 <= v[7] <= 57):
                raise InvalidMessage(f"invalid request line: {_clip(line)}")
            raise InvalidMessage(f"unsupported HTTP version: {(<const char*>v)[:8].decode('ascii')}")
        if sp1 - start != 3 or memcmp(p + start, b"GET", 3) != 0:
            exc = InvalidMessage(f"unsupported HTTP method: {(<const char*>p)[start:sp1].decode('ascii')}")
            exc.status_code = 405
            raise exc
        self.method = "GET"
        self.path = (<const char*>p)[sp1 + 1:sp2].decode("ascii")
        return 0

    cdef int _header(self, const unsigned char* p, Py_ssize_t start, Py_ssize_t end) except -1:
        cdef const unsigned char* colon
        cdef Py_ssize_t i, name_len, vs, ve
        cdef unsigned char c
        cdef int conn
        if p[start] == 32 or p[start] == 9:
            raise InvalidMessage("obsolete line folding in header")
        colon = <const unsigned char*>memchr(p + start, 58, end - start)
        name_len = -1 if colon == NULL else colon - (p + start)
        if name_len <= 0:
            raise InvalidMessage(f"invalid header line: {_clip((<const char*>p)[start:end])}")
        for i in range(start, start + name_len):
            if not TCHAR[p[i]]:
                raise InvalidMessage(f"invalid header line: {_clip((<const char*>p)[start:end])}")
        vs = start + name_len + 1
        ve = end
        while vs < ve and (p[vs] == 32 or p[vs] == 9):
            vs += 1
        while ve > vs and (p[ve - 1] == 32 or p[ve - 1] == 9):
            ve -= 1
        for i in range(vs, ve):
            c = p[i]
            if c < 9 or 10 <= c < 32 or c == 127:
                raise InvalidMessage(f"invalid header value: {_clip((<const char*>p)[start:end])}")
        if self._nfields >= self.max_headers:
            raise HeadersTooLarge(f"more than {self.max_headers} headers")
        self._nfields += 1
        # the fields the fast answer looks at, by name
        p += start
        if name_len == 4:
            if _ieq(p, 4, b"host"):
                self._n_host += 1
        elif name_len == 7:
            if _ieq(p, 7, b"upgrade"):
                self._n_upgrade += 1
                self._upgrade_ok = ve - vs == 9 and _ieq(p - start + vs, 9, b"websocket")
        elif name_len == 10:
            if _ieq(p, 10, b"connection"):
                self._n_connection += 1
                conn = _connection(p - start, vs, ve)
                if conn < 0:
                    self._connection_bad = True
                elif conn:
                    self._connection_ok = True
        elif name_len == 17:
            if _ieq(p, 17, b"sec-websocket-key"):
                self._n_key += 1
                self._key_at = vs
                self._key_ok = ve - vs == 24 and p[vs - start + 22] == 61 and p[vs - start + 23] == 61
                if self._key_ok:
                    for i in range(vs - start, vs - start + 22):
                        if not B64CHAR[p[i]]:
                            self._key_ok = False
                            break
        elif name_len == 21:
            if _ieq(p, 21, b"sec-websocket-version"):
                self._n_version += 1
                self._version_ok = ve - vs == 2 and p[vs - start] == 49 and p[vs - start + 1] == 51
        elif name_len == 22:
            if _ieq(p, 22, b"sec-websocket-protocol"):
                self._n_protocol += 1
        elif name_len == 24:
            if _ieq(p, 24, b"sec-websocket-extensions"):
                self._n_extensions += 1
        return 0

    def fields(self):
        """The header fields received so far, in order (a new list)."""
        cdef object data = self.raw if self.complete else self._buf
        cdef list out = []
        cdef const unsigned char* p
        cdef Py_ssize_t i, end, colon, vs, ve, count = 0
        if data is None or not self._start_done:
            return out
        p = <const unsigned char*>(PyBytes_AS_STRING(data) if self.complete else PyByteArray_AS_STRING(data))
        i = self._fields_start
        while count < self._nfields:
            end = i
            while p[end] != 10:
                end += 1
            colon = i
            while p[colon] != 58:
                colon += 1
            vs = colon + 1
            ve = end - 1
            while vs < ve and (p[vs] == 32 or p[vs] == 9):
                vs += 1
            while ve > vs and (p[ve - 1] == 32 or p[ve - 1] == 9):
                ve -= 1
            out.append(((<const char*>p)[i:colon].decode("ascii"), (<const char*>p)[vs:ve].decode("latin-1")))
            count += 1
            i = end + 1
        return out

    def upgrade_ok(self):
        """Whether the head is complete and passes the checks ``ServerHandshake.accept`` makes
        before it negotiates (a plain upgrade but for its offers)."""
        return self._upgrade_ok_c()

    cdef inline bint _upgrade_ok_c(self) noexcept:
        return (self.complete and self._n_host == 1 and self._n_upgrade == 1 and self._upgrade_ok
                and self._n_connection >= 1 and self._connection_ok and not self._connection_bad
                and self._n_key == 1 and self._key_ok and self._n_version == 1 and self._version_ok)

    def answer(self, bytes prefix not None, bytes suffix not None, bint offers=False):
        """``prefix + accept key + suffix`` for a complete, plain upgrade request (with
        ``offers``: whatever its Sec-WebSocket-Protocol and -Extensions fields); else None."""
        cdef Py_ssize_t lp, ls
        cdef bytes out
        cdef unsigned char* o
        if not self._upgrade_ok_c() or (not offers and (self._n_protocol or self._n_extensions)):
            return None
        lp = PyBytes_GET_SIZE(prefix)
        ls = PyBytes_GET_SIZE(suffix)
        out = PyBytes_FromStringAndSize(NULL, lp + 28 + ls)
        o = <unsigned char*>PyBytes_AS_STRING(out)
        memcpy(o, PyBytes_AS_STRING(prefix), lp)
        _accept_key(<const unsigned char*>PyBytes_AS_STRING(self.raw) + self._key_at, o + lp)
        memcpy(o + lp + 28, PyBytes_AS_STRING(suffix), ls)
        return out
