"""A JSON-RPC 2.0 peer on one wsfast connection: it serves methods and calls the other side's.

The peer owns the connection's receiving side: ``run()`` (or ``start()``, or ``async with``)
reads every message with ``ws.recv()`` and routes it. Requests and notifications run the
registered methods, responses resolve ``call()``s, and messages that are not JSON-RPC go to
``on_message`` when the application gave one (RPC and plain messages then share the
connection).

Flow control, so that neither side can make the other grow without bound:

* at most ``max_concurrency`` methods run at once per connection; up to ``max_queued`` more
  requests wait in order, and beyond that the peer stops reading (the connection's own
  ``max_queue`` then stops reading from the socket) until a method finishes;
* at most ``max_outgoing`` of our calls (and streams) are in flight; a further ``call()``
  waits for a slot;
* the peer stops reading while the connection's write buffer is over ``write_limit`` (a
  peer that sends requests and never reads the answers gets no more of them handled);
* a batch holds at most ``max_batch`` entries (larger ones are answered with -32600).

Extensions to JSON-RPC 2.0 (notifications and a method whose names start with ``$/``, which
plain peers never send and may ignore; documented in docs/rpc.md):

* ``$/cancelRequest`` ``{"id": ID}``: the caller gave up (cancelled or timed out); the callee
  cancels the running method and answers -32800 (as LSP does).
* ``$/stream`` ``{"method": M, "params": P, "window": N}`` (a request): call M and stream what
  its async iterator yields as ``$/item`` ``{"id": ID, "item": X}`` notifications, never more
  than the caller has granted: ``window`` at first, plus every ``$/credit``
  ``{"id": ID, "credit": K}``. The final response's result is the number of items sent.
  A plain call of a streaming method gets the items as one list (at most ``max_collect``).
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections import deque
from dataclasses import dataclass, fields
from types import CoroutineType
from typing import Any, AsyncIterator, Callable, Iterable, Mapping

from ..exceptions import ConnectionClosed
from . import _json
from .errors import (
    _MISSING,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    CallTimeout,
    InternalError,
    MethodTimeout,
    Overloaded,
    RequestCancelled,
    RPCError,
)
from .methods import Methods, params_fit

logger = logging.getLogger("wsfast.rpc")

_DEFAULT: Any = object()
_ID_TYPES = (str, int, float, type(None))  # bool is not among them: type(True) is bool
_OPENERS = frozenset("{[ \t\r\n") | frozenset((b"{", b"[", b" ", b"\t", b"\r", b"\n"))
_current: contextvars.ContextVar["Peer"] = contextvars.ContextVar("wsfast_rpc_peer")

# Every running peer by its connection, for broadcast acks (``Peer.of(ws)``).
_peers: dict[Any, "Peer"] = {}


def current_peer() -> "Peer":
    """The peer whose method is running (call it inside a method to call the caller back)."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("current_peer() is only available inside an RPC method") from None


@dataclass(slots=True)
class PeerStats:
    """What a peer received, sent, refused and dropped. Every malformed or unexpected input
    lands in one of these counters (and in an error response where the spec asks for one)."""

    requests_received: int = 0
    notifications_received: int = 0
    responses_received: int = 0
    batches_received: int = 0
    calls_sent: int = 0
    notifications_sent: int = 0
    plain_messages: int = 0           # non-JSON-RPC messages handed to on_message
    # answered with an error response
    parse_errors: int = 0             # -32700
    invalid_requests: int = 0         # -32600 (including duplicate ids and oversized batches)
    batches_too_large: int = 0
    duplicate_ids: int = 0
    methods_not_found: int = 0        # -32601
    invalid_params: int = 0           # -32602
    internal_errors: int = 0          # -32603: a method raised something other than RPCError
    application_errors: int = 0       # a method raised RPCError
    method_timeouts: int = 0
    # dropped and counted
    notification_errors: int = 0      # a notification for an unknown method, with bad params, or that raised
    unknown_responses: int = 0        # an answer to an id we never sent (or already answered)
    late_responses: int = 0           # an answer to a call that had timed out or was cancelled
    invalid_responses: int = 0        # a response object that breaks the spec
    peer_errors: int = 0              # error responses with id null: the other side could not read something of ours
    stream_items_dropped: int = 0     # $/item beyond the granted credit, or for no open stream
    unsent: int = 0                   # answers not sent: the connection closed first
    # cancellation and timeouts
    cancels_received: int = 0
    cancelled: int = 0                # methods cancelled on the caller's request
    cancels_sent: int = 0
    timeouts: int = 0                 # our calls that got no answer in time

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Job:
    """A request or notification whose method is awaited in a task (or waits for a slot)."""

    __slots__ = ("id", "has_id", "coro", "batch", "task", "cancelled", "stream", "method")

    def __init__(self, id: Any, has_id: bool, coro: Any, batch: "_Batch | None", method: str) -> None:
        self.id = id
        self.has_id = has_id
        self.coro = coro
        self.batch = batch
        self.task: asyncio.Task | None = None
        self.cancelled = False
        self.stream: _Credit | None = None
        self.method = method


class _Batch:
    """The answers of one incoming batch, sent as one array once the last one is in."""

    __slots__ = ("parts", "pending")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending = 1  # released when every entry has been dispatched


class _Credit:
    """The callee's side of a stream: items it may still send."""

    __slots__ = ("credit", "waiter", "sent")

    def __init__(self, window: int) -> None:
        self.credit = window
        self.waiter: asyncio.Future | None = None
        self.sent = 0

    def grant(self, n: int) -> None:
        self.credit += n
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Peer:
    """JSON-RPC 2.0 both ways over ``ws`` (a wsfast server or client connection).

    ``methods`` is a ``Methods`` table (or any mapping of name -> callable) shared by every
    peer that uses it; ``peer.methods`` is this peer's own copy-on-write view, so
    ``@peer.method`` adds a method for this connection only. ``on_message(message)`` receives
    the messages that are not JSON-RPC (it may be a coroutine function; it is awaited before
    the next message is read). Without ``on_message`` every message is JSON-RPC, and one
    that is not valid JSON is answered with -32700.

    ``timeout`` is the default of ``call()`` (None: wait forever); ``method_timeout`` bounds
    each method this peer runs (-32001 after it). See the module docstring for the limits.
    """

    def __init__(
        self,
        ws: Any,
        methods: Mapping[str, Callable[..., Any]] | None = None,
        *,
        on_message: Callable[[Any], Any] | None = None,
        timeout: float | None = 60.0,
        method_timeout: float | None = None,
        max_concurrency: int = 64,
        max_queued: int = 256,
        max_outgoing: int = 128,
        max_batch: int = 100,
        stream_window: int = 16,
        max_collect: int = 10_000,
        expose_errors: bool = False,
    ) -> None:
        if min(max_concurrency, max_outgoing, max_batch, stream_window, max_collect) < 1 or max_queued < 0:
            raise ValueError("limits must be positive")
        self.ws = ws
        self._shared_methods: Mapping[str, Callable[..., Any]] = methods if methods is not None else {}
        self._own_methods: Methods | None = None
        self.on_message = on_message
        self.timeout = timeout
        self.method_timeout = method_timeout
        self.max_concurrency = max_concurrency
        self.max_queued = max_queued
        self.max_outgoing = max_outgoing
        self.max_batch = max_batch
        self.stream_window = stream_window
        self.max_collect = max_collect
        self.expose_errors = expose_errors  # internal errors carry the exception's type and text
        self.stats = PeerStats()
        self._loop = asyncio.get_running_loop()
        # our calls: id -> future; ids given up on (answers to them are "late", not "unknown")
        self._pending: dict[Any, asyncio.Future] = {}
        self._streams: dict[Any, Stream] = {}
        self._abandoned: set[Any] = set()
        self._abandoned_order: deque[Any] = deque()
        self._next_id = 0
        self._out_active = 0
        self._out_waiters: deque[asyncio.Future] = deque()
        # their calls: id -> job (running or queued); jobs waiting for a slot
        self._incoming: dict[Any, _Job] = {}
        self._queue: deque[_Job] = deque()
        self._active = 0
        self._tasks: set[asyncio.Task] = set()
        self._queue_waiter: asyncio.Future | None = None
        self._reader: asyncio.Task | None = None
        self._reading = False
        self._closed_exc: BaseException | None = None

    # ------------------------------------------------------------------------ methods

    @property
    def methods(self) -> Mapping[str, Callable[..., Any]]:
        return self._own_methods if self._own_methods is not None else self._shared_methods

    def method(self, func: Any = None, *, name: str | None = None) -> Any:
        """Register a method for this connection only (decorator, as ``Methods.add``)."""
        if self._own_methods is None:
            self._own_methods = Methods(self._shared_methods)
        return self._own_methods.add(func, name=name)

    @classmethod
    def of(cls, ws: Any) -> "Peer | None":
        """The running peer of connection ``ws``, if any."""
        return _peers.get(ws)

    @property
    def closed(self) -> bool:
        return self._closed_exc is not None

    # -------------------------------------------------------------------- running

    def start(self) -> "Peer":
        """Run the peer in a task of its own (``run()`` in the background); returns self."""
        if self._reader is None:
            self._reader = self._loop.create_task(self.run())
        return self

    async def __aenter__(self) -> "Peer":
        return self.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection and wait until the peer has stopped."""
        await self.ws.close(code, reason)
        if self._reader is not None and self._reader is not asyncio.current_task():
            await asyncio.gather(self._reader, return_exceptions=True)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed and the peer has stopped."""
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        else:
            await self.ws.wait_closed()

    async def run(self) -> None:
        """Read and handle messages until the connection closes (a server handler's body)."""
        if self._reading:
            raise RuntimeError("this peer is already running")
        self._reading = True
        ws = self.ws
        _current.set(self)
        _peers[ws] = self
        closed_exc: BaseException | None = None
        try:
            recv = ws.recv
            receive = self._receive
            burst = 0
            while True:
                try:
                    message = await recv()
                except ConnectionClosed as exc:
                    closed_exc = exc
                    break
                plain = receive(message)
                if plain is not None:
                    await plain
                if len(self._queue) > self.max_queued:
                    await self._wait_for_queue()
                # While received messages are queued, recv() does not suspend and the
                # connection defers its writes to the next loop iteration: every few
                # messages, let them be written so that the write limit can take effect.
                burst += 1
                if burst >= 16:
                    burst = 0
                    await asyncio.sleep(0)
                if ws.buffered_amount:
                    await ws.drain()
        finally:
            self._shut_down(closed_exc)

    def _shut_down(self, exc: BaseException | None) -> None:
        if _peers.get(self.ws) is self:
            del _peers[self.ws]
        if exc is None:  # the reader stopped for another reason (cancelled, on_message raised)
            exc = ConnectionClosed(self.ws.close_code or 1006, "the RPC peer stopped")
        self._closed_exc = exc
        for job in self._queue:
            job.coro.close()
        self._queue.clear()
        for task in list(self._tasks):
            task.cancel()
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)
        for stream in list(self._streams.values()):
            stream._wake()
        self._streams.clear()
        waiters, self._out_waiters = self._out_waiters, deque()
        for fut in waiters:
            if not fut.done():
                fut.set_exception(exc)
        if self._queue_waiter is not None and not self._queue_waiter.done():
            self._queue_waiter.set_result(None)

    async def _wait_for_queue(self) -> None:
        while len(self._queue) > self.max_queued and self._closed_exc is None:
            self._queue_waiter = self._loop.create_future()
            await self._queue_waiter

    # ---------------------------------------------------------------------- receiving

    def _receive(self, message: Any) -> Any:
        """Handle one message; returns an awaitable when on_message returned one."""
        shared = self.on_message is not None
        if shared and message[:1] not in _OPENERS:
            return self._plain(message)
        try:
            obj = _json.loads(message)
        except _json.JSONDecodeError:
            if shared:
                return self._plain(message)
            self.stats.parse_errors += 1
            self._send_error(None, PARSE_ERROR, None)
            return None
        kind = type(obj)
        if kind is dict:
            if shared and "jsonrpc" not in obj:
                return self._plain(message)
            self._dispatch(obj, None)
        elif kind is list:
            if shared and not any(type(entry) is dict and "jsonrpc" in entry for entry in obj):
                return self._plain(message)
            self._dispatch_batch(obj)
        elif shared:
            return self._plain(message)
        else:
            self.stats.invalid_requests += 1
            self._send_error(None, INVALID_REQUEST, None)
        return None

    def _plain(self, message: Any) -> Any:
        self.stats.plain_messages += 1
        result = self.on_message(message)  # type: ignore[misc]
        return result if inspect.isawaitable(result) else None

    def _dispatch_batch(self, entries: list[Any]) -> None:
        stats = self.stats
        stats.batches_received += 1
        if not entries:
            stats.invalid_requests += 1
            self._send_error(None, INVALID_REQUEST, None, "empty batch")
            return
        if len(entries) > self.max_batch:
            stats.invalid_requests += 1
            stats.batches_too_large += 1
            self._send_error(None, INVALID_REQUEST, {"max_batch": self.max_batch, "size": len(entries)},
                             "Invalid Request: batch too large")
            return
        batch = _Batch()
        for entry in entries:
            self._dispatch(entry, batch)
        self._batch_entry_done(batch)

    def _dispatch(self, obj: Any, batch: _Batch | None) -> None:
        """One request, notification or response (alone or from a batch)."""
        stats = self.stats
        if type(obj) is not dict or obj.get("jsonrpc") != "2.0":
            self._invalid(obj, batch)
            return
        method = obj.get("method", _MISSING)
        if method is _MISSING:
            if "result" in obj or "error" in obj:
                self._response(obj)
            else:
                self._invalid(obj, batch)
            return
        has_id = "id" in obj
        id = obj.get("id")
        params = obj.get("params")
        if (
            type(method) is not str
            or (has_id and type(id) not in _ID_TYPES)
            or (params is not None and type(params) is not list and type(params) is not dict)
        ):
            self._invalid(obj, batch)
            return
        if method[:2] == "$/":
            self._extension(method, params, has_id, id, batch)
            return
        func = self.methods.get(method)
        if not has_id:
            stats.notifications_received += 1
            if func is None:
                stats.notification_errors += 1
                logger.debug("%s: notification for unknown method %r", self, method)
                return
        else:
            stats.requests_received += 1
            if func is None:
                stats.methods_not_found += 1
                self._answer_error(id, batch, RPCError(METHOD_NOT_FOUND))
                return
            if self._id_in_use(id, batch):
                return
        self._invoke(func, method, params, has_id, id, batch, None)

    def _invoke(self, func: Callable[..., Any], method: str, params: Any, has_id: bool, id: Any,
                batch: _Batch | None, stream: "_Credit | None") -> None:
        try:
            if params is None:
                result = func()
            elif type(params) is list:
                result = func(*params)
            else:
                result = func(**params)
        except TypeError as exc:
            if params_fit(func, params):
                self._failed(has_id, id, batch, exc, method)
            elif has_id:
                self.stats.invalid_params += 1
                self._answer_error(id, batch, RPCError(INVALID_PARAMS, data=str(exc)))
            else:
                self.stats.notification_errors += 1
            return
        except Exception as exc:
            self._failed(has_id, id, batch, exc, method)
            return
        if type(result) is CoroutineType or stream is not None or hasattr(result, "__aiter__") \
                or inspect.isawaitable(result):
            job = _Job(id, has_id, result, batch, method)
            job.stream = stream
            if batch is not None:
                batch.pending += 1
            if has_id and id is not None:
                self._incoming[id] = job
            if self._active < self.max_concurrency:
                self._launch(job)
            else:
                self._queue.append(job)
        elif has_id:
            self._answer(id, batch, result)

    def _failed(self, has_id: bool, id: Any, batch: _Batch | None, exc: BaseException, method: str) -> None:
        """A method raised (or its result could not be encoded): answer or count it."""
        if not has_id:
            self.stats.notification_errors += 1
            if not isinstance(exc, RPCError):
                logger.error("%s: notification %r raised", self, method, exc_info=exc)
            return
        if isinstance(exc, RPCError):
            if isinstance(exc, MethodTimeout):
                self.stats.method_timeouts += 1
            else:
                self.stats.application_errors += 1
            self._answer_error(id, batch, exc)
            return
        self.stats.internal_errors += 1
        logger.error("%s: method %r raised", self, method, exc_info=exc)
        data = {"type": type(exc).__name__, "message": str(exc)} if self.expose_errors else _MISSING
        self._answer_error(id, batch, RPCError(INTERNAL_ERROR, data=data))

    def _invalid(self, obj: Any, batch: _Batch | None) -> None:
        self.stats.invalid_requests += 1
        id = obj.get("id") if type(obj) is dict else None
        self._answer_error(id if type(id) in _ID_TYPES else None, batch, RPCError(INVALID_REQUEST))

    # --------------------------------------------------------------- running methods

    def _launch(self, job: _Job) -> None:
        self._active += 1
        task = job.task = self._loop.create_task(self._run_job(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_job(self, job: _Job) -> None:
        _current.set(self)
        try:
            try:
                if self.method_timeout is None:
                    result = await self._resolve(job)
                else:
                    async with asyncio.timeout(self.method_timeout) as deadline:
                        result = await self._resolve(job)
            except asyncio.CancelledError:
                if not job.cancelled:
                    raise  # the peer is shutting down: nobody to answer
                self.stats.cancelled += 1
                self._failed(job.has_id, job.id, job.batch, RequestCancelled(), job.method)
            except TimeoutError as exc:
                if self.method_timeout is not None and deadline.expired():
                    exc = MethodTimeout(data={"timeout": self.method_timeout})
                self._failed(job.has_id, job.id, job.batch, exc, job.method)
            except Exception as exc:
                self._failed(job.has_id, job.id, job.batch, exc, job.method)
            else:
                if job.has_id:
                    self._answer(job.id, job.batch, result)
        finally:
            self._active -= 1
            if job.has_id and self._incoming.get(job.id) is job:
                del self._incoming[job.id]
            if job.batch is not None:
                self._batch_entry_done(job.batch)
            self._next_job()

    async def _resolve(self, job: _Job) -> Any:
        """Await the method; stream or collect an async iterator it returns."""
        result = job.coro
        if hasattr(result, "__await__") and not hasattr(result, "__aiter__"):
            result = await result
        if job.stream is not None:
            return await self._pump(job, result)
        if hasattr(result, "__aiter__"):
            return await self._collect(result)
        return result

    async def _collect(self, iterator: Any) -> list[Any]:
        """A plain call of a streaming method: the items as one list."""
        items: list[Any] = []
        try:
            async for item in iterator:
                if len(items) >= self.max_collect:
                    raise RPCError(INTERNAL_ERROR, "Internal error: stream too long for a plain call",
                                   {"max_collect": self.max_collect})
                items.append(item)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        return items

    async def _pump(self, job: _Job, iterator: Any) -> int:
        """Send what ``iterator`` yields as $/item notifications, within the granted credit."""
        credit = job.stream
        assert credit is not None
        if not hasattr(iterator, "__aiter__"):
            if not isinstance(iterator, (list, tuple)) and not inspect.isgenerator(iterator):
                raise RPCError(INTERNAL_ERROR, "Internal error: the method did not return an iterator")
            iterator = _aiter_sync(iterator)
        ws = self.ws
        try:
            async for item in iterator:
                while credit.credit <= 0:
                    credit.waiter = self._loop.create_future()
                    await credit.waiter
                credit.credit -= 1
                ws.send_nowait(_json.dumps({"jsonrpc": "2.0", "method": "$/item",
                                            "params": {"id": job.id, "item": item}}))
                credit.sent += 1
                if ws.buffered_amount:
                    await ws.drain()
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        return credit.sent

    def _next_job(self) -> None:
        queue = self._queue
        while queue and self._active < self.max_concurrency and self._closed_exc is None:
            job = queue.popleft()
            if not job.cancelled:
                self._launch(job)
        waiter = self._queue_waiter
        if waiter is not None and len(queue) <= self.max_queued and not waiter.done():
            self._queue_waiter = None
            waiter.set_result(None)

    # ------------------------------------------------------------------ answering

    def _answer(self, id: Any, batch: _Batch | None, result: Any) -> None:
        try:
            text = _json.dumps({"jsonrpc": "2.0", "result": result, "id": id})
        except _json.EncodeError as exc:
            self.stats.internal_errors += 1
            logger.error("%s: a result could not be encoded as JSON", self, exc_info=exc)
            data = {"type": type(exc).__name__, "message": str(exc)} if self.expose_errors else _MISSING
            text = _json.dumps({"jsonrpc": "2.0", "error": RPCError(INTERNAL_ERROR, data=data).to_dict(), "id": id})
        self._deliver(text, batch)

    def _id_in_use(self, id: Any, batch: _Batch | None) -> bool:
        """True (and the request answered with an error) if ``id`` is already running."""
        if id is None or id not in self._incoming:
            return False
        stats = self.stats
        stats.invalid_requests += 1
        stats.duplicate_ids += 1
        self._answer_error(id, batch, RPCError(INVALID_REQUEST, "Invalid Request: id already in use"))
        return True

    def _answer_error(self, id: Any, batch: _Batch | None, error: RPCError) -> None:
        try:
            text = _json.dumps({"jsonrpc": "2.0", "error": error.to_dict(), "id": id})
        except _json.EncodeError:
            text = _json.dumps({"jsonrpc": "2.0", "error": {"code": error.code, "message": error.message}, "id": id})
        self._deliver(text, batch)

    def _send_error(self, id: Any, code: int, data: Any, message: str | None = None) -> None:
        self._answer_error(id, None, RPCError(code, message, _MISSING if data is None else data))

    def _deliver(self, text: str, batch: _Batch | None) -> None:
        if batch is None:
            self._send(text)
            return
        batch.parts.append(text)

    def _batch_entry_done(self, batch: _Batch) -> None:
        batch.pending -= 1
        if batch.pending == 0 and batch.parts:
            self._send("[" + ",".join(batch.parts) + "]")

    def _send(self, text: str) -> None:
        try:
            self.ws.send_nowait(text)
        except ConnectionClosed:
            self.stats.unsent += 1

    # ------------------------------------------------------------------ extensions

    def _extension(self, method: str, params: Any, has_id: bool, id: Any, batch: _Batch | None) -> None:
        stats = self.stats
        if method == "$/stream":
            if not has_id or type(params) is not dict:
                self._invalid({"id": id}, batch)
                return
            stats.requests_received += 1
            name = params.get("method")
            inner = params.get("params")
            window = params.get("window", self.stream_window)
            func = self.methods.get(name) if type(name) is str else None
            if func is None:
                stats.methods_not_found += 1
                self._answer_error(id, batch, RPCError(METHOD_NOT_FOUND))
                return
            if (inner is not None and type(inner) is not list and type(inner) is not dict) \
                    or type(window) is not int or window < 1:
                stats.invalid_params += 1
                self._answer_error(id, batch, RPCError(INVALID_PARAMS, data="$/stream params"))
                return
            if self._id_in_use(id, batch):
                return
            self._invoke(func, name, inner, True, id, batch, _Credit(window))
            return
        target = params.get("id", _MISSING) if type(params) is dict else _MISSING
        if method == "$/item" and type(params) is dict:
            stream = self._streams.get(target) if type(target) in _ID_TYPES else None
            if stream is None or not stream._push(params.get("item")):
                stats.stream_items_dropped += 1
        elif method == "$/cancelRequest" and type(target) in _ID_TYPES:
            stats.cancels_received += 1
            job = self._incoming.pop(target, None)
            if job is not None and not job.cancelled:
                job.cancelled = True
                if job.task is not None:
                    job.task.cancel()
                else:  # still queued: answer now, it will never run
                    job.coro.close()
                    self.stats.cancelled += 1
                    self._failed(job.has_id, job.id, job.batch, RequestCancelled(), job.method)
                    if job.batch is not None:
                        self._batch_entry_done(job.batch)
        elif method == "$/credit" and type(target) in _ID_TYPES and type(params.get("credit")) is int:
            job = self._incoming.get(target)
            amount = params["credit"]
            if job is not None and job.stream is not None and 0 < amount <= 1_000_000:
                job.stream.grant(amount)
        else:
            stats.notification_errors += 1
        if has_id:  # the extensions are notifications; a request for one gets an empty answer
            self._answer(id, batch, None)

    # --------------------------------------------------------------------- responses

    def _response(self, obj: dict[str, Any]) -> None:
        stats = self.stats
        stats.responses_received += 1
        id = obj.get("id")
        fut = self._pending.pop(id, None) if type(id) in _ID_TYPES else None
        error = obj.get("error", _MISSING)
        if fut is None:
            if id is None and error is not _MISSING:
                stats.peer_errors += 1
                logger.warning("%s: the other side reported an error: %r", self, error)
            elif type(id) in _ID_TYPES and id in self._abandoned:
                self._abandoned.discard(id)
                stats.late_responses += 1
            else:
                stats.unknown_responses += 1
            return
        if error is _MISSING:
            if not fut.done():
                fut.set_result(obj["result"])
            return
        if "result" in obj or type(error) is not dict or type(error.get("code")) is not int:
            stats.invalid_responses += 1
            exc: RPCError = InternalError(INTERNAL_ERROR, "Invalid response", obj)
        else:
            exc = RPCError.from_error(error)
        if not fut.done():
            fut.set_exception(exc)

    # ----------------------------------------------------------------------- calling

    async def _acquire(self) -> None:
        if self._closed_exc is not None:
            raise self._closed_exc
        while self._out_active >= self.max_outgoing:
            waiter = self._loop.create_future()
            self._out_waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._wake_out()  # pass the slot on
                raise
        self._out_active += 1

    def _release(self) -> None:
        self._out_active -= 1
        self._wake_out()

    def _wake_out(self) -> None:
        while self._out_waiters:
            waiter = self._out_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _abandon(self, id: Any) -> None:
        """We gave up on call ``id``: tell the other side, and absorb its late answer."""
        self._pending.pop(id, None)
        if self._closed_exc is not None:
            return
        self._abandoned.add(id)
        self._abandoned_order.append(id)
        if len(self._abandoned_order) > 4096:
            self._abandoned.discard(self._abandoned_order.popleft())
        try:
            self.ws.send_nowait(_json.dumps({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": id}}))
            self.stats.cancels_sent += 1
        except ConnectionClosed:
            pass

    async def call(self, method: str, params: list[Any] | tuple[Any, ...] | dict[str, Any] | None = None, *,
                   timeout: float | None = _DEFAULT) -> Any:
        """Call ``method`` on the other side and return its result.

        ``params``: a list or tuple (positional), a dict (by name) or None (no params).
        Raises ``RPCError`` (a subclass for the standard codes) when the answer is an error,
        ``CallTimeout`` (an ``asyncio.TimeoutError``) after ``timeout`` seconds (default: the
        peer's ``timeout``), ``ConnectionClosed`` if the connection closes first. On timeout
        or cancellation the other side gets ``$/cancelRequest``.
        """
        if self._out_active >= self.max_outgoing or self._closed_exc is not None:
            await self._acquire()
        else:
            self._out_active += 1
        try:
            self._next_id = id = self._next_id + 1
            if params is None:
                request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
            else:
                if type(params) is tuple:
                    params = list(params)
                request = {"jsonrpc": "2.0", "method": method, "params": params, "id": id}
            text = _json.dumps(request)
            fut = self._loop.create_future()
            self._pending[id] = fut
            ws = self.ws
            try:
                ws.send_nowait(text)
            except BaseException:
                del self._pending[id]
                raise
            self.stats.calls_sent += 1
            if timeout is _DEFAULT:
                timeout = self.timeout
            try:
                if ws.buffered_amount:
                    await ws.drain()
                if timeout is None:
                    return await fut
                handle = self._loop.call_later(timeout, self._expire, id, fut, method, timeout)
                try:
                    return await fut
                finally:
                    handle.cancel()
            except asyncio.CancelledError:
                if self._pending.get(id) is fut:
                    self._abandon(id)
                raise
        finally:
            self._out_active -= 1
            if self._out_waiters:
                self._wake_out()

    def _expire(self, id: Any, fut: asyncio.Future, method: str, timeout: float) -> None:
        if self._pending.get(id) is fut and not fut.done():
            self.stats.timeouts += 1
            self._abandon(id)
            fut.set_exception(CallTimeout(method, timeout))

    async def notify(self, method: str, params: list[Any] | tuple[Any, ...] | dict[str, Any] | None = None) -> None:
        """Send a notification (no answer); waits while the write buffer is over its limit."""
        self.notify_nowait(method, params)
        if self.ws.buffered_amount:
            await self.ws.drain()

    def notify_nowait(self, method: str, params: Any = None) -> None:
        """Send a notification without waiting (for callbacks; mind ``ws.buffered_amount``)."""
        if type(params) is tuple:
            params = list(params)
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.ws.send_nowait(_json.dumps(message))
        self.stats.notifications_sent += 1

    async def call_batch(self, calls: Iterable[tuple[str, Any]], *, notifications: Iterable[tuple[str, Any]] = (),
                         timeout: float | None = _DEFAULT) -> list[Any]:
        """Send ``calls`` (and ``notifications``) as one JSON-RPC batch; return one result per
        call, in order, where a failed call's place holds its exception (``RPCError``,
        ``CallTimeout``) instead of raising. The batch holds one slot of ``max_outgoing``."""
        await self._acquire()
        ids: list[int] = []
        try:
            entries: list[dict[str, Any]] = []
            for method, params in calls:
                id = self._new_id()
                ids.append(id)
                entry: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
                if params is not None:
                    entry["params"] = list(params) if type(params) is tuple else params
                entries.append(entry)
            for method, params in notifications:
                entry = {"jsonrpc": "2.0", "method": method}
                if params is not None:
                    entry["params"] = list(params) if type(params) is tuple else params
                entries.append(entry)
            if not entries:
                return []
            text = _json.dumps(entries)
            futures = [self._loop.create_future() for _ in ids]
            self._pending.update(zip(ids, futures))
            try:
                self.ws.send_nowait(text)
            except BaseException:
                for id in ids:
                    self._pending.pop(id, None)
                raise
            self.stats.calls_sent += len(ids)
            self.stats.notifications_sent += len(entries) - len(ids)
            if timeout is _DEFAULT:
                timeout = self.timeout
            if futures:
                try:
                    await asyncio.wait(futures, timeout=timeout)
                except asyncio.CancelledError:
                    for id, fut in zip(ids, futures):
                        if not fut.done():
                            self._abandon(id)
                    raise
            results: list[Any] = []
            for id, fut in zip(ids, futures):
                if not fut.done():
                    self.stats.timeouts += 1
                    self._abandon(id)
                    results.append(CallTimeout("batch", timeout or 0.0))
                elif fut.exception() is not None:
                    results.append(fut.exception())
                else:
                    results.append(fut.result())
            return results
        finally:
            for id in ids:
                self._pending.pop(id, None)
            self._release()

    def stream(self, method: str, params: Any = None, *, window: int | None = None,
               timeout: float | None = _DEFAULT) -> "Stream":
        """Call a streaming method: ``async for item in peer.stream("ticks", [10]): ...``.

        At most ``window`` items are in flight (the callee waits for credit); ``timeout`` is
        the longest wait for each next item. Leaving the loop early cancels the method.
        """
        return Stream(self, method, params, window or self.stream_window,
                      self.timeout if timeout is _DEFAULT else timeout)

    def __repr__(self) -> str:
        return f"<rpc.Peer {self.ws!r}>"


class Stream:
    """The caller's side of a ``$/stream`` call: an async iterator of the items.

    ``result`` is the final answer (the number of items sent) once the stream is exhausted.
    """

    def __init__(self, peer: Peer, method: str, params: Any, window: int, timeout: float | None) -> None:
        self._peer = peer
        self.method = method
        self._params = list(params) if type(params) is tuple else params
        self.window = window
        self._timeout = timeout
        self._id: Any = None
        self._items: deque[Any] = deque()
        self._done: asyncio.Future | None = None
        self._waiter: asyncio.Future | None = None
        self._consumed = 0
        self._finished = False
        self.result: Any = None

    def __aiter__(self) -> "Stream":
        return self

    async def _begin(self) -> None:
        peer = self._peer
        await peer._acquire()
        self._id = id = peer._new_id()
        params: dict[str, Any] = {"method": self.method, "window": self.window}
        if self._params is not None:
            params["params"] = self._params
        done = self._done = peer._loop.create_future()
        done.add_done_callback(lambda _: self._wake())
        peer._pending[id] = done
        peer._streams[id] = self
        try:
            peer.ws.send_nowait(_json.dumps({"jsonrpc": "2.0", "method": "$/stream", "params": params, "id": id}))
        except BaseException:
            self._end()
            raise
        peer.stats.calls_sent += 1

    def _push(self, item: Any) -> bool:
        if len(self._items) >= self.window:
            return False  # beyond the credit we granted
        self._items.append(item)
        self._wake()
        return True

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end(self) -> None:
        if not self._finished:
            self._finished = True
            peer = self._peer
            peer._streams.pop(self._id, None)
            peer._pending.pop(self._id, None)
            peer._release()

    async def __anext__(self) -> Any:
        if self._done is None:
            if self._finished:
                raise StopAsyncIteration
            await self._begin()
        peer = self._peer
        try:
            while True:
                if self._items:
                    item = self._items.popleft()
                    self._consumed += 1
                    if self._consumed * 2 >= self.window and not self._done.done():  # type: ignore[union-attr]
                        granted, self._consumed = self._consumed, 0
                        try:
                            peer.ws.send_nowait(_json.dumps({"jsonrpc": "2.0", "method": "$/credit",
                                                             "params": {"id": self._id, "credit": granted}}))
                        except ConnectionClosed:
                            pass
                    return item
                done = self._done
                assert done is not None
                if done.done():
                    self._end()
                    self.result = done.result()  # raises the stream's error
                    raise StopAsyncIteration
                if peer._closed_exc is not None:
                    self._end()
                    raise peer._closed_exc
                self._waiter = waiter = peer._loop.create_future()
                if self._timeout is None:
                    await waiter
                else:
                    try:
                        await asyncio.wait_for(waiter, self._timeout)
                    except TimeoutError:
                        peer.stats.timeouts += 1
                        await self.aclose()
                        raise CallTimeout(self.method, self._timeout) from None
        except asyncio.CancelledError:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop early: the callee is told to cancel the method."""
        if self._done is not None and not self._finished:
            if not self._done.done():
                self._peer._abandon(self._id)
            self._end()
        self._finished = True

    async def __aenter__(self) -> "Stream":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()


async def _aiter_sync(iterable: Iterable[Any]) -> AsyncIterator[Any]:
    for item in iterable:
        yield item
