"""The delivery contract (SECURITY.md): every message passed to a completed ``send`` is
written before a clean close, or its loss is reported (an exception, ``close_code`` 1006,
``unsent_bytes``, ``skipped_messages``). Shutdown included."""
from __future__ import annotations

import asyncio

import pytest

import wsfast
from wsfast.exceptions import ConnectionClosedOK

from relpeer import Raw, pin_send_buffer, request, wait_for

KiB = 1024
MiB = 1024 * KiB


async def test_clean_close_after_a_burst_delivers_every_message_server_to_client(server, impl_name):
    async def handler(ws):
        await ws.recv()
        for i in range(5000):
            ws.send_nowait(f"m{i}")  # no awaiting: all of it sits in buffers at close time
        await ws.close(1000, "done")

    srv = await server(handler, write_limit=16 * KiB)
    got = []
    async with wsfast.connect(f"ws://127.0.0.1:{srv.port()}/", implementation=impl_name) as ws:
        await ws.send("go")
        with pytest.raises(ConnectionClosedOK) as info:
            while True:
                got.append(await ws.recv())
    assert got == [f"m{i}" for i in range(5000)]
    assert (info.value.code, info.value.reason) == (1000, "done")


async def test_clean_close_after_a_burst_delivers_every_message_client_to_server(server, impl_name):
    got = []

    async def handler(ws):
        async for message in ws:
            got.append(message)

    srv = await server(handler)
    async with wsfast.connect(f"ws://127.0.0.1:{srv.port()}/", implementation=impl_name,
                              write_limit=16 * KiB) as ws:
        for i in range(5000):
            await ws.send(f"c{i}")
    await wait_for(lambda: not srv.connections)
    assert got == [f"c{i}" for i in range(5000)]


async def test_shutdown_delivers_what_was_sent_before_the_1001(impl_name):
    sent = {}
    ready = asyncio.Event()

    async def handler(ws):
        for i in range(2000):
            await ws.send(f"s{i}")
        sent[ws] = 2000
        if len(sent) == 3:
            ready.set()
        await ws.wait_closed()

    srv = await wsfast.serve(handler, "127.0.0.1", 0, implementation=impl_name, close_timeout=2)
    uri = f"ws://127.0.0.1:{srv.port()}/"
    clients = [await wsfast.connect(uri, implementation=impl_name) for _ in range(3)]
    await asyncio.wait_for(ready.wait(), 30)
    srv.close()
    results = []
    for ws in clients:
        got = []
        with pytest.raises(ConnectionClosedOK) as info:
            while True:
                got.append(await ws.recv())
        results.append((len(got), got[-1], info.value.code))
    await asyncio.wait_for(srv.wait_closed(), 30)
    assert results == [(2000, "s1999", 1001)] * 3


async def _stuck_connection(server_factory, **options):
    """A server connection whose peer never reads, with megabytes waiting to be written:
    its kernel send buffer is pinned (32 KiB) and the peer's receive buffer is 4 KiB, so
    the kernel holds a few dozen KiB of the 8 MiB on any machine, whatever tcp_wmem's
    autotuning would allow; returned once the connection's transport holds the rest (the
    kernel took what it could and refused more)."""
    conns = []

    async def handler(ws):
        pin_send_buffer(ws)
        conns.append(ws)
        for _ in range(64):
            ws.send_nowait(b"u" * 128 * KiB)  # 8 MiB, far more than the pinned kernel buffers
        await ws.wait_closed()

    srv = await server_factory(handler, close_timeout=0.3, compression=None)
    peer = await Raw.open(srv.port(), rcvbuf=4096)
    peer.send(request())
    assert await peer.read_head() == 101
    peer.stop_reading()
    await wait_for(lambda: conns)
    conn = conns[0]
    await wait_for(lambda: conn.transport.get_write_buffer_size() > 7 * MiB,
                   what="the server's transport to hold what the kernel refused")
    return srv, conn, peer


async def test_abort_at_close_timeout_reports_unsent_bytes(server):
    srv, conn, peer = await _stuck_connection(server)
    await conn.close()  # the close frame is queued behind 8 MiB; the peer never reads
    assert conn.closed
    print(f"aborted at close_timeout: unsent_bytes={conn.unsent_bytes}")
    assert 7 * MiB < conn.unsent_bytes <= 8 * MiB + 1024
    assert conn.close_code == 1006
    peer.reset()


async def test_shutdown_reports_unsent_bytes_of_aborted_connections(server):
    srv, conn, peer = await _stuck_connection(server)
    srv.close()
    await asyncio.wait_for(srv.wait_closed(), 30)
    assert conn.closed
    assert conn.unsent_bytes > 7 * MiB
    peer.reset()


async def test_clean_close_reports_zero_unsent_bytes(server, impl_name):
    conns = []

    async def handler(ws):
        conns.append(ws)
        async for message in ws:
            await ws.send(message)

    srv = await server(handler)
    async with wsfast.connect(f"ws://127.0.0.1:{srv.port()}/", implementation=impl_name) as ws:
        await ws.send("x")
        assert await ws.recv() == "x"
    await wait_for(lambda: conns and conns[0].closed)
    assert getattr(conns[0], "unsent_bytes", 0) == 0
    assert conns[0].close_code == 1000


async def test_broadcast_counts_skipped_messages_per_connection(server):
    srv, conn, peer = await _stuck_connection(server)
    result = wsfast.broadcast([conn], "skipped?")
    assert result.skipped == 1
    result = wsfast.broadcast([conn], "skipped again")
    assert conn.skipped_messages == 2
    peer.reset()
