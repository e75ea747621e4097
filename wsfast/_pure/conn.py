"""A connection's message path: one source, run as Python here and compiled by Cython.

``ConnectionCore`` is the base of ``wsfast.asyncio.connection.Connection``. It owns what
happens to every read and every send once the opening handshake is done:

- reads: ``get_buffer`` / ``buffer_updated`` (the loop's shared receive buffer) or
  ``data_received`` -> the parser -> ``_deliver``: messages to ``on_message(conn, payload,
  opcode)``, to a waiting ``recv()`` or to the queue (``_dispatch_queue``, with its flow
  control); control items to ``_control``; a protocol violation to ``_apply_failure``;
- sends: ``send`` / ``send_nowait`` queue frames into the protocol's outgoing list (sends
  made while a batch is delivered are corked) and ``_flush`` writes them in one write;
- the end of a connection's message path: a failing handler (1011), the closing handshake
  done (``_closing_handshake_done``), the error a closed connection raises.

This file is the pure-Python twin. ``setup.py`` copies it to ``wsfast/_speedups/conn.py`` and
Cython compiles that copy with ``wsfast/_speedups/conn.pxd``, which types the fields and the
two per-read functions (Cython's pure-Python mode). Imports of ``.parser`` and ``.builder``
are relative, so each build takes its own twin's parser and frame builder; the compiled build
calls them through C (``Parser.feed_buffer``, ``append_parts``).

The asyncio layer supplies what needs asyncio or a handshake: ``_handshake_data`` (bytes that
arrive before ``_attach``) and ``_send_fragments`` (a fragmented send, under an
``asyncio.Lock``), plus the connection's timers through the wheel (``loop_state``) and the
socket writer passed to ``_set_writer``. Nothing else in this class is overridden from above.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from ..exceptions import ConnectionClosedOK, InvalidState, closed_exception
from ..wire import ITEM_BINARY, ITEM_CLOSE, ITEM_FAILURE, ITEM_PING, ITEM_PONG, ITEM_TEXT, Side, State
from .builder import append_parts, encode_frame_parts
from .parser import Parser
from .reactor import SocketTransport

_OPEN = State.OPEN
_TEXT = ITEM_TEXT
_BINARY = ITEM_BINARY
_DATA = (str, bytes, bytearray, memoryview)
# Shared empty queue, replaced by a connection's own deque when a message is first queued.
_NO_MESSAGES: deque[Any] = deque(maxlen=0)


class ConnectionCore:
    """The message path of one connection; see the module docstring for who calls what."""

    __slots__ = (
        "transport", "_proto", "_parser", "_out", "_on_message", "_messages", "_recv_waiter",
        "_direct_recv", "_reading_paused", "_corked", "_flush_scheduled", "_corked_bytes",
        "_tcp_closing", "last_received", "unsent_bytes", "_wheel", "_clock", "_read_view",
        "_read_buffer", "_own_parser", "_plain_send", "_mask", "_writer", "_sock", "_fragmenting",
        "_write_limit",
        "_opts", "_loop", "_callbacks", "_closed_exc", "_writing_paused", "_drain_waiters",
        "_pings", "_keepalive_sent", "_fragment_lock", "_deadline", "latency",
        "messages_in_text", "messages_in_binary", "bytes_in",
        "messages_out_text", "messages_out_binary", "bytes_out",
    )

    def _init_core(self, options: Any, loop: Any, wheel: Any, callbacks: Any) -> None:
        """Set the core's fields; the subclass's ``__init__`` calls this first."""
        self._opts = options
        self._write_limit = options.write_limit
        self._loop = loop
        self._callbacks = callbacks
        self._on_message = getattr(callbacks, "on_message", None) if callbacks is not None else None
        self.transport: Any = None
        self._proto: Any = None
        self._parser: Any = None
        self._own_parser: Any = None  # the parser, when it is this twin's (see buffer_updated)
        self._out: Any = None  # the protocol's outgoing list, once open
        self._plain_send = False
        self._mask = False
        # A fragmented message is being sent (set by the asyncio layer's fragmented send, as
        # the protocol's own flag, which costs an attribute lookup to read).
        self._fragmenting = False
        self._writer: Any = None  # writes several buffers at once (see _set_writer)
        self._sock: Any = None
        self._messages = _NO_MESSAGES
        self._recv_waiter: Any = None  # the future of a recv() waiting for a message
        # A lone message goes straight to a waiting recv(), skipping _dispatch_queue; a
        # subclass that watches messages there turns this off.
        self._direct_recv = True
        self._reading_paused = False  # by the queue's flow control (max_queue)
        self._corked = False
        self._flush_scheduled = False
        self._corked_bytes = 0  # bytes queued by broadcast() for the deferred flush
        self._tcp_closing = False
        self._closed_exc: Any = None
        self._writing_paused = False
        self._drain_waiters: Any = None
        self._pings: Any = None  # payload -> (future or None for the keepalive, time sent)
        self._keepalive_sent: Any = None
        self._fragment_lock: Any = None  # created by the first fragmented send
        self._deadline: Any = None  # loop time of the next timeout; the wheel reads it
        self.latency = 0.0
        self.last_received = 0.0  # loop.time() of the last bytes received (dead-feed watchdogs)
        # Bytes of completed sends that never reached the kernel (the connection was
        # aborted or closed under them).
        self.unsent_bytes = 0
        # Counters for the metrics: data messages received (delivered to the application,
        # queued or handed to recv()) and sent, and wire bytes read and handed to the
        # transport. Kept per connection; a server sums them when asked.
        self.messages_in_text = 0
        self.messages_in_binary = 0
        self.bytes_in = 0
        self.messages_out_text = 0
        self.messages_out_binary = 0
        self.bytes_out = 0
        self._wheel = wheel
        self._clock = wheel.clock
        self._read_view = wheel.read_view
        self._read_buffer = wheel.read_buffer

    def _set_writer(self, writer: Any, sock: Any) -> None:
        """``writer(transport, sock, parts)`` writes a list of buffers in one go
        (``asyncio.sendmsg``); ``sock`` is the socket it may write to directly, or None.
        A shared function rather than a bound one: an idle connection stays small."""
        self._writer = writer
        self._sock = sock

    def _attach(self, proto: Any) -> None:
        """The handshake succeeded: parse with ``proto`` from now on (its parser and its
        outgoing list are kept here: ``Protocol`` never replaces the list)."""
        self._proto = proto
        parser = self._parser = proto._parser
        self._own_parser = parser if type(parser) is Parser else None
        self._out = proto._out
        # Plain messages (no extension, this twin's encoder) are framed here directly.
        self._plain_send = not proto.extensions and proto._encode_parts is encode_frame_parts
        self._mask = bool(proto.client)

    # ----------------------------------------------------------------------- receiving

    def get_buffer(self, sizehint: int) -> memoryview:
        # Every connection of the loop reads into the same buffer: each read is parsed in
        # buffer_updated before the transport reads again, and the parser copies what it
        # keeps. Idle connections hold no receive buffer at all.
        return self._read_view  # type: ignore[no-any-return]

    def buffer_updated(self, nbytes: int) -> None:
        self._read_shared(nbytes)

    def _read_shared(self, nbytes):  # (untyped here: conn.pxd gives the C types)
        """``nbytes`` arrived in the loop's shared buffer (a C function in the compiled build)."""
        parser = self._own_parser
        if parser is not None:
            self.last_received = self._clock()
            self.bytes_in += nbytes
            items = parser.feed_buffer(self._read_buffer, nbytes)
            # Control frames, compressed messages and violations: most reads bring none.
            self._deliver(items, parser.special or parser.error is not None)
        else:
            self.data_received(self._read_view[:nbytes])

    def data_received(self, data: Any) -> None:
        self.last_received = self._clock()
        if self._proto is None:
            self._handshake_data(bytes(data))
            return
        self.bytes_in += len(data)  # frames only: the handshake is not counted
        parser = self._parser
        items = parser.feed(data)
        self._deliver(items, parser.special or parser.error is not None)

    def _deliver(self, items: list[Any], slow: bool) -> None:
        """Hand a parsed batch to the application, flush, and see whether to close.

        ``slow``: the batch holds control frames, compressed messages or a violation, which
        the protocol handles first.
        """
        proto = self._proto
        if slow:
            items = proto._process(items)
        if items:
            self._corked = True  # sends made while handling this batch leave in one write
            on_message = self._on_message
            try:
                if on_message is None:
                    waiter = self._recv_waiter
                    item = items[0]
                    op = item[0]
                    if (waiter is not None and self._direct_recv and len(items) == 1
                            and (op is _TEXT or op is _BINARY) and not waiter.done()):
                        # One message and a recv() waiting for it (a request/response
                        # peer): hand it over without the queue.
                        self._recv_waiter = None
                        if op is _TEXT:
                            self.messages_in_text += 1
                        else:
                            self.messages_in_binary += 1
                        waiter.set_result(item[1])
                    else:
                        self._dispatch_queue(items)
                else:
                    try:
                        for item in items:
                            op = item[0]
                            if op is _TEXT:
                                self.messages_in_text += 1
                                on_message(self, item[1], op)
                            elif op is _BINARY:
                                self.messages_in_binary += 1
                                on_message(self, item[1], op)
                            else:
                                self._control(op, item[1])
                    except Exception as exc:
                        self._handler_failed(exc)  # 1011
            finally:
                self._corked = False
        if self._out:
            self._write_out()
        # A close frame or a violation can only have come with a slow read.
        if (
            slow
            and not self._tcp_closing
            and (proto.close_rcvd is not None or proto.failure is not None)
            and proto.close_expected()
        ):
            self._closing_handshake_done()

    def _dispatch_queue(self, items: list[Any]) -> None:
        """Coroutine style: messages to a waiting ``recv()`` or the queue, control items on."""
        messages = self._messages
        if messages is _NO_MESSAGES:
            messages = self._messages = deque()
        handed = False  # a message went straight to a waiting recv() in this batch
        for item in items:
            op = item[0]
            payload = item[1]
            if op is _TEXT or op is _BINARY:
                if op is _TEXT:
                    self.messages_in_text += 1
                else:
                    self.messages_in_binary += 1
                waiter = self._recv_waiter
                if waiter is not None:
                    self._recv_waiter = None
                    if not waiter.done():
                        waiter.set_result(payload)
                        handed = True
                        continue
                messages.append(payload)
            elif op == ITEM_FAILURE and (messages or handed):
                # Let the application handle what came before the violation first: the
                # close frame goes out when it asks for the next message (or at the timeout).
                self._control(op, payload)
                self.transport.pause_reading()
                self._set_deadline(self._opts.close_timeout or 1.0)
            else:
                if op == ITEM_FAILURE:
                    self._proto.apply_failure()
                self._control(op, payload)
        if not messages:
            return  # the usual case: everything went to a waiting recv()
        max_queue = self._opts.max_queue
        if (
            max_queue is not None
            and len(messages) >= max_queue
            and not self._reading_paused
            and self._proto.close_sent is None
        ):
            self._reading_paused = True
            self.transport.pause_reading()

    def _control(self, op: int, payload: Any) -> None:
        """A ping, pong, close or failure item from the protocol (pongs already queued)."""
        if op == ITEM_PONG:
            self._pong_received(payload)
        elif op == ITEM_FAILURE:
            self._opts.logger.debug("%s: peer broke the protocol: %s", self, payload)
        elif op == ITEM_CLOSE:
            self._opts.logger.debug("%s: close received %s", self, payload)
        if op == ITEM_PING and self._callbacks is not None:
            on_ping = getattr(self._callbacks, "on_ping", None)
            if on_ping is not None:
                on_ping(self, payload)

    def _pong_received(self, payload: bytes) -> None:
        pings = self._pings
        if not pings or payload not in pings:
            return  # unsolicited pong
        now = self._loop.time()
        while pings:
            key = next(iter(pings))
            waiter, sent = pings.pop(key)
            rtt = now - sent
            if waiter is None:  # the keepalive ping
                self._keepalive_sent = None
                interval = self._opts.ping_interval
                if interval is not None and self._proto.state is _OPEN:
                    # The next ping is due ping_interval after this one was sent: earlier than
                    # the ping_timeout deadline the wheel holds when the interval is shorter,
                    # so the wheel must file it again (it only re-files deadlines moved later).
                    self._deadline = sent + interval
                    self._wheel.schedule(self)
            elif not waiter.done():
                waiter.set_result(rtt)
            if key == payload:
                self.latency = rtt
                break

    def recv(self) -> Any:
        """Return the next message: ``str`` for text (``bytes`` when ``decode=False``), ``bytes`` for binary.

        Raises ConnectionClosedOK / ConnectionClosedError once the connection is closed and
        every message received before the close has been returned. (A coroutine: await it.)
        """
        return self._receive(False)

    async def _receive(self, stop: bool) -> str | bytes:
        """``recv()``; with ``stop`` (``async for``) a normal close ends the iteration
        (StopAsyncIteration) instead, without a second coroutine frame around this one."""
        messages = self._messages
        if messages:
            message = messages.popleft()
            if self._reading_paused and len(messages) <= (self._opts.max_queue or 0) // 4:
                self._reading_paused = False
                self.transport.resume_reading()
            return message  # type: ignore[no-any-return]
        if self._closed_exc is not None:
            if stop and isinstance(self._closed_exc, ConnectionClosedOK):
                raise StopAsyncIteration
            raise self._closed_exc
        if self._recv_waiter is not None:
            raise RuntimeError("another coroutine is already waiting in recv()")
        if self._proto is not None and self._proto.failure_pending:
            self._apply_failure()
        waiter = self._recv_waiter = self._loop.create_future()
        try:
            return await waiter  # type: ignore[no-any-return]
        except ConnectionClosedOK:
            if stop:
                raise StopAsyncIteration from None
            raise
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
        kind = type(message)
        if (kind is bytes or kind is str) and self._plain_send and not self._fragmenting:
            append_parts(self._out, _BINARY if kind is bytes else _TEXT, message, True, 0, self._mask)
        else:
            # bytearray, memoryview, extensions, a fragmented message in progress and type
            # errors take the protocol's own path
            proto.send_message(message)
        if kind is str:
            self.messages_out_text += 1
        else:
            self.messages_out_binary += 1
        if not self._corked:
            if self._messages:
                # The application has more received messages to handle right away (a
                # pipelined peer): its next sends join this one in a single write.
                self._flush_soon()
            else:
                self._write_out()

    async def _send_fragments(self, fragments: Any) -> None:
        raise NotImplementedError  # the asyncio layer's (it needs an asyncio.Lock)

    def _handshake_data(self, data: bytes) -> None:
        raise NotImplementedError  # each side does its own opening handshake

    async def drain(self) -> None:
        """Wait until the write buffer is below the write limit's low-water mark."""
        if not self._writing_paused or self._closed_exc is not None:
            return
        waiter = self._loop.create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        await waiter

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_drain_waiters()

    def _wake_drain_waiters(self) -> None:
        waiters = self._drain_waiters
        self._drain_waiters = None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(None)

    def _flush_soon(self) -> None:
        """Flush at the latest in the next loop iteration (sooner if a send flushes first)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._wheel.flush_soon([self])

    def _flush(self) -> None:
        """Write what the protocol queued, in one write (one ``sendmsg`` for several)."""
        self._write_out()

    def _write_out(self) -> None:
        self._flush_scheduled = False
        self._corked_bytes = 0
        out = self._out
        transport = self.transport
        if not out or transport is None:
            return
        if type(transport) is SocketTransport:
            # The native path's transport: its state read and its writes made directly.
            native = transport
            if native._closing:
                self._drop_unsent(out)
                return
            if len(out) == 1:
                buf = out.pop()
                self.bytes_out += len(buf)
                native.write(buf)
                return
            parts = out[:]
            del out[:]
            self.bytes_out += _total(parts)
            native.writelines(parts)
            return
        if transport.is_closing():
            self._drop_unsent(out)
            return
        if len(out) == 1:
            buf = out.pop()
            self.bytes_out += len(buf)
            transport.write(buf)
            return
        parts = out[:]
        del out[:]  # before writing: the list is the protocol's and stays in use
        self.bytes_out += _total(parts)
        self._writer(transport, self._sock, parts)

    def _drop_unsent(self, out):
        """The transport is closing: what is queued never leaves (counted, then dropped)."""
        self.unsent_bytes += _total(out)
        del out[:]

    # ---------------------------------------------------------------- failing and closing

    def _set_deadline(self, delay: float) -> None:
        self._deadline = self._loop.time() + delay
        self._wheel.schedule(self)

    def _set_close_deadline(self) -> None:
        timeout = self._opts.close_timeout
        if timeout is None:
            self._deadline = None
        else:
            self._set_deadline(timeout)

    def _handler_failed(self, exc: BaseException) -> None:
        """An exception in application code: log it and close this connection with 1011."""
        self._opts.logger.error("%s: error in connection handler", self, exc_info=exc)
        proto = self._proto
        if proto is not None and proto.state is _OPEN:
            proto.send_close(1011, "")
            self._write_out()
            self._set_close_deadline()

    def _apply_failure(self) -> None:
        """Send the close frame of a deferred protocol failure and end the TCP connection."""
        proto = self._proto
        proto.apply_failure()
        self._write_out()
        if not self._reading_paused:
            # Reading was paused while the failure waited; the peer's FIN must get through.
            self.transport.resume_reading()
        if not self._tcp_closing and proto.close_expected():
            self._closing_handshake_done()

    def _closing_handshake_done(self) -> None:
        """Close frames went both ways (or we failed): now end the TCP connection.

        The server (or a side failing the connection) half-closes and waits for the peer's
        FIN; a client waits for the server to close first (RFC 6455 7.1.1). Either way the
        close timeout bounds the wait.
        """
        self._tcp_closing = True
        proto = self._proto
        if proto.side is Side.SERVER or proto.failure is not None:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                if transport.can_write_eof():
                    transport.write_eof()
                else:
                    transport.close()
        self._set_close_deadline()

    def _closed_error(self) -> Exception:
        """What a send on a connection that is not open raises."""
        if self._closed_exc is not None:
            return self._closed_exc  # type: ignore[no-any-return]
        proto = self._proto
        if proto is None:
            return InvalidState("the connection is not open yet")
        sent = proto.close_sent[0] if proto.close_sent is not None else None
        return closed_exception(proto.close_code, proto.close_reason, sent)


def cork(conn, data, size):  # (untyped here: conn.pxd gives the C types)
    """Queue ``data`` (``size`` bytes) to leave with ``conn``'s next write: a broadcast's frame.
    A burst over half the write limit is written now, so a reader that keeps up never sees its
    corked bytes count against it. Returns True when the caller must have it flushed in the
    next loop iteration (``TimerWheel.flush_soon``, batched over connections)."""
    conn._out.append(data)
    corked = conn._corked_bytes + size
    conn._corked_bytes = corked
    if conn._corked:
        return False  # inside its own read: flushed when that returns
    if corked > conn._write_limit >> 1:
        conn._write_out()
        return False
    if conn._flush_scheduled:
        return False
    conn._flush_scheduled = True
    return True


def flush_all(connections: Any) -> None:
    """Write what each of ``connections`` has queued (``TimerWheel.flush_soon``'s batch)."""
    for item in connections:
        if isinstance(item, ConnectionCore):
            conn = item
            conn._write_out()
        else:
            item._flush()  # the other twin's connection


def _total(parts):
    n = 0
    for buf in parts:
        n += len(buf)
    return n


def fan_out(connections: Any, frame: bytes) -> tuple[int, int, list[Any], Any, Any]:
    """The per-recipient loop of ``asyncio.broadcast``: queue ``frame`` on every open server
    connection that frames plainly (no extension) and keeps up, in one pass.

    Returns ``(sent, not_open, to_flush, full, others)``: ``to_flush`` the connections to
    write in the next loop iteration (``TimerWheel.flush_soon``; the others were flushed now
    or are inside their own read, which flushes), ``full`` the connections over their write
    limit or in a fragmented send (None when there are none), ``others`` the open ones that
    need broadcast's general path: client side (masked frames), extensions, or objects that
    are not connection cores (None if none).
    The frame is corked (``cork``): it joins the connection's pending
    output, so a burst of broadcasts leaves in one write per connection.
    """
    sent = 0
    not_open = 0
    size = len(frame)
    to_flush: list[Any] = []
    full = None
    others = None
    for item in connections:
        if not isinstance(item, ConnectionCore):
            if others is None:
                others = []
            others.append(item)
            continue
        conn = item
        proto = conn._proto
        transport = conn.transport
        if type(transport) is SocketTransport:
            native = transport  # the native path: its state read directly
            closing = native._closing
            buffered = native._buffered
        elif transport is not None:
            closing = transport.is_closing()
            buffered = -1  # asked below, once the connection is known to be open
        else:
            closing = True
        if closing or proto is None or proto.state is not _OPEN:
            not_open += 1
            continue
        if conn._mask or not conn._plain_send:
            if others is None:
                others = []
            others.append(conn)
            continue
        if buffered < 0:
            buffered = transport.get_write_buffer_size()
        if conn._fragmenting or buffered + conn._corked_bytes > conn._write_limit:
            if full is None:
                full = []
            full.append(conn)
            continue
        sent += 1
        if cork(conn, frame, size):
            to_flush.append(conn)
    return sent, not_open, to_flush, full, others
