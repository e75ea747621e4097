# cython: language_level=3
"""C-level masking helpers shared by the kernels (mask, parser, builder).

``mask_copy`` is the one hot loop: ``out[i] = src[i] ^ key[(phase + i) & 3]``. ``out`` may be
``src`` (in place) but the ranges must not otherwise overlap. The key is rotated by ``phase``
once, widened to a 64-bit word, and the body XORs 32 bytes per iteration as four independent
64-bit words (unaligned loads/stores through memcpy, which GCC/Clang turn into plain moves and
vectorise at -O3 into SSE2); a byte loop handles the tail. Callers track the phase themselves:
after ``n`` bytes it is ``(phase + n) & 3``.

With GCC/Clang, ranges of 128 bytes and more first go through 64-byte blocks of 16-byte
vector-extension lanes (SSE2 on x86-64, NEON on arm64; no intrinsics, no extra flags).
"""
from libc.stdint cimport uint64_t
from libc.string cimport memcpy


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #if defined(__GNUC__) || defined(__clang__)
    /* XOR whole 64-byte blocks with the 8-byte key word k; returns the bytes done.
       GCC/Clang vector extensions (no intrinsics): four 16-byte lanes per step, which is
       SSE2 on x86-64 and NEON on arm64, the baseline of both. (A 32-byte AVX2 variant
       chosen at run time measured 16% slower at 64 KiB here: stores crossing cache lines.) */
    typedef uint64_t wsf_v2u64 __attribute__((vector_size(16)));
    static Py_ssize_t wsf_mask_blocks(unsigned char *out, const unsigned char *src,
                                      Py_ssize_t n, uint64_t k) {
        Py_ssize_t i = 0;
        wsf_v2u64 kv = {k, k};
        for (; n - i >= 64; i += 64) {
            wsf_v2u64 a, b, c, d;
            memcpy(&a, src + i, 16);
            memcpy(&b, src + i + 16, 16);
            memcpy(&c, src + i + 32, 16);
            memcpy(&d, src + i + 48, 16);
            a ^= kv; b ^= kv; c ^= kv; d ^= kv;
            memcpy(out + i, &a, 16);
            memcpy(out + i + 16, &b, 16);
            memcpy(out + i + 32, &c, 16);
            memcpy(out + i + 48, &d, 16);
        }
        return i;
    }
    #else
    static Py_ssize_t wsf_mask_blocks(unsigned char *out, const unsigned char *src,
                                      Py_ssize_t n, uint64_t k) {
        (void)out; (void)src; (void)n; (void)k; return 0;
    }
    #endif
    """
    Py_ssize_t wsf_mask_blocks(unsigned char* out, const unsigned char* src,
                               Py_ssize_t n, uint64_t k) noexcept nogil


cdef inline uint64_t mask_word(const unsigned char* key, Py_ssize_t phase) noexcept nogil:
    """The 4-byte key rotated by ``phase`` and repeated to 8 bytes, as a native word."""
    cdef unsigned char k8[8]
    cdef uint64_t w
    cdef int j
    for j in range(8):
        k8[j] = key[(phase + j) & 3]
    memcpy(&w, k8, 8)
    return w


cdef inline void mask_copy(unsigned char* out, const unsigned char* src, Py_ssize_t n,
                           const unsigned char* key, Py_ssize_t phase) noexcept nogil:
    """XOR ``n`` bytes of ``src`` with the key starting at key index ``phase`` into ``out``."""
    cdef uint64_t k = mask_word(key, phase)
    cdef uint64_t a, b, c, d
    cdef Py_ssize_t i = 0
    if n >= 128:
        i = wsf_mask_blocks(out, src, n, k)   # a multiple of 64: the phase is unchanged
    while n - i >= 32:
        memcpy(&a, src + i, 8)
        memcpy(&b, src + i + 8, 8)
        memcpy(&c, src + i + 16, 8)
        memcpy(&d, src + i + 24, 8)
        a ^= k
        b ^= k
        c ^= k
        d ^= k
        memcpy(out + i, &a, 8)
        memcpy(out + i + 8, &b, 8)
        memcpy(out + i + 16, &c, 8)
        memcpy(out + i + 24, &d, 8)
        i += 32
    if n - i >= 8:
        while n - i >= 8:
            memcpy(&a, src + i, 8)
            a ^= k
            memcpy(out + i, &a, 8)
            i += 8
    # i is a multiple of 8 here, so the key index of byte i is still `phase`.
    while i < n:
        out[i] = src[i] ^ key[(phase + i) & 3]
        i += 1


cdef class Masker:
    cdef unsigned char _key[4]
    cdef Py_ssize_t _phase
