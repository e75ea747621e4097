"""Messages over loopback: echo of text and binary, fragments, large messages, ping, iteration."""
from __future__ import annotations

import asyncio

import pytest

import wsfast
from wsfast import ConnectionClosedError, ConnectionClosedOK, State


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def test_echo_text_and_binary(serve_ws, connect_ws):
    server = await serve_ws(echo)
    async with connect_ws(server.uri) as ws:
        await ws.send("héllo wörld ☃ 🎉")
        assert await ws.recv() == "héllo wörld ☃ 🎉"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
        await ws.send(bytearray(b"ba"))
        assert await ws.recv() == b"ba"
        await ws.send(memoryview(b"mv"))
        assert await ws.recv() == b"mv"
        await ws.send("")
        assert await ws.recv() == ""
        assert ws.state is State.OPEN


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 1 << 20])
async def test_echo_sizes(serve_ws, connect_ws, size):
    server = await serve_ws(echo, max_size=2 << 20)
    async with connect_ws(server.uri, max_size=2 << 20) as ws:
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        await ws.send(payload)
        assert await ws.recv() == payload
        text = "é" * (size // 2)
        await ws.send(text)
        assert await ws.recv() == text


async def test_fragmented_send_from_iterables(serve_ws, connect_ws):
    server = await serve_ws(echo)
    async with connect_ws(server.uri) as ws:
        await ws.send(["fra", "gmen", "ted ☃"])
        assert await ws.recv() == "fragmented ☃"
        await ws.send([b"a", b"b", b"c"])
        assert await ws.recv() == b"abc"

        async def agen():
            for part in (b"x" * 10, b"y" * 20):
                yield part

        await ws.send(agen())
        assert await ws.recv() == b"x" * 10 + b"y" * 20
        with pytest.raises(TypeError):
            await ws.send(["a", b"b"])


async def test_many_messages_in_order(serve_ws, connect_ws):
    server = await serve_ws(echo)
    async with connect_ws(server.uri) as ws:
        for i in range(1000):
            ws.send_nowait(f"m{i}")
        for i in range(1000):
            assert await ws.recv() == f"m{i}"


async def test_ping_returns_round_trip_time(serve_ws, connect_ws):
    server = await serve_ws(echo)
    async with connect_ws(server.uri) as ws:
        rtt = await ws.ping()
        assert 0 <= rtt < 5
        assert ws.latency == rtt
        rtts = await asyncio.gather(ws.ping(b"a"), ws.ping(b"b"), ws.ping("c"))
        assert all(0 <= r < 5 for r in rtts)


async def test_iteration_ends_on_normal_close(serve_ws, connect_ws):
    async def handler(ws):
        await ws.send("one")
        await ws.send("two")
        await ws.close(1000, "bye")

    server = await serve_ws(handler)
    async with connect_ws(server.uri) as ws:
        received = [m async for m in ws]
        assert received == ["one", "two"]
        assert ws.close_code == 1000
        assert ws.close_reason == "bye"
        assert ws.state is State.CLOSED
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
        with pytest.raises(ConnectionClosedOK):
            await ws.send("late")


async def test_iteration_raises_on_error_close(serve_ws, connect_ws):
    async def handler(ws):
        await ws.close(4001, "custom")

    server = await serve_ws(handler)
    async with connect_ws(server.uri) as ws:
        with pytest.raises(ConnectionClosedError) as info:
            async for _ in ws:
                pass
        assert info.value.code == 4001
        assert info.value.reason == "custom"


async def test_connection_attributes(serve_ws, connect_ws):
    seen = {}

    async def handler(ws):
        seen["path"] = ws.request.path
        seen["ua"] = ws.request.headers.get("User-Agent")
        seen["remote"] = ws.remote_address
        seen["state"] = ws.state
        await ws.send("ok")
        await ws.wait_closed()

    server = await serve_ws(handler)
    async with connect_ws(server.uri + "some/path?x=1") as ws:
        assert await ws.recv() == "ok"
        assert ws.remote_address[:2] == ("127.0.0.1", server.port())
        assert ws.response.status_code == 101
        assert ws.buffered_amount == 0
        assert ws.close_code is None
    assert seen["path"] == "/some/path?x=1"
    assert seen["ua"] == "wsfast"
    assert seen["remote"][0] == "127.0.0.1"
    assert seen["state"] is State.OPEN


async def test_decode_false_gives_validated_bytes(serve_ws, connect_ws):
    server = await serve_ws(echo, decode=False)
    async with connect_ws(server.uri, decode=False) as ws:
        await ws.send("☃ text")
        assert await ws.recv() == "☃ text".encode()


async def test_concurrent_recv_is_an_error(serve_ws, connect_ws):
    server = await serve_ws(echo)
    async with connect_ws(server.uri) as ws:
        first = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await ws.recv()
        await ws.send("x")
        assert await first == "x"


async def test_unix_socket(impl_name, tmp_path):
    path = str(tmp_path / "ws.sock")
    async with wsfast.unix_serve(echo, path, implementation=impl_name):
        async with wsfast.unix_connect(path, implementation=impl_name) as ws:
            await ws.send("over unix")
            assert await ws.recv() == "over unix"


async def test_ipv6_loopback(impl_name):
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = await wsfast.serve(echo, "::1", 0, implementation=impl_name)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    async with server:
        port = server.port()
        async with wsfast.connect(f"ws://[::1]:{port}/", implementation=impl_name) as ws:
            await ws.send("v6")
            assert await ws.recv() == "v6"
