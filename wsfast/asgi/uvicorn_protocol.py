"""An ASGI WebSocket server protocol for uvicorn, with wsfast's handshake and kernels.

    uvicorn.run(app, ws=WSFastProtocol)                       # from Python
    uvicorn app:app --ws wsfast.asgi:WSFastProtocol           # from the command line

uvicorn's HTTP protocol parses the upgrade request, creates this protocol with
``(config, server_state, app_state)``, calls ``connection_made(transport)``, hands the request
head over through ``data_received`` and then switches the transport to it. From there on
everything is wsfast: the sans-I/O ``ServerHandshake`` validates the request and negotiates
permessage-deflate, and the connection is a ``wsfast.asyncio.connection.Connection`` (frame
parsing, masking, UTF-8 validation, keepalive pings and the closing handshake in the
Cython kernels or their pure-Python twins).

The ASGI application sees the WebSocket interface of the ASGI spec (version 2.4):
``websocket.connect``, ``websocket.receive`` (text or bytes), ``websocket.disconnect``
(code and reason) from ``receive``; ``websocket.accept`` (subprotocol, headers),
``websocket.send`` (text or bytes), ``websocket.close`` (code, reason) and the denial
response extension (``websocket.http.response.start`` / ``.body``) to ``send``.

uvicorn's options map as follows: ``ws_max_size`` is the largest message, ``ws_max_queue``
the unread messages before reading pauses, ``ws_ping_interval`` / ``ws_ping_timeout`` the
keepalive, ``ws_per_message_deflate`` offers permessage-deflate. ``WSFastProtocol.configure``
makes a subclass with wsfast's own knobs (kernel implementation, close timeout, compression).
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Awaitable, Callable, MutableMapping
from urllib.parse import unquote

from .. import limits
from .._impl import load
from ..exceptions import ConnectionClosed, InvalidHandshake
from ..handshake import ServerHandshake
from ..http11 import Response, reason_phrase
from ..protocol import Side, State
from ..extensions.compression import server_extensions
from ..asyncio.connection import Connection
from ..asyncio.options import ConnectionOptions
from ..asyncio.stats import ServerStats, loop_traffic

__all__ = ["ClientDisconnected", "WSFastProtocol"]

ASGIMessage = MutableMapping[str, Any]
ASGIReceive = Callable[[], Awaitable[ASGIMessage]]
ASGISend = Callable[[ASGIMessage], Awaitable[None]]

_logger = logging.getLogger("uvicorn.error")
_UNSET: Any = object()

# Connection states of the ASGI side (independent of the WebSocket state once accepted).
_HANDSHAKE = 0  # the app has not answered yet
_ACCEPTED = 1  # 101 sent, WebSocket open (or closing / closed)
_RESPONDING = 2  # a denial response's head is out, its body is coming
_DONE = 3  # rejected (403, 500, 4xx) or the denial response is complete


class ClientDisconnected(OSError):
    """Raised by ``send`` when the client is gone (the ASGI spec asks for an OSError)."""


class WSFastProtocol(Connection):
    """uvicorn's WebSocket protocol slot, filled by wsfast (``--ws wsfast.asgi:WSFastProtocol``).

    Constructed by uvicorn's HTTP protocol as ``WSFastProtocol(config=..., server_state=...,
    app_state=...)`` when a request asks to upgrade. It registers itself in
    ``server_state.connections`` while its TCP connection lives, and its application task in
    ``server_state.tasks``; uvicorn calls ``shutdown()`` on server exit (open connections are
    closed with 1012, "service restart", as uvicorn's own protocols do).

    Class attributes, set through ``configure()``: ``implementation`` ("cython", "python" or
    None for wsfast's choice), ``compression`` ("deflate", None, or the default: follow
    uvicorn's ``ws_per_message_deflate``), ``close_timeout`` (seconds for the closing
    handshake before the TCP connection is dropped).

    ``stats()`` (a class method) returns the counters of the class's connections, as
    ``Server.stats()`` does for ``serve``; ``wsfast.metrics.collector`` exports them.
    """

    side = Side.SERVER
    implementation: str | None = None
    compression: Any = _UNSET
    close_timeout: float | None = limits.CLOSE_TIMEOUT
    write_limit: int = limits.WRITE_LIMIT

    # Options and handshake settings derived once per (class, uvicorn config).
    _settings: "weakref.WeakKeyDictionary[Any, tuple[ConnectionOptions, dict[str, Any]]]"
    # The class's counters and its live connections (each subclass has its own).
    _stats: ServerStats = ServerStats()
    _live: "weakref.WeakSet[WSFastProtocol]" = weakref.WeakSet()
    _loop_seen: asyncio.AbstractEventLoop | None = None  # the loop of its connections

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._settings = weakref.WeakKeyDictionary()
        cls._stats = ServerStats()
        cls._live = weakref.WeakSet()
        cls._loop_seen = None

    @classmethod
    def stats(cls) -> dict[str, Any]:
        """The counters of this class's connections (keys as ``Server.stats()``)."""
        return cls._stats.snapshot(list(cls._live), fanout=loop_traffic(cls._loop_seen))

    @classmethod
    def configure(
        cls,
        *,
        implementation: str | None = _UNSET,
        compression: Any = _UNSET,
        close_timeout: float | None = _UNSET,
        write_limit: int = _UNSET,
    ) -> type["WSFastProtocol"]:
        """Return a subclass with other defaults, to pass as ``uvicorn.run(..., ws=...)``.

        ``implementation`` picks the kernels ("cython" or "python"; None: wsfast's choice),
        ``compression`` is "deflate" or None (default: uvicorn's ``ws_per_message_deflate``),
        ``close_timeout`` bounds the closing handshake, ``write_limit`` is the write buffer
        size above which ``websocket.send`` waits for the client to read.
        """
        attrs: dict[str, Any] = {}
        if implementation is not _UNSET:
            if implementation is not None:
                load(implementation)  # fail now, not on the first connection
            attrs["implementation"] = implementation
        if compression is not _UNSET:
            server_extensions(compression)  # validates
            attrs["compression"] = compression
        if close_timeout is not _UNSET:
            attrs["close_timeout"] = close_timeout
        if write_limit is not _UNSET:
            attrs["write_limit"] = write_limit
        return type(cls.__name__, (cls,), attrs)

    @classmethod
    def _settings_for(cls, config: Any) -> tuple[ConnectionOptions, dict[str, Any]]:
        try:
            return cls._settings[config]
        except (KeyError, TypeError):
            pass
        options = ConnectionOptions.build(
            implementation=cls.implementation,
            max_size=config.ws_max_size,
            max_queue=config.ws_max_queue,
            write_limit=cls.write_limit,
            open_timeout=None,  # the application decides when to answer, as in uvicorn
            close_timeout=cls.close_timeout,
            ping_interval=config.ws_ping_interval or None,
            ping_timeout=config.ws_ping_timeout or None,
            logger=_logger,
        )
        compression = cls.compression
        if compression is _UNSET:
            compression = "deflate" if config.ws_per_message_deflate else None
        handshake = dict(extensions=server_extensions(compression), server_header=None,
                         **options.handshake_limits())
        settings = (options, handshake)
        try:
            cls._settings[config] = settings
        except TypeError:
            pass
        return settings

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        options, handshake_options = self._settings_for(config)
        super().__init__(options)  # on the running loop; ``_loop`` is accepted for uvicorn's signature
        self.config = config
        self.app = config.loaded_app
        self.root_path: str = config.root_path
        self.app_state = app_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.default_headers: list[tuple[bytes, bytes]] = server_state.default_headers
        self._handshake = ServerHandshake(**handshake_options)
        self._asgi_state = _HANDSHAKE
        self._connect_delivered = False
        self._early_data = b""  # frames a client sent before our 101 went out
        self.scope: dict[str, Any] = {}
        self.scheme = "ws"
        self._accepted_at: float | None = None  # see ServerStats.handshake_answered

    # ------------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._accepted_at = self._loop.time()
        self.connections.add(self)
        type(self)._live.add(self)
        type(self)._loop_seen = self._loop
        if transport.get_extra_info("sslcontext"):
            self.scheme = "wss"

    def _connection_closed(self) -> None:
        super()._connection_closed()
        self.connections.discard(self)
        type(self)._live.discard(self)
        if self._proto is not None:
            type(self)._stats.connection_closed(self)
        if self._proto is None:
            for ext in self._handshake.extensions:  # negotiated, never used
                ext.close()

    def shutdown(self) -> None:
        """uvicorn is exiting: close with 1012 (or answer 500 before the handshake)."""
        if self._asgi_state == _ACCEPTED:
            if self._proto is not None and self._proto.state is State.OPEN:
                self.close_nowait(1012, "")
        elif self._asgi_state == _HANDSHAKE:
            self._respond_error(500, "Internal Server Error")
        elif self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------------- handshake

    def _handshake_data(self, data: bytes) -> None:
        if self.request is not None:
            self._early_data += data
            return
        handshake = self._handshake
        try:
            request = handshake.receive_data(data)
        except InvalidHandshake as exc:
            self._write_response(handshake.error_response(exc))
            return
        if request is None:
            return
        self.request = request
        try:
            # Validate and negotiate now; the application only adds a subprotocol and
            # headers when it accepts.
            self.response = handshake.accept(request)
        except InvalidHandshake as exc:
            self.logger.info("%s: invalid WebSocket upgrade request: %s", self, exc)
            self._write_response(handshake.error_response(exc))
            return
        if handshake.leftover:
            self._early_data = handshake.leftover
        self.scope = self._make_scope(request)
        task = self._loop.create_task(self._run_asgi())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _make_scope(self, request: Any) -> dict[str, Any]:
        target = request.path
        raw_path, _, query = target.partition("?")
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in request.headers.raw_items()
        ]
        subprotocols: list[str] = []
        for value in request.headers.get_all("Sec-WebSocket-Protocol"):
            subprotocols += [p.strip() for p in value.split(",") if p.strip()]
        return {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": _address(self.local_address),
            "client": _address(self.remote_address),
            "root_path": self.root_path,
            "path": self.root_path + unquote(raw_path),
            "raw_path": self.root_path.encode("ascii") + raw_path.encode("ascii"),
            "query_string": query.encode("ascii"),
            "headers": headers,
            "subprotocols": subprotocols,
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }

    def _write_response(self, response: Response) -> None:
        """Answer the upgrade request with an HTTP response and close."""
        self._asgi_state = _DONE
        type(self)._stats.handshake_answered(self, response.status_code, ())
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(response.serialize())
            transport.close()

    def _respond_error(self, status: int, text: str) -> None:
        self._write_response(self._handshake.reject(status, text, self._default_headers()))

    def _default_headers(self, skip: frozenset[bytes] | set[bytes] = frozenset()) -> list[tuple[str, str]]:
        return [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self.default_headers
            if name.lower() not in skip
        ]

    # --------------------------------------------------------------------- the ASGI app

    async def _run_asgi(self) -> None:
        try:
            result = await self.app(self.scope, self.asgi_receive, self.asgi_send)
        except ClientDisconnected:
            pass
        except asyncio.CancelledError:
            self._app_failed(None)
            raise
        except Exception as exc:
            self._app_failed(exc)
        else:
            if self._asgi_state == _HANDSHAKE:
                self.logger.error("ASGI callable returned without accepting or rejecting the WebSocket.")
                self._respond_error(500, "Internal Server Error")
            elif self._asgi_state == _RESPONDING:
                self.logger.error("ASGI callable returned before the end of its response body.")
                if self.transport is not None:
                    self.transport.close()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned %r.", result)
            if self._asgi_state == _ACCEPTED:
                # The application is done with the connection: close it normally.
                self.close_nowait(1000)

    def _app_failed(self, exc: BaseException | None) -> None:
        if exc is not None:
            self.logger.error("Exception in ASGI application", exc_info=exc)
        if self._asgi_state == _HANDSHAKE:
            self._respond_error(500, "Internal Server Error")
        elif self._asgi_state == _ACCEPTED:
            proto = self._proto
            if proto is not None and proto.state is State.OPEN:
                self.close_nowait(1011)
        elif self.transport is not None:
            self.transport.close()

    async def asgi_receive(self) -> ASGIMessage:
        """The ASGI ``receive`` callable: connect, then messages, then disconnect."""
        if not self._connect_delivered:
            self._connect_delivered = True
            return {"type": "websocket.connect"}
        if self._proto is None:
            # Not accepted (yet): nothing to receive until the connection ends.
            await self.wait_closed()
            return {"type": "websocket.disconnect", "code": 1006, "reason": ""}
        try:
            message = await self.recv()
        except ConnectionClosed as exc:
            return {"type": "websocket.disconnect", "code": exc.code, "reason": exc.reason}
        if type(message) is str:
            return {"type": "websocket.receive", "text": message}
        return {"type": "websocket.receive", "bytes": message}

    async def asgi_send(self, message: ASGIMessage) -> None:
        """The ASGI ``send`` callable."""
        kind = message["type"]
        state = self._asgi_state
        if state == _ACCEPTED:
            if kind == "websocket.send":
                data = message.get("bytes")
                if data is None:
                    data = message.get("text")
                    if data is None:
                        raise RuntimeError("websocket.send needs 'bytes' or 'text'")
                proto = self._proto
                if proto is None or proto.state is not State.OPEN:
                    raise ClientDisconnected("the WebSocket connection is closed")
                self.send_nowait(data)
                if self._writing_paused:
                    await self.drain()
            elif kind == "websocket.close":
                # Closing a connection that is already closing (the client's close crossed
                # ours) or closed is a no-op.
                self.close_nowait(message.get("code") or 1000, message.get("reason") or "")
            elif kind == "websocket.accept":
                raise RuntimeError("websocket.accept sent twice")
            else:
                raise RuntimeError(f"unexpected ASGI message {kind!r} on an open WebSocket")
            return
        if self.transport is None or self.transport.is_closing():
            if state != _DONE:
                self._asgi_state = _DONE
            raise ClientDisconnected("the client disconnected during the handshake")
        if state == _HANDSHAKE:
            if kind == "websocket.accept":
                self._asgi_accept(message)
            elif kind == "websocket.close":
                # Closing before accepting refuses the upgrade (ASGI spec: 403).
                self._log_status(403)
                self._respond_error(403, "")
            elif kind == "websocket.http.response.start":
                self._start_response(message)
            else:
                raise RuntimeError(
                    "expected websocket.accept, websocket.close or websocket.http.response.start, "
                    f"not {kind!r}"
                )
        elif state == _RESPONDING:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"expected websocket.http.response.body, not {kind!r}")
            body = message.get("body", b"")
            if body:
                self.transport.write(body)
            if not message.get("more_body", False):
                self._asgi_state = _DONE
                self.transport.close()
            elif self._writing_paused:
                await self.drain()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} after the response")

    def _asgi_accept(self, message: ASGIMessage) -> None:
        response = self.response
        assert response is not None
        subprotocol = message.get("subprotocol")
        headers = response.headers
        if subprotocol is not None:
            headers.add("Sec-WebSocket-Protocol", subprotocol)
        for name, value in (*self.default_headers, *message.get("headers", ())):
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
        self._asgi_state = _ACCEPTED
        self._log_status("[accepted]")
        transport = self.transport
        assert transport is not None
        transport.write(response.serialize())
        type(self)._stats.handshake_answered(self, 101, self._handshake.extensions)
        leftover, self._early_data = self._early_data, b""
        self._open(list(self._handshake.extensions), subprotocol, leftover)

    def _start_response(self, message: ASGIMessage) -> None:
        status = message["status"]
        if not 100 <= status < 600:
            raise RuntimeError(f"invalid HTTP status code {status} in response")
        app_headers = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())]
        names = {n for n, _ in app_headers}
        response = Response(status, reason_phrase(status))
        for text_name, text_value in self._default_headers(names):
            response.headers.add(text_name, text_value)
        for raw_name, raw_value in app_headers:
            response.headers.add(raw_name.decode("latin-1"), raw_value.decode("latin-1"))
        if b"connection" not in names:
            response.headers.add("connection", "close")
        self._asgi_state = _RESPONDING
        self._log_status(status)
        type(self)._stats.handshake_answered(self, status, ())
        transport = self.transport
        assert transport is not None
        transport.write(response.serialize())

    def _log_status(self, status: Any) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            client = self.scope.get("client")
            who = "%s:%d" % tuple(client) if client else ""
            path = self.scope.get("path", "")
            query = self.scope.get("query_string", b"")
            if query:
                path += "?" + query.decode("ascii")
            self.logger.info('%s - "WebSocket %s" %s', who, path, status)

    def __repr__(self) -> str:
        return f"<WSFastProtocol {self.remote_address} {self.state.name}>"


WSFastProtocol._settings = weakref.WeakKeyDictionary()


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, (tuple, list)) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None
