"""The prometheus_client collector gives the series of GET /metrics, from the loop's thread
and from another thread (as prometheus_client's own HTTP server scrapes); the ASGI protocol
class counts its connections the same way."""
from __future__ import annotations

import asyncio

import pytest

from prometheus_client import CollectorRegistry, generate_latest

import wsfast
from wsfast.asgi import WSFastProtocol
from wsfast.metrics.collector import WsfastCollector

from ecosystem.asgi_app import make_app  # tests/ is on sys.path (tests/conftest.py)
from ecosystem.uvicorn_util import running_uvicorn
import twins
from scrape import parse, scrape, value
from waiting import wait_for, wait_until


class Echo:
    def on_message(self, ws, message, opcode):
        ws.send_nowait(message)


async def test_collector_series_equal_the_scrape(serve_ws, connect_ws):
    server = await serve_ws(Echo, metrics=True, compression=None)
    registry = CollectorRegistry()
    registry.register(WsfastCollector(server))
    client = await connect_ws(server.uri, compression=None)
    for i in range(3):
        await client.send(f"m{i}")
        assert await wait_for(client.recv(), "an echo") == f"m{i}"
    await client.close()
    await wait_until(lambda: server.stats()["connections_closed"], "the close on the server")

    _, body = await scrape(server.port())
    scraped = parse(body)
    in_loop = parse(generate_latest(registry).decode())
    # From another thread the collector asks the server's loop (which must keep running).
    from_thread = parse((await asyncio.to_thread(generate_latest, registry)).decode())
    for series in (in_loop, from_thread):
        assert value(series, "wsfast_messages_received_total", type="text") == 3
        assert value(series, "wsfast_connections_closed_total", code="1000", by="client") == 1
        lag = ("wsfast_event_loop_lag_seconds", frozenset())
        assert {k: v for k, v in series.items() if k != lag} == {k: v for k, v in scraped.items() if k != lag}


@pytest.mark.parametrize("implementation", twins.names())
async def test_asgi_protocol_class_counts(implementation):
    protocol = WSFastProtocol.configure(implementation=implementation, compression=None)
    async with running_uvicorn(make_app(), protocol) as (_, port):
        async with wsfast.connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            for message in ("a", b"bb", "ccc"):
                await ws.send(message)
                assert await wait_for(ws.recv(), "an echo") == message
        await wait_until(lambda: protocol.stats()["connections_closed"], "the close on the server")
    snap = protocol.stats()
    assert snap["connections_opened"] == 1
    assert snap["messages_in"] == {"text": 2, "binary": 1}
    assert snap["messages_out"] == {"text": 2, "binary": 1}
    assert snap["connections_closed"] == {"1000": {"client": 1}}
    registry = CollectorRegistry()
    registry.register(WsfastCollector(protocol))
    series = parse(generate_latest(registry).decode())
    assert value(series, "wsfast_messages_sent_total", type="binary") == 1
    assert value(series, "wsfast_connections_opened_total") == 1
