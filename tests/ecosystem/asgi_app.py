"""The FastAPI application the ASGI tests and the ASGI benchmark run under uvicorn.

Routes: ``/echo`` (every message back, same type), ``/subprotocol`` (accepts the first
offered subprotocol with an extra header, then echoes), ``/close`` (the first message is
"CODE REASON": the app closes with them), ``/deny`` (a 401 denial response with a body),
``/reject`` (closes before accepting: 403), ``/crash`` (raises after accepting: 1011),
``/query`` (sends its scope), ``/`` (the benchmark's echo). ``noaccept_app`` returns without
answering (500); ``raw_echo_app`` is a framework-free echo. ``EVENTS`` records what the app saw:
``(route, "disconnect", code, reason)`` when the client went away.
"""
from __future__ import annotations

from fastapi import FastAPI, WebSocket
from fastapi.responses import PlainTextResponse

EVENTS: list[tuple] = []


async def _echo_until_disconnect(ws: WebSocket, route: str) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            EVENTS.append((route, "disconnect", message.get("code"), message.get("reason", "")))
            return
        if message.get("text") is not None:
            await ws.send_text(message["text"])
        else:
            await ws.send_bytes(message["bytes"])


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    async def index() -> PlainTextResponse:
        return PlainTextResponse("plain HTTP still works")

    @app.websocket("/")
    async def bench_echo(ws: WebSocket) -> None:
        """The benchmark's echo (bench.loadgen connects to "/"): nothing recorded."""
        await ws.accept()
        receive, send = ws.receive, ws.send
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await _echo_until_disconnect(ws, "/echo")

    @app.websocket("/subprotocol")
    async def subprotocol(ws: WebSocket) -> None:
        offered = ws.scope["subprotocols"]
        await ws.accept(subprotocol=offered[0] if offered else None, headers=[(b"x-wsfast-test", b"yes")])
        await ws.send_text(f"chose {offered[0] if offered else None} of {','.join(offered)}")
        await _echo_until_disconnect(ws, "/subprotocol")

    @app.websocket("/close")
    async def close(ws: WebSocket) -> None:
        await ws.accept()
        code, _, reason = (await ws.receive_text()).partition(" ")
        await ws.close(int(code), reason)
        message = await ws.receive()
        EVENTS.append(("/close", message["type"], message.get("code"), message.get("reason", "")))

    @app.websocket("/deny")
    async def deny(ws: WebSocket) -> None:
        await ws.send_denial_response(
            PlainTextResponse("no entry ☃", status_code=401, headers={"WWW-Authenticate": "Bearer"})
        )

    @app.websocket("/reject")
    async def reject(ws: WebSocket) -> None:
        await ws.close()

    @app.websocket("/crash")
    async def crash(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()
        raise RuntimeError("boom (expected by the test)")

    @app.websocket("/query")
    async def query(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_json({
            "path": ws.scope["path"], "query": ws.scope["query_string"].decode(),
            "scheme": ws.scope["scheme"], "client": list(ws.scope["client"] or ()),
            "spec": ws.scope["asgi"]["spec_version"],
            "protocol": [c.__module__ for c in type(getattr(ws._receive, "__self__", None)).__mro__],
        })
        await ws.close()

    return app


async def noaccept_app(scope, receive, send) -> None:
    """A raw ASGI app that returns without answering the handshake (uvicorn answers 500)."""
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"


async def raw_echo_app(scope, receive, send) -> None:
    """A plain ASGI echo (no framework), for the benchmark's protocol-only comparison."""
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        await send({"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")})


app = make_app()
