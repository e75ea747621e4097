"""wsfast.WebSocket, the browser's interface: readyState, events, send/close rules."""
from __future__ import annotations

import asyncio

import pytest

import wsfast
from wsfast.exceptions import InvalidCloseCode, InvalidState, ReasonTooLong
from waiting import wait_for, wait_until


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
    await wait_for(opened.wait(), "the open")
    assert ws.ready_state == ws.OPEN == 1
    assert ws.readyState == 1
    assert ws.protocol == "chat"
    assert "permessage-deflate" in ws.extensions
    assert ws.url == server.uri

    ws.send("text ☃")
    event = await wait_for(messages.get(), "the next message event")
    assert event.data == "text ☃" and event.type == "message"
    assert event.origin == server.uri.rstrip("/")
    ws.send(b"\x01\x02")
    assert (await wait_for(messages.get(), "the next message event")).data == b"\x01\x02"
    ws.binary_type = "bytearray"
    ws.send(b"\x03")
    assert (await wait_for(messages.get(), "the next message event")).data == bytearray(b"\x03")
    assert ws.buffered_amount == 0

    closes = []
    ws.onclose = lambda event: closes.append(event)
    ws.close(1000, "done")
    assert ws.ready_state == ws.CLOSING
    event = await wait_for(ws.wait_closed(), "the close")
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
    await wait_for(opened.wait(), "the open")
    for code in (999, 1001, 1005, 2999, 5000):
        with pytest.raises(InvalidCloseCode):
            ws.close(code)
    with pytest.raises(ReasonTooLong):
        ws.close(1000, "é" * 62)
    ws.close(4000, "x" * 123)
    event = await wait_for(ws.wait_closed(), "the close")
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
    await wait_for(ws.wait_closed(), "the server's close")
    await wait_until(lambda: seen, "the onclose coroutine to run")
    assert seen == [(4001, "asked", True)]


async def test_browser_api_connection_refused(impl_name):
    import socket

    with socket.socket() as s:
        # Bound but not listening for the whole test: connections to it are refused, and no
        # other process can take the port meanwhile.
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        ws = wsfast.WebSocket(f"ws://127.0.0.1:{port}/", implementation=impl_name)
        kinds = []
        ws.onerror = lambda e: kinds.append("error")
        ws.onclose = lambda e: kinds.append(("close", e.code, e.was_clean))
        await wait_for(ws.wait_closed(), "the refused connection to close")
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
    await wait_for(opened.wait(), "the open")
    ws.close()
    event = await wait_for(ws.wait_closed(), "the closing handshake")
    assert event.code == 1005
    await wait_until(lambda: "code" in seen, "the server's recv() to raise ConnectionClosed")
    assert seen["code"] == 1005
