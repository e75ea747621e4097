"""Every server/client option, on loopback: limits, timeouts, hooks, origins, subprotocols."""
from __future__ import annotations

import asyncio
import logging

import pytest

import wsfast
from wsfast import ConnectionClosedError, InvalidStatus
from rawpeer import RawPeer, frame, handshake_request
from waiting import wait_for, wait_until


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
    holder = {}

    async def slow(ws):
        holder["ws"] = ws
        await release.wait()
        async for message in ws:
            await ws.send(message)

    # 4 MiB uncompressed: far more than one read (256 KiB) brings in. The client sends from a
    # task, so nothing depends on how much the kernel's socket buffers absorb meanwhile.
    messages = [f"{i:04d}" * 1024 for i in range(1000)]
    server = await serve_ws(slow, max_queue=4, compression=None)
    async with connect_ws(server.uri, compression=None) as ws:

        async def send_all():
            for message in messages:
                await ws.send(message)

        sender = asyncio.create_task(send_all())
        await wait_until(lambda: "ws" in holder and holder["ws"]._reading_paused,
                         "the server to pause reading at max_queue")
        server_ws = holder["ws"]
        # Reading stopped once 4 messages were queued; the rest waits in the kernel or in the
        # client's buffer. Nothing more is queued while paused.
        queued = len(server_ws._messages)
        assert 4 <= queued < 1000
        for _ in range(3):
            await asyncio.sleep(0)  # let the loop run its pending callbacks: still paused
        assert server_ws._reading_paused and len(server_ws._messages) == queued
        release.set()
        for message in messages:
            assert await wait_for(ws.recv(), "the echo of every message once reading resumed") == message
        await wait_for(sender, "the client to send all 1000 messages")
        assert not server_ws._reading_paused


async def test_write_limit_makes_send_wait(serve_ws, connect_ws):
    # The server sends until its send() waits: how many messages that takes depends on the
    # kernel's socket buffers, so the test counts them instead of assuming a size.
    state = {"sent": 0, "stop": False}

    async def flood(ws):
        state["ws"] = ws
        while not state["stop"]:
            await ws.send(b"z" * 65536)
            state["sent"] += 1
        await ws.send("done")
        await ws.wait_closed()

    server = await serve_ws(flood, write_limit=65536, compression=None)
    async with connect_ws(server.uri, max_queue=1) as ws:
        # The client reads nothing yet: the server's send() is held back by the write limit.
        await wait_until(lambda: "ws" in state and state["ws"]._drain_waiters,
                         "the server's send() to wait for its write buffer to drain")
        server_ws = state["ws"]
        assert server_ws.buffered_amount > 65536
        sent = state["sent"]
        for _ in range(3):
            await asyncio.sleep(0)
        assert state["sent"] == sent  # still waiting: nothing was read
        state["stop"] = True
        received = 0
        while (message := await wait_for(ws.recv(), "the rest of the flood and 'done'")) != "done":
            assert len(message) == 65536
            received += 1
        assert received == state["sent"] >= sent


async def test_buffered_amount_grows_when_peer_does_not_read(serve_ws):
    holder = {}

    async def handler(ws):
        holder["ws"] = ws
        await ws.wait_closed()

    server = await serve_ws(handler)
    peer = await RawPeer.connect(server.port())
    peer.writer.transport.pause_reading()
    await wait_until(lambda: "ws" in holder, "the server's handler to start")
    ws = holder["ws"]
    # However much the kernel's socket buffers absorb, some send leaves bytes in wsfast's.
    for sends in range(1, 16385):  # at most 1 GiB
        ws.send_nowait(b"q" * 65536)
        if ws.buffered_amount > 0:
            break
    assert ws.buffered_amount > 0, f"{sends} sends of 64 KiB all went into the kernel"
    peer.close()


async def test_open_timeout_closes_idle_client(serve_ws):
    server = await serve_ws(echo, open_timeout=0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port())
    writer.write(b"GET / HTTP/1.1\r\n")  # then nothing
    assert await wait_for(reader.read(), "the server to drop a handshake idle past open_timeout") == b""
    writer.close()


async def test_close_timeout_when_peer_never_answers(serve_ws):
    closed = asyncio.Event()

    async def handler(ws):
        await ws.close(1000)  # the raw peer never answers
        closed.set()

    # close_timeout=0.3 against a default of 10 s: a close() that returns before 5 s used the
    # option (a bound no loaded machine comes near), and the server dropped the TCP connection.
    assert wsfast.asyncio.options.ConnectionOptions().close_timeout >= 10
    server = await serve_ws(handler, close_timeout=0.3)
    peer = await RawPeer.connect(server.port())
    code, _ = await peer.read_close()
    assert code == 1000
    await wait_for(closed.wait(), "close() to give up on the silent peer", timeout=5)
    assert await wait_for(peer.at_eof(), "the server to drop the TCP connection")


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
    await wait_until(lambda: "sent" in ended, "the handler's recv() to raise ConnectionClosed")
    assert ended["sent"][0] == 1011


async def test_keepalive_answered_keeps_connection(serve_ws, connect_ws):
    # ping_timeout is generous (a stalled loop must not fail the test); the rounds are counted.
    # Rounds follow ping_interval, not ping_timeout: four of them long before 25 s.
    server = await serve_ws(echo, ping_interval=0.05, ping_timeout=25)
    pings: list[bytes] = []
    echoed: asyncio.Queue = asyncio.Queue()

    class Client:
        def on_ping(self, ws, payload):
            pings.append(payload)

        def on_message(self, ws, message, opcode):
            echoed.put_nowait(message)

    async with connect_ws(server.uri, ping_interval=None, callbacks=Client()) as ws:
        await wait_until(lambda: len(pings) >= 4, "four keepalive rounds answered by the client", timeout=20)
        assert len(set(pings)) == len(pings)  # each round is a new ping
        ws.send_nowait("still here")
        assert await wait_for(echoed.get(), "the echo after the keepalive rounds") == "still here"
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
    data = await wait_for(reader.read(), "the server to answer and close")
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
        data = await wait_for(reader.read(), "the server to answer and close")
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
