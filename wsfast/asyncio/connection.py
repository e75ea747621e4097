"""One WebSocket connection on an asyncio transport, shared by the server and the client side.

``Connection`` is an ``asyncio.BufferedProtocol`` (not a stream): reads land in one buffer
shared by the loop's connections (``get_buffer``), and each read is handed to the sans-I/O
``Protocol`` in one call that returns a batch of complete messages.
Messages go either to a queue read by ``await recv()`` (coroutine style) or straight to a
handler's ``on_message`` (callback style: no task, future or queue per message). Frames sent
while a batch is being delivered are corked and leave in one write at the end of the batch.

Subclasses (``ServerConnection``, ``ClientConnection``) do the opening handshake and then
call ``_open``; everything after that lives here. The per-read and per-send work (parse a
read, deliver the batch, queue and flush frames) is ``ConnectionCore``'s, a kernel twin
chosen by ``wsfast._impl`` (``_speedups/conn.pyx`` or ``_pure/conn.py``); this class
provides the hooks it calls.
"""
from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import TYPE_CHECKING, Any, AsyncIterable, Iterable

from .. import _impl
from .._impl import ConnectionCore  # the chosen twin's; see wsfast._impl
from ..exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidState,
    LocalProtocolError,
    closed_exception,
)
from ..protocol import Protocol
from ..wire import ITEM_BINARY, ITEM_CLOSE, ITEM_FAILURE, ITEM_PING, ITEM_PONG, ITEM_TEXT, Side, State
from .options import ConnectionOptions
from .loop_state import get_wheel
from .sendmsg import direct_socket, send_parts, write_parts

# Shared empty placeholders, replaced by a connection's own containers on first use.
_NO_MESSAGES: deque[Any] = deque(maxlen=0)
_NO_EXTENSIONS: list[Any] = []


class Connection(ConnectionCore, asyncio.BufferedProtocol):
    """A WebSocket connection: receive with ``recv()``/``async for``, send with ``send()``.

    Attributes after the handshake: ``subprotocol``, ``extensions``, ``request`` (the
    opening request, with ``path`` and ``headers``), ``response``, ``remote_address``,
    ``local_address``; ``state``, ``close_code``, ``close_reason``, ``buffered_amount``,
    ``latency`` (the last ping round trip, seconds) and ``last_received`` (``loop.time()`` of
    the last bytes from the peer) are live. ``user_data`` is free
    for the application.
    """

    side: Side = Side.SERVER

    # Slots and lazily created containers keep an idle connection small: tens of thousands
    # of them sit on a fan-out server.
    # (ConnectionCore holds transport, _proto, _messages, _recv_waiter, _reading_paused,
    # _on_message, the cork and flush flags, last_received and unsent_bytes.)
    __slots__ = (
        "_opts", "_loop", "_callbacks", "_closed", "_closed_exc",
        "_writing_paused", "_drain_waiters", "_pings", "_keepalive_sent",
        "_fragment_lock", "_deadline", "subprotocol", "extensions", "request", "response",
        "remote_address", "latency", "user_data", "skipped_messages", "_sock",
    )

    def __init__(self, options: ConnectionOptions, callbacks: Any = None) -> None:
        self._opts = options
        self._loop = asyncio.get_running_loop()
        on_message = getattr(callbacks, "on_message", None) if callbacks is not None else None
        # _messages is a real deque once a message is queued
        self._init_core(get_wheel(self._loop), on_message, _NO_MESSAGES)
        self._callbacks = callbacks
        self._sock: Any = None  # set when send_parts may write to the socket directly
        self._closed = self._loop.create_future()
        self._closed_exc: ConnectionClosed | None = None
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future] | None = None
        self._pings: dict[bytes, tuple[asyncio.Future | None, float]] | None = None
        self._keepalive_sent: float | None = None
        self._fragment_lock: asyncio.Lock | None = None
        self._deadline: float | None = None
        self.subprotocol: str | None = None
        self.extensions: list[Any] = _NO_EXTENSIONS
        self.request: Any = None
        self.response: Any = None
        self.remote_address: Any = None
        self.latency = 0.0
        self.user_data: Any = None
        self.skipped_messages = 0  # broadcasts skipped as too slow (see broadcast())

    @property
    def logger(self) -> Any:
        return self._opts.logger

    @property
    def local_address(self) -> Any:
        transport = self.transport
        return transport.get_extra_info("sockname") if transport is not None else None

    # ------------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.remote_address = transport.get_extra_info("peername")
        self._sock = direct_socket(transport)
        high = self._opts.write_limit
        transport.set_write_buffer_limits(high=high, low=high // 4)  # type: ignore[attr-defined]
        if self._opts.open_timeout is not None:
            self._set_deadline(self._opts.open_timeout)

    def _open(self, extensions: list[Any], subprotocol: str | None, leftover: bytes) -> None:
        """The handshake succeeded: create the protocol, start keepalive, parse ``leftover``."""
        opts = self._opts
        self.extensions = extensions or _NO_EXTENSIONS
        self.subprotocol = subprotocol
        self._attach(Protocol(
            self.side,
            max_size=opts.max_size,
            max_fragments=opts.max_fragments,
            extensions=extensions,
            decode_text=opts.decode,
            # Queued messages reach the application later; see Protocol's defer_failure.
            defer_failure=self._on_message is None,
            kernels=opts.kernels,
        ))
        if opts.ping_interval is not None:
            self._set_deadline(opts.ping_interval)
        else:
            self._deadline = None
            self._wheel.discard(self)  # the open timeout's entry: no timer left pending
        self._opened()
        if leftover:
            self.data_received(leftover)

    def _opened(self) -> None:
        """Hook: the connection is open (start the handler, call on_open...)."""

    def _handshake_data(self, data: Any) -> None:
        raise NotImplementedError  # each side does its own handshake

    def _dispatch_queue(self, items: list[tuple[int, Any]]) -> None:
        messages = self._messages
        if messages is _NO_MESSAGES:
            messages = self._messages = deque()
        handed = False  # a message went straight to a waiting recv() in this batch
        for op, payload in items:
            if op == ITEM_TEXT or op == ITEM_BINARY:
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
                self.transport.pause_reading()  # type: ignore[union-attr]
                self._set_deadline(self._opts.close_timeout or 1.0)
            else:
                if op == ITEM_FAILURE:
                    self._proto.apply_failure()  # type: ignore[union-attr]
                self._control(op, payload)
        if not messages:
            return  # the usual case: everything went to a waiting recv()
        max_queue = self._opts.max_queue
        if (
            max_queue is not None
            and len(messages) >= max_queue
            and not self._reading_paused
            and self._proto.close_sent is None  # type: ignore[union-attr]
        ):
            self._reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]

    def _control(self, op: int, payload: Any) -> None:
        """A ping, pong, close or failure item from the protocol (pongs already queued)."""
        if op == ITEM_PONG:
            self._pong_received(payload)
        elif op == ITEM_FAILURE:
            self.logger.debug("%s: peer broke the protocol: %s", self, payload)
        elif op == ITEM_CLOSE:
            self.logger.debug("%s: close received %s", self, payload)
        on_ping = getattr(self._callbacks, "on_ping", None) if op == ITEM_PING else None
        if on_ping is not None:
            on_ping(self, payload)

    def _closing_handshake_done(self) -> None:
        """Close frames went both ways (or we failed): now end the TCP connection.

        The server (or a side failing the connection) half-closes and waits for the peer's
        FIN; a client waits for the server to close first (RFC 6455 7.1.1). Either way the
        close timeout bounds the wait.
        """
        self._tcp_closing = True
        proto = self._proto
        if self.side is Side.SERVER or proto.failure is not None:  # type: ignore[union-attr]
            transport = self.transport
            if transport is not None and not transport.is_closing():
                if transport.can_write_eof():
                    transport.write_eof()
                else:
                    transport.close()
        self._set_close_deadline()

    def eof_received(self) -> bool | None:
        # Returning None lets the transport close itself; connection_lost follows.
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        proto = self._proto
        self._deadline = None
        self._wheel.discard(self)
        if proto is not None:
            proto.receive_eof()
            sent = proto.close_sent[0] if proto.close_sent is not None else None
            self._closed_exc = closed_exception(proto.close_code, proto.close_reason, sent)
        else:
            self._closed_exc = closed_exception(1006, "", None)
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(self._closed_exc)
        self._recv_waiter = None
        self._wake_drain_waiters()
        for fut, _ in (self._pings or {}).values():
            if fut is not None and not fut.done():
                fut.set_exception(self._closed_exc)
        self._pings = None
        if not self._closed.done():
            self._closed.set_result(None)
        self._connection_closed()

    def _connection_closed(self) -> None:
        """Hook: the TCP connection is gone (unregister, call on_close...)."""
        for ext in self.extensions:
            ext.close()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake_drain_waiters()

    def _wake_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(None)

    # -------------------------------------------------------------------------- receiving

    def __aiter__(self) -> "Connection":
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    # ---------------------------------------------------------------------------- sending

    async def _send_fragments(self, fragments: Iterable[Any] | AsyncIterable[Any]) -> None:
        if self._fragment_lock is None:
            self._fragment_lock = asyncio.Lock()
        async with self._fragment_lock:
            iterator: Any
            if isinstance(fragments, AsyncIterable):
                iterator = aiter(fragments)
                nxt = _anext_or_none
            else:
                iterator = iter(fragments)
                nxt = _next_or_none
            current = await nxt(iterator)
            if current is None:
                return  # websockets sends nothing for an empty iterable, as do we
            text = isinstance(current, str)
            first = True
            while True:
                following = await nxt(iterator)
                fin = following is None
                self._send_fragment(current, first, fin, text)
                if fin:
                    return
                if isinstance(following, str) != text:
                    raise TypeError("all fragments of a message must be str, or all bytes-like")
                first = False
                current = following
                if self._writing_paused:
                    await self.drain()

    def _send_fragment(self, data: Any, first: bool, fin: bool, text: bool) -> None:
        proto = self._proto
        if proto is None or proto.state is not State.OPEN:
            raise self._closed_error()
        if first:
            (proto.send_text if text else proto.send_binary)(data, fin)
            if text:
                self.messages_out_text += 1
            else:
                self.messages_out_binary += 1
        else:
            proto.send_continuation(data, fin)
        if not self._corked:
            self._flush()

    async def drain(self) -> None:
        """Wait until the write buffer is below the write limit's low-water mark."""
        if not self._writing_paused or self._closed_exc is not None:
            return
        waiter = self._loop.create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        await waiter

    def _write_parts(self, parts: list[Any]) -> None:
        """The core's flush of several buffers: straight to the socket where possible."""
        if self._sock is not None:
            send_parts(self.transport, self._sock, parts)
        else:
            write_parts(self.transport, parts)

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for writing and not yet handed to the kernel, as in the browser."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return 0
        return transport.get_write_buffer_size() + self._corked_bytes

    # ---------------------------------------------------------------------- ping and pong

    async def ping(self, data: bytes | str | None = None) -> float:
        """Send a ping and return the round-trip time in seconds once its pong arrives.

        A pong answers its own ping and every earlier one. Raises ConnectionClosed if the
        connection closes first.
        """
        proto = self._proto
        if proto is None or proto.state is not State.OPEN:
            raise self._closed_error()
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self._pings is None:
            self._pings = {}
        if data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        elif data in self._pings:
            raise LocalProtocolError("a ping with this payload is already waiting for its pong")
        waiter = self._loop.create_future()
        self._pings[bytes(data)] = (waiter, self._loop.time())
        proto.send_ping(bytes(data))
        if not self._corked:
            self._flush()
        return await waiter

    async def pong(self, data: bytes | str = b"") -> None:
        """Send an unsolicited pong."""
        proto = self._proto
        if proto is None or proto.state is not State.OPEN:
            raise self._closed_error()
        proto.send_pong(data.encode("utf-8") if isinstance(data, str) else bytes(data))
        self._flush()

    def _pong_received(self, payload: bytes) -> None:
        if not self._pings or payload not in self._pings:
            return  # unsolicited pong
        now = self._loop.time()
        while self._pings:
            key = next(iter(self._pings))
            waiter, sent = self._pings.pop(key)
            rtt = now - sent
            if waiter is None:  # the keepalive ping
                self._keepalive_sent = None
                if self._opts.ping_interval is not None and self._proto.state is State.OPEN:  # type: ignore[union-attr]
                    # The next ping is due ping_interval after this one was sent: earlier than
                    # the ping_timeout deadline the wheel holds when the interval is shorter,
                    # so the wheel must file it again (it only re-files deadlines moved later).
                    self._deadline = sent + self._opts.ping_interval
                    self._wheel.schedule(self)
            elif not waiter.done():
                waiter.set_result(rtt)
            if key == payload:
                self.latency = rtt
                break

    # ---------------------------------------------------------------------------- timers

    def _set_deadline(self, delay: float) -> None:
        self._deadline = self._loop.time() + delay
        self._wheel.schedule(self)

    def _set_close_deadline(self) -> None:
        if self._opts.close_timeout is None:
            self._deadline = None
        else:
            self._set_deadline(self._opts.close_timeout)

    def _on_deadline(self, now: float) -> None:
        """The wheel says our deadline passed: open, keepalive or close timeout."""
        self._deadline = None
        proto = self._proto
        transport = self.transport
        if transport is None or self._closed_exc is not None:
            return
        if proto is None:
            self._handshake_timeout()
        elif proto.failure_pending:
            self._apply_failure()
        elif proto.state is State.OPEN:
            if self._keepalive_sent is not None:
                self.logger.info("%s: keepalive ping timeout", self)
                self._fail_local(1011, "keepalive ping timeout")
                if transport.get_write_buffer_size():
                    self.abort()  # the peer reads nothing: the close frame can't leave
            else:
                payload = os.urandom(4)
                if self._pings is None:
                    self._pings = {}
                self._pings[payload] = (None, now)
                self._keepalive_sent = now
                proto.send_ping(payload)
                self._flush()
                timeout = self._opts.ping_timeout
                if timeout is not None:
                    self._set_deadline(timeout)
                elif self._opts.ping_interval is not None:
                    self._set_deadline(self._opts.ping_interval)
        else:
            # Closing took longer than close_timeout: drop the TCP connection.
            self.abort()

    def _handshake_timeout(self) -> None:
        self.transport.abort()  # type: ignore[union-attr]

    def _apply_failure(self) -> None:
        """Send the close frame of a deferred protocol failure and end the TCP connection."""
        proto = self._proto
        assert proto is not None
        proto.apply_failure()
        self._flush()
        if not self._reading_paused:
            # Reading was paused while the failure waited; the peer's FIN must get through.
            self.transport.resume_reading()  # type: ignore[union-attr]
        if not self._tcp_closing and proto.close_expected():
            self._closing_handshake_done()

    def _fail_local(self, code: int, reason: str) -> None:
        """Close with ``code`` right away without waiting for the peer (it may be gone)."""
        proto = self._proto
        if proto is not None and proto.state is State.OPEN:
            proto.send_close(code, reason)
            self._flush()
        transport = self.transport
        if transport is not None:
            transport.close()
        self._set_close_deadline()

    def _handler_failed(self, exc: BaseException) -> None:
        """An exception in application code: log it and close this connection with 1011."""
        self.logger.error("%s: error in connection handler", self, exc_info=exc)
        proto = self._proto
        if proto is not None and proto.state is State.OPEN:
            proto.send_close(1011, "")
            self._flush()
            self._set_close_deadline()

    # ---------------------------------------------------------------------------- closing

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake and wait until the TCP connection is closed.

        Waits at most ``close_timeout`` for the peer before dropping the connection.
        """
        self.close_nowait(code, reason)
        await self.wait_closed()

    def close_nowait(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake without waiting for it to finish."""
        proto = self._proto
        if proto is None:
            if self.transport is not None:
                self.transport.close()
            return
        if proto.state is State.OPEN:
            proto.send_close(code, reason)
            self._flush()
            if self._keepalive_sent is not None:
                self._keepalive_sent = None
            if self._reading_paused:
                # The peer's close frame must get through even if the queue is full.
                self._reading_paused = False
                self.transport.resume_reading()  # type: ignore[union-attr]
            self._set_close_deadline()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        await asyncio.shield(self._closed)

    def abort(self) -> None:
        """Drop the TCP connection at once, without a closing handshake.

        Bytes still buffered for writing are lost and counted in ``unsent_bytes``.
        """
        transport = self.transport
        if transport is not None:
            if self._closed_exc is None:
                self.unsent_bytes += transport.get_write_buffer_size()
            transport.abort()

    def _closed_error(self) -> ConnectionClosed:
        if self._closed_exc is not None:
            return self._closed_exc
        proto = self._proto
        if proto is None:
            return InvalidState("the connection is not open yet")  # type: ignore[return-value]
        sent = proto.close_sent[0] if proto.close_sent is not None else None
        return closed_exception(proto.close_code, proto.close_reason, sent)

    # ------------------------------------------------------------------------- properties

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED (numbered as the browser's readyState)."""
        if self._closed_exc is not None:
            return State.CLOSED
        if self._proto is None:
            return State.CONNECTING
        return self._proto.state

    @property
    def close_code(self) -> int | None:
        """The code of the peer's close frame; 1006 if the connection closed without one."""
        if self._closed_exc is None and (self._proto is None or self._proto.close_rcvd is None):
            return None
        return self._proto.close_code if self._proto is not None else 1006

    @property
    def close_reason(self) -> str | None:
        code = self.close_code
        return None if code is None else self._proto.close_reason if self._proto else ""

    @property
    def closed(self) -> bool:
        return self._closed_exc is not None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.remote_address} {self.state.name}>"


async def _next_or_none(iterator: Any) -> Any:
    return next(iterator, None)


async def _anext_or_none(iterator: Any) -> Any:
    return await anext(iterator, None)
