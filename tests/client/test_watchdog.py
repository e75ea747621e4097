"""Dead-feed detection: ``connect(..., idle_timeout=N)`` and the ``Watchdog`` helper."""
from __future__ import annotations

import asyncio

import pytest

import wsfast
from wsfast.asyncio.watchdog import Watchdog
from wsfast.exceptions import ConnectionClosed, ConnectionClosedError


async def test_idle_timeout_closes_a_quiet_feed(flaky, impl_name):
    server = await flaky(["silent"])
    loop = asyncio.get_running_loop()
    ws = await wsfast.connect(server.uri, implementation=impl_name, idle_timeout=0.15, close_timeout=1)
    assert await ws.recv() == "hello 0"
    got_greeting = ws.last_message
    assert got_greeting > 0 and abs(ws.last_received - got_greeting) < 0.05
    start = loop.time()
    with pytest.raises(ConnectionClosedError) as info:
        await ws.recv()
    assert 0.1 <= loop.time() - start < 1.0
    assert info.value.sent_code == 1011
    assert ws.watchdog.fired == 1
    assert ws.watchdog.idle_for() >= 0.15


async def test_messages_keep_the_watchdog_quiet_pongs_dont(serve_ws, impl_name):
    async def ticker(ws):
        for _ in range(8):
            await ws.send("tick")
            await asyncio.sleep(0.03)
        await ws.wait_closed()  # then quiet, though the link stays up (pongs still flow)

    server = await serve_ws(ticker)
    idle: list[float] = []
    ws = await wsfast.connect(server.uri, implementation=impl_name, idle_timeout=0.12,
                              on_idle=lambda conn, seconds: idle.append(seconds), close_timeout=1)
    for _ in range(8):
        assert await ws.recv() == "tick"
    assert idle == []  # a tick every 30 ms: never idle
    for _ in range(6):  # the link is alive: pings get pongs, but no message arrives
        await ws.ping()
        await asyncio.sleep(0.03)
    await asyncio.sleep(0.1)
    assert idle and all(seconds >= 0.12 for seconds in idle)  # report mode: called, not closed
    assert ws.state is wsfast.State.OPEN
    # Quiet market, live link: recent bytes (pongs), old message.
    assert ws.last_received - ws.last_message >= 0.1
    await ws.close()


async def test_idle_timeout_moves_a_reconnect_loop_on(flaky, impl_name):
    server = await flaky(["silent", "serve"])
    greetings = []
    async for ws in wsfast.connect(server.uri, implementation=impl_name, idle_timeout=0.1, close_timeout=1,
                                   backoff=wsfast.asyncio.reconnect.Backoff(initial=0.01, jitter=0)):
        try:
            greetings.append(await ws.recv())
            if greetings[-1] == "hello 1":
                await ws.close()
                break
            await ws.recv()
        except ConnectionClosed:
            continue
    assert greetings == ["hello 0", "hello 1"]


async def test_watchdog_on_any_connection_by_bytes(serve_ws, connect_ws):
    idle = asyncio.Event()
    watchdogs = []

    async def handler(ws):  # server side: a client that stopped sending
        watchdogs.append(Watchdog(ws, 0.1, on_idle=lambda conn, seconds: idle.set()).start())
        await ws.wait_closed()

    server = await serve_ws(handler)
    ws = await connect_ws(server.uri)
    for _ in range(3):
        await ws.send("x")
        await asyncio.sleep(0.04)
    assert not idle.is_set()
    await asyncio.wait_for(idle.wait(), 1)
    assert watchdogs[0].fired >= 1 and watchdogs[0].idle_for() >= 0.1
    watchdogs[0].stop()
    await ws.close()


def test_watchdog_arguments():
    with pytest.raises(ValueError):
        wsfast.connect("ws://localhost/", idle_timeout=0)
    with pytest.raises(ValueError):
        wsfast.connect("ws://localhost/", max_retries=-1)
