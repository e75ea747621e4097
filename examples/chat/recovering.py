"""The chat room, recovering: messages sent while a browser was disconnected are replayed to
it when it comes back (the room keeps its last 500 messages for 10 minutes).

    python examples/chat/recovering.py --port 8000     # then open http://127.0.0.1:8000/

The page (``recovering.html``) follows the room with ``WsfastFeed`` (``wsfast/feeds/feed.js``,
served at ``/feed.js``): it reconnects with backoff and subscribes from the last message it
has. ``examples/chat/server.py`` is the same room without history (``wsfast serve --demo``).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

try:
    import wsfast
except ImportError:  # run from a source checkout without an install: use the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import wsfast

from wsfast.feeds import Feeds, History, script

MAX_TEXT = 2000
MAX_NAME = 32
PAGE = (Path(__file__).parent / "recovering.html").read_bytes()


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

    def process_request(connection: Any, request: Any) -> Any:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if request.path in ("/", "/index.html"):
                return connection.respond(200, PAGE, [("Content-Type", "text/html; charset=utf-8")])
            if request.path == "/feed.js":
                return connection.respond(200, js, [("Content-Type", "text/javascript; charset=utf-8")])
            return connection.respond(404, "Not found\n")
        if request.path != "/chat":
            return connection.respond(404, "Not found\n")
        return None

    async def handler(ws: Any) -> None:
        async for raw in ws:
            if await feeds.handle(ws, raw):
                continue
            try:
                msg = json.loads(raw)
                name = str(msg.get("name", "guest"))[:MAX_NAME]
                text = str(msg["text"])[:MAX_TEXT]
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # ignore what isn't a chat message
            hub.publish("room", json.dumps({"name": name, "text": text}))

    return handler, process_request, hub, feeds


async def run(host: str = "127.0.0.1", port: int = 8000) -> None:
    handler, process_request, _, _ = make_app()
    async with wsfast.serve(handler, host, port, process_request=process_request) as server:
        print(f"wsfast recovering chat: open http://{host}:{server.port()}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    try:
        asyncio.run(run(args.host, args.port))
    except KeyboardInterrupt:
        pass
