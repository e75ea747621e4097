"""The examples run: the chat room's page is served and messages fan out to every member."""
from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import wsfast

ROOT = Path(__file__).resolve().parent.parent
HANG = 30.0  # a deadline for hangs only


def load_example(relative: str):
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_"), ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_chat_room_serves_page_and_fans_out():
    chat = load_example("examples/chat/server.py")
    handler, process_request, hub = chat.make_app()
    async with wsfast.serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = server.port()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        page = await asyncio.wait_for(reader.read(), HANG)
        assert page.startswith(b"HTTP/1.1 200") and b"new WebSocket" in page
        writer.close()
        a = await wsfast.connect(f"ws://127.0.0.1:{port}/chat")
        b = await wsfast.connect(f"ws://127.0.0.1:{port}/chat")
        # Each one's own "joined" announcement: it is in the room (subscribed first).
        for ws in (a, b):
            assert json.loads(await asyncio.wait_for(ws.recv(), HANG))["type"] == "system"
        await a.send(json.dumps({"name": "ann", "text": "hi ☃"}))
        for ws in (a, b):
            while (msg := json.loads(await asyncio.wait_for(ws.recv(), HANG)))["type"] != "chat":
                pass
            assert msg == {"type": "chat", "name": "ann", "text": "hi ☃"}
        await a.close()
        await b.close()
