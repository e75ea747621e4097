"""The WebSocket client: ``connect(uri)`` and the client side of a connection."""
from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from typing import Any, Sequence

from .. import limits
from ..exceptions import InvalidHandshake, InvalidMessage
from ..handshake import ClientHandshake
from ..protocol import Side
from ..uri import parse_uri
from .compression import client_extensions
from .connection import Connection
from .options import ConnectionOptions, logger


class ClientConnection(Connection):
    """The client side of one WebSocket connection."""

    side = Side.CLIENT

    def __init__(self, options: ConnectionOptions, handshake: ClientHandshake, callbacks: Any = None) -> None:
        super().__init__(options, callbacks)
        self._handshake = handshake
        self._opening = self._loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        transport.write(self._handshake.data_to_send())  # type: ignore[attr-defined]

    def _handshake_data(self, data: bytes) -> None:
        try:
            response = self._handshake.receive_data(data)
        except InvalidHandshake as exc:
            self._handshake_failed(exc)
            return
        if response is None:
            return
        self.response = response
        self.request = self._handshake.request()
        if not self._opening.done():
            self._opening.set_result(None)
        self._open(list(self._handshake.extensions), self._handshake.subprotocol, self._handshake.leftover)

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
        on_close = getattr(self._callbacks, "on_close", None) if self._callbacks is not None else None
        if on_close is not None and self._proto is not None:
            try:
                on_close(self, self._proto.close_code, self._proto.close_reason)
            except Exception as exc:
                self.logger.error("%s: error in on_close", self, exc_info=exc)


class connect:
    """Open a WebSocket connection: ``ws = await connect("ws://host:port/path")``.

    Also an async context manager that closes the connection on exit. ``ssl`` is an
    SSLContext (wss:// defaults to one verifying certificates with the system store);
    ``path`` connects over a unix socket; ``sock`` over a connected socket. ``callbacks``
    makes a callback-style client (``on_open``, ``on_message(ws, message, opcode)``,
    ``on_close``). Limits and timeouts default to ``wsfast.limits``; ``open_timeout`` covers
    the TCP connection, TLS and the opening handshake.
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
        max_size: int | None = limits.MAX_SIZE,
        max_fragments: int | None = limits.MAX_FRAGMENTS,
        max_queue: int | None = limits.MAX_QUEUE,
        write_limit: int = limits.WRITE_LIMIT,
        open_timeout: float | None = limits.OPEN_TIMEOUT,
        close_timeout: float | None = limits.CLOSE_TIMEOUT,
        ping_interval: float | None = limits.PING_INTERVAL,
        ping_timeout: float | None = limits.PING_TIMEOUT,
        max_header_line: int = limits.MAX_HEADER_LINE,
        max_headers: int = limits.MAX_HEADERS,
        max_handshake_size: int = limits.MAX_HANDSHAKE_SIZE,
        decode: bool = True,
        implementation: str | None = None,
        logger: Any = logger,
    ) -> None:
        from .._impl import load

        self.uri = uri
        self._wsuri = parse_uri(uri)
        self._options = ConnectionOptions(
            max_size=max_size,
            max_fragments=max_fragments,
            max_queue=max_queue,
            write_limit=write_limit,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            decode=decode,
            kernels=load(implementation) if implementation else None,
            logger=logger,
        )
        self._handshake_options = dict(
            origin=origin,
            subprotocols=subprotocols,
            extensions=client_extensions(compression),
            extra_headers=additional_headers,
            user_agent=user_agent,
            max_line=max_header_line,
            max_headers=max_headers,
            max_size=max_handshake_size,
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
        return ClientConnection(self._options, handshake, self._callbacks)

    async def _create(self) -> ClientConnection:
        loop = asyncio.get_running_loop()
        wsuri = self._wsuri
        kw: dict[str, Any] = {}
        if self._ssl is not None:
            kw["ssl"] = self._ssl
            kw["server_hostname"] = self._server_hostname or wsuri.host
        timeout = self._options.open_timeout
        async with asyncio.timeout(timeout):
            if self._path is not None:
                _, conn = await loop.create_unix_connection(self._factory, self._path, **kw)
            elif self._sock is not None:
                _, conn = await loop.create_connection(self._factory, sock=self._sock, **kw)
            else:
                host = self._host or wsuri.host
                port = self._port or wsuri.port
                _, conn = await loop.create_connection(self._factory, host, port, **kw)
            try:
                await conn._opening
            except BaseException:
                conn.abort()
                raise
        self.connection = conn
        return conn

    def __await__(self) -> Any:
        return self._create().__await__()

    async def __aenter__(self) -> ClientConnection:
        return await self._create()

    async def __aexit__(self, *exc_info: Any) -> None:
        if self.connection is not None:
            await self.connection.close()


def unix_connect(path: str, uri: str = "ws://localhost/", **kwargs: Any) -> connect:
    """``connect`` over a unix socket at ``path``."""
    return connect(uri, path=path, **kwargs)
