"""wsfast.asgi.WSFastProtocol under uvicorn: a FastAPI app driven by wsfast's and websockets'
clients, on both kernel twins."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect

import wsfast
from wsfast.asgi import WSFastProtocol

from .asgi_app import EVENTS, make_app, noaccept_app
from .procs import ENV
from .uvicorn_util import running_uvicorn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


# Deadlines are for hangs only; each one that expires fails with what it waited for.
HANG = 30.0


async def wait_for_event(predicate, timeout=HANG):
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in EVENTS if predicate(e)]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"event not seen within {timeout:g} s; events: {EVENTS}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def server(implementation):
    EVENTS.clear()
    async with running_uvicorn(make_app(), WSFastProtocol.configure(implementation=implementation)) as (srv, port):
        yield port


async def test_messages_both_types_wsfast_client(server):
    async with wsfast.connect(f"ws://127.0.0.1:{server}/echo") as ws:
        assert ws.response.headers["server"] == "uvicorn"
        assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
        for message in ["hello", "☃" * 1000, b"\x00\xff" * 10, b"", "", b"x" * 300_000]:
            await ws.send(message)
            assert await ws.recv() == message
        await ws.send(["frag", "mented"])  # a fragmented message arrives whole
        assert await ws.recv() == "fragmented"
        assert await ws.ping() >= 0
    code = await wait_for_event(lambda e: e[0] == "/echo")
    assert code == ("/echo", "disconnect", 1000, "")


async def test_messages_both_types_websockets_client(server):
    async with ws_connect(f"ws://127.0.0.1:{server}/echo") as ws:
        for message in ["hello", "é" * 70_000, b"\x01\x02", b"y" * 200_000]:
            await ws.send(message)
            assert await ws.recv() == message
        await ws.close(4321, "client says bye ☃")
    assert await wait_for_event(lambda e: e[0] == "/echo") == ("/echo", "disconnect", 4321, "client says bye ☃")


async def test_pipelined_burst_keeps_order(server):
    async with wsfast.connect(f"ws://127.0.0.1:{server}/echo", compression=None) as ws:
        for i in range(500):
            ws.send_nowait(f"m{i}")
        assert [await ws.recv() for _ in range(500)] == [f"m{i}" for i in range(500)]


async def test_subprotocol_and_headers(server):
    async with wsfast.connect(f"ws://127.0.0.1:{server}/subprotocol", subprotocols=["v2.test", "v1.test"]) as ws:
        assert ws.subprotocol == "v2.test"
        assert ws.response.headers["x-wsfast-test"] == "yes"
        assert await ws.recv() == "chose v2.test of v2.test,v1.test"
    async with ws_connect(f"ws://127.0.0.1:{server}/subprotocol", subprotocols=["chat"]) as ws:
        assert ws.subprotocol == "chat"
        assert await ws.recv() == "chose chat of chat"


async def test_server_closes_with_code_and_reason(server):
    ws = await wsfast.connect(f"ws://127.0.0.1:{server}/close")
    await ws.send("4001 done here ☃")
    with pytest.raises(wsfast.ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), HANG)
    assert (info.value.code, info.value.reason) == (4001, "done here ☃")
    # After its close, the app's next receive() is the disconnect, with the client's answer
    # (which echoes the code and the reason).
    assert await wait_for_event(lambda e: e[0] == "/close") == ("/close", "websocket.disconnect", 4001, "done here ☃")

    async with ws_connect(f"ws://127.0.0.1:{server}/close") as ws2:
        await ws2.send("1000 normal")
        with pytest.raises(websockets.ConnectionClosedOK):
            await ws2.recv()
        assert (ws2.close_code, ws2.close_reason) == (1000, "normal")


async def test_denial_response_and_reject(server):
    with pytest.raises(wsfast.InvalidStatus) as info:
        await wsfast.connect(f"ws://127.0.0.1:{server}/deny")
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.body.decode() == "no entry ☃"
    with pytest.raises(websockets.InvalidStatus) as info2:
        await ws_connect(f"ws://127.0.0.1:{server}/deny")
    assert info2.value.response.status_code == 401
    with pytest.raises(wsfast.InvalidStatus) as info3:
        await wsfast.connect(f"ws://127.0.0.1:{server}/reject")
    assert info3.value.response.status_code == 403
    with pytest.raises(wsfast.InvalidStatus) as info4:
        await wsfast.connect(f"ws://127.0.0.1:{server}/missing")
    assert info4.value.response.status_code == 403  # Starlette closes unknown routes


async def test_app_error_closes_1011(server):
    ws = await wsfast.connect(f"ws://127.0.0.1:{server}/crash")
    await ws.send("go")
    with pytest.raises(wsfast.ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), HANG)
    assert info.value.code == 1011


async def test_scope(server):
    async with wsfast.connect(f"ws://127.0.0.1:{server}/query?a=1&b=%20") as ws:
        scope = json.loads(await ws.recv())
    assert scope["path"] == "/query" and scope["query"] == "a=1&b=%20"
    assert scope["scheme"] == "ws" and scope["client"][0] == "127.0.0.1"
    assert scope["spec"] == "2.4"
    assert "wsfast.asgi.uvicorn_protocol" in scope["protocol"]  # served by WSFastProtocol, not uvicorn's own


async def test_plain_http_and_bad_upgrade(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"plain HTTP still works" in await asyncio.wait_for(reader.read(), HANG)
    writer.close()
    # Upgrade: websocket without a key: wsfast's handshake answers 400 without calling the app.
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = await asyncio.wait_for(reader.read(), HANG)
    assert head.startswith(b"HTTP/1.1 400 "), head
    writer.close()


async def test_noaccept_answers_500(implementation):
    async with running_uvicorn(noaccept_app, WSFastProtocol.configure(implementation=implementation)) as (_, port):
        with pytest.raises(wsfast.InvalidStatus) as info:
            await wsfast.connect(f"ws://127.0.0.1:{port}/")
        assert info.value.response.status_code == 500


async def test_server_shutdown_closes_1012(implementation):
    EVENTS.clear()
    async with running_uvicorn(make_app(), WSFastProtocol.configure(implementation=implementation)) as (srv, port):
        ws = await wsfast.connect(f"ws://127.0.0.1:{port}/echo")
        await ws.send("x")
        assert await ws.recv() == "x"
        srv.should_exit = True
        with pytest.raises(wsfast.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), HANG)
        assert info.value.code == 1012
    assert await wait_for_event(lambda e: e[0] == "/echo") == ("/echo", "disconnect", 1012, "")


async def test_no_compression_when_uvicorn_disables_it(implementation):
    async with running_uvicorn(make_app(), WSFastProtocol.configure(implementation=implementation),
                               ws_per_message_deflate=False, ws_max_size=1000) as (_, port):
        async with wsfast.connect(f"ws://127.0.0.1:{port}/echo") as ws:
            assert ws.extensions == []
            await ws.send("a" * 1000)
            assert await ws.recv() == "a" * 1000
            await ws.send("a" * 1001)  # over uvicorn's ws_max_size: 1009
            with pytest.raises(wsfast.ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), HANG)
            assert info.value.code == 1009


def test_uvicorn_command_line_accepts_the_class_string(tmp_path):
    """``uvicorn app:app --ws wsfast.asgi:WSFastProtocol`` serves WebSockets with wsfast."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "asgi_app:app", "--app-dir", str(HERE), "--host", "127.0.0.1",
         "--port", "0", "--ws", "wsfast.asgi:WSFastProtocol", "--lifespan", "off"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=ENV,
    )
    try:
        port = None
        lines = []
        found = threading.Event()

        def read() -> None:  # uvicorn's readiness line, with the port it bound
            nonlocal port
            for line in proc.stdout:
                lines.append(line)
                if "Uvicorn running on" in line:
                    port = int(line.split("http://127.0.0.1:")[1].split()[0])
                    break
            found.set()

        threading.Thread(target=read, daemon=True).start()
        assert found.wait(60), f"uvicorn printed no 'Uvicorn running on' within 60 s: {''.join(lines)}"
        assert port, "".join(lines)

        async def talk():
            async with wsfast.connect(f"ws://127.0.0.1:{port}/echo") as ws:
                await ws.send("via the command line")
                return await ws.recv(), ws.response.headers["server"]

        assert asyncio.run(talk()) == ("via the command line", "uvicorn")
    finally:
        proc.terminate()
        proc.wait(30)
