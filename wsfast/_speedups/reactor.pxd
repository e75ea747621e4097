# cython: language_level=3
"""The native I/O path's types (``reactor.pyx``), declared here so that the connection core
(``conn.pxd``) reads a transport's state and writes through it with C calls."""
cimport cython


cdef class SocketTransport


@cython.final
cdef class Reactor:
    cdef object _loop
    cdef int _fd
    cdef list _by_fd  # descriptor -> its SocketTransport, or None
    cdef Py_ssize_t _count
    cdef dict _listeners
    cdef public bint closed
    cdef bint _close_when_empty
    cdef void *_events  # epoll_event[MAX_EVENTS]
    cdef void *_iov  # iovec[MAX_PARTS], shared by every write of this reactor
    cdef void *_views  # Py_buffer[MAX_PARTS]

    cdef SocketTransport _serve_fd(self, int fd, object protocol, object peername,
                                   const void *address, Py_ssize_t size)
    cdef int _register(self, int fd, int old, int new) except -1
    cdef _forget(self, SocketTransport transport)


@cython.final
cdef class SocketTransport:
    cdef Reactor _reactor
    cdef int _fd
    cdef object _protocol
    cdef list _buffer  # bytes the kernel did not take, oldest first (None when empty)
    cdef Py_ssize_t _head  # bytes of _buffer[0] already sent
    cdef readonly Py_ssize_t _buffered  # readonly: Python may look, as the pure core does
    cdef Py_ssize_t _high
    cdef Py_ssize_t _low
    cdef int _events  # the epoll mask registered for this socket
    cdef bint _reading
    cdef readonly bint _closing
    cdef bint _eof  # write_eof() called
    cdef bint _lost  # connection_lost is scheduled
    cdef bint _paused  # the protocol's writing is paused
    cdef object _peername  # given to Reactor.serve; accepted connections keep _peer
    cdef unsigned int _peer[7]  # the accepted peer's sockaddr (family 0: none)
    cdef object _extra_sock  # get_extra_info("socket"): a duplicate, made when asked

    cdef int _update(self) except -1
    cdef _read_ready(self)
    cdef void _append(self, bytes rest)
    cdef _write_ready(self)
    cdef _maybe_pause(self)
    cdef _maybe_resume(self)
    cdef _tell(self, str name)
    cdef _force_close(self, exc)
    cdef _schedule_lost(self, exc)
    cpdef write(self, data)
    cpdef writelines(self, parts)
