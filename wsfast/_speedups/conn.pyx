# cython: language_level=3, boundscheck=False, wraparound=False
"""A connection's per-message path, Cython twin of ``wsfast._pure.conn``.

Same fields, methods and hooks as the pure twin (its docstring says who calls what). The
difference is the calls it saves: a read is parsed straight from the loop's shared receive
buffer by the C parser (``Parser.feed_ptr``), a plain message is encoded into the
protocol's outgoing list by the C builder (``append_parts``), and the fields live in C.
With any other parser or with extensions it takes the same generic path as the pure twin.
"""
from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_CheckExact
from cpython.unicode cimport PyUnicode_CheckExact

from .builder cimport append_parts
from .builder import encode_frame_parts as _c_encode_frame_parts
from .parser cimport Parser

from wsfast.wire import ITEM_BINARY, ITEM_TEXT, State

cdef object _OPEN = State.OPEN
# The item kinds as the parsers' int objects: small ints are CPython singletons, so ``is``
# tells them apart with one pointer comparison.
cdef object _TEXT = ITEM_TEXT
cdef object _BINARY = ITEM_BINARY
cdef object _FIN = True
cdef object _NO_RSV = 0
cdef tuple _DATA = (str, bytes, bytearray, memoryview)


cdef class ConnectionCore:
    """The hot half of a connection; see ``wsfast._pure.conn``."""

    def _init_core(self, wheel, on_message, messages):
        """Set the core's fields; the subclass's ``__init__`` calls this first."""
        self.transport = None
        self._proto = None
        self._parser = None
        self._out = None
        self._on_message = on_message
        self._messages = messages
        self._recv_waiter = None
        self._direct_recv = True
        self._reading_paused = False
        self._corked = False
        self._flush_scheduled = False
        self._corked_bytes = 0
        self._tcp_closing = False
        self.last_received = 0.0
        self.unsent_bytes = 0
        self.messages_in_text = self.messages_in_binary = self.bytes_in = 0
        self.messages_out_text = self.messages_out_binary = self.bytes_out = 0
        self._wheel = wheel
        self._clock = wheel.clock
        self._read_view = wheel.read_view
        self._read_buffer = wheel.read_buffer

    def _attach(self, proto):
        """The handshake succeeded: parse with ``proto`` from now on (its parser and its
        outgoing list are kept here: ``Protocol`` never replaces the list)."""
        self._proto = proto
        self._parser = proto._parser
        self._out = proto._out
        self._c_parser = type(self._parser) is Parser
        self._c_send = not proto.extensions and proto._encode_parts is _c_encode_frame_parts
        self._mask = bool(proto.client)

    # ----------------------------------------------------------------------- receiving

    def get_buffer(self, Py_ssize_t sizehint):
        # Every connection of the loop reads into the same buffer (see the pure twin).
        return self._read_view

    def buffer_updated(self, Py_ssize_t nbytes):
        if self._c_parser and self._proto is not None:
            self.last_received = self._clock()
            self.bytes_in += nbytes
            self._deliver((<Parser>self._parser).feed_ptr(
                <const unsigned char*>PyByteArray_AS_STRING(self._read_buffer), nbytes))
        else:
            self.data_received(self._read_view[:nbytes])

    def data_received(self, data):
        self.last_received = self._clock()
        if self._proto is None:
            self._handshake_data(bytes(data))
            return
        self.bytes_in += len(data)
        self._deliver(self._parser.feed(data))

    cdef int _deliver(self, list items) except -1:
        """Hand a parsed batch to the application, flush, and see whether to close."""
        cdef object proto = self._proto
        cdef object parser = self._parser
        cdef bint slow
        cdef tuple item
        cdef object op
        cdef object on_message
        cdef object waiter
        if self._c_parser:
            slow = (<Parser>parser).special or (<Parser>parser).error is not None
        else:
            slow = parser.special or parser.error is not None
        if slow:
            items = proto._process(items)
        if items:
            for item in items:
                op = item[0]
                if op is _TEXT:
                    self.messages_in_text += 1
                elif op is _BINARY:
                    self.messages_in_binary += 1
            self._corked = True  # sends made while handling this batch leave in one write
            on_message = self._on_message
            try:
                if on_message is None:
                    waiter = self._recv_waiter
                    item = items[0]
                    op = item[0]
                    if (waiter is not None and self._direct_recv and len(items) == 1
                            and (op is _TEXT or op is _BINARY) and not waiter.done()):
                        # One message and a recv() waiting for it: no queue (pure twin).
                        self._recv_waiter = None
                        waiter.set_result(item[1])
                    else:
                        self._dispatch_queue(items)
                else:
                    try:
                        for item in items:
                            op = item[0]
                            if op is _TEXT or op is _BINARY:
                                on_message(self, item[1], op)
                            else:
                                self._control(op, item[1])
                    except Exception as exc:
                        self._handler_failed(exc)  # a callback raised: 1011
            finally:
                self._corked = False
        if self._out:
            self._flush_c()
        # A close frame or a violation can only have come with a slow read.
        if (slow and not self._tcp_closing
                and (proto.close_rcvd is not None or proto.failure is not None)
                and proto.close_expected()):
            self._closing_handshake_done()
        return 0

    async def recv(self):
        """Return the next message: ``str`` for text (``bytes`` when ``decode=False``), ``bytes`` for binary.

        Raises ConnectionClosedOK / ConnectionClosedError once the connection is closed and
        every message received before the close has been returned.
        """
        messages = self._messages
        if messages:
            message = messages.popleft()
            if self._reading_paused and len(messages) <= (self._opts.max_queue or 0) // 4:
                self._reading_paused = False
                self.transport.resume_reading()
            return message
        if self._closed_exc is not None:
            raise self._closed_exc
        if self._recv_waiter is not None:
            raise RuntimeError("another coroutine is already waiting in recv()")
        if self._proto is not None and self._proto.failure_pending:
            self._apply_failure()
        waiter = self._recv_waiter = self._loop.create_future()
        try:
            return await waiter
        finally:
            if self._recv_waiter is waiter:
                self._recv_waiter = None

    # ------------------------------------------------------------------------- sending

    async def send(self, message):
        """Send a message and wait while the write buffer is over ``write_limit``.

        An iterable or async iterable of str (or of bytes-like) is sent as one fragmented
        message, one frame per item; other sends wait until it is complete, so frames of
        concurrent sends never interleave.
        """
        lock = self._fragment_lock
        if isinstance(message, _DATA):
            if lock is not None and lock.locked():
                async with lock:
                    self.send_nowait(message)
            else:
                self.send_nowait(message)
        elif isinstance(message, dict):
            raise TypeError("message must be str, bytes-like or an iterable of them, not dict")
        else:
            await self._send_fragments(message)
        if self._writing_paused:
            await self.drain()

    def send_nowait(self, message):
        """Queue one message for writing without waiting: str as text, bytes-like as binary.

        Never blocks; check ``buffered_amount`` (or use ``await send``) to respect the
        write limit. Raises ConnectionClosed once the closing handshake has started.
        """
        proto = self._proto
        if proto is None or proto.state is not _OPEN:
            raise self._closed_error()
        # bytes and str go to the C builder; bytearray, memoryview, extensions, a fragmented
        # message in progress and type errors take the protocol's own path
        opcode = (_BINARY if PyBytes_CheckExact(message)
                  else _TEXT if PyUnicode_CheckExact(message) else None)
        if opcode is not None and self._c_send and not proto._sending_fragments:
            append_parts(self._out, opcode, message, _FIN, _NO_RSV, self._mask)
        else:
            proto.send_message(message)
            opcode = _TEXT if isinstance(message, str) else _BINARY
        if opcode is _TEXT:
            self.messages_out_text += 1
        else:
            self.messages_out_binary += 1
        if not self._corked:
            if self._messages:
                # The application has more received messages to handle right away (a
                # pipelined peer): its next sends join this one in a single write.
                self._flush_soon()
            else:
                self._flush_c()

    def _flush_soon(self):
        """Flush at the latest in the next loop iteration (sooner if a send flushes first)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._wheel.flush_soon([self])

    def _flush(self):
        """Write what the protocol queued, in one write (one ``sendmsg`` for several)."""
        self._flush_c()

    cdef int _flush_c(self) except -1:
        cdef list out = self._out
        cdef list parts
        cdef object transport = self.transport
        cdef object buf
        cdef Py_ssize_t n
        self._flush_scheduled = False
        self._corked_bytes = 0
        if not out or transport is None:
            return 0
        if transport.is_closing():
            n = 0
            for buf in out:
                n += len(buf)
            self.unsent_bytes += n
            del out[:]
            return 0
        if len(out) == 1:
            buf = out.pop()  # (pop: no slice object, unlike del out[:])
            self.bytes_out += len(buf)
            transport.write(buf)
            return 0
        parts = out[:]
        del out[:]  # before writing: the list is the protocol's and stays in use
        n = 0
        for buf in parts:
            n += len(buf)
        self.bytes_out += n
        self._write_parts(parts)
        return 0
