"""FastAPI WebSocket endpoints served by uvicorn with wsfast's protocol class.

    python examples/fastapi_app/app.py --port 8003
    uvicorn app:app --app-dir examples/fastapi_app --ws wsfast.asgi:WSFastProtocol

``/ws/echo`` sends every message back; ``/ws/room/{name}`` is a chat room per name (every
message goes to everyone in the room, with who sent it); ``/ws/private`` refuses clients
without ``?token=letmein`` with an HTTP 401 (the ASGI WebSocket denial response). The
application is plain FastAPI: only ``ws=WSFastProtocol`` changes, and with it the handshake,
framing, compression and keepalive are wsfast's.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse

try:
    import wsfast  # noqa: F401
except ImportError:  # run from a source checkout without an install: use the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from wsfast.asgi import WSFastProtocol

app = FastAPI(title="wsfast + FastAPI")
rooms: dict[str, set[WebSocket]] = defaultdict(set)


@app.get("/")
async def index() -> dict[str, str]:
    return {"echo": "/ws/echo", "room": "/ws/room/{name}", "private": "/ws/private?token=letmein"}


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


@app.websocket("/ws/room/{name}")
async def room(websocket: WebSocket, name: str) -> None:
    await websocket.accept()
    members = rooms[name]
    members.add(websocket)
    who = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else "?"
    try:
        while True:
            text = await websocket.receive_text()
            for member in list(members):
                try:
                    await member.send_json({"from": who, "text": text})
                except (WebSocketDisconnect, RuntimeError, OSError):
                    members.discard(member)
    except WebSocketDisconnect:
        pass
    finally:
        members.discard(websocket)
        if not members:
            rooms.pop(name, None)


@app.websocket("/ws/private")
async def private(websocket: WebSocket) -> None:
    if websocket.query_params.get("token") != "letmein":
        await websocket.send_denial_response(PlainTextResponse("missing or wrong token\n", status_code=401))
        return
    await websocket.accept()
    await websocket.send_text("welcome")
    await websocket.close(1000, "that was all")


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8003)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, ws=WSFastProtocol)
