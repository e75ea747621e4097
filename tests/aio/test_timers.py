"""The loop's timer wheel keeps a loop timer only while some connection has a deadline: an
open connection without keepalive leaves none pending (each pending timer costs the loop
work in every iteration: the scheduled heap, the select timeout)."""
from __future__ import annotations

import asyncio

import wsfast
from wsfast.asyncio.loop_state import get_wheel
from waiting import wait_until


class Obj:
    def __init__(self, deadline):
        self._deadline = deadline
        self.fired = 0

    def _on_deadline(self, now):
        self._deadline = None
        self.fired += 1


async def test_discarding_the_last_deadline_cancels_the_timer():
    loop = asyncio.get_running_loop()
    wheel = get_wheel(loop)
    a, b = Obj(loop.time() + 30), Obj(loop.time() + 60)
    wheel.schedule(a)
    wheel.schedule(b)
    handle = wheel._handle
    assert handle is not None
    wheel.discard(a)
    assert wheel._handle is handle and not handle.cancelled()  # b still needs it
    wheel.discard(b)
    assert wheel._handle is None and handle.cancelled() and len(wheel) == 0
    # and the wheel works again afterwards
    c_due = loop.time() + 0.05
    c = Obj(c_due)
    wheel.schedule(c)
    await wait_until(lambda: c.fired, "the wheel to fire a deadline 50 ms away")
    assert loop.time() >= c_due  # never early
    assert c.fired == 1 and wheel._handle is None


async def test_open_connection_without_keepalive_leaves_no_timer(serve_ws):
    async def handler(ws):
        async for message in ws:
            await ws.send(message)

    server = await serve_ws(handler, ping_interval=None, open_timeout=10)
    wheel = get_wheel(asyncio.get_running_loop())
    async with wsfast.connect(server.uri, ping_interval=None, open_timeout=10) as ws:
        await ws.send("x")
        assert await ws.recv() == "x"
        assert wheel._handle is None  # both open timeouts were forgotten at the open
    async with wsfast.connect(server.uri, ping_interval=5) as ws:
        await ws.send("y")
        assert await ws.recv() == "y"
        assert wheel._handle is not None  # the client's keepalive deadline
