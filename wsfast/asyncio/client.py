"""The WebSocket client: ``connect(uri)`` and the client side of a connection."""
from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from typing import Any, Callable, Sequence

from ..exceptions import InvalidHandshake, InvalidMessage
from ..handshake import ClientHandshake
from ..wire import ITEM_BINARY, ITEM_TEXT, Side
from ..uri import parse_uri
from . import aiofastnet_support as fastnet
from ..extensions.compression import client_extensions
from .connection import Connection
from .options import ConnectionOptions
from .reconnect import Reconnecting
from .watchdog import Watchdog


class ClientConnection(Connection):
    """The client side of one WebSocket connection (reads land in the loop's shared buffer,
    see ``Connection.get_buffer``)."""

    side = Side.CLIENT
    __slots__ = ("_handshake", "_opening", "watchdog", "last_message")

    def __init__(self, options: ConnectionOptions, handshake: ClientHandshake, callbacks: Any = None) -> None:
        super().__init__(options, callbacks)
        self._handshake: ClientHandshake | None = handshake
        self._opening = self._loop.create_future()
        self.watchdog: Watchdog | None = None  # set by connect(..., idle_timeout=N)
        self.last_message = 0.0  # loop.time() of the last data message; tracked with idle_timeout

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        transport.write(self._handshake.data_to_send())  # type: ignore[attr-defined, union-attr]

    def _handshake_data(self, data: bytes) -> None:
        handshake = self._handshake
        if handshake is None:
            return
        try:
            response = handshake.receive_data(data)
        except InvalidHandshake as exc:
            self._handshake_failed(exc)
            return
        if response is None:
            return
        self._handshake = None  # its parser is no longer needed
        self.response = response
        self.request = handshake.request()
        if not self._opening.done():
            self._opening.set_result(None)
        self._open(handshake.extensions, handshake.subprotocol, handshake.leftover)

    def _handshake_failed(self, exc: BaseException) -> None:
        if not self._opening.done():
            self._opening.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def _handshake_timeout(self) -> None:
        self._handshake_failed(TimeoutError("timed out during the opening handshake"))
        self.transport.abort()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._opening.done():
            # A rejection whose body ends with the connection is completed here and raises
            # InvalidStatus; anything else is a handshake cut short.
            try:
                if self._handshake is not None:
                    self._handshake.receive_eof()
                error: BaseException = InvalidMessage("connection closed during the opening handshake")
            except InvalidHandshake as handshake_error:
                error = handshake_error
            self._opening.set_exception(error)
        super().connection_lost(exc)

    def _opened(self) -> None:
        on_open = getattr(self._callbacks, "on_open", None) if self._callbacks is not None else None
        if on_open is not None:
            try:
                on_open(self)
            except Exception as exc:
                self._handler_failed(exc)

    def _connection_closed(self) -> None:
        super()._connection_closed()
        if self.watchdog is not None:
            self.watchdog.stop()
        on_close = getattr(self._callbacks, "on_close", None) if self._callbacks is not None else None
        if on_close is not None and self._proto is not None:
            try:
                on_close(self, self._proto.close_code, self._proto.close_reason)
            except Exception as exc:
                self.logger.error("%s: error in on_close", self, exc_info=exc)


class _TrackingClientConnection(ClientConnection):
    """A client connection that records when data messages arrive (``last_message``).

    Only used with ``idle_timeout``: the plain class keeps its hot path untouched.
    """

    __slots__ = ()

    def __init__(self, options: ConnectionOptions, handshake: ClientHandshake, callbacks: Any = None) -> None:
        super().__init__(options, handshake, callbacks)
        self._direct_recv = False  # every message must pass _dispatch_queue below
        on_message = self._on_message
        if on_message is not None:
            loop_time = self._loop.time

            def tracking_on_message(ws: Any, message: Any, opcode: int) -> None:
                self.last_message = loop_time()
                on_message(ws, message, opcode)

            self._on_message = tracking_on_message

    def _dispatch_queue(self, items: list[tuple[int, Any]]) -> None:
        for item in items:
            if item[0] == ITEM_TEXT or item[0] == ITEM_BINARY:
                self.last_message = self._loop.time()
                break
        super()._dispatch_queue(items)


class connect:
    """Open a WebSocket connection: ``ws = await connect("ws://host:port/path")``.

    Also an async context manager that closes the connection on exit. ``ssl`` is an
    SSLContext (wss:// defaults to one verifying certificates with the system store);
    ``path`` connects over a unix socket; ``sock`` over a connected socket. ``callbacks``
    makes a callback-style client (``on_open``, ``on_message(ws, message, opcode)``,
    ``on_close``). Limits, timeouts, ``decode``, ``implementation`` and ``logger`` are
    keyword arguments named as the fields of ``ConnectionOptions`` (defaults in
    ``wsfast.limits``); ``open_timeout`` covers the TCP connection, TLS and the opening
    handshake.

    **Reconnecting.** ``async for ws in connect(uri): ...`` yields a fresh open connection
    each iteration; when the body moves on (typically after catching ``ConnectionClosed``)
    a new connection is opened, after ``backoff.delay(n)`` (``Backoff``: exponential with
    jitter; ``n`` grows with failed attempts and with connections that dropped within
    ``reset_after`` seconds of opening, and restarts at 0 otherwise). ``on_connect(ws)``
    (sync or async) runs on each new connection before it is yielded: resubscribe there
    (or in the body, or in the callbacks' ``on_open``). Failures that ``should_retry``
    (``reconnect.is_retryable`` by default: network errors, timeouts, HTTP 5xx/408/429)
    are retried up to ``max_retries`` times in a row (None: forever), then the last error
    is raised; a 4xx answer (``InvalidStatus``) or a certificate that doesn't verify is
    raised at once. ``on_retry(attempt, delay, exc)`` is called before each wait (``exc``
    is None after a drop). A ``Retry-After: <seconds>`` header lengthens the wait (capped
    by ``backoff.max_delay``). ``break`` leaves the current connection open: close it.

    **Dead feeds.** ``idle_timeout=N`` starts a ``Watchdog`` on each connection
    (``ws.watchdog``): when no data message arrived for N seconds, ``on_idle(ws, idle)`` is
    called if given (report mode), else the connection is closed with 1011 at once (and a
    reconnect loop moves on). ``ws.last_message`` is the ``loop.time()`` of the last data
    message, ``ws.last_received`` that of the last bytes (pongs included).

    ``use_aiofastnet``: open the connection with ``aiofastnet.create_connection`` (its
    compiled transports and TLS engine; the ``fast`` extra). None (default): yes for TCP
    when aiofastnet is installed (``WSFAST_NO_AIOFASTNET=1`` says no); True requires it;
    False never uses it.
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: str | None = None,
        subprotocols: Sequence[str] | None = None,
        additional_headers: Any = None,
        user_agent: str | None = "wsfast",
        compression: str | None = "deflate",
        ssl: ssl_module.SSLContext | bool | None = None,
        server_hostname: str | None = None,
        host: str | None = None,
        port: int | None = None,
        path: str | None = None,
        sock: socket.socket | None = None,
        callbacks: Any = None,
        idle_timeout: float | None = None,
        on_idle: Callable[[Any, float], Any] | None = None,
        use_aiofastnet: bool | None = None,
        **options: Any,
    ) -> None:
        # The reconnecting iterator's policy (backoff, max_retries, reset_after,
        # should_retry, on_connect, on_retry) and the connection options, by name.
        policy = {name: options.pop(name) for name in Reconnecting.OPTIONS if name in options}
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive")
        self.idle_timeout = idle_timeout
        self.on_idle = on_idle
        self.attempts = 0  # connection attempts made, successful or not
        self._create_connection: Any = None
        if use_aiofastnet is None:
            # Auto: TCP connections go through aiofastnet's transports when it is installed
            # (they cost the client less CPU per round trip: bench/client/README.md). Unix
            # sockets keep the loop's own transport.
            use_aiofastnet = path is None and fastnet.aiofastnet() is not None
        if use_aiofastnet:
            self._create_connection = fastnet.require().create_connection
        self._conn_class = ClientConnection if idle_timeout is None else _TrackingClientConnection
        self.uri = uri
        self._wsuri = parse_uri(uri)
        self._options = ConnectionOptions.build(**options)  # TypeError for an unknown name
        self._reconnecting = Reconnecting(self, **policy)
        self._handshake_options = dict(
            origin=origin,
            subprotocols=subprotocols,
            extensions=client_extensions(compression),
            extra_headers=additional_headers,
            user_agent=user_agent,
            **self._options.handshake_limits(),
        )
        if ssl is None and self._wsuri.secure:
            ssl = True
        if ssl is True:
            ssl = ssl_module.create_default_context()
        if ssl and not self._wsuri.secure:
            raise ValueError("ssl= is for wss:// URIs")
        self._ssl = ssl or None
        self._server_hostname = server_hostname
        self._host, self._port, self._path, self._sock = host, port, path, sock
        self._callbacks = callbacks
        self.connection: ClientConnection | None = None

    def _factory(self) -> ClientConnection:
        wsuri = self._wsuri
        handshake = ClientHandshake(
            wsuri.host, wsuri.port, wsuri.path, secure=wsuri.secure, **self._handshake_options
        )
        return self._conn_class(self._options, handshake, self._callbacks)

    async def _create(self) -> ClientConnection:
        loop = asyncio.get_running_loop()
        wsuri = self._wsuri
        kw: dict[str, Any] = {}
        if self._ssl is not None:
            kw["ssl"] = self._ssl
            kw["server_hostname"] = self._server_hostname or wsuri.host
        timeout = self._options.open_timeout
        self.attempts += 1
        fast = self._create_connection
        async with asyncio.timeout(timeout):
            if self._path is not None:
                _, conn = await loop.create_unix_connection(self._factory, self._path, **kw)
            elif self._sock is not None:
                if fast is not None:
                    _, conn = await fast(loop, self._factory, sock=self._sock, **kw)
                else:
                    _, conn = await loop.create_connection(self._factory, sock=self._sock, **kw)
            else:
                host = self._host or wsuri.host
                port = self._port or wsuri.port
                if fast is not None:
                    _, conn = await fast(loop, self._factory, host, port, **kw)
                else:
                    _, conn = await loop.create_connection(self._factory, host, port, **kw)
            try:
                await conn._opening
            except BaseException:
                conn.abort()
                raise
        if self.idle_timeout is not None:
            conn.watchdog = Watchdog(
                conn, self.idle_timeout, on_idle=self.on_idle, source="messages"
            ).start()
        self.connection = conn
        return conn

    def __await__(self) -> Any:
        return self._create().__await__()

    async def __aenter__(self) -> ClientConnection:
        return await self._create()

    async def __aexit__(self, *exc_info: Any) -> None:
        if self.connection is not None:
            await self.connection.close()

    # ------------------------------------------------------------------ reconnecting

    def __aiter__(self) -> Reconnecting:
        """``async for ws in connect(...)``: a fresh open connection each iteration
        (``reconnect.Reconnecting``)."""
        return self._reconnecting

    async def open(self) -> ClientConnection:
        """Open one connection (what ``await connect(...)`` does)."""
        return await self._create()

    @property
    def logger(self) -> Any:
        return self._options.logger


def unix_connect(path: str, uri: str = "ws://localhost/", **kwargs: Any) -> connect:
    """``connect`` over a unix socket at ``path``."""
    return connect(uri, path=path, **kwargs)
