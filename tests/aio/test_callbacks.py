"""The callback handler style: on_open / on_message / on_close, no task per message."""
from __future__ import annotations

import asyncio

import wsfast
from wsfast import Opcode
from waiting import wait_for, wait_until


class Echo:
    def __init__(self):
        self.opened = 0
        self.closed = []

    def on_open(self, ws):
        self.opened += 1

    def on_message(self, ws, message, opcode):
        ws.send_nowait(message)

    def on_close(self, ws, code, reason):
        self.closed.append((code, reason))


async def test_callback_echo(serve_ws, connect_ws):
    handler = Echo()
    server = await serve_ws(handler)
    async with connect_ws(server.uri) as ws:
        await ws.send("cb ☃")
        assert await ws.recv() == "cb ☃"
        await ws.send(b"\x00bin")
        assert await ws.recv() == b"\x00bin"
        for i in range(100):
            ws.send_nowait(str(i))
        for i in range(100):
            assert await ws.recv() == str(i)
    await wait_until(lambda: handler.closed, "the server's on_close")
    assert handler.opened == 1
    assert handler.closed == [(1000, "")]


async def test_callback_runs_without_tasks(serve_ws, connect_ws):
    counts = []

    class Count:
        def on_message(self, ws, message, opcode):
            counts.append(len(asyncio.all_tasks()))
            ws.send_nowait(message)

    server = await serve_ws(Count())
    async with connect_ws(server.uri) as ws:
        before = len(asyncio.all_tasks())
        for i in range(50):
            await ws.send(b"x")
            await ws.recv()
    # No task was created for the server connection or per message.
    assert max(counts) <= before


async def test_callback_class_is_instantiated_per_connection(serve_ws, connect_ws):
    instances = []

    class PerConnection:
        def __init__(self):
            instances.append(self)
            self.count = 0

        def on_message(self, ws, message, opcode):
            self.count += 1
            ws.send_nowait(str(self.count))

    server = await serve_ws(PerConnection)
    async with connect_ws(server.uri) as a, connect_ws(server.uri) as b:
        await a.send("x")
        await a.send("x")
        await b.send("x")
        assert [await a.recv(), await a.recv(), await b.recv()] == ["1", "2", "1"]
    assert len(instances) == 2


async def test_callback_opcodes(serve_ws, connect_ws):
    seen = []

    class Record:
        def on_message(self, ws, message, opcode):
            seen.append((type(message), opcode))
            ws.send_nowait("ack")

    server = await serve_ws(Record(), decode=False)
    async with connect_ws(server.uri) as ws:
        await ws.send("t")
        await ws.recv()
        await ws.send(b"b")
        await ws.recv()
    assert seen == [(bytes, Opcode.TEXT), (bytes, Opcode.BINARY)]


async def test_callback_exception_closes_1011(serve_ws, connect_ws):
    class Broken:
        def on_message(self, ws, message, opcode):
            raise RuntimeError("callback failed")

    server = await serve_ws(Broken())
    async with connect_ws(server.uri) as ws:
        await ws.send("x")
        try:
            await ws.recv()
        except wsfast.ConnectionClosedError as exc:
            assert exc.code == 1011
    async with connect_ws(server.uri) as ws:  # the server is still serving
        assert ws.state is wsfast.State.OPEN


async def test_callback_client(serve_ws, impl_name):
    async def echo(ws):
        async for m in ws:
            await ws.send(m)

    server = await serve_ws(echo)
    got = asyncio.Queue()

    class Client:
        def on_open(self, ws):
            ws.send_nowait("hello from on_open")

        def on_message(self, ws, message, opcode):
            got.put_nowait(message)

    ws = await wsfast.connect(server.uri, callbacks=Client(), implementation=impl_name)
    assert await wait_for(got.get(), "the message on_open sent") == "hello from on_open"
    await ws.close()


async def test_on_open_routes_by_path(serve_ws, connect_ws):
    class Upper:
        def on_message(self, ws, message, opcode):
            ws.send_nowait(message.upper())

    class Reverse:
        def on_message(self, ws, message, opcode):
            ws.send_nowait(message[::-1])

    class Route:
        def on_open(self, ws):
            # Dispatch goes straight to the chosen handler from now on.
            self.on_message = {"/upper": Upper(), "/reverse": Reverse()}[ws.request.path].on_message

    server = await serve_ws(Route)
    async with connect_ws(server.uri + "upper") as up, connect_ws(server.uri + "reverse") as rev:
        await up.send("abc")
        await rev.send("abc")
        assert await up.recv() == "ABC"
        assert await rev.recv() == "cba"
