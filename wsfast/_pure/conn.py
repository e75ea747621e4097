"""A connection's per-message path, pure-Python twin of ``wsfast._speedups.conn``.

``ConnectionCore`` is the base of ``wsfast.asyncio.connection.Connection``: it holds what
every read and every send touches (the protocol, its parser and outgoing list, the cork,
the transport) and does the work of one read and one send. Everything else about a
connection (handshake, closing, pings, timers, the queue read by ``recv()``) lives in the
asyncio layer, which provides the hooks the core calls: ``_handshake_data``,
``_dispatch_queue``, ``_control``, ``_handler_failed``, ``_closing_handshake_done``,
``_closed_error`` and ``_write_parts`` (a flush of several buffers).

Reads: ``get_buffer`` / ``buffer_updated`` (the loop's shared receive buffer) or
``data_received``; the parsed batch goes to ``on_message(conn, payload, opcode)`` or to
``_dispatch_queue``, with sends corked until the batch is done. Sends: ``send_nowait``
queues frames and ``_flush`` writes them.
"""
from __future__ import annotations

from typing import Any

from ..opcodes import OP_BINARY, OP_TEXT
from ..protocol import State

_OPEN = State.OPEN


class ConnectionCore:
    """The hot half of a connection; see the module docstring for who calls what."""

    __slots__ = (
        "transport", "_proto", "_parser", "_out", "_on_message", "_messages", "_recv_waiter",
        "_corked", "_flush_scheduled", "_corked_bytes", "_tcp_closing", "last_received",
        "unsent_bytes", "_wheel", "_clock", "_read_view",
    )

    def _init_core(self, wheel: Any, on_message: Any, messages: Any) -> None:
        """Set the core's fields; the subclass's ``__init__`` calls this first."""
        self.transport: Any = None
        self._proto: Any = None
        self._parser: Any = None
        self._out: list[Any] | None = None  # the protocol's outgoing list, once open
        self._on_message = on_message
        self._messages = messages
        self._recv_waiter: Any = None  # the future of a recv() waiting for a message
        self._corked = False
        self._flush_scheduled = False
        self._corked_bytes = 0  # bytes queued by broadcast() for the deferred flush
        self._tcp_closing = False
        self.last_received = 0.0  # loop.time() of the last bytes received (dead-feed watchdogs)
        # Bytes of completed sends that never reached the kernel (the connection was
        # aborted or closed under them).
        self.unsent_bytes = 0
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
            self._handshake_data(bytes(data))  # type: ignore[attr-defined]
            return
        parser = self._parser
        items = parser.feed(data)
        # Control frames, compressed messages and violations: most reads bring none.
        slow = parser.special or parser.error is not None
        if slow:
            items = proto._process(items)
        if items:
            self._corked = True  # sends made while handling this batch leave in one write
            on_message = self._on_message
            try:
                if on_message is None:
                    waiter = self._recv_waiter
                    op = items[0][0]
                    if (waiter is not None and len(items) == 1
                            and (op == OP_TEXT or op == OP_BINARY) and not waiter.done()):
                        # One message and a recv() waiting for it (a request/response
                        # peer): hand it over without the queue.
                        self._recv_waiter = None
                        waiter.set_result(items[0][1])
                    else:
                        self._dispatch_queue(items)  # type: ignore[attr-defined]
                else:
                    try:
                        for op, payload in items:
                            if op == OP_TEXT or op == OP_BINARY:
                                on_message(self, payload, op)
                            else:
                                self._control(op, payload)  # type: ignore[attr-defined]
                    except Exception as exc:
                        self._handler_failed(exc)  # type: ignore[attr-defined]  # 1011
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
            self._closing_handshake_done()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------------- sending

    def send_nowait(self, message: Any) -> None:
        """Queue one message for writing without waiting: str as text, bytes-like as binary.

        Never blocks; check ``buffered_amount`` (or use ``await send``) to respect the
        write limit. Raises ConnectionClosed once the closing handshake has started.
        """
        proto = self._proto
        if proto is None or proto.state is not _OPEN:
            raise self._closed_error()  # type: ignore[attr-defined]
        proto.send_message(message)
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
            buf = out[0]
            out.clear()
            transport.write(buf)
            return
        parts = out[:]
        out.clear()  # before writing: the list is the protocol's and stays in use
        self._write_parts(parts)  # type: ignore[attr-defined]
