"""The browser's WebSocket API (WHATWG WebSocket interface) for people coming from JavaScript.

    ws = WebSocket("ws://localhost:8000/chat", protocols=["chat"])
    ws.onopen = lambda event: ws.send("hello")
    ws.onmessage = lambda event: print(event.data)
    ws.onclose = lambda event: print(event.code, event.reason, event.was_clean)

Create it inside a running event loop: it connects in the background, like the browser's.
Handlers may be plain callables or coroutine functions (run as tasks).
"""
from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..wire import serialize_close
from ..exceptions import InvalidCloseCode, InvalidState
from ..wire import OP_BINARY
from .client import ClientConnection, connect
from .options import logger

CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3


@dataclass
class Event:
    """A plain event (``open``, ``error``)."""

    type: str
    target: Any = field(default=None, repr=False)


@dataclass
class MessageEvent(Event):
    """A ``message`` event: ``data`` is str for text, bytes/bytearray/memoryview for binary."""

    data: Any = None
    origin: str = ""


@dataclass
class CloseEvent(Event):
    """A ``close`` event with the peer's ``code`` and ``reason``; ``was_clean`` as in the browser."""

    code: int = 1006
    reason: str = ""
    was_clean: bool = False


class WebSocket:
    """A client WebSocket with the browser's interface.

    ``ready_state`` is CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). ``send`` queues
    without waiting and adds to ``buffered_amount``; ``close(code, reason)`` accepts only
    1000 or 3000-4999 and a reason of at most 123 UTF-8 bytes, as the browser does.
    ``binary_type`` is "bytes" (the default), "bytearray" or "memoryview". Keyword arguments
    go to ``wsfast.connect`` (ssl, compression, max_size...).
    """

    CONNECTING = CONNECTING
    OPEN = OPEN
    CLOSING = CLOSING
    CLOSED = CLOSED

    def __init__(self, url: str, protocols: str | Sequence[str] | None = None, **connect_kwargs: Any) -> None:
        if isinstance(protocols, str):
            protocols = [protocols]
        protocols = list(protocols or [])
        if len(set(protocols)) != len(protocols):
            raise ValueError("protocols must not repeat")  # the browser's SyntaxError
        self.url = url
        self.binary_type = "bytes"
        self.onopen: Callable[[Event], Any] | None = None
        self.onmessage: Callable[[MessageEvent], Any] | None = None
        self.onerror: Callable[[Event], Any] | None = None
        self.onclose: Callable[[CloseEvent], Any] | None = None
        self._listeners: dict[str, list[Callable[[Any], Any]]] = {}
        self._ready_state = CONNECTING
        self._conn: ClientConnection | None = None
        self._closed = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task] = set()
        self._connector = connect(
            url, subprotocols=protocols or None, callbacks=_Callbacks(self), **connect_kwargs
        )
        self._task = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            self._conn = await self._connector
        except Exception as exc:
            logger.debug("WebSocket(%s): connection failed: %s", self.url, exc)
            self._ready_state = CLOSED
            self._fire("error", Event("error", self))
            self._fire("close", CloseEvent("close", self, code=1006, reason="", was_clean=False))
            self._finish()

    # ------------------------------------------------------------------------- attributes

    @property
    def ready_state(self) -> int:
        return self._ready_state

    readyState = ready_state  # the JavaScript spelling

    @property
    def buffered_amount(self) -> int:
        return self._conn.buffered_amount if self._conn is not None else 0

    bufferedAmount = buffered_amount

    @property
    def protocol(self) -> str:
        return (self._conn.subprotocol or "") if self._conn is not None else ""

    @property
    def extensions(self) -> str:
        if self._conn is None or self._conn.response is None:
            return ""
        return self._conn.response.headers.get("Sec-WebSocket-Extensions", "")

    # ---------------------------------------------------------------------------- methods

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Queue ``data`` (str as text, bytes-like as binary).

        Raises InvalidState while CONNECTING; after close() it is discarded, as in the browser.
        """
        if self._ready_state == CONNECTING:
            raise InvalidState("WebSocket is still CONNECTING")
        if self._ready_state != OPEN or self._conn is None:
            return
        self._conn.send_nowait(data)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake, with the browser's argument rules."""
        if code is not None and code != 1000 and not 3000 <= code <= 4999:
            raise InvalidCloseCode(f"close code must be 1000 or 3000-4999, not {code}")
        if reason is not None:
            serialize_close(code if code is not None else 1000, reason)  # ReasonTooLong over 123 bytes
        if self._ready_state in (CLOSING, CLOSED):
            return
        previous, self._ready_state = self._ready_state, CLOSING
        if previous == CONNECTING or self._conn is None:
            self._task.cancel()
            self._fire("error", Event("error", self))
            self._ready_state = CLOSED
            self._fire("close", CloseEvent("close", self, code=1006, reason="", was_clean=False))
            self._finish()
            return
        if code is None:
            # No status code: an empty close payload, the peer sees 1005.
            self._conn._proto.send_close(None)  # type: ignore[union-attr]
            self._conn._flush()
            self._conn._set_close_deadline()
        else:
            self._conn.close_nowait(code, reason or "")

    def add_event_listener(self, type: str, listener: Callable[[Any], Any]) -> None:
        """Call ``listener(event)`` for every ``type`` event ("open", "message", "error", "close")."""
        listeners = self._listeners.setdefault(type, [])
        if listener not in listeners:
            listeners.append(listener)

    def remove_event_listener(self, type: str, listener: Callable[[Any], Any]) -> None:
        listeners = self._listeners.get(type, [])
        if listener in listeners:
            listeners.remove(listener)

    addEventListener = add_event_listener
    removeEventListener = remove_event_listener

    async def wait_closed(self) -> CloseEvent:
        """Not in the browser: wait for the close event and return it."""
        return await asyncio.shield(self._closed)

    # ----------------------------------------------------------------------------- events

    def _fire(self, type: str, event: Any) -> None:
        handlers = [getattr(self, "on" + type)] + list(self._listeners.get(type, ()))
        for handler in handlers:
            if handler is None:
                continue
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                logger.exception("WebSocket(%s): error in %s handler", self.url, type)
        if type == "close" and not self._closed.done():
            self._closed.set_result(event)

    def _finish(self) -> None:
        if not self._closed.done():
            self._closed.set_result(CloseEvent("close", self, code=1006))


class _Callbacks:
    """Adapts connection callbacks to the browser's events."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    def on_open(self, conn: ClientConnection) -> None:
        ws = self.ws
        ws._conn = conn
        if ws._ready_state == CONNECTING:
            ws._ready_state = OPEN
            ws._fire("open", Event("open", ws))

    def on_message(self, conn: ClientConnection, data: Any, opcode: int) -> None:
        ws = self.ws
        if opcode == OP_BINARY and ws.binary_type != "bytes":
            data = bytearray(data) if ws.binary_type == "bytearray" else memoryview(data)
        ws._fire("message", MessageEvent("message", ws, data=data, origin=_origin(ws.url)))

    def on_close(self, conn: ClientConnection, code: int, reason: str) -> None:
        ws = self.ws
        proto = conn._proto
        clean = proto is not None and proto.close_rcvd is not None and proto.close_sent is not None
        ws._ready_state = CLOSED
        if not clean or proto.failure is not None:  # type: ignore[union-attr]
            ws._fire("error", Event("error", ws))
        ws._fire("close", CloseEvent("close", ws, code=code, reason=reason, was_clean=clean))


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
