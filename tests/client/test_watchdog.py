"""Dead-feed detection: ``connect(..., idle_timeout=N)`` and the ``Watchdog`` helper."""
from __future__ import annotations

import asyncio

import pytest

import wsfast
from wsfast.asyncio.watchdog import Watchdog
from wsfast.exceptions import ConnectionClosed, ConnectionClosedError
from waiting import wait_for, wait_until


async def test_idle_timeout_closes_a_quiet_feed(flaky, impl_name):
    server = await flaky(["silent"])
    loop = asyncio.get_running_loop()
    ws = await wsfast.connect(server.uri, implementation=impl_name, idle_timeout=0.15, close_timeout=1)
    assert await ws.recv() == "hello 0"
    got_greeting = ws.last_message
    # Both stamp the greeting's arrival: the read first, then the message it carried.
    assert got_greeting > 0 and 0 <= got_greeting - ws.last_received < 1.0
    with pytest.raises(ConnectionClosedError) as info:
        await wait_for(ws.recv(), "the watchdog to close the quiet feed")
    assert loop.time() - got_greeting >= 0.15  # never before idle_timeout
    assert info.value.sent_code == 1011
    assert ws.watchdog.fired == 1
    assert ws.watchdog.idle_for() >= 0.15


async def test_messages_keep_the_watchdog_quiet_pongs_dont(serve_ws, impl_name):
    async def ticker(ws):
        for _ in range(8):
            await ws.send("tick")
            await asyncio.sleep(0.03)  # pacing: a live feed
        await ws.wait_closed()  # then quiet, though the link stays up (pongs still flow)

    # idle_timeout is 30 times the tick interval: only a stall of a whole second could make
    # the ticking phase look idle.
    idle_timeout = 1.0
    server = await serve_ws(ticker)
    idle: list[float] = []
    ws = await wsfast.connect(server.uri, implementation=impl_name, idle_timeout=idle_timeout,
                              on_idle=lambda conn, seconds: idle.append(seconds), close_timeout=1)
    for _ in range(8):
        assert await ws.recv() == "tick"
    assert idle == []  # a tick every 30 ms: never idle

    async def keep_pinging():  # the link is alive: pings get pongs, but no message arrives
        while not idle:
            await ws.ping()
            await asyncio.sleep(0.02)

    pinger = asyncio.create_task(keep_pinging())
    await wait_until(lambda: idle, "the watchdog to report a feed whose pongs flow but messages stopped")
    await wait_for(pinger, "the pinging task to stop")
    assert all(seconds >= idle_timeout for seconds in idle)  # report mode: called, not closed
    assert ws.state is wsfast.State.OPEN
    # Quiet market, live link: bytes (pongs) arrived after the last message.
    assert ws.last_received > ws.last_message
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
        watchdogs.append(Watchdog(ws, 1.0, on_idle=lambda conn, seconds: idle.set()).start())
        await ws.wait_closed()

    server = await serve_ws(handler)
    ws = await connect_ws(server.uri)
    for _ in range(3):
        await ws.send("x")
        await asyncio.sleep(0.04)  # pacing: a client that sends every 40 ms, far below 1 s
    assert not idle.is_set()
    await wait_for(idle.wait(), "the server's watchdog to see the client stop sending")
    assert watchdogs[0].fired >= 1 and watchdogs[0].idle_for() >= 1.0
    watchdogs[0].stop()
    await ws.close()


def test_watchdog_arguments():
    with pytest.raises(ValueError):
        wsfast.connect("ws://localhost/", idle_timeout=0)
    with pytest.raises(ValueError):
        wsfast.connect("ws://localhost/", max_retries=-1)
