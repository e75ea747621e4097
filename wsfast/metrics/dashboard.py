"""A live dashboard served by the server it shows: ``/dashboard`` (the page) and
``/dashboard/feed`` (a WebSocket that sends a summary of ``server.stats()`` every
``interval`` seconds). The page draws with plain canvas: no library, no network.

``with_dashboard(handler, process_request)`` returns the pair to pass to ``serve`` instead:
the dashboard's paths are answered first, everything else goes to the application's own.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import time
from importlib import resources
from typing import Any, Callable

from ..exceptions import ConnectionClosed

PAGE_PATH = "/dashboard"
FEED_PATH = "/dashboard/feed"
INTERVAL = 0.5


def page() -> bytes:
    """The dashboard's HTML."""
    return resources.files(__package__).joinpath("dashboard.html").read_bytes()


def summary(server: Any) -> dict[str, Any]:
    """What the page charts: totals (the page turns them into rates) and gauges."""
    snap = server.stats()
    fanout_skipped = snap["broadcast"]["skipped"] + snap["hub"]["skipped"]
    fanout_closed = snap["broadcast"]["closed"] + snap["hub"]["closed"]
    return {
        "time": time.time(),
        "connections_open": snap["connections_open"],
        "connections_handshaking": snap["connections_handshaking"],
        "messages_in": snap["messages_in"]["text"] + snap["messages_in"]["binary"],
        "messages_out": snap["messages_out"]["text"] + snap["messages_out"]["binary"],
        "bytes_in": snap["bytes_in"],
        "bytes_out": snap["bytes_out"],
        "skipped": fanout_skipped,
        "closed_slow": fanout_closed,
        "write_buffer_bytes": snap["write_buffer_bytes"],
        "loop_lag_seconds": snap["loop_lag_seconds"],
    }


async def feed(ws: Any, interval: float = INTERVAL) -> None:
    """Send ``summary(ws.server)`` as JSON every ``interval`` seconds until the page leaves."""
    ws.server.measure_loop_lag()
    try:
        while True:
            ws.send_nowait(json.dumps(summary(ws.server)))
            await asyncio.sleep(interval)
    except ConnectionClosed:
        pass


def with_dashboard(handler: Any, process_request: Callable[..., Any] | None = None,
                   interval: float = INTERVAL) -> tuple[Any, Callable[..., Any]]:
    """``(handler, process_request)`` that also serve the dashboard (see the module)."""
    html = page()

    def dashboard_request(connection: Any, request: Any) -> Any:
        if request.path == FEED_PATH:
            return None
        if request.path == PAGE_PATH and request.headers.get("Upgrade", "").lower() != "websocket":
            return connection.respond(200, html, [("Content-Type", "text/html; charset=utf-8")])
        return process_request(connection, request) if process_request is not None else None

    if inspect.iscoroutinefunction(handler):
        async def routed(ws: Any) -> None:
            if ws.request.path == FEED_PATH:
                await feed(ws, interval)
            else:
                await handler(ws)

        return routed, dashboard_request
    return _routed_callbacks(handler, interval), dashboard_request


def _routed_callbacks(callbacks: Any, interval: float) -> type:
    """A callbacks class (one instance per connection) that runs the feed on its path and
    hands every other connection to ``callbacks``' own methods."""

    class Routed:
        def on_message(self, ws: Any, message: Any, opcode: int) -> None:
            """Replaced in ``on_open`` by the connection's own; defined so that the server
            sees callbacks from the start (a callbacks connection applies protocol
            failures at once)."""

        def on_open(self, ws: Any) -> None:
            if ws.request.path == FEED_PATH:
                self.on_message = _ignore  # type: ignore[method-assign]
                task = asyncio.ensure_future(feed(ws, interval))
                self.on_close = lambda ws, code, reason: task.cancel()
                return
            inner = callbacks() if inspect.isclass(callbacks) else callbacks
            for name in ("on_close", "on_ping"):
                method = getattr(inner, name, None)
                if method is not None:
                    setattr(self, name, method)
            on_open = getattr(inner, "on_open", None)
            if on_open is not None:
                on_open(ws)
            self.on_message = getattr(inner, "on_message", None)  # type: ignore[method-assign, assignment]

    return Routed


def _ignore(ws: Any, message: Any, opcode: int) -> None:
    """The feed does not listen to the page."""
