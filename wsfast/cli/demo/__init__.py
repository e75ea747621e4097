"""The chat room demo (``wsfast serve --demo``, ``bash scripts/demo.sh``).

The page (``chat.html``, package data) is served by wsfast itself through
``process_request``; ``/chat`` upgrades to WebSocket and every message fans out to the room
through a ``Hub``. ``examples/chat/server.py`` runs the same app.
"""
from __future__ import annotations

import json
from importlib import resources
from typing import Any, Awaitable, Callable

import wsfast

MAX_TEXT = 2000  # characters of one chat message; longer ones are cut
MAX_NAME = 32


def page() -> bytes:
    """The chat page's HTML (it opens ``ws://<host>/chat`` with the browser's WebSocket)."""
    return resources.files(__package__).joinpath("chat.html").read_bytes()


def make_app() -> tuple[Callable[[Any], Awaitable[None]], Callable[[Any, Any], Any], wsfast.Hub]:
    """Return ``(handler, process_request, hub)`` for ``wsfast.serve``, sharing one Hub.

    ``process_request`` answers plain GETs of ``/`` with the page and 404 elsewhere, and lets
    only ``/chat`` upgrade. ``handler`` subscribes the connection to the room, announces
    arrivals and departures, and publishes every well-formed ``{"name", "text"}`` message as
    ``{"type": "chat", "name", "text"}`` (anything else is ignored).
    """
    hub = wsfast.Hub()
    html = page()

    def process_request(connection: Any, request: Any) -> Any:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if request.path in ("/", "/index.html"):
                return connection.respond(200, html, [("Content-Type", "text/html; charset=utf-8")])
            return connection.respond(404, "Not found\n")
        if request.path != "/chat":
            return connection.respond(404, "Not found\n")
        return None

    async def handler(ws: Any) -> None:
        hub.subscribe(ws, "room")
        members = len(hub.subscribers("room"))
        hub.publish("room", json.dumps({"type": "system", "text": f"someone joined ({members} here)"}))
        async for raw in ws:
            try:
                msg = json.loads(raw)
                name = str(msg.get("name", "guest"))[:MAX_NAME]
                text = str(msg["text"])[:MAX_TEXT]
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # ignore what isn't a chat message
            hub.publish("room", json.dumps({"type": "chat", "name": name, "text": text}))
        hub.publish("room", json.dumps({"type": "system", "text": "someone left"}))

    return handler, process_request, hub


async def run(host: str = "127.0.0.1", port: int = 8000, **serve_kwargs: Any) -> None:
    """Serve the chat room until cancelled, printing the URL to open."""
    handler, process_request, _ = make_app()
    async with wsfast.serve(handler, host, port, process_request=process_request, **serve_kwargs) as server:
        print(f"wsfast chat demo ({wsfast.IMPLEMENTATION} kernels): open http://{host}:{server.port()}/", flush=True)
        await server.serve_forever()


__all__ = ["MAX_TEXT", "make_app", "page", "run"]
