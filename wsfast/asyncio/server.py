"""The WebSocket server: ``serve(handler, host, port)`` and the server side of a connection.

Two handler styles, both first class:

* a coroutine ``async def handler(ws)`` run as one task per connection, websockets style;
* a callbacks object (or a class instantiated per connection) with ``on_open(ws)``,
  ``on_message(ws, message, opcode)``, ``on_close(ws, code, reason)`` and optionally
  ``on_ping(ws, payload)``, called straight from the transport with no task, future or queue
  per message. Send from callbacks with ``ws.send_nowait(message)``. ``on_open`` may set
  ``self.on_message`` on a per-connection instance to route by ``ws.request.path``.
"""
from __future__ import annotations

import asyncio
import inspect
import socket
import ssl as ssl_module
from typing import Any, Awaitable, Callable, Iterable, Sequence

from ..exceptions import ConnectionClosed, InvalidHandshake
from ..handshake import ServerHandshake
from ..http11 import Request, Response
from . import aiofastnet_support as fastnet
from . import exposition, native
from .lean_handshake import CompactRequest, CompactResponse
from ..extensions.compression import server_extensions
from .connection import Connection
from .options import ConnectionOptions
from .stats import LoopLag, Sample, ServerStats, loop_traffic, merge, samples
from .shutdown import registered_at_shutdown

Handler = Callable[["ServerConnection"], Awaitable[None]]
ProcessRequest = Callable[["ServerConnection", Request], "Response | None | Awaitable[Response | None]"]
AccessLog = Callable[[dict[str, Any]], None]


class ServerConnection(Connection):
    """The server side of one WebSocket connection."""

    __slots__ = ("server", "_handshake", "_handler_task", "_accepted_at")

    def __init__(self, server: "Server") -> None:
        callbacks = server.callbacks
        if inspect.isclass(callbacks):
            callbacks = callbacks()
        super().__init__(server.options, callbacks)
        self.server = server
        template = server._handshake_template
        if template is None:
            template = server._handshake_template = ServerHandshake(
                **server.handshake_options, kernels=server.options.kernels)
        self._handshake: ServerHandshake | None = template.spawn()
        self._handler_task: asyncio.Task | None = None
        # loop.time() of the TCP accept until the handshake is answered (then None)
        self._accepted_at: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._accepted_at = self._loop.time()
        self.server.connections.add(self)

    # ------------------------------------------------------------------------- handshake

    def _handshake_data(self, data: bytes) -> None:
        handshake = self._handshake
        if self.request is not None or handshake is None:
            return  # a process_request hook is still deciding; reading is paused
        request = self._handshake_step(handshake.receive_data, data, "invalid")
        if request is None:
            return
        server = self.server
        if server.process_request is None and not server.closing:
            # The fast path: a valid upgrade (a GET with Upgrade is never a metrics scrape).
            answer = handshake.accept_plain()
            if answer is not None:
                self._accept_plain(handshake, answer)
                return
        self.request = request
        if self.server.closing:
            self._reject(self.respond(503, "Server is shutting down.\n"))
            return
        hook = self.server.process_request
        if (self.server.metrics_path is not None and request.path == self.server.metrics_path
                and request.method == "GET" and "Upgrade" not in request.headers):
            self._accepted_at = None  # a scrape, not a handshake: neither counted nor logged
            hook = self.server._metrics_response
        if hook is None:
            self._accept(request)
            return
        try:
            result = hook(self, request)
        except Exception as exc:
            self.logger.error("%s: error in process_request", self, exc_info=exc)
            self._reject(self.respond(500, "Failed to open a WebSocket connection.\n"))
            return
        if inspect.isawaitable(result):
            self.transport.pause_reading()  # type: ignore[union-attr]
            self._loop.create_task(self._await_process_request(result, request))
        else:
            self._after_process_request(result, request)

    async def _await_process_request(self, pending: Awaitable[Any], request: Request) -> None:
        try:
            result = await pending
        except Exception as exc:
            self.logger.error("%s: error in process_request", self, exc_info=exc)
            self._reject(self.respond(500, "Failed to open a WebSocket connection.\n"))
            return
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.resume_reading()
        self._after_process_request(result, request)

    def _after_process_request(self, result: Response | None, request: Request) -> None:
        if result is not None:
            self._reject(result)
        else:
            self._accept(request)

    def _handshake_step(self, step: Callable[[Any], Any], arg: Any, what: str) -> Any:
        """``step(arg)``; when it raises InvalidHandshake, log it as ``what``, answer with the
        error's response and return None."""
        try:
            return step(arg)
        except InvalidHandshake as exc:
            self.logger.info("%s: %s opening handshake: %s", self, what, exc)
            self._reject(self._handshake.error_response(exc))  # type: ignore[union-attr]
            return None

    def _accept(self, request: Request) -> None:
        handshake = self._handshake
        if handshake is None:
            return
        response = self._handshake_step(handshake.accept, request, "refused")
        if response is None:
            return
        self.transport.write(response.serialize())  # type: ignore[union-attr]
        self._handshake = None  # its parser is no longer needed
        self.request = CompactRequest(request)
        self.response = CompactResponse(response)
        self.subprotocol = handshake.subprotocol
        self.server._handshake_done(self, 101, handshake.extensions)
        self._open(handshake.extensions, handshake.subprotocol, handshake.leftover)

    def _accept_plain(self, handshake: ServerHandshake, answer: bytes) -> None:
        """``_accept`` for the 101 ``handshake.accept_plain()`` built: the request and the
        response are kept in their compact forms straight from the kernel's head and the
        answer's bytes (their headers are decoded when an application reads them)."""
        self.transport.write(answer)  # type: ignore[union-attr]
        self._handshake = None
        head = handshake.head
        self.request = CompactRequest.of_head(head)
        self.response = CompactResponse.of_plain_answer(answer, handshake._answer_parts, self.request)
        self.subprotocol = handshake.subprotocol
        self.server._handshake_done(self, 101, handshake.extensions)
        self._open(handshake.extensions, handshake.subprotocol, head.leftover)

    def respond(
        self, status_code: int, body: str | bytes = b"", headers: Iterable[tuple[str, str]] | None = None
    ) -> Response:
        """Build an HTTP response for ``process_request`` to return instead of upgrading."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        handshake = self._handshake or ServerHandshake(**self.server.handshake_options)
        return handshake.reject(status_code, body, headers)

    def _reject(self, response: Response) -> None:
        self.response = response
        self.server._handshake_done(self, response.status_code, ())
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(response.serialize())
            transport.close()

    def _handshake_timeout(self) -> None:
        self.logger.info("%s: opening handshake timed out", self)
        self.server._stats.handshake_timed_out(self)
        self.transport.abort()  # type: ignore[union-attr]

    # ----------------------------------------------------------------------- the handler

    def _opened(self) -> None:
        callbacks = self._callbacks
        if callbacks is None:
            # One shared task name: asyncio 3.11 would format a new "Task-N" string for each.
            task = self._handler_task = self._loop.create_task(
                self.server.handler(self), name="wsfast-handler")  # type: ignore[misc]
            task.add_done_callback(self._handler_done)
            return
        on_open = getattr(callbacks, "on_open", None)
        if on_open is not None:
            try:
                on_open(self)
            except Exception as exc:
                self._handler_failed(exc)
            # on_open may route the connection by setting its own on_message (e.g. by path).
            self._on_message = getattr(callbacks, "on_message", None)

    def _handler_done(self, task: "asyncio.Task[None]") -> None:
        """The handler returned or raised: as in websockets, the connection then closes
        normally (1000), or with 1011 after an error. A done callback rather than a wrapping
        coroutine: one coroutine frame less on every connection."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, ConnectionClosed):
            if not isinstance(exc, Exception):
                return  # KeyboardInterrupt and the like: the loop reports them
            self._handler_failed(exc)
        self.close_nowait(1000)

    def _connection_closed(self) -> None:
        super()._connection_closed()
        self.server.connections.discard(self)
        if self._proto is not None:
            self.server._stats.connection_closed(self)
        callbacks = self._callbacks
        on_close = getattr(callbacks, "on_close", None) if callbacks is not None else None
        if on_close is not None and self._proto is not None:
            try:
                on_close(self, self._proto.close_code, self._proto.close_reason)
            except Exception as exc:
                self.logger.error("%s: error in on_close", self, exc_info=exc)


class Server:
    """A running WebSocket server (``serve`` returns it).

    ``connections`` holds the open connections. ``close()`` stops accepting, answers
    handshakes in progress with 503 and closes open connections with 1001; ``wait_closed()``
    waits for them, at most ``close_timeout`` before aborting what is left.
    """

    # The handshake every connection's is spawned from (made by the first connection).
    _handshake_template: ServerHandshake | None = None

    def __init__(
        self,
        handler: Any,
        options: ConnectionOptions,
        handshake_options: dict[str, Any],
        process_request: ProcessRequest | None,
        metrics_path: str | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        if inspect.iscoroutinefunction(handler) or not _is_callbacks(handler):
            self.handler: Handler | None = handler
            self.callbacks: Any = None
        else:
            self.handler = None
            self.callbacks = handler
        self.options = options
        self.handshake_options = handshake_options
        self.process_request = process_request
        self.connections: set[ServerConnection] = set()
        self.closing = False
        self.server: Any = None  # asyncio.Server or native.NativeServer
        self.loop: asyncio.AbstractEventLoop | None = None  # once listening
        self.logger = options.logger
        self._stats = ServerStats()
        # GET of this path answers the metrics in the Prometheus text format (None: off).
        self.metrics_path = metrics_path
        self.access_log = access_log
        # Set by run_workers: returns the samples of the other worker processes.
        self.sibling_samples: Callable[[], Awaitable[list[list[Sample]]]] | None = None
        self._loop_lag: LoopLag | None = None

    def stats(self) -> dict[str, Any]:
        """This server's counters and gauges as a dict (``wsfast.asyncio.stats`` lists the keys).

        Costs one pass over the open connections; call it when you look, not per message.
        """
        lag = self._loop_lag.lag if self._loop_lag is not None else None
        brokers = [getattr(obj, "broker") for obj in registered_at_shutdown() if hasattr(obj, "broker")]
        return self._stats.snapshot(self.connections, brokers, lag, loop_traffic(self.loop))

    def measure_loop_lag(self) -> None:
        """Probe the event loop's lag from now until the server closes (``loop_lag_seconds``)."""
        if self._loop_lag is None:
            self._loop_lag = LoopLag.of(asyncio.get_running_loop())
            self._loop_lag.acquire()

    async def metrics(self) -> list[Sample]:
        """The samples of this server, summed with the other workers' under ``run_workers``."""
        own = samples(self.stats())
        if self.sibling_samples is None:
            return own
        return merge([own, *await self.sibling_samples()])

    async def _metrics_response(self, conn: "ServerConnection", request: Request) -> Response:
        body = exposition.render(await self.metrics())
        return conn.respond(200, body, [("Content-Type", exposition.CONTENT_TYPE)])

    def _handshake_done(self, conn: "ServerConnection", status: int, extensions: Any) -> None:
        self._stats.handshake_answered(conn, status, extensions, self.access_log)

    def _factory(self) -> ServerConnection:
        return ServerConnection(self)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self.server.sockets) if self.server is not None else ()

    def close(self, close_connections: bool = True) -> None:
        """Stop accepting connections and start closing the open ones (code 1001)."""
        if self.closing:
            return
        self.closing = True
        if self._loop_lag is not None:
            self._loop_lag.release()
            self._loop_lag = None
        if self.server is not None:
            self.server.close()
        if not close_connections:
            return
        for conn in list(self.connections):
            if conn._proto is None:
                if conn.request is None or conn.response is None:
                    conn._reject(conn.respond(503, "Server is shutting down.\n"))
            else:
                conn.close_nowait(1001, "server shutting down")

    async def wait_closed(self) -> None:
        """Wait until every connection is closed (aborting stragglers after close_timeout)."""
        conns = [c.wait_closed() for c in list(self.connections)]
        if conns:
            timeout = self.options.close_timeout
            done, pending = await asyncio.wait(
                [asyncio.ensure_future(c) for c in conns], timeout=timeout
            )
            for conn in list(self.connections):
                conn.abort()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        tasks = [c._handler_task for c in list(self.connections) if c._handler_task]
        for task in tasks:
            task.cancel()
        if self.server is not None:
            await self.server.wait_closed()

    async def serve_forever(self) -> None:
        """Serve until cancelled; then close gracefully."""
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self.close()
            await self.wait_closed()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()
        await self.wait_closed()

    def port(self) -> int:
        """The TCP port of the first listening socket (handy with ``port=0``)."""
        return self.sockets[0].getsockname()[1]


def _is_callbacks(handler: Any) -> bool:
    return hasattr(handler, "on_message") or hasattr(handler, "on_open")


class serve:
    """Start a WebSocket server: ``server = await serve(handler, host, port)``.

    Also an async context manager (``async with serve(...) as server:``) that closes the
    server on exit. ``handler`` is a coroutine function taking the connection, or a callbacks
    object (see the module docstring). Limits, timeouts, ``decode``, ``implementation`` and
    ``logger`` are keyword arguments named as the fields of ``ConnectionOptions`` (defaults
    in ``wsfast.limits``); other keyword arguments go to ``loop.create_server``. ``compression``
    is "deflate" (the default, as in websockets) or None. ``ssl`` is an SSLContext for wss://.
    ``path`` serves on a unix socket instead of host/port; ``sock`` on an existing socket.
    ``use_aiofastnet``: listen with ``aiofastnet.create_server`` (compiled transports and
    TLS engine, the ``fast`` extra). None (default): for wss:// when it is installed; ws://
    serves on the native path (``io``) or the event loop's transports, which both hold less
    memory per idle connection than aiofastnet's (README, "Install"). True requires it.
    ``metrics``: True answers ``GET /metrics`` (a str: that path) with the server's counters
    in the Prometheus text format (``Server.stats()`` returns them as a dict either way).
    ``access_log``: called with a dict per answered handshake (``remote``, ``path``,
    ``status``, ``duration`` in seconds, ``subprotocol``, ``extensions``).
    ``io``: "native" serves connections on the native I/O path (``wsfast.asyncio.native``:
    one epoll set, a small transport per connection; plain TCP on Linux), "transports" on
    the event loop's transports; None (default) takes ``WSFAST_IO`` or native where it applies.
    """

    def __init__(
        self,
        handler: Any,
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        path: str | None = None,
        sock: socket.socket | None = None,
        ssl: ssl_module.SSLContext | None = None,
        origins: Sequence[str | None] | None = None,
        subprotocols: Sequence[str] | None = None,
        select_subprotocol: Callable[..., str | None] | None = None,
        process_request: ProcessRequest | None = None,
        compression: str | None = "deflate",
        server_header: str | None = "wsfast",
        reuse_port: bool = False,
        backlog: int = 1024,
        use_aiofastnet: bool | None = None,
        metrics: bool | str = False,
        access_log: AccessLog | None = None,
        io: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Connection options (ConnectionOptions' fields, implementation) by name; the rest
        # goes to loop.create_server.
        options, create_server_kwargs = ConnectionOptions.split(kwargs)
        handshake_options = dict(
            origins=origins,
            subprotocols=subprotocols,
            select_subprotocol=select_subprotocol,
            extensions=server_extensions(compression),
            server_header=server_header,
            **options.handshake_limits(),
        )
        metrics_path = (metrics if isinstance(metrics, str) else "/metrics") if metrics else None
        self._server = Server(handler, options, handshake_options, process_request,
                              metrics_path, access_log)
        self._listen = dict(host=host, port=port, path=path, sock=sock, ssl=ssl,
                            reuse_port=reuse_port, backlog=backlog, **create_server_kwargs)
        self._create_server: Any = None
        if use_aiofastnet is None:
            # Auto: wss:// listeners use aiofastnet when it is installed (its TLS engine beat
            # asyncio's SSL transport, which also keeps a large buffer per connection);
            # plain TCP keeps the loop's transports: aiofastnet's hold a writev array each,
            # which makes an idle ws:// connection much larger (figures: README, "Install").
            use_aiofastnet = ssl is not None and path is None and fastnet.aiofastnet() is not None
        if use_aiofastnet:
            self._create_server = fastnet.require().create_server
        self._native = native.choose(io, kernels=options.kernels, ssl=ssl, path=path,
                                     fastnet=bool(use_aiofastnet), extra=create_server_kwargs)

    async def _start(self) -> Server:
        loop = asyncio.get_running_loop()
        kw = dict(self._listen)
        path = kw.pop("path")
        server: Any  # asyncio.Server or native.NativeServer
        if path is not None:
            kw.pop("host"), kw.pop("port"), kw.pop("reuse_port")
            server = await loop.create_unix_server(self._server._factory, path, **kw)
        else:
            if kw["sock"] is not None:
                kw.pop("host"), kw.pop("port")
            if self._native:
                kw.pop("ssl")
                server = native.NativeServer.start(loop, self._server._factory,
                                                   kernels=self._server.options.kernels, **kw)
            elif self._create_server is not None:
                server = await self._create_server(loop, self._server._factory, **kw)
            else:
                server = await loop.create_server(self._server._factory, **kw)
        self._server.server = server
        self._server.loop = loop
        if self._server.metrics_path is not None:
            self._server.measure_loop_lag()
        return self._server

    def __await__(self) -> Any:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        return await self._start()

    async def __aexit__(self, *exc_info: Any) -> None:
        self._server.close()
        await self._server.wait_closed()


def unix_serve(handler: Any, path: str, **kwargs: Any) -> serve:
    """``serve`` on a unix socket at ``path``."""
    return serve(handler, path=path, **kwargs)
