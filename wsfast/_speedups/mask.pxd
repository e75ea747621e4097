# cython: language_level=3
"""C-level masking helpers shared by the kernels (mask, parser, builder).

``mask_copy`` is the one hot loop: ``out[i] = src[i] ^ key[(phase + i) & 3]``. ``out`` may be
``src`` (in place) but the ranges must not otherwise overlap. The key is rotated by ``phase``
once, widened to a 64-bit word, and the body XORs 32 bytes per iteration as four independent
64-bit words (unaligned loads/stores through memcpy, which GCC/Clang turn into plain moves and
vectorise at -O3 into SSE2); a byte loop handles the tail. Callers track the phase themselves:
after ``n`` bytes it is ``(phase + n) & 3``.

On x86 with GCC/Clang, long ranges first go through the same plain C word loop compiled a
second time for AVX2 (``target("avx2")``), chosen at run time when the CPU has it: the
compiler vectorises it to 32-byte registers without any intrinsics or extra build flags.
"""
from libc.stdint cimport uint64_t
from libc.string cimport memcpy


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    /* XOR whole 64-byte blocks with the 8-byte key word k; returns the bytes done.
       GCC vector extensions (no intrinsics): two 32-byte lanes per step. */
    typedef uint64_t wsf_v4u64 __attribute__((vector_size(32)));
    __attribute__((target("avx2")))
    static Py_ssize_t wsf_mask_blocks_avx2(unsigned char *out, const unsigned char *src,
                                           Py_ssize_t n, uint64_t k) {
        Py_ssize_t i = 0;
        wsf_v4u64 kv = {k, k, k, k};
        for (; n - i >= 64; i += 64) {
            wsf_v4u64 a, b;
            memcpy(&a, src + i, 32);
            memcpy(&b, src + i + 32, 32);
            a ^= kv;
            b ^= kv;
            memcpy(out + i, &a, 32);
            memcpy(out + i + 32, &b, 32);
        }
        return i;
    }
    static int wsf_avx2_state = -1;
    static int wsf_have_avx2(void) {
        if (wsf_avx2_state < 0) {
            __builtin_cpu_init();
            wsf_avx2_state = __builtin_cpu_supports("avx2") ? 1 : 0;
        }
        return wsf_avx2_state;
    }
    #else
    static Py_ssize_t wsf_mask_blocks_avx2(unsigned char *out, const unsigned char *src,
                                           Py_ssize_t n, uint64_t k) {
        (void)out; (void)src; (void)n; (void)k; return 0;
    }
    static int wsf_have_avx2(void) { return 0; }
    #endif
    """
    Py_ssize_t wsf_mask_blocks_avx2(unsigned char* out, const unsigned char* src,
                                    Py_ssize_t n, uint64_t k) noexcept nogil
    int wsf_have_avx2() noexcept nogil


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
    if n >= 256 and wsf_have_avx2():
        i = wsf_mask_blocks_avx2(out, src, n, k)   # a multiple of 64: the phase is unchanged
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
