"""Scaled-down load, churn and soak in the test suite (the full runs are the scripts
``load.py`` and ``soak.py`` in this folder). One process, the default implementation."""
from __future__ import annotations

import asyncio
import gc

import pytest

import wsfast

from load import close_all, open_many, raise_nofile, run_churn, traffic
from relpeer import Traced, fd_count, wait_for


async def echo(ws):
    async for message in ws:
        await ws.send(message)


@pytest.mark.slow
async def test_2000_connections_a_message_a_second_for_5_seconds():
    raise_nofile()
    server = await wsfast.serve(echo, "127.0.0.1", 0, compression=None, backlog=4096)
    try:
        errors: list = []
        conns = await open_many(server.port(), 2000, 500, errors)
        assert len(server.connections) == 2000
        count, latencies = await traffic(conns, 5, errors)
        await close_all(conns, errors)
        assert errors == []
        assert count >= 2000 * 4  # a message a second each, the first within the first second
        await wait_for(lambda: not server.connections, 10)
        print(f"2000 x 5 s: {count} echoes, p99 {1000 * sorted(latencies)[int(0.99 * len(latencies))]:.0f} ms")
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.slow
async def test_churn_5000_connections_returns_to_baseline():
    raise_nofile()
    server = await wsfast.serve(echo, "127.0.0.1", 0, compression=None, backlog=4096,
                                open_timeout=1, close_timeout=1)
    try:
        await run_churn(server.port(), 200, 100)  # warm-up
        await wait_for(lambda: not server.connections, 5)
        await asyncio.sleep(1.2)
        gc.collect()
        fds = fd_count()
        with Traced() as traced:
            report = await run_churn(server.port(), 5000, 200)
            await wait_for(lambda: not server.connections, 10)
            await asyncio.sleep(1.2)  # the timer wheel lets closed connections go (open_timeout)
        print(f"churn 5000: {report}, fds {fds} -> {fd_count()}, kept {traced.growth} B")
        assert report["errors"] == 0 and report["churned"] == 5000
        assert fd_count() <= fds
        # Measured with P3 applied: about 250 B per churned connection, the wheel's emptied
        # slot sets until their time comes (without it: 12.5 KB per connection, 63 MB).
        assert traced.growth < 2 * 1024 * 1024, traced.growth
    finally:
        server.close()
        await server.wait_closed()
