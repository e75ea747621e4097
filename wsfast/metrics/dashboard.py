"""A live dashboard served by the server it shows: ``/dashboard`` (the page) and
``/dashboard/feed`` (a WebSocket that sends a summary of the server's metrics every
``interval`` seconds: under ``run_workers``, of every worker). The page draws with plain canvas: no library, no network.

``with_dashboard(handler, process_request)`` returns the pair to pass to ``serve`` instead:
the dashboard's paths are answered first, everything else goes to the application's own.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import time
from importlib import resources
from typing import Any, Callable, Iterable

from ..asyncio.stats import Sample
from ..exceptions import ConnectionClosed

PAGE_PATH = "/dashboard"
FEED_PATH = "/dashboard/feed"
INTERVAL = 0.5


def page() -> bytes:
    """The dashboard's HTML."""
    return resources.files(__package__).joinpath("dashboard.html").read_bytes()


def summary(samples: Iterable[Sample]) -> dict[str, Any]:
    """What the page charts, from a server's samples (every worker's under ``run_workers``):
    totals (the page turns them into rates) and gauges."""
    total: dict[str, float] = {}
    for name, labels, value in samples:
        if name == "wsfast_fanout_deliveries_total":
            name = f"{name}:{dict(labels)['outcome']}"
        total[name] = total.get(name, 0) + value
    return {
        "time": time.time(),
        "processes": total.get("wsfast_processes", 0),
        "connections_open": total.get("wsfast_connections_open", 0),
        "connections_handshaking": total.get("wsfast_connections_handshaking", 0),
        "messages_in": total.get("wsfast_messages_received_total", 0),
        "messages_out": total.get("wsfast_messages_sent_total", 0),
        "bytes_in": total.get("wsfast_bytes_received_total", 0),
        "bytes_out": total.get("wsfast_bytes_sent_total", 0),
        "skipped": total.get("wsfast_fanout_deliveries_total:skipped", 0),
        "closed_slow": total.get("wsfast_fanout_deliveries_total:closed", 0),
        "write_buffer_bytes": total.get("wsfast_write_buffer_bytes", 0),
        "loop_lag_seconds": total.get("wsfast_event_loop_lag_seconds"),
    }


async def feed(ws: Any, interval: float = INTERVAL) -> None:
    """Send the ``summary`` of ``ws.server`` as JSON every ``interval`` seconds until the
    page leaves."""
    ws.server.measure_loop_lag()
    try:
        while True:
            ws.send_nowait(json.dumps(summary(await ws.server.metrics())))
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
