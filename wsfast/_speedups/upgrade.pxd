# cython: language_level=3
"""The Cython upgrade-request head parser's state, all in C fields (see upgrade.pyx)."""
cimport cython


@cython.final
cdef class RequestHead:
    # limits (from wsfast.limits through the caller; never compiled in)
    cdef readonly Py_ssize_t max_line
    cdef readonly Py_ssize_t max_headers
    cdef readonly Py_ssize_t max_size
    # outcome
    cdef readonly bytes leftover
    cdef readonly object method
    cdef readonly object path
    cdef readonly bint complete
    cdef object _error
    # input: the bytes of a head that arrived in several chunks (None while nothing waits)
    cdef bytearray _buf
    # the complete head's bytes (offsets below index them), once complete
    cdef readonly bytes raw
    cdef Py_ssize_t _line_start     # offset of the current line
    cdef Py_ssize_t _scan           # no LF between _line_start and here
    cdef bint _start_done
    cdef Py_ssize_t _fields_start   # offset of the first header line
    cdef Py_ssize_t _nfields
    # what the fast answer needs, gathered line by line: counts and the first value's span
    cdef int _n_host
    cdef int _n_upgrade
    cdef int _n_connection
    cdef int _n_key
    cdef int _n_version
    cdef int _n_protocol
    cdef int _n_extensions
    cdef bint _upgrade_ok           # the Upgrade value is "websocket", any case
    cdef bint _connection_ok        # every Connection value a valid list, one has "upgrade"
    cdef bint _connection_bad
    cdef bint _key_ok               # 22 base64 characters and "=="
    cdef bint _version_ok           # "13"
    cdef Py_ssize_t _key_at

    cdef bint _upgrade_ok_c(self) noexcept
    cdef int _parse(self, const unsigned char* p, Py_ssize_t n) except -1
    cdef int _request_line(self, const unsigned char* p, Py_ssize_t start, Py_ssize_t end) except -1
    cdef int _header(self, const unsigned char* p, Py_ssize_t start, Py_ssize_t end) except -1
