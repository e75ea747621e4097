# cython: language_level=3
"""The connection core's fields, all touched on every read or send (see conn.pyx)."""


cdef class ConnectionCore:
    cdef public object transport
    cdef public object _proto
    cdef public object _parser
    cdef public list _out
    cdef public object _on_message
    cdef public object _messages
    cdef public object _recv_waiter
    cdef public bint _direct_recv
    cdef public bint _reading_paused
    cdef public bint _corked
    cdef public bint _flush_scheduled
    cdef public Py_ssize_t _corked_bytes
    cdef public bint _tcp_closing
    cdef public double last_received
    cdef public Py_ssize_t unsent_bytes
    # traffic counters (see the pure twin)
    cdef public Py_ssize_t messages_in_text
    cdef public Py_ssize_t messages_in_binary
    cdef public Py_ssize_t bytes_in
    cdef public Py_ssize_t messages_out_text
    cdef public Py_ssize_t messages_out_binary
    cdef public Py_ssize_t bytes_out
    cdef public object _wheel
    cdef object _clock
    cdef object _read_view
    cdef bytearray _read_buffer
    # set by _attach: the protocol's parser is this module's C parser, and plain messages
    # (no extension) can be encoded here by the C builder; _mask: client frames
    cdef bint _c_parser
    cdef bint _c_send
    cdef bint _mask

    cdef int _deliver(self, list items) except -1
    cdef int _flush_c(self) except -1
