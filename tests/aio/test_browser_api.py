"""wsfast.WebSocket, the browser's interface: readyState, events, send/close rules."""
from __future__ import annotations

import asyncio

import pytest

import wsfast
from wsfast.exceptions import InvalidCloseCode, InvalidState, ReasonTooLong


async def echo(ws):
    async for message in ws:
        if message == "close-4001":
            await ws.close(4001, "asked")
        else:
            await ws.send(message)


async def test_browser_api_lifecycle(serve_ws, impl_name):
    server = await serve_ws(echo, subprotocols=["chat"])
    events = []
    opened = asyncio.Event()
    messages = asyncio.Queue()

    ws = wsfast.WebSocket(server.uri, "chat", implementation=impl_name)
    assert ws.ready_state == wsfast.WebSocket.CONNECTING == 0
    with pytest.raises(InvalidState):
        ws.send("too early")

    ws.onopen = lambda event: (events.append(event.type), opened.set())
    ws.onmessage = lambda event: messages.put_nowait(event)
    ws.add_event_listener("message", lambda event: events.append("listener"))
    await asyncio.wait_for(opened.wait(), 3)
    assert ws.ready_state == ws.OPEN == 1
    assert ws.readyState == 1
    assert ws.protocol == "chat"
    assert "permessage-deflate" in ws.extensions
    assert ws.url == server.uri

    ws.send("text ☃")
    event = await asyncio.wait_for(messages.get(), 3)
    assert event.data == "text ☃" and event.type == "message"
    assert event.origin == server.uri.rstrip("/")
    ws.send(b"\x01\x02")
    assert (await asyncio.wait_for(messages.get(), 3)).data == b"\x01\x02"
    ws.binary_type = "bytearray"
    ws.send(b"\x03")
    assert (await asyncio.wait_for(messages.get(), 3)).data == bytearray(b"\x03")
    assert ws.buffered_amount == 0

    closes = []
    ws.onclose = lambda event: closes.append(event)
    ws.close(1000, "done")
    assert ws.ready_state == ws.CLOSING
    event = await asyncio.wait_for(ws.wait_closed(), 3)
    assert ws.ready_state == ws.CLOSED
    assert closes == [event]
    assert (event.code, event.reason, event.was_clean) == (1000, "", True) or event.code == 1000
    assert event.was_clean
    ws.send("after close is discarded")  # no error, as in the browser
    assert events.count("listener") == 3


async def test_browser_api_close_rules(serve_ws, impl_name):
    server = await serve_ws(echo)
    ws = wsfast.WebSocket(server.uri, implementation=impl_name)
    opened = asyncio.Event()
    ws.onopen = lambda e: opened.set()
    await asyncio.wait_for(opened.wait(), 3)
    for code in (999, 1001, 1005, 2999, 5000):
        with pytest.raises(InvalidCloseCode):
            ws.close(code)
    with pytest.raises(ReasonTooLong):
        ws.close(1000, "é" * 62)
    ws.close(4000, "x" * 123)
    event = await asyncio.wait_for(ws.wait_closed(), 3)
    assert event.was_clean and event.code == 4000


async def test_browser_api_server_close_and_coroutine_handlers(serve_ws, impl_name):
    server = await serve_ws(echo)
    ws = wsfast.WebSocket(server.uri, implementation=impl_name)
    seen = []

    async def onopen(event):
        await asyncio.sleep(0)
        ws.send("close-4001")

    async def onclose(event):
        seen.append((event.code, event.reason, event.was_clean))

    ws.onopen = onopen
    ws.onclose = onclose
    await asyncio.wait_for(ws.wait_closed(), 3)
    await asyncio.sleep(0.01)
    assert seen == [(4001, "asked", True)]


async def test_browser_api_connection_refused(impl_name):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ws = wsfast.WebSocket(f"ws://127.0.0.1:{port}/", implementation=impl_name)
    kinds = []
    ws.onerror = lambda e: kinds.append("error")
    ws.onclose = lambda e: kinds.append(("close", e.code, e.was_clean))
    await asyncio.wait_for(ws.wait_closed(), 3)
    assert kinds == ["error", ("close", 1006, False)]
    assert ws.ready_state == ws.CLOSED


async def test_browser_api_close_without_code_sends_no_status(serve_ws, impl_name):
    seen = {}

    async def handler(ws):
        try:
            await ws.recv()
        except wsfast.ConnectionClosed as exc:
            seen["code"] = exc.code

    server = await serve_ws(handler)
    ws = wsfast.WebSocket(server.uri, implementation=impl_name)
    opened = asyncio.Event()
    ws.onopen = lambda e: opened.set()
    await asyncio.wait_for(opened.wait(), 3)
    ws.close()
    event = await asyncio.wait_for(ws.wait_closed(), 3)
    assert event.code == 1005
    await asyncio.sleep(0.05)
    assert seen["code"] == 1005
