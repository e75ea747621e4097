"""``wsfast serve --metrics`` (one process and ``--workers 2``, whose scrape sums both) and
``--access-log``, as subprocesses."""
from __future__ import annotations

import asyncio
import json
import os

import pytest

from ecosystem.test_cli import HANG, ServeProcess  # tests/ is on sys.path (tests/conftest.py)
from scrape import parse, scrape, value
from waiting import wait_for, wait_until


async def read_line(server: ServeProcess, predicate) -> str:
    """The next line of the server's output that ``predicate`` accepts."""
    while True:
        raw = await wait_for(server.proc.stdout.readline(), "a line from wsfast serve", HANG)
        assert raw, "wsfast serve's output ended"
        line = raw.decode().rstrip("\n")
        if predicate(line):
            return line


async def test_serve_metrics_and_json_access_log():
    async with ServeProcess("--metrics", "--access-log", "json", "--no-compression") as server:
        assert f"metrics on http://127.0.0.1:{server.port}/metrics" in server.banner
        ws = await server.connect("/room?x=1", compression=None)
        for i in range(3):
            await ws.send(f"m{i}")
            assert await wait_for(ws.recv(), "an echo") == f"m{i}"
        await ws.send(b"\x01\x02")
        assert await wait_for(ws.recv(), "an echo") == b"\x01\x02"
        await ws.close()
        opened = json.loads(await read_line(server, lambda line: line.startswith("{")))
        assert opened["path"] == "/room?x=1" and opened["status"] == 101
        assert opened["remote"].startswith("127.0.0.1:") and opened["duration_ms"] >= 0
        assert opened["subprotocol"] is None and opened["extensions"] == []
        # A plain GET of / is not an upgrade: refused with 426.
        head, _ = await scrape(server.port, "/")
        status = int(head.split()[1])
        refused = json.loads(await read_line(server, lambda line: line.startswith("{")))
        assert refused["status"] == status and refused["path"] == "/"

        async def closed_seen() -> bool:
            series = parse((await scrape(server.port))[1])
            return value(series, "wsfast_connections_closed_total", code="1000", by="client") == 1

        await wait_until_async(closed_seen, "the close in /metrics")
        series = parse((await scrape(server.port))[1])
        assert value(series, "wsfast_connections_opened_total") == 1
        assert value(series, "wsfast_messages_received_total", type="text") == 3
        assert value(series, "wsfast_messages_received_total", type="binary") == 1
        assert value(series, "wsfast_messages_sent_total", type="text") == 3
        assert value(series, "wsfast_messages_sent_total", type="binary") == 1
        assert value(series, "wsfast_handshakes_rejected_total", status=str(status)) == 1
        assert value(series, "wsfast_processes") == 1
        assert (await server.stop())[0] == 0


async def wait_until_async(predicate, what: str) -> None:
    """``wait_until`` for a predicate that must await (a scrape)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {HANG:g} s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.mark.skipif(os.name != "posix", reason="run_workers is POSIX only")
@pytest.mark.hang_deadline(180)
async def test_workers_scrape_sums_every_worker():
    clients_count, messages_each = 16, 3
    async with ServeProcess("--workers", "2", "--metrics", "--access-log", "--no-compression") as server:
        clients = [await server.connect(compression=None) for _ in range(clients_count)]
        for i, ws in enumerate(clients):
            for j in range(messages_each):
                await ws.send(f"{i}.{j}")
                assert await wait_for(ws.recv(), "an echo") == f"{i}.{j}"
        # One plain access log line per handshake, whichever worker answered it.
        lines = [await read_line(server, lambda line: " 101 " in line) for _ in range(clients_count)]
        assert all(line.startswith("127.0.0.1:") and "GET / 101" in line for line in lines)

        async def both_workers_answer() -> bool:
            return value(parse((await scrape(server.port))[1]), "wsfast_processes") == 2

        await wait_until_async(both_workers_answer, "a scrape summing two workers")
        # Every scrape, whichever worker the kernel hands it to, gives the whole server (the
        # kernel spreads 16 connections over both workers: each alone has fewer).
        for _ in range(6):
            series = parse((await scrape(server.port))[1])
            assert value(series, "wsfast_processes") == 2
            assert value(series, "wsfast_connections_open") == clients_count
            assert value(series, "wsfast_connections_opened_total") == clients_count
            assert value(series, "wsfast_messages_received_total", type="text") == clients_count * messages_each
            assert value(series, "wsfast_messages_sent_total", type="text") == clients_count * messages_each
        for ws in clients:
            await ws.close()
        assert (await server.stop())[0] == 0


@pytest.mark.skipif(os.name != "posix", reason="run_workers is POSIX only")
@pytest.mark.hang_deadline(180)
async def test_dashboard_feed_sums_every_worker():
    clients_count = 12
    async with ServeProcess("--workers", "2", "--dashboard", "--no-compression") as server:
        assert "/dashboard" in server.banner
        clients = [await server.connect(compression=None) for _ in range(clients_count)]
        page = await server.connect("/dashboard/feed", compression=None)

        async def next_summary() -> dict:
            return json.loads(await wait_for(page.recv(), "a dashboard update"))

        summary = await next_summary()
        while summary["processes"] != 2:  # until the other worker answers its samples
            summary = await next_summary()
        assert summary["connections_open"] == clients_count + 1  # and the feed itself
        for i, ws in enumerate(clients):
            await ws.send(f"n{i}")
            assert await wait_for(ws.recv(), "an echo") == f"n{i}"
        summary = await next_summary()
        while summary["messages_in"] < clients_count:
            summary = await next_summary()
        assert summary["messages_in"] == clients_count
        for ws in [*clients, page]:
            await ws.close()
        assert (await server.stop())[0] == 0
