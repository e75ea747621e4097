# cython: language_level=3
"""C-level frame writers shared by the kernels and the connection core (see builder.pyx)."""


cpdef int append_parts(list out, object opcode, object payload, object fin, object rsv,
                       bint mask) except -1


cdef inline Py_ssize_t write_header(unsigned char* h, int opcode, bint fin, int rsv,
                                    unsigned long long length,
                                    const unsigned char* key) noexcept nogil:
    """Write a frame header (at most 14 bytes) into ``h``; return its size.

    ``key`` is the 4-byte mask key, or NULL for an unmasked frame. The caller has checked
    opcode (0-15), rsv (subset of 0x70) and length (< 2**63).
    """
    cdef unsigned char mbit = 0x80 if key != NULL else 0
    cdef Py_ssize_t i
    cdef int j
    h[0] = <unsigned char>((0x80 if fin else 0) | rsv | opcode)
    if length < 126:
        h[1] = <unsigned char>(mbit | length)
        i = 2
    elif length < 65536:
        h[1] = mbit | 126
        h[2] = <unsigned char>(length >> 8)
        h[3] = <unsigned char>length
        i = 4
    else:
        h[1] = mbit | 127
        for j in range(8):
            h[2 + j] = <unsigned char>(length >> (56 - 8 * j))
        i = 10
    if key != NULL:
        h[i] = key[0]
        h[i + 1] = key[1]
        h[i + 2] = key[2]
        h[i + 3] = key[3]
        i += 4
    return i
