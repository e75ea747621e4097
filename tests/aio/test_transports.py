"""Which transport runs under a connection: aiofastnet's compiled one (the default for TCP
servers and wss:// clients when it is installed) or the event loop's, and both carry the
same traffic. Runs on both twins and both loops (the aio conftest's loop factories)."""
from __future__ import annotations

import asyncio
import os
import sys

import pytest

import wsfast
from wsfast.asyncio import aiofastnet_support as fastnet
from waiting import wait_for

aiofastnet = pytest.importorskip("aiofastnet")


@pytest.fixture
def auto_fastnet(monkeypatch):
    """Make "auto" see aiofastnet whatever WSFAST_NO_AIOFASTNET says in this run."""
    monkeypatch.setattr(fastnet, "_MODULE", aiofastnet)


async def _server_transport(serve_ws, **kwargs):
    """Serve, connect once, and return the server side's transport and an echo result."""
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        if not seen.done():
            seen.set_result(ws.transport)
        async for message in ws:
            await ws.send(message)

    server = await serve_ws(handler, **kwargs)
    payload = bytes(range(256)) * 4096  # 1 MiB: more than one socket buffer's worth
    async with wsfast.connect(server.uri, compression=None, max_size=2**21,
                              use_aiofastnet=False) as ws:
        await ws.send(payload)
        echoed = await ws.recv()
        transport = await seen
    return transport, echoed == payload


async def test_server_on_aiofastnet_when_asked(serve_ws, auto_fastnet):
    transport, ok = await _server_transport(serve_ws, compression=None, max_size=2**21,
                                            use_aiofastnet=True)
    assert isinstance(transport, aiofastnet.Transport)
    assert ok


async def test_server_defaults_to_event_loop_transport(serve_ws, auto_fastnet):
    # aiofastnet's transport is 4 KiB bigger per connection: servers don't use it unasked.
    transport, ok = await _server_transport(serve_ws, compression=None, max_size=2**21)
    assert not isinstance(transport, aiofastnet.Transport)
    assert ok


async def test_env_turns_client_auto_off(serve_ws, monkeypatch):
    async def handler(ws):
        await ws.send("x")

    monkeypatch.setenv("WSFAST_NO_AIOFASTNET", "1")
    monkeypatch.setattr(fastnet, "_MODULE", False)  # look it up again under the variable
    server = await serve_ws(handler)
    async with wsfast.connect(server.uri) as ws:
        assert not isinstance(ws.transport, aiofastnet.Transport)
        assert await ws.recv() == "x"
    async with wsfast.connect(server.uri, use_aiofastnet=True) as ws:  # asked: still used
        assert isinstance(ws.transport, aiofastnet.Transport)
        assert await ws.recv() == "x"


async def test_large_messages_on_both_transports(serve_ws, connect_ws):
    """Header and payload written apart (no join) arrive as one intact frame, both ways."""
    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    for use in (False, True):
        server = await serve_ws(echo, compression=None, max_size=2**22, use_aiofastnet=use)
        async with connect_ws(server.uri, compression=None, max_size=2**22) as ws:
            for size in (65535, 65536, 3 * 2**20 + 7):
                payload = os.urandom(size)
                await ws.send(payload)
                assert await ws.recv() == payload
                await ws.send(payload.hex()[:size])  # text of the same size
                assert await ws.recv() == payload.hex()[:size]


async def test_unix_server_keeps_loop_transport(tmp_path, impl_name, auto_fastnet):
    path = str(tmp_path / "ws.sock")
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        seen.set_result(ws.transport)
        await ws.send("hi")

    async with wsfast.unix_serve(handler, path, implementation=impl_name):
        async with wsfast.unix_connect(path, "ws://localhost/") as ws:
            assert await ws.recv() == "hi"
        assert not isinstance(await seen, aiofastnet.Transport)


async def test_client_defaults_to_aiofastnet(serve_ws, auto_fastnet):
    async def handler(ws):
        await ws.send("x")

    server = await serve_ws(handler)
    async with wsfast.connect(server.uri) as ws:
        assert isinstance(ws.transport, aiofastnet.Transport)
        assert await ws.recv() == "x"
    async with wsfast.connect(server.uri, use_aiofastnet=False) as ws:
        assert not isinstance(ws.transport, aiofastnet.Transport)
        assert await ws.recv() == "x"


async def test_explicit_request_without_package_fails(monkeypatch):
    monkeypatch.setattr(fastnet, "_MODULE", None)
    monkeypatch.setitem(sys.modules, "aiofastnet", None)  # import raises ImportError
    with pytest.raises(ImportError, match="aiofastnet"):
        wsfast.serve(lambda ws: None, "127.0.0.1", 0, use_aiofastnet=True)
    with pytest.raises(ImportError, match="aiofastnet"):
        wsfast.connect("ws://127.0.0.1:1/", use_aiofastnet=True)


async def test_write_limit_backpressure_on_aiofastnet(serve_ws, auto_fastnet):
    """send() waits for the drain on the compiled transport too: a client that stops
    reading makes the server's sends block instead of buffering without bound."""
    state = {"sent": 0, "buffered": 0}
    blocked = asyncio.Event()

    async def handler(ws):
        assert isinstance(ws.transport, aiofastnet.Transport)
        chunk = b"x" * 65536
        for _ in range(400):  # 25 MiB if nothing pushed back
            send = asyncio.ensure_future(ws.send(chunk))
            done, _ = await asyncio.wait([send], timeout=0.5)
            if not done:
                state["buffered"] = ws.buffered_amount
                blocked.set()
                send.cancel()
                return
            state["sent"] += 1

    server = await serve_ws(handler, compression=None, write_limit=256 * 1024, use_aiofastnet=True)
    ws = await wsfast.connect(server.uri, compression=None, max_queue=1)
    ws.transport.pause_reading()
    try:
        await wait_for(blocked.wait(), "the sender to block")
    finally:
        ws.abort()
    assert state["sent"] < 400
    assert state["buffered"] <= 256 * 1024 + 65536 + 16


async def test_mixed_batch_keeps_its_order(serve_ws, connect_ws):
    """Sends made in one callback leave in one flush: small frames and large payloads
    (written apart from the rest) arrive complete and in order, on both transports."""
    sizes = [10, 300_000, 0, 5, 1_000_000, 125, 262_144, 1, 70_000]

    class Burst:
        def on_message(self, ws, message, opcode):
            for i, size in enumerate(sizes):
                ws.send_nowait(bytes([i]) * size if i % 2 else "t" * size)

    for use in (False, True):
        server = await serve_ws(Burst, compression=None, use_aiofastnet=use)
        async with connect_ws(server.uri, compression=None) as ws:
            await ws.send("go")
            got = [await ws.recv() for _ in sizes]
        assert got == [bytes([i]) * size if i % 2 else "t" * size for i, size in enumerate(sizes)]
