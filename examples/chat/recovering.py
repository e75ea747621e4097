"""The chat room, recovering: messages sent while a browser was disconnected are replayed to
it when it comes back (the room keeps its last 500 messages for 10 minutes).

    python examples/chat/server.py --recover --port 8000     # then open http://127.0.0.1:8000/

The page (``recovering.html``) follows the room with ``WsfastFeed`` (``wsfast/feeds/feed.js``,
served at ``/feed.js``): it reconnects with backoff and subscribes from the last message it
has. ``examples/chat/server.py`` is the same room without history (``wsfast serve --demo``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

try:
    import wsfast
except ImportError:  # run from a source checkout without an install: use the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import wsfast

from wsfast.cli.demo import MAX_NAME, MAX_TEXT
from wsfast.feeds import Feeds, History, script
PAGE = (Path(__file__).parent / "recovering.html").read_bytes()


def chat_message(raw: Any) -> str | None:
    """The JSON published to the room for a client's ``{"name", "text"}`` (both cut to their
    limits), or None for anything else (ignored)."""
    try:
        msg = json.loads(raw)
        return json.dumps({"name": str(msg.get("name", "guest"))[:MAX_NAME], "text": str(msg["text"])[:MAX_TEXT]})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def make_app(history: History = History(size=500, ttl=600)) -> tuple[Any, Any, wsfast.Hub, Feeds]:
    """Return ``(handler, process_request, hub, feeds)`` for ``wsfast.serve``.

    ``process_request`` serves the page at ``/`` and the snippet at ``/feed.js`` and lets
    ``/chat`` upgrade. ``handler`` answers the feed protocol (the page subscribes to "room")
    and publishes every ``{"name", "text"}`` message to the room.
    """
    hub = wsfast.Hub()
    hub.set_history("room", history)
    feeds = Feeds(hub, allow=lambda ws, topic: topic == "room")
    js = script()

    files = {"/": (PAGE, "text/html"), "/index.html": (PAGE, "text/html"), "/feed.js": (js, "text/javascript")}

    def process_request(connection: Any, request: Any) -> Any:
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if upgrade and request.path == "/chat":
            return None
        found = None if upgrade else files.get(request.path)
        if found is None:
            return connection.respond(404, "Not found\n")
        body, kind = found
        return connection.respond(200, body, [("Content-Type", f"{kind}; charset=utf-8")])

    async def handler(ws: Any) -> None:
        async for raw in ws:
            if not await feeds.handle(ws, raw) and (message := chat_message(raw)) is not None:
                hub.publish("room", message)

    return handler, process_request, hub, feeds


async def run(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the recovering chat room until cancelled, printing the URL to open."""
    handler, process_request, _, _ = make_app()
    async with wsfast.serve(handler, host, port, process_request=process_request) as server:
        print(f"wsfast recovering chat: open http://{host}:{server.port()}/", flush=True)
        await server.serve_forever()
