"""Every server/client option, on loopback: limits, timeouts, hooks, origins, subprotocols."""
from __future__ import annotations

import asyncio
import logging

import pytest

import wsfast
from wsfast import ConnectionClosedError, InvalidStatus
from rawpeer import RawPeer, frame, handshake_request


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def test_max_size_closes_with_1009(serve_ws, connect_ws):
    server = await serve_ws(echo, max_size=1000)
    async with connect_ws(server.uri) as ws:
        await ws.send(b"x" * 1000)
        assert await ws.recv() == b"x" * 1000
        await ws.send(b"x" * 1001)
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.code == 1009


async def test_client_max_size(serve_ws, connect_ws):
    server = await serve_ws(echo)
    async with connect_ws(server.uri, max_size=10) as ws:
        await ws.send(b"x" * 11)
        with pytest.raises(ConnectionClosedError):
            await ws.recv()
        assert ws.close_code == 1006 or ws._proto.close_sent[0] == 1009


async def test_max_fragments(serve_ws):
    server = await serve_ws(echo, max_fragments=4)
    peer = await RawPeer.connect(server.port())
    peer.send(b"".join(frame(2, b"a", fin=False) if i == 0 else frame(0, b"a", fin=False) for i in range(5)))
    code, _ = await peer.read_close()
    assert code == 1009
    peer.close()


async def test_max_queue_pauses_reading(serve_ws, connect_ws):
    release = asyncio.Event()
    queued = {}

    async def slow(ws):
        await release.wait()
        queued["n"] = len(ws._messages)
        queued["paused"] = ws._reading_paused
        async for message in ws:
            await ws.send(message)

    # 4 MiB uncompressed: far more than one read (256 KiB) brings in.
    messages = [f"{i:04d}" * 1024 for i in range(1000)]
    server = await serve_ws(slow, max_queue=4, compression=None)
    async with connect_ws(server.uri, compression=None) as ws:
        for message in messages:
            await ws.send(message)
        await asyncio.sleep(0.3)
        release.set()
        for message in messages:
            assert await ws.recv() == message
    # Reading stopped once 4 messages were queued; the rest waited in the kernel.
    assert queued["paused"] is True
    assert 4 <= queued["n"] < 1000


async def test_write_limit_makes_send_wait(serve_ws, connect_ws):
    sent = asyncio.Event()

    # Loopback socket buffers hold several MiB, so send far more than they can absorb.
    count = 400

    async def flood(ws):
        for _ in range(count):
            await ws.send(b"z" * 65536)
        sent.set()
        await ws.wait_closed()

    server = await serve_ws(flood, write_limit=65536, compression=None)
    async with connect_ws(server.uri, max_queue=1) as ws:
        await asyncio.sleep(0.3)
        # The client reads nothing yet: the server's sends are held back by the write limit.
        assert not sent.is_set()
        for _ in range(count):
            assert len(await ws.recv()) == 65536
        await asyncio.wait_for(sent.wait(), 5)


async def test_buffered_amount_grows_when_peer_does_not_read(serve_ws):
    holder = {}

    async def handler(ws):
        holder["ws"] = ws
        await ws.wait_closed()

    server = await serve_ws(handler)
    peer = await RawPeer.connect(server.port())
    peer.writer.transport.pause_reading()
    await asyncio.sleep(0.05)
    ws = holder["ws"]
    for _ in range(200):
        ws.send_nowait(b"q" * 65536)
    assert ws.buffered_amount > 0
    peer.close()


async def test_open_timeout_closes_idle_client(serve_ws):
    server = await serve_ws(echo, open_timeout=0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port())
    writer.write(b"GET / HTTP/1.1\r\n")  # then nothing
    async with asyncio.timeout(3):
        assert await reader.read() == b""
    writer.close()


async def test_close_timeout_when_peer_never_answers(serve_ws):
    closed = asyncio.Event()

    async def handler(ws):
        await ws.close(1000)  # the raw peer never answers
        closed.set()

    server = await serve_ws(handler, close_timeout=0.3)
    peer = await RawPeer.connect(server.port())
    code, _ = await peer.read_close()
    assert code == 1000
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.wait_for(closed.wait(), 3)
    assert loop.time() - t0 < 2
    assert await peer.at_eof()


async def test_keepalive_ping_timeout_closes_with_1011(serve_ws):
    ended = {}

    async def handler(ws):
        try:
            await ws.recv()
        except wsfast.ConnectionClosed:
            ended["sent"] = ws._proto.close_sent

    server = await serve_ws(handler, ping_interval=0.2, ping_timeout=0.2)
    peer = await RawPeer.connect(server.port())
    opcode, _ = await peer.read_frame()
    assert opcode == 9  # a keepalive ping, which the raw peer ignores
    code, _ = await peer.read_close()
    assert code == 1011
    assert await peer.at_eof()
    await asyncio.sleep(0.05)
    assert ended["sent"][0] == 1011


async def test_keepalive_answered_keeps_connection(serve_ws, connect_ws):
    server = await serve_ws(echo, ping_interval=0.1, ping_timeout=0.2)
    async with connect_ws(server.uri, ping_interval=None) as ws:
        await asyncio.sleep(0.8)  # several keepalive rounds, answered by the client
        await ws.send("still here")
        assert await ws.recv() == "still here"
        assert ws.latency == 0  # the client itself sent no ping


async def test_origins_allow_list(serve_ws, connect_ws):
    server = await serve_ws(echo, origins=["https://good.example"])
    async with connect_ws(server.uri, origin="https://good.example") as ws:
        await ws.send("ok")
        assert await ws.recv() == "ok"
    with pytest.raises(InvalidStatus) as info:
        await connect_ws(server.uri, origin="https://evil.example")
    assert info.value.response.status_code == 403


async def test_subprotocols_and_select_hook(serve_ws, connect_ws):
    async def handler(ws):
        await ws.send(ws.subprotocol or "none")

    server = await serve_ws(handler, subprotocols=["chat", "superchat"])
    async with connect_ws(server.uri, subprotocols=["superchat", "chat"]) as ws:
        assert ws.subprotocol == "superchat"
        assert await ws.recv() == "superchat"
    async with connect_ws(server.uri, subprotocols=["other"]) as ws:
        assert ws.subprotocol is None

    def pick_last(connection_or_offered, *args):
        offered = args[0] if args else connection_or_offered
        return offered[-1] if offered else None

    server2 = await serve_ws(handler, subprotocols=["a", "b"], select_subprotocol=pick_last)
    async with connect_ws(server2.uri, subprotocols=["a", "b"]) as ws:
        assert ws.subprotocol == "b"


async def test_process_request_answers_http(serve_ws, connect_ws):
    def process_request(connection, request):
        if request.path == "/health":
            return connection.respond(200, "OK\n")
        if request.headers.get("Authorization") != "Bearer secret":
            return connection.respond(401, "no\n", [("WWW-Authenticate", "Bearer")])
        return None

    server = await serve_ws(echo, process_request=process_request)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port())
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 3)
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"OK\n")
    writer.close()
    with pytest.raises(InvalidStatus) as info:
        await connect_ws(server.uri)
    assert info.value.response.status_code == 401
    async with connect_ws(server.uri, additional_headers=[("Authorization", "Bearer secret")]) as ws:
        await ws.send("in")
        assert await ws.recv() == "in"


async def test_async_process_request(serve_ws, connect_ws):
    async def process_request(connection, request):
        await asyncio.sleep(0.01)
        return connection.respond(404, "not here\n") if request.path != "/" else None

    server = await serve_ws(echo, process_request=process_request)
    with pytest.raises(InvalidStatus) as info:
        await connect_ws(server.uri + "missing")
    assert info.value.response.status_code == 404
    async with connect_ws(server.uri) as ws:
        await ws.send("x")
        assert await ws.recv() == "x"


@pytest.mark.parametrize("server_compression", ["deflate", None])
@pytest.mark.parametrize("client_compression", ["deflate", None])
async def test_compression_switch(serve_ws, connect_ws, server_compression, client_compression):
    server = await serve_ws(echo, compression=server_compression)
    async with connect_ws(server.uri, compression=client_compression) as ws:
        negotiated = bool(ws.extensions)
        assert negotiated == (server_compression == client_compression == "deflate")
        message = "compress me " * 500
        await ws.send(message)
        assert await ws.recv() == message


async def test_handler_exception_closes_1011_and_server_goes_on(serve_ws, connect_ws, caplog):
    async def broken(ws):
        await ws.recv()
        raise ValueError("boom")

    server = await serve_ws(broken)
    with caplog.at_level(logging.ERROR, logger="wsfast"):
        for _ in range(2):
            async with connect_ws(server.uri) as ws:
                await ws.send("trigger")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.code == 1011
    assert any("boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_quiet_by_default(serve_ws, connect_ws, caplog):
    server = await serve_ws(echo)
    with caplog.at_level(logging.WARNING, logger="wsfast"):
        async with connect_ws(server.uri) as ws:
            await ws.send("x")
            await ws.recv()
    assert not [r for r in caplog.records if r.name.startswith("wsfast")]


async def test_bad_handshake_gets_status(serve_ws):
    server = await serve_ws(echo)
    for request, status in [
        (handshake_request().replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"), b"426"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 500 + b"\r\n", b"431"),
    ]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port())
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), 3)
        assert data.split(b" ")[1] == status, data[:100]
        writer.close()


async def test_frames_pipelined_behind_request(serve_ws):
    server = await serve_ws(echo)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port())
    writer.write(handshake_request() + frame(1, b"early") + frame(1, b"bird"))
    await reader.readuntil(b"\r\n\r\n")
    peer = RawPeer(reader, writer)
    assert await peer.read_frame() == (1, b"early")
    assert await peer.read_frame() == (1, b"bird")
    peer.close()
