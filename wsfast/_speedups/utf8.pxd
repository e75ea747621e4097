# cython: language_level=3
"""C-level UTF-8 validation shared by the kernels (utf8, parser).

``utf8_step`` validates one more range of a byte stream, carrying an incomplete sequence
across calls in a ``Utf8State``. It fails fast: it returns the index (in this range) of the
first byte at which the stream can no longer be valid UTF-8, or -1. The byte ranges follow
RFC 3629 / Unicode Table 3-7, so overlongs, surrogates (ED A0-BF), code points above U+10FFFF
(F4 90-BF, F5-FF), stray continuation bytes and the lead bytes C0/C1 are rejected at the
first byte that proves them wrong. After a failure the state is unspecified: the caller
stops feeding it.

ASCII runs are skipped 16 bytes at a time (two 64-bit words tested against 0x80 in every
byte); each multi-byte character is checked with one range test per byte.
"""
from libc.stdint cimport uint64_t
from libc.string cimport memcpy


ctypedef struct Utf8State:
    int need              # continuation bytes still expected (0: between characters)
    unsigned char lo      # allowed range of the next byte while need > 0
    unsigned char hi
    int nonascii          # set once any byte >= 0x80 has been seen


cdef inline void utf8_init(Utf8State* st) noexcept nogil:
    st.need = 0
    st.lo = 0x80
    st.hi = 0xBF
    st.nonascii = 0


cdef inline Py_ssize_t ascii_span(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """Length of the ASCII prefix of ``p[0:n]`` (``n`` if it is all ASCII)."""
    cdef Py_ssize_t i = 0
    cdef uint64_t a, b
    while n - i >= 16:
        memcpy(&a, p + i, 8)
        memcpy(&b, p + i + 8, 8)
        if (a | b) & <uint64_t>0x8080808080808080ULL:
            break
        i += 16
    while i < n and p[i] < 0x80:
        i += 1
    return i


cdef inline Py_ssize_t utf8_step(Utf8State* st, const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """Validate ``p[0:n]`` after what ``st`` has seen; return -1, or the failing byte index."""
    cdef Py_ssize_t i = 0
    cdef unsigned char c, lo, hi
    cdef int need = st.need
    if need:
        # Finish the sequence carried over from the previous range.
        lo = st.lo
        hi = st.hi
        while i < n:
            c = p[i]
            if c < lo or c > hi:
                return i
            i += 1
            need -= 1
            lo = 0x80
            hi = 0xBF
            if need == 0:
                break
        st.need = need
        st.lo = lo
        st.hi = hi
        if need:
            return -1
    while True:
        i += ascii_span(p + i, n - i)  # up to the next non-ASCII byte
        if i >= n:
            return -1
        st.nonascii = 1
        # Multi-byte characters, as long as they follow each other.
        while i < n:
            c = p[i]
            if c < 0x80:
                break
            if c < 0xC2:                 # continuation byte or overlong lead C0/C1
                return i
            if c < 0xE0:                 # 2 bytes: C2-DF 80-BF
                if i + 1 >= n:
                    st.need = 1
                    st.lo = 0x80
                    st.hi = 0xBF
                    return -1
                if <unsigned char>(p[i + 1] - 0x80) > 0x3F:
                    return i + 1
                i += 2
                continue
            if c < 0xF0:                 # 3 bytes: E0 A0-BF, ED 80-9F, E1-EF 80-BF; then 80-BF
                lo = 0xA0 if c == 0xE0 else 0x80
                hi = 0x9F if c == 0xED else 0xBF
                if i + 1 >= n:
                    st.need = 2
                    st.lo = lo
                    st.hi = hi
                    return -1
                if p[i + 1] < lo or p[i + 1] > hi:
                    return i + 1
                if i + 2 >= n:
                    st.need = 1
                    st.lo = 0x80
                    st.hi = 0xBF
                    return -1
                if <unsigned char>(p[i + 2] - 0x80) > 0x3F:
                    return i + 2
                i += 3
                continue
            if c < 0xF5:                 # 4 bytes: F0 90-BF, F4 80-8F, F1-F3 80-BF; 80-BF x2
                lo = 0x90 if c == 0xF0 else 0x80
                hi = 0x8F if c == 0xF4 else 0xBF
                if i + 1 >= n:
                    st.need = 3
                    st.lo = lo
                    st.hi = hi
                    return -1
                if p[i + 1] < lo or p[i + 1] > hi:
                    return i + 1
                if i + 2 >= n:
                    st.need = 2
                    st.lo = 0x80
                    st.hi = 0xBF
                    return -1
                if <unsigned char>(p[i + 2] - 0x80) > 0x3F:
                    return i + 2
                if i + 3 >= n:
                    st.need = 1
                    st.lo = 0x80
                    st.hi = 0xBF
                    return -1
                if <unsigned char>(p[i + 3] - 0x80) > 0x3F:
                    return i + 3
                i += 4
                continue
            return i                     # F5-FF never appear in UTF-8
        if i >= n:
            return -1


cdef class Utf8Validator:
    cdef Utf8State _st
    cdef bint _failed
