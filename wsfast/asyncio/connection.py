"""One WebSocket connection on an asyncio transport, shared by the server and the client side.

``Connection`` is an ``asyncio.BufferedProtocol`` (not a stream): reads land in one buffer
shared by the loop's connections (``get_buffer``), and each read is handed to the sans-I/O
``Protocol`` in one call that returns a batch of complete messages.
Messages go either to a queue read by ``await recv()`` (coroutine style) or straight to a
handler's ``on_message`` (callback style: no task, future or queue per message). Frames sent
while a batch is being delivered are corked and leave in one write at the end of the batch.

Subclasses (``ServerConnection``, ``ClientConnection``) do the opening handshake and then
call ``_open``. The message path (parse a read, deliver the batch, the queue, recv, send,
flush, failing and closing on a received close) is ``ConnectionCore``'s: one source,
``wsfast/_pure/conn.py``, run as Python or compiled, as ``wsfast._impl`` chose. This class
adds what needs asyncio: the transport's events, the protocol's creation, timers and
keepalive, ping and close, fragmented sends and the properties.
"""
from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, AsyncIterable, Iterable

from .. import _impl
from .._impl import ConnectionCore  # the chosen twin's; see wsfast._impl
from ..exceptions import ConnectionClosed, LocalProtocolError, closed_exception
from ..protocol import Protocol
from ..wire import Side, State
from .options import ConnectionOptions
from .loop_state import get_wheel
from .sendmsg import direct_socket, send_parts, write_parts

# Shared empty placeholder, replaced by a connection's own list when it has extensions.
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
    # (ConnectionCore holds the message path's fields, the options, the loop, the
    # callbacks, pings, the deadline and latency.)
    __slots__ = (
        "_closed_future", "subprotocol", "extensions", "request", "response",
        "user_data", "skipped_messages",
    )

    def __init__(self, options: ConnectionOptions, callbacks: Any = None) -> None:
        loop = asyncio.get_running_loop()
        self._init_core(options, loop, get_wheel(loop), callbacks)
        self._closed_future: asyncio.Future[None] | None = None  # made when first awaited
        self.subprotocol: str | None = None
        self.extensions: list[Any] = _NO_EXTENSIONS
        self.request: Any = None
        self.response: Any = None
        self.user_data: Any = None
        self.skipped_messages = 0  # broadcasts skipped as too slow (see broadcast())

    @property
    def logger(self) -> Any:
        return self._opts.logger

    @property
    def remote_address(self) -> Any:
        """The peer's address (asked of the transport: not kept per idle connection)."""
        transport = self.transport
        return transport.get_extra_info("peername") if transport is not None else None

    @property
    def _closed(self) -> "asyncio.Future[None]":
        """Done once the TCP connection is closed (made on first use: an idle connection
        nobody waits for holds no future)."""
        fut = self._closed_future
        if fut is None:
            fut = self._closed_future = self._loop.create_future()
            if self._closed_exc is not None:
                fut.set_result(None)
        return fut

    @property
    def local_address(self) -> Any:
        transport = self.transport
        return transport.get_extra_info("sockname") if transport is not None else None

    # ------------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = direct_socket(transport)
        self._set_writer(_write_parts if sock is None else send_parts, sock)
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
        fut = self._closed_future
        if fut is not None and not fut.done():
            fut.set_result(None)
        self._connection_closed()

    def _connection_closed(self) -> None:
        """Hook: the TCP connection is gone (unregister, call on_close...)."""
        for ext in self.extensions:
            ext.close()

    # -------------------------------------------------------------------------- receiving

    def __aiter__(self) -> "Connection":
        return self

    def __anext__(self) -> Any:
        return self._receive(True)  # (the core's recv, ending the iteration on a normal close)

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
        else:
            proto.send_continuation(data, fin)
        self._fragmenting = not fin
        if fin:
            if text:
                self.messages_out_text += 1
            else:
                self.messages_out_binary += 1
        if not self._corked:
            self._flush()

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

    # ---------------------------------------------------------------------------- timers

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


def _write_parts(transport: Any, sock: Any, parts: list[Any]) -> None:
    """The core's writer when the socket cannot be written to directly."""
    write_parts(transport, parts)
