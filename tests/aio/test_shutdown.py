"""Graceful shutdown: 503 for handshakes in progress, 1001 for open connections, nothing lost."""
from __future__ import annotations

import asyncio

import pytest

import wsfast
from rawpeer import RawPeer
from waiting import wait_for, wait_until


async def test_shutdown_sends_1001_and_delivers_queued_messages(impl_name):
    started = asyncio.Event()

    async def handler(ws):
        for i in range(100):
            await ws.send(f"msg {i}")
        started.set()
        await ws.wait_closed()

    server = await wsfast.serve(handler, "127.0.0.1", 0, implementation=impl_name, close_timeout=2)
    port = server.port()
    async with wsfast.connect(f"ws://127.0.0.1:{port}/", implementation=impl_name) as ws:
        await started.wait()
        server.close()
        await server.wait_closed()
        received = [m async for m in ws]
        assert received == [f"msg {i}" for i in range(100)]
        assert ws.close_code == 1001


async def test_shutdown_answers_pending_handshake_with_503(impl_name, monkeypatch):
    async def handler(ws):
        await ws.wait_closed()

    from wsfast.handshake import ServerHandshake

    fed: list[bytes] = []  # what the server's handshake parser has read
    receive_data = ServerHandshake.receive_data

    def spy(self, data):
        fed.append(bytes(data))
        return receive_data(self, data)

    monkeypatch.setattr(ServerHandshake, "receive_data", spy)
    server = await wsfast.serve(handler, "127.0.0.1", 0, implementation=impl_name, close_timeout=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port())
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # incomplete request
    # Closing before the server read those bytes would reset the connection (unread data).
    await wait_until(lambda: fed, "the server to read the incomplete request")
    server.close()
    data = await wait_for(reader.read(), "the server to answer and close")
    assert data.startswith(b"HTTP/1.1 503")
    await server.wait_closed()
    writer.close()


async def test_shutdown_aborts_unresponsive_peers_after_close_timeout(impl_name):
    async def handler(ws):
        await ws.wait_closed()

    server = await wsfast.serve(handler, "127.0.0.1", 0, implementation=impl_name, close_timeout=0.3)
    peer = await RawPeer.connect(server.port())
    await wait_until(lambda: server.connections, "the server to register the connection")
    server.close()
    # close_timeout=0.3 against a default of 10 s: done before 5 s means the option was used.
    await wait_for(server.wait_closed(), "the server to abort the silent peer after close_timeout", timeout=5)
    code, _ = await peer.read_close()
    assert code == 1001
    assert await peer.at_eof()
    assert not server.connections


async def test_serve_forever_and_context_manager(impl_name):
    async def echo(ws):
        async for m in ws:
            await ws.send(m)

    async with wsfast.serve(echo, "127.0.0.1", 0, implementation=impl_name) as server:
        task = asyncio.ensure_future(server.serve_forever())
        async with wsfast.connect(f"ws://127.0.0.1:{server.port()}/", implementation=impl_name) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert server.closing
