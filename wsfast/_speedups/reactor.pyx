# cython: language_level=3
"""Connections served straight on their sockets: the compiled twin of ``wsfast/_pure/reactor.py``.

Same classes, methods and semantics as the pure twin (read its docstring); here the epoll
set, ``accept4``, ``recv``, ``send`` and ``writev`` are system calls made from C on file
descriptors, and a connection is a small ``cdef`` object (no socket object, no dict): the
reactor finds it by descriptor in a list.
"""
cimport cython
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE, PyBUF_WRITABLE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport errno, EAGAIN, EINTR, EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED, EPROTO
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

import errno as _errno_module
import os
import socket

cdef extern from *:
    """
    /* The system's names are reached through ws_-prefixed aliases: elsewhere (macOS, Windows)
       stubs with those names stand in (the module imports, AVAILABLE is False) without
       clashing with what the system's headers declare. */
    #if defined(__linux__) && !defined(WSFAST_FORCE_NO_EPOLL)
    #include <sys/epoll.h>
    #include <sys/socket.h>
    #include <sys/uio.h>
    #include <netinet/in.h>
    #include <netinet/tcp.h>
    #include <arpa/inet.h>
    #include <unistd.h>
    #define WSFAST_HAVE_EPOLL 1
    typedef epoll_data_t ws_epoll_data;
    typedef struct epoll_event ws_epoll_event;
    typedef struct iovec ws_iovec;
    typedef struct sockaddr ws_sockaddr;
    typedef struct sockaddr_storage ws_sockaddr_storage;
    typedef socklen_t ws_socklen_t;
    #define WS_EPOLLIN EPOLLIN
    #define WS_EPOLLOUT EPOLLOUT
    #define WS_EPOLLERR EPOLLERR
    #define WS_EPOLLHUP EPOLLHUP
    #define WS_EPOLL_CTL_ADD EPOLL_CTL_ADD
    #define WS_EPOLL_CTL_DEL EPOLL_CTL_DEL
    #define WS_EPOLL_CTL_MOD EPOLL_CTL_MOD
    #define WS_EPOLL_CLOEXEC EPOLL_CLOEXEC
    #define WS_SOCK_NONBLOCK SOCK_NONBLOCK
    #define WS_SOCK_CLOEXEC SOCK_CLOEXEC
    #define WS_MSG_NOSIGNAL MSG_NOSIGNAL
    #define WS_SHUT_WR SHUT_WR
    #define WS_AF_INET AF_INET
    #define WS_AF_INET6 AF_INET6
    #define WS_IPPROTO_TCP IPPROTO_TCP
    #define WS_TCP_NODELAY TCP_NODELAY
    #define ws_epoll_create1 epoll_create1
    #define ws_epoll_ctl epoll_ctl
    #define ws_epoll_wait epoll_wait
    #define ws_accept4 accept4
    #define ws_recv recv
    #define ws_send send
    #define ws_writev writev
    #define ws_shutdown shutdown
    #define ws_close close
    #define ws_setsockopt setsockopt
    #define ws_getsockname getsockname
    #else
    #define WSFAST_HAVE_EPOLL 0
    #include <stdint.h>
    #include <stddef.h>
    typedef union { void *ptr; int fd; uint32_t u32; uint64_t u64; } ws_epoll_data;
    typedef struct { uint32_t events; ws_epoll_data data; } ws_epoll_event;
    typedef struct { void *iov_base; size_t iov_len; } ws_iovec;
    typedef struct { unsigned short sa_family; } ws_sockaddr;
    typedef struct { unsigned short ss_family; char pad[126]; } ws_sockaddr_storage;
    typedef unsigned int ws_socklen_t;
    #define WS_EPOLLIN 1
    #define WS_EPOLLOUT 4
    #define WS_EPOLLERR 8
    #define WS_EPOLLHUP 16
    #define WS_EPOLL_CTL_ADD 1
    #define WS_EPOLL_CTL_DEL 2
    #define WS_EPOLL_CTL_MOD 3
    #define WS_EPOLL_CLOEXEC 0
    #define WS_SOCK_NONBLOCK 0
    #define WS_SOCK_CLOEXEC 0
    #define WS_MSG_NOSIGNAL 0
    #define WS_SHUT_WR 1
    #define WS_AF_INET 2
    #define WS_AF_INET6 10
    #define WS_IPPROTO_TCP 6
    #define WS_TCP_NODELAY 1
    static int ws_epoll_create1(int f) { (void)f; return -1; }
    static int ws_epoll_ctl(int a, int b, int c, ws_epoll_event *e) { (void)a; (void)b; (void)c; (void)e; return -1; }
    static int ws_epoll_wait(int a, ws_epoll_event *e, int m, int t) { (void)a; (void)e; (void)m; (void)t; return -1; }
    static int ws_accept4(int a, ws_sockaddr *s, ws_socklen_t *l, int f) { (void)a; (void)s; (void)l; (void)f; return -1; }
    static long ws_recv(int a, void *b, size_t n, int f) { (void)a; (void)b; (void)n; (void)f; return -1; }
    static long ws_send(int a, const void *b, size_t n, int f) { (void)a; (void)b; (void)n; (void)f; return -1; }
    static long ws_writev(int a, const ws_iovec *v, int n) { (void)a; (void)v; (void)n; return -1; }
    static int ws_shutdown(int a, int b) { (void)a; (void)b; return -1; }
    static int ws_close(int a) { (void)a; return -1; }
    static int ws_setsockopt(int a, int b, int c, const void *v, ws_socklen_t l) { (void)a; (void)b; (void)c; (void)v; (void)l; return -1; }
    static int ws_getsockname(int a, ws_sockaddr *s, ws_socklen_t *l) { (void)a; (void)s; (void)l; return -1; }
    #endif
    /* The address of an accepted connection as Python gives it (socket.getpeername()). */
    static PyObject *wsfast_address(const void *address) {
    #if WSFAST_HAVE_EPOLL
        const struct sockaddr_storage *sa = (const struct sockaddr_storage *)address;
        char host[INET6_ADDRSTRLEN];
        if (sa->ss_family == AF_INET) {
            struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
            if (!inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host)) Py_RETURN_NONE;
            return Py_BuildValue("(si)", host, (int)ntohs(in4->sin_port));
        }
        if (sa->ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
            if (!inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host)) Py_RETURN_NONE;
            return Py_BuildValue("(siII)", host, (int)ntohs(in6->sin6_port),
                                 (unsigned int)ntohl(in6->sin6_flowinfo),
                                 (unsigned int)in6->sin6_scope_id);
        }
    #endif
        Py_RETURN_NONE;
    }
    """
    int WSFAST_HAVE_EPOLL
    ctypedef unsigned int socklen_t "ws_socklen_t"
    ctypedef union epoll_data_t "ws_epoll_data":
        void *ptr
        int fd
    ctypedef struct epoll_event "ws_epoll_event":
        unsigned int events
        epoll_data_t data
    ctypedef struct iovec "ws_iovec":
        void *iov_base
        size_t iov_len
    ctypedef struct sockaddr "ws_sockaddr":
        unsigned short sa_family
    ctypedef struct sockaddr_storage "ws_sockaddr_storage":
        unsigned short ss_family
    int EPOLLIN "WS_EPOLLIN"
    int EPOLLOUT "WS_EPOLLOUT"
    int EPOLLERR "WS_EPOLLERR"
    int EPOLLHUP "WS_EPOLLHUP"
    int EPOLL_CTL_ADD "WS_EPOLL_CTL_ADD"
    int EPOLL_CTL_DEL "WS_EPOLL_CTL_DEL"
    int EPOLL_CTL_MOD "WS_EPOLL_CTL_MOD"
    int EPOLL_CLOEXEC "WS_EPOLL_CLOEXEC"
    int SOCK_NONBLOCK "WS_SOCK_NONBLOCK"
    int SOCK_CLOEXEC "WS_SOCK_CLOEXEC"
    int MSG_NOSIGNAL "WS_MSG_NOSIGNAL"
    int SHUT_WR "WS_SHUT_WR"
    int AF_INET "WS_AF_INET"
    int AF_INET6 "WS_AF_INET6"
    int IPPROTO_TCP "WS_IPPROTO_TCP"
    int TCP_NODELAY "WS_TCP_NODELAY"
    int epoll_create1 "ws_epoll_create1" (int flags)
    int epoll_ctl "ws_epoll_ctl" (int epfd, int op, int fd, epoll_event *event)
    int epoll_wait "ws_epoll_wait" (int epfd, epoll_event *events, int maxevents, int timeout) nogil
    int accept4 "ws_accept4" (int fd, sockaddr *addr, socklen_t *addrlen, int flags)
    ssize_t recv "ws_recv" (int fd, void *buf, size_t n, int flags)
    ssize_t send "ws_send" (int fd, const void *buf, size_t n, int flags)
    ssize_t writev "ws_writev" (int fd, const iovec *iov, int iovcnt)
    int shutdown "ws_shutdown" (int fd, int how)
    int close "ws_close" (int fd)
    int setsockopt "ws_setsockopt" (int fd, int level, int name, const void *value, socklen_t size)
    int getsockname "ws_getsockname" (int fd, sockaddr *addr, socklen_t *addrlen)
    object wsfast_address(const void *address)

AVAILABLE = bool(WSFAST_HAVE_EPOLL)

DEF _MAX_EVENTS = 1024
DEF _MAX_PARTS = 1024  # IOV_MAX on Linux
MAX_EVENTS = _MAX_EVENTS
MAX_PARTS = _MAX_PARTS
DEFAULT_HIGH_WATER = 64 * 1024

cdef int _IN = EPOLLIN
cdef int _OUT = EPOLLOUT
cdef int _ERRORS = EPOLLERR | EPOLLHUP


cdef inline bint _again(int err) noexcept:
    return err == EAGAIN or err == EINTR  # (EWOULDBLOCK is EAGAIN on Linux)


cdef object _os_error(int err):
    # OSError(errno, ...) is the matching subclass (ConnectionResetError, BrokenPipeError...).
    return OSError(err, os.strerror(err))


cdef class Reactor:
    """The epoll set of one event loop and the transports registered in it."""

    def __cinit__(self):
        self._fd = -1
        self._events = NULL
        self._iov = NULL
        self._views = NULL

    def __init__(self, loop):
        if not WSFAST_HAVE_EPOLL:
            raise RuntimeError("the native I/O path needs Linux (epoll)")
        self._events = malloc(_MAX_EVENTS * sizeof(epoll_event))
        self._iov = malloc(_MAX_PARTS * sizeof(iovec))
        self._views = malloc(_MAX_PARTS * sizeof(Py_buffer))
        if self._events == NULL or self._iov == NULL or self._views == NULL:
            raise MemoryError()
        self._fd = epoll_create1(EPOLL_CLOEXEC)
        if self._fd < 0:
            raise _os_error(errno)
        self._loop = loop
        self._by_fd = []
        self._count = 0
        self._listeners = {}
        self.closed = False
        self._close_when_empty = False
        loop.add_reader(self._fd, self._ready)

    def __dealloc__(self):
        free(self._events)
        free(self._iov)
        free(self._views)
        if self._fd >= 0 and not self.closed:
            close(self._fd)

    def __len__(self):
        return self._count

    # ------------------------------------------------------------------------- accepting

    def listen(self, sock, protocol_factory, int backlog):
        """Accept connections on the listening ``sock`` (up to ``backlog`` per wake-up),
        each served by ``protocol_factory()`` on a ``SocketTransport``."""
        sock.setblocking(False)
        fd = sock.fileno()
        self._listeners[fd] = (sock, protocol_factory, backlog)
        self._loop.add_reader(fd, self._accept, fd)

    def stop_listening(self, sock):
        """Stop accepting on ``sock`` (the caller closes it)."""
        fd = sock.fileno()
        if self._listeners.pop(fd, None) is not None:
            self._loop.remove_reader(fd)

    def _accept(self, int fd):
        cdef sockaddr_storage addr
        cdef socklen_t size
        cdef int conn, err, one = 1
        entry = self._listeners.get(fd)
        if entry is None:
            return
        sock, factory, backlog = entry
        family = sock.family
        for _ in range(<int>backlog):
            size = sizeof(addr)
            memset(&addr, 0, sizeof(addr))
            conn = accept4(fd, <sockaddr *>&addr, &size, SOCK_NONBLOCK | SOCK_CLOEXEC)
            if conn < 0:
                err = errno
                if _again(err):
                    return
                if err == EMFILE or err == ENFILE or err == ENOBUFS or err == ENOMEM:
                    # Out of descriptors or memory: pause accepting for a second, as asyncio.
                    self._loop.remove_reader(fd)
                    self._loop.call_later(1.0, self._resume_accepting, fd)
                    self._loop.call_exception_handler({
                        "message": "socket.accept() out of system resource",
                        "exception": _os_error(err),
                    })
                    return
                if err == ECONNABORTED or err == EPROTO:
                    continue  # the peer went away before we accepted it
                raise _os_error(err)
            if addr.ss_family == AF_INET or addr.ss_family == AF_INET6:
                setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
            try:
                protocol = factory()
            except BaseException:
                close(conn)
                raise
            self._serve_fd(conn, protocol, None, &addr, size)

    def _resume_accepting(self, fd):
        if fd in self._listeners and not self.closed:
            self._loop.add_reader(fd, self._accept, fd)

    def serve(self, sock, protocol, peername):
        """Serve the connected, non-blocking ``sock`` with ``protocol``: call its
        ``connection_made`` and start reading. The transport owns the socket from now on."""
        sock.setblocking(False)
        return self._serve_fd(sock.detach(), protocol, peername, NULL, 0)

    cdef SocketTransport _serve_fd(self, int fd, object protocol, object peername,
                                   const void *address, Py_ssize_t size):
        cdef SocketTransport transport = SocketTransport.__new__(SocketTransport)
        # The peer's address as the kernel gave it (28 bytes hold an IPv6 sockaddr): the
        # tuple is built when asked, not kept by every idle connection.
        memset(transport._peer, 0, sizeof(transport._peer))
        if address != NULL:
            memcpy(transport._peer, address, min(size, <Py_ssize_t>sizeof(transport._peer)))
        transport._reactor = self
        transport._fd = fd
        transport._protocol = protocol
        transport._buffer = None
        transport._head = 0
        transport._buffered = 0
        transport._high = DEFAULT_HIGH_WATER
        transport._low = DEFAULT_HIGH_WATER // 4
        transport._events = 0
        transport._reading = True
        transport._closing = False
        transport._eof = False
        transport._lost = False
        transport._paused = False
        transport._peername = peername
        transport._extra_sock = None
        by_fd = self._by_fd
        if fd >= len(by_fd):
            by_fd.extend([None] * (fd + 1 - len(by_fd) + 64))
        by_fd[fd] = transport
        self._count += 1
        try:
            protocol.connection_made(transport)
        except BaseException as exc:
            transport._force_close(exc)
            if not isinstance(exc, Exception):
                raise
            return transport
        transport._update()
        return transport

    # ------------------------------------------------------------------------ readiness

    def _ready(self):
        cdef int n, i, fd
        cdef unsigned int mask
        cdef SocketTransport transport
        cdef list by_fd = self._by_fd
        cdef epoll_event *events = <epoll_event *>self._events
        n = epoll_wait(self._fd, events, _MAX_EVENTS, 0)
        if n < 0:
            if errno == EINTR:
                return
            raise _os_error(errno)
        for i in range(n):
            fd = events[i].data.fd
            mask = events[i].events
            if fd >= len(by_fd):
                continue
            item = by_fd[fd]
            if item is None:
                continue
            transport = <SocketTransport>item
            if mask & (_IN | _ERRORS) and transport._events & _IN:
                transport._read_ready()
            if mask & (_OUT | _ERRORS) and transport._events & _OUT:
                transport._write_ready()

    cdef int _register(self, int fd, int old, int new) except -1:
        cdef epoll_event event
        cdef int rc
        event.events = new
        event.data.fd = fd
        if new == 0:
            rc = epoll_ctl(self._fd, EPOLL_CTL_DEL, fd, &event)
        elif old == 0:
            rc = epoll_ctl(self._fd, EPOLL_CTL_ADD, fd, &event)
        else:
            rc = epoll_ctl(self._fd, EPOLL_CTL_MOD, fd, &event)
        if rc < 0:
            raise _os_error(errno)
        return 0

    cdef _forget(self, SocketTransport transport):
        cdef int fd = transport._fd
        if fd < len(self._by_fd) and self._by_fd[fd] is transport:
            self._by_fd[fd] = None
            self._count -= 1
            if self._close_when_empty and self._count == 0:
                self.close()

    def close_when_empty(self):
        """Close once no transport is left (now if none is)."""
        if self._count:
            self._close_when_empty = True
        else:
            self.close()

    def close(self):
        """Stop serving: listeners first; open transports are aborted."""
        if self.closed:
            return
        self.closed = True
        for fd in list(self._listeners):
            self._loop.remove_reader(fd)
        self._listeners.clear()
        for item in list(self._by_fd):
            if item is not None:
                (<SocketTransport>item).abort()
        if not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        close(self._fd)


cdef class SocketTransport:
    """One connection's socket, as the ``asyncio.Transport`` subset wsfast uses."""

    def __init__(self):
        raise TypeError("transports are made by Reactor.listen / Reactor.serve")

    def __repr__(self):
        state = "closing" if self._closing else "open"
        return f"<SocketTransport fd={self._fd} {state} buffered={self._buffered}>"

    # ----------------------------------------------------------------------- the mask

    cdef int _update(self) except -1:
        cdef int new = (_IN if self._reading and not self._closing else 0) | (_OUT if self._buffered else 0)
        if new != self._events and not self._lost:
            self._reactor._register(self._fd, self._events, new)
            self._events = new
        return 0

    # --------------------------------------------------------------------------- reading

    cdef _read_ready(self):
        cdef Py_buffer view
        cdef ssize_t nbytes
        cdef int err
        if self._lost:
            return
        protocol = self._protocol
        buf = protocol.get_buffer(-1)
        PyObject_GetBuffer(buf, &view, PyBUF_WRITABLE)
        nbytes = recv(self._fd, view.buf, view.len, 0)
        err = errno
        PyBuffer_Release(&view)
        if nbytes > 0:
            protocol.buffer_updated(nbytes)
            return
        if nbytes < 0:
            if not _again(err):
                self._force_close(_os_error(err))
            return
        # The peer half-closed: its FIN.
        self._reading = False
        self._update()
        keep_open = protocol.eof_received()
        if not keep_open:
            self.close()

    def pause_reading(self):
        if self._closing or not self._reading:
            return
        self._reading = False
        self._update()

    def resume_reading(self):
        if self._closing or self._reading:
            return
        self._reading = True
        self._update()

    def is_reading(self):
        return self._reading and not self._closing

    # --------------------------------------------------------------------------- writing

    cpdef write(self, data):
        cdef Py_buffer view
        cdef ssize_t sent = 0
        cdef int err
        if self._eof:
            raise RuntimeError("cannot call write() after write_eof()")
        if self._lost:
            return
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if view.len == 0:
                return
            if not self._buffered:
                sent = send(self._fd, view.buf, view.len, MSG_NOSIGNAL)
                if sent < 0:
                    err = errno
                    if not _again(err):
                        self._force_close(_os_error(err))
                        return
                    sent = 0
                if sent == view.len:
                    return
            rest = PyBytes_FromStringAndSize(<char *>view.buf + sent, view.len - sent)
        finally:
            PyBuffer_Release(&view)
        self._append(rest)
        self._update()
        self._maybe_pause()

    cdef void _append(self, bytes rest):
        if self._buffer is None:
            self._buffer = [rest]
        else:
            self._buffer.append(rest)
        self._buffered += PyBytes_GET_SIZE(rest)

    cpdef writelines(self, parts):
        cdef Reactor reactor = self._reactor
        cdef Py_ssize_t count, i, acquired = 0, size
        cdef ssize_t sent
        cdef int err
        cdef iovec *iov = <iovec *>reactor._iov
        cdef Py_buffer *views = <Py_buffer *>reactor._views
        if self._eof:
            raise RuntimeError("cannot call writelines() after write_eof()")
        if self._lost:
            return
        if not isinstance(parts, list):
            parts = list(parts)
        count = len(parts)
        if count == 0:
            return
        if self._buffered or count > _MAX_PARTS:
            for part in parts:
                if len(part):
                    self._append(bytes(part))
            self._update()
            self._maybe_pause()
            return
        try:
            for i in range(count):
                part = parts[i]
                if PyBytes_CheckExact(part):
                    iov[i].iov_base = PyBytes_AS_STRING(part)
                    iov[i].iov_len = PyBytes_GET_SIZE(part)
                else:
                    PyObject_GetBuffer(part, &views[acquired], PyBUF_SIMPLE)
                    iov[i].iov_base = views[acquired].buf
                    iov[i].iov_len = views[acquired].len
                    acquired += 1
            sent = writev(self._fd, iov, <int>count)
            err = errno
            if sent < 0:
                if not _again(err):
                    self._force_close(_os_error(err))
                    return
                sent = 0
            for i in range(count):
                size = <Py_ssize_t>iov[i].iov_len
                if sent >= size:
                    sent -= size
                    continue
                if size - sent:
                    self._append(PyBytes_FromStringAndSize(<char *>iov[i].iov_base + sent, size - sent))
                sent = 0
        finally:
            for i in range(acquired):
                PyBuffer_Release(&views[i])
        if self._buffered:
            self._update()
            self._maybe_pause()

    cdef _write_ready(self):
        cdef Reactor reactor = self._reactor
        cdef iovec *iov = <iovec *>reactor._iov
        cdef list buffer = self._buffer
        cdef Py_ssize_t count, i, done = 0, size
        cdef ssize_t sent
        cdef int err
        cdef bytes part
        if self._lost or buffer is None:
            return
        count = min(len(buffer), _MAX_PARTS)
        for i in range(count):
            part = <bytes>buffer[i]
            iov[i].iov_base = PyBytes_AS_STRING(part)
            iov[i].iov_len = PyBytes_GET_SIZE(part)
        iov[0].iov_base = <char *>iov[0].iov_base + self._head
        iov[0].iov_len -= self._head
        sent = writev(self._fd, iov, <int>count)
        if sent < 0:
            err = errno
            if not _again(err):
                self._force_close(_os_error(err))
            return
        self._buffered -= sent
        for i in range(count):
            size = <Py_ssize_t>iov[i].iov_len
            if sent >= size:
                sent -= size
                done += 1
                self._head = 0
                continue
            self._head = <Py_ssize_t>((<char *>iov[i].iov_base + sent) - PyBytes_AS_STRING(<bytes>buffer[i]))
            break
        del buffer[:done]
        self._maybe_resume()
        if self._buffered:
            return
        self._buffer = None
        self._head = 0
        self._update()
        if self._closing:
            self._schedule_lost(None)
        elif self._eof:
            shutdown(self._fd, SHUT_WR)

    def can_write_eof(self):
        return True

    def write_eof(self):
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffered:
            shutdown(self._fd, SHUT_WR)  # an error means the peer is gone: reading will tell

    def get_write_buffer_size(self):
        return self._buffered

    def set_write_buffer_limits(self, high=None, low=None):
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high = high
        self._low = low
        self._maybe_pause()

    def get_write_buffer_limits(self):
        return (self._low, self._high)

    cdef _maybe_pause(self):
        if self._buffered > self._high and not self._paused:
            self._paused = True
            self._tell("pause_writing")

    cdef _maybe_resume(self):
        if self._paused and self._buffered <= self._low:
            self._paused = False
            self._tell("resume_writing")

    cdef _tell(self, str name):
        """Call the protocol's ``name()``; an exception is reported as asyncio reports it."""
        try:
            getattr(self._protocol, name)()
        except Exception as exc:
            self._reactor._loop.call_exception_handler({
                "message": f"protocol.{name}() failed", "exception": exc,
                "transport": self, "protocol": self._protocol,
            })

    # --------------------------------------------------------------------------- closing

    def is_closing(self):
        return self._closing

    def close(self):
        """Stop reading; close once the buffered bytes are written."""
        if self._closing:
            return
        self._closing = True
        self._update()
        if not self._buffered:
            self._schedule_lost(None)

    def abort(self):
        """Close now; buffered bytes are dropped."""
        self._force_close(None)

    cdef _force_close(self, exc):
        if self._lost:
            return
        self._buffer = None
        self._head = 0
        self._buffered = 0
        self._closing = True
        self._update()
        self._schedule_lost(exc)

    cdef _schedule_lost(self, exc):
        if self._lost:
            return
        if self._events:
            self._reactor._register(self._fd, self._events, 0)
            self._events = 0
        self._lost = True
        self._reactor._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._reactor._forget(self)
            if self._extra_sock is not None:
                self._extra_sock.close()
                self._extra_sock = None
            close(self._fd)
            self._protocol = None

    # ------------------------------------------------------------------------ the rest

    def get_extra_info(self, name, default=None):
        cdef sockaddr_storage addr
        cdef socklen_t size = sizeof(addr)
        if name == "peername":
            if self._peername is None and self._peer[0] != 0:
                return wsfast_address(self._peer)
            return self._peername
        if self._lost and self._protocol is None:
            return default  # the descriptor is closed
        if name == "sockname":
            memset(&addr, 0, sizeof(addr))
            if getsockname(self._fd, <sockaddr *>&addr, &size) < 0:
                return default
            return wsfast_address(&addr)
        if name == "socket":
            if self._extra_sock is None:
                # A duplicate descriptor of the same socket (options, addresses); closed
                # with the connection.
                self._extra_sock = socket.socket(fileno=os.dup(self._fd))
            return self._extra_sock
        return default

    def get_protocol(self):
        return self._protocol

    def set_protocol(self, protocol):
        self._protocol = protocol
