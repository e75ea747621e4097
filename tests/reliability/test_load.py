"""Scaled-down load, churn and soak in the test suite (the full runs are the scripts
``load.py`` and ``soak.py`` in this folder). One process, the default implementation."""
from __future__ import annotations

import asyncio
import gc

import pytest

import wsfast
from wsfast.asyncio.loop_state import get_wheel

from load import close_all, open_many, raise_nofile, run_churn, traffic
from relpeer import Traced, fd_count, wait_for


async def echo(ws):
    async for message in ws:
        await ws.send(message)


@pytest.mark.slow
async def test_2000_connections_five_messages_a_second_apart():
    raise_nofile()
    server = await wsfast.serve(echo, "127.0.0.1", 0, compression=None, backlog=4096)
    try:
        errors: list = []
        conns = await open_many(server.port(), 2000, 500, errors)
        assert len(server.connections) == 2000
        # Five messages each, a second apart: every one of the 10,000 is echoed (how fast a
        # busy machine gets through them is for the load script and bench/, not a test).
        count, latencies = await traffic(conns, 5, errors, messages=5)
        await close_all(conns, errors)
        assert errors == []
        assert count == 2000 * 5
        await wait_for(lambda: not server.connections)
        print(f"2000 x 5 messages: {count} echoes, p99 {1000 * sorted(latencies)[int(0.99 * len(latencies))]:.0f} ms")
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.slow
@pytest.mark.hang_deadline(110)  # 10-15 s; much more when other jobs load the machine
async def test_churn_5000_connections_returns_to_baseline():
    raise_nofile()
    server = await wsfast.serve(echo, "127.0.0.1", 0, compression=None, backlog=4096,
                                open_timeout=1, close_timeout=1)
    try:
        wheel = get_wheel(asyncio.get_running_loop())
        await run_churn(server.port(), 200, 100)  # warm-up
        await wait_for(lambda: not server.connections)
        await wait_for(lambda: len(wheel) == 0, what="the timer wheel to let the warm-up go")
        tasks = len(asyncio.all_tasks())  # this test's own (and its fixtures')
        gc.collect()
        fds = fd_count()
        with Traced() as traced:
            report = await run_churn(server.port(), 5000, 200)
            await wait_for(lambda: not server.connections)
            # The timer wheel lets closed connections go.
            await wait_for(lambda: len(wheel) == 0, what="the timer wheel to let every connection go")
            # And every task of the churn (handlers, closing handshakes) has finished.
            await wait_for(lambda: len(asyncio.all_tasks()) <= tasks,
                           what="the churn's handler and closing tasks to finish")

            def released() -> bool:
                gc.collect()
                return traced.sample() < 2 * 1024 * 1024

            # What is left of the churn is released (the client side's finished tasks go
            # within about a second, not at once); a leak never is, and fails here.
            await wait_for(released, interval=0.1,
                           what="the churn's leftovers to be released (traced growth under 2 MiB)")
        print(f"churn 5000: {report}, fds {fds} -> {fd_count()}, kept {traced.growth} B")
        assert report["errors"] == 0 and report["churned"] == 5000
        assert fd_count() <= fds
        # Measured with P3 applied: about 250 B per churned connection, the wheel's emptied
        # slot sets until their time comes (without it: 12.5 KB per connection, 63 MB).
        assert traced.growth < 2 * 1024 * 1024, traced.growth
    finally:
        server.close()
        await server.wait_closed()
