"""A connection's per-message path, pure-Python twin of ``wsfast._speedups.conn``.

``ConnectionCore`` is the base of ``wsfast.asyncio.connection.Connection``: it holds what
every read and every send touches (the protocol, its parser and outgoing list, the cork,
the transport, a waiting ``recv()``) and does the work of one read, one send and one
``recv()``. Everything else about a connection (handshake, closing, pings, timers, the
message queue's flow control, fragmented sends) lives in the asyncio layer, which provides
the hooks and fields listed under ``TYPE_CHECKING`` below.

Reads: ``get_buffer`` / ``buffer_updated`` (the loop's shared receive buffer) or
``data_received``; the parsed batch goes to ``on_message(conn, payload, opcode)``, to a
waiting ``recv()`` or to ``_dispatch_queue``, with sends corked until the batch is done.
Sends: ``send_nowait`` / ``send`` queue frames and ``_flush`` writes them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..wire import ITEM_BINARY, ITEM_TEXT, State

_OPEN = State.OPEN
_DATA = (str, bytes, bytearray, memoryview)


class ConnectionCore:
    """The hot half of a connection; see the module docstring for who calls what."""

    __slots__ = (
        "transport", "_proto", "_parser", "_out", "_on_message", "_messages", "_recv_waiter",
        "_direct_recv", "_reading_paused", "_corked", "_flush_scheduled", "_corked_bytes", "_tcp_closing",
        "last_received", "unsent_bytes", "_wheel", "_clock", "_read_view",
        "messages_in_text", "messages_in_binary", "bytes_in",
        "messages_out_text", "messages_out_binary", "bytes_out",
    )

    if TYPE_CHECKING:
        # Provided by the subclass (wsfast.asyncio.connection.Connection).
        _opts: Any
        _loop: Any
        _closed_exc: Any
        _writing_paused: bool
        _fragment_lock: Any

        def _handshake_data(self, data: Any) -> None: ...
        def _dispatch_queue(self, items: list[tuple[int, Any]]) -> None: ...
        def _control(self, op: int, payload: Any) -> None: ...
        def _handler_failed(self, exc: BaseException) -> None: ...
        def _closing_handshake_done(self) -> None: ...
        def _closed_error(self) -> Any: ...
        def _write_parts(self, parts: list[Any]) -> None: ...
        def _apply_failure(self) -> None: ...
        async def _send_fragments(self, fragments: Any) -> None: ...
        async def drain(self) -> None: ...

    def _init_core(self, wheel: Any, on_message: Any, messages: Any) -> None:
        """Set the core's fields; the subclass's ``__init__`` calls this first."""
        self.transport: Any = None
        self._proto: Any = None
        self._parser: Any = None
        self._out: list[Any] | None = None  # the protocol's outgoing list, once open
        self._on_message = on_message
        self._messages = messages
        self._recv_waiter: Any = None  # the future of a recv() waiting for a message
        # A lone message goes straight to a waiting recv(), skipping _dispatch_queue; a
        # subclass that watches messages there turns this off.
        self._direct_recv = True
        self._reading_paused = False  # by the queue's flow control (max_queue)
        self._corked = False
        self._flush_scheduled = False
        self._corked_bytes = 0  # bytes queued by broadcast() for the deferred flush
        self._tcp_closing = False
        self.last_received = 0.0  # loop.time() of the last bytes received (dead-feed watchdogs)
        # Bytes of completed sends that never reached the kernel (the connection was
        # aborted or closed under them).
        self.unsent_bytes = 0
        # Traffic counters (read by the server's stats): messages delivered by kind, wire
        # bytes read once open, messages queued by kind, wire bytes handed to the transport.
        self.messages_in_text = self.messages_in_binary = self.bytes_in = 0
        self.messages_out_text = self.messages_out_binary = self.bytes_out = 0
        self._wheel = wheel
        self._clock = wheel.clock
        self._read_view = wheel.read_view

    def _attach(self, proto: Any) -> None:
        """The handshake succeeded: parse with ``proto`` from now on (its parser and its
        outgoing list are kept here: ``Protocol`` never replaces the list)."""
        self._proto = proto
        self._parser = proto._parser
        self._out = proto._out

    # ----------------------------------------------------------------------- receiving

    def get_buffer(self, sizehint: int) -> memoryview:
        # Every connection of the loop reads into the same buffer: each read is parsed in
        # buffer_updated before the transport reads again, and the parser copies what it
        # keeps. Idle connections hold no receive buffer at all.
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._read_view[:nbytes])

    def data_received(self, data: Any) -> None:
        self.last_received = self._clock()
        proto = self._proto
        if proto is None:
            self._handshake_data(bytes(data))
            return
        self.bytes_in += len(data)
        parser = self._parser
        items = parser.feed(data)
        # Control frames, compressed messages and violations: most reads bring none.
        slow = parser.special or parser.error is not None
        if slow:
            items = proto._process(items)
        if items:
            for op, _ in items:
                if op == ITEM_TEXT:
                    self.messages_in_text += 1
                elif op == ITEM_BINARY:
                    self.messages_in_binary += 1
            self._corked = True  # sends made while handling this batch leave in one write
            on_message = self._on_message
            try:
                if on_message is None:
                    waiter = self._recv_waiter
                    op = items[0][0]
                    if (waiter is not None and self._direct_recv and len(items) == 1
                            and (op == ITEM_TEXT or op == ITEM_BINARY) and not waiter.done()):
                        # One message and a recv() waiting for it (a request/response
                        # peer): hand it over without the queue.
                        self._recv_waiter = None
                        waiter.set_result(items[0][1])
                    else:
                        self._dispatch_queue(items)
                else:
                    try:
                        for op, payload in items:
                            if op == ITEM_TEXT or op == ITEM_BINARY:
                                on_message(self, payload, op)
                            else:
                                self._control(op, payload)
                    except Exception as exc:
                        self._handler_failed(exc)  # 1011
            finally:
                self._corked = False
        if self._out:
            self._flush()
        # A close frame or a violation can only have come with a slow read.
        if (
            slow
            and not self._tcp_closing
            and (proto.close_rcvd is not None or proto.failure is not None)
            and proto.close_expected()
        ):
            self._closing_handshake_done()

    async def recv(self) -> str | bytes:
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
            return message  # type: ignore[no-any-return]
        if self._closed_exc is not None:
            raise self._closed_exc
        if self._recv_waiter is not None:
            raise RuntimeError("another coroutine is already waiting in recv()")
        if self._proto is not None and self._proto.failure_pending:
            self._apply_failure()
        waiter = self._recv_waiter = self._loop.create_future()
        try:
            return await waiter  # type: ignore[no-any-return]
        finally:
            if self._recv_waiter is waiter:
                self._recv_waiter = None

    # ------------------------------------------------------------------------- sending

    async def send(self, message: Any) -> None:
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

    def send_nowait(self, message: Any) -> None:
        """Queue one message for writing without waiting: str as text, bytes-like as binary.

        Never blocks; check ``buffered_amount`` (or use ``await send``) to respect the
        write limit. Raises ConnectionClosed once the closing handshake has started.
        """
        proto = self._proto
        if proto is None or proto.state is not _OPEN:
            raise self._closed_error()
        proto.send_message(message)
        if isinstance(message, str):
            self.messages_out_text += 1
        else:
            self.messages_out_binary += 1
        if not self._corked:
            if self._messages:
                # The application has more received messages to handle right away (a
                # pipelined peer): its next sends join this one in a single write.
                self._flush_soon()
            else:
                self._flush()

    def _flush_soon(self) -> None:
        """Flush at the latest in the next loop iteration (sooner if a send flushes first)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._wheel.flush_soon([self])

    def _flush(self) -> None:
        """Write what the protocol queued, in one write (one ``sendmsg`` for several)."""
        self._flush_scheduled = False
        self._corked_bytes = 0
        out = self._out
        transport = self.transport
        if not out or transport is None:
            return
        if transport.is_closing():
            self.unsent_bytes += sum(map(len, out))
            out.clear()
            return
        if len(out) == 1:
            buf = out.pop()
            self.bytes_out += len(buf)
            transport.write(buf)
            return
        parts = out[:]
        out.clear()  # before writing: the list is the protocol's and stays in use
        self.bytes_out += sum(map(len, parts))
        self._write_parts(parts)
