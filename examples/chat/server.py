"""A chat room: the page is served by wsfast itself, messages fan out through a Hub.

    python examples/chat/server.py --port 8000     # then open http://127.0.0.1:8000/
"""
from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import wsfast

PAGE = (Path(__file__).parent / "chat.html").read_bytes()
MAX_TEXT = 2000


def make_app():
    """Return (handler, process_request) for the chat room, sharing one Hub."""
    hub = wsfast.Hub()

    def process_request(connection, request):
        # Plain HTTP GETs get the page; only /chat upgrades to WebSocket.
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if request.path in ("/", "/index.html"):
                return connection.respond(200, PAGE, [("Content-Type", "text/html; charset=utf-8")])
            return connection.respond(404, "Not found\n")
        if request.path != "/chat":
            return connection.respond(404, "Not found\n")
        return None

    async def handler(ws):
        hub.subscribe(ws, "room")
        members = len(hub.subscribers("room"))
        hub.publish("room", json.dumps({"type": "system", "text": f"someone joined ({members} here)"}))
        async for raw in ws:
            try:
                msg = json.loads(raw)
                name = str(msg.get("name", "guest"))[:32]
                text = str(msg["text"])[:MAX_TEXT]
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # ignore what isn't a chat message
            hub.publish("room", json.dumps({"type": "chat", "name": name, "text": text}))
        hub.publish("room", json.dumps({"type": "system", "text": "someone left"}))

    return handler, process_request, hub


async def main(host: str, port: int) -> None:
    handler, process_request, _ = make_app()
    async with wsfast.serve(handler, host, port, process_request=process_request) as server:
        print(f"wsfast chat demo ({wsfast.IMPLEMENTATION} kernels): open http://{host}:{server.port()}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.host, args.port))
    except KeyboardInterrupt:
        pass
