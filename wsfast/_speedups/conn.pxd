# cython: language_level=3
"""Cython's types for the connection core, compiled from ``wsfast/_pure/conn.py``.

``setup.py`` copies that file next to this one and Cython compiles the copy in pure-Python
mode: this file makes ``ConnectionCore`` a ``cdef class`` with C fields, the two functions of
every read and send C functions, and the parser and frame builder calls C calls.
"""
cimport cython

from .builder cimport append_parts
from .parser cimport Parser
from .reactor cimport SocketTransport

cdef object _OPEN
cdef object _TEXT
cdef object _BINARY
cdef tuple _DATA
cdef object _NO_MESSAGES


cdef class ConnectionCore:
    # touched on every read or send
    cdef public object transport
    cdef public object _proto
    cdef public object _parser
    cdef Parser _own_parser  # the parser when it is the C one (a C call per read), else None
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
    cdef public object _wheel
    cdef object _clock
    cdef object _read_view
    cdef bytearray _read_buffer
    cdef bint _plain_send
    cdef bint _mask
    cdef public bint _fragmenting
    cdef public Py_ssize_t _write_limit
    cdef object _writer
    cdef object _sock
    # the rest of the connection's state, read and written by the asyncio layer too
    cdef public object _opts
    cdef public object _loop
    cdef public object _callbacks
    cdef public object _closed_exc
    cdef public bint _writing_paused
    cdef public object _drain_waiters
    cdef public object _pings
    cdef public object _keepalive_sent
    cdef public object _fragment_lock
    cdef public object _deadline
    cdef public double latency
    # metrics
    cdef public Py_ssize_t messages_in_text
    cdef public Py_ssize_t messages_in_binary
    cdef public Py_ssize_t bytes_in
    cdef public Py_ssize_t messages_out_text
    cdef public Py_ssize_t messages_out_binary
    cdef public Py_ssize_t bytes_out

    # final: called directly, not through the vtable (a Python subclass cannot override a
    # cdef method anyway)
    @cython.final
    cdef _read_shared(self, Py_ssize_t nbytes)
    @cython.final
    @cython.locals(item=tuple)
    cdef _deliver(self, list items, bint slow)
    @cython.final
    @cython.locals(native=SocketTransport, parts=list, out=list)
    cdef _write_out(self)
    @cython.final
    cdef _drop_unsent(self, list out)


@cython.locals(corked=Py_ssize_t)
cpdef bint cork(ConnectionCore conn, object data, Py_ssize_t size) except -1


@cython.locals(conn=ConnectionCore, sent=Py_ssize_t, not_open=Py_ssize_t, size=Py_ssize_t,
               to_flush=list, native=SocketTransport, closing=bint, buffered=Py_ssize_t)
cpdef tuple fan_out(object connections, bytes frame)


@cython.locals(conn=ConnectionCore)
cpdef flush_all(object connections)


@cython.locals(n=Py_ssize_t)
cdef Py_ssize_t _total(list parts) except -1
