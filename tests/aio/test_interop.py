"""Interop with the peers: websockets' and aiohttp's clients against a wsfast server, and the
wsfast client against websockets' and aiohttp's servers. Text, binary, fragmented, large, ping
and every close path."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
import websockets
from aiohttp import web
from echoes import echo_until
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

import wsfast
from waiting import wait_for

BIG = bytes(range(256)) * 4096  # 1 MiB


wsfast_echo = echo_until("close-me", 4002, "as asked")


async def exchange(ws):
    """Text, binary, a fragmented text and 1 MiB through an echo server: each comes back whole
    (``ws`` is a websockets or a wsfast client: their send and recv agree)."""
    await ws.send("text ☃")
    assert await ws.recv() == "text ☃"
    await ws.send(b"\x00\xff")
    assert await ws.recv() == b"\x00\xff"
    await ws.send(["frag", "ment", "ed"])
    assert await ws.recv() == "fragmented"
    await ws.send(BIG)
    assert await ws.recv() == BIG


# ------------------------------------------------------------- peers' clients -> wsfast


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_websockets_client(serve_ws, compression):
    server = await serve_ws(wsfast_echo, max_size=2 << 20)
    async with ws_connect(server.uri, max_size=2 << 20, compression=compression) as ws:
        await exchange(ws)
        latency = await (await ws.ping())
        assert latency >= 0
        await ws.send("close-me")
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 4002 and info.value.rcvd.reason == "as asked"


@pytest.mark.parametrize("code, reason", [(4005, "client bye"), (4001, "bye ★")])
async def test_websockets_client_closes(serve_ws, code, reason):
    """websockets closes first: wsfast's handler sees its code and reason, and the answer echoes
    both back (websockets' ``close_rcvd``), as websockets and Node's ws answer."""
    seen: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(ws):
        try:
            await ws.recv()
        except wsfast.ConnectionClosed as exc:
            seen.set_result((exc.code, exc.reason))

    server = await serve_ws(handler)
    async with ws_connect(server.uri) as ws:
        await ws.close(code, reason)
    assert (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason) == (code, reason)
    assert await wait_for(seen, "wsfast's handler to see the close") == (code, reason)


async def test_aiohttp_client(serve_ws):
    server = await serve_ws(wsfast_echo, max_size=2 << 20)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.uri, max_msg_size=2 << 20, compress=15) as ws:
            await ws.send_str("text ☃")
            assert (await ws.receive()).data == "text ☃"
            await ws.send_bytes(BIG)
            assert (await ws.receive()).data == BIG
            await ws.ping(b"p")
            await ws.send_str("close-me")
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.CLOSE
            assert msg.data == 4002 and msg.extra == "as asked"


# ------------------------------------------------------------- wsfast client -> peers


async def websockets_server():
    handler = echo_until("close-me", 4003, "peer says bye")
    async with ws_serve(handler, "127.0.0.1", 0, max_size=2 << 20) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


async def aiohttp_server():
    async def handler(request):
        ws = web.WebSocketResponse(max_msg_size=2 << 20, compress=True)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "close-me":
                await ws.close(code=4004, message=b"aiohttp bye")
                break
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}/"
    await runner.cleanup()


@pytest.fixture(params=["websockets", "aiohttp"])
async def peer_uri(request):
    """The URI of an echo server of the peer library named by the parameter."""
    server = {"websockets": websockets_server, "aiohttp": aiohttp_server}[request.param]
    async for uri in server():
        yield uri


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_wsfast_client_against_peer(peer_uri, connect_ws, compression):
    uri = peer_uri
    async with connect_ws(uri, max_size=2 << 20, compression=compression) as ws:
        assert bool(ws.extensions) == (compression == "deflate")
        await exchange(ws)
        assert await ws.ping() >= 0
        await ws.send("close-me")
        with pytest.raises(wsfast.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.code in (4003, 4004)
        assert ws.close_code in (4003, 4004)


async def test_wsfast_client_closes_peer(peer_uri, connect_ws):
    uri = peer_uri
    ws = await connect_ws(uri)
    await ws.send("hi")
    assert await ws.recv() == "hi"
    await ws.close(1000, "done")
    assert ws.state is wsfast.State.CLOSED
    assert ws.close_code == 1000


async def test_wsfast_client_close_is_echoed_by_websockets(connect_ws):
    """wsfast closes first with code and reason: websockets' server sees both and echoes both."""
    seen: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(ws):
        await ws.wait_closed()
        seen.set_result((ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason))

    async with ws_serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        ws = await connect_ws(f"ws://127.0.0.1:{port}/")
        await ws.close(4001, "bye ★")
        assert ws.state is wsfast.State.CLOSED
        assert (ws.close_code, ws.close_reason) == (4001, "bye ★")  # websockets' echo
        assert await wait_for(seen, "websockets' handler to see the close") == (4001, "bye ★")


async def test_wsfast_client_echoes_server_close(connect_ws):
    """A websockets server closes first: the wsfast client's answer carries its code and reason."""
    answer: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(ws):
        await ws.close(4001, "bye ★")
        answer.set_result((ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason))

    async with ws_serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect_ws(f"ws://127.0.0.1:{port}/") as ws:
            with pytest.raises(wsfast.ConnectionClosed) as info:
                await ws.recv()
            assert (info.value.code, info.value.reason) == (4001, "bye ★")
        assert await wait_for(answer, "websockets to get the client's answer") == (4001, "bye ★")
