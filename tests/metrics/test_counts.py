"""A scripted client does known work and ``server.stats()`` and the scraped ``/metrics`` show
exactly those counts: messages each way, a refused handshake, a slow subscriber skipped then
closed (1013), a message over max_size (1009)."""
from __future__ import annotations

import asyncio
import socket

import pytest

import wsfast
from wsfast.asyncio import stats as stats_module
from wsfast.exceptions import InvalidStatus

from scrape import parse, scrape, value
from waiting import wait_for, wait_until

N_TEXT, TEXT = 7, "x" * 10
N_BINARY, BINARY = 5, b"y" * 20
SLOW_PAYLOAD = b"s" * 65536


class Echo:
    def on_message(self, ws, message, opcode):
        ws.send_nowait(message)


async def echo_coroutine(ws):
    async for message in ws:
        await ws.send(message)


def refuse_forbidden(conn, request):
    return conn.respond(403, "no\n") if request.path == "/forbidden" else None


async def handshake_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client that completes the handshake, then never reads (a small receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = await wait_for(reader.readuntil(b"\r\n\r\n"), "the 101 response")
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


@pytest.mark.parametrize("style", ["callbacks", "coroutine"])
async def test_scrape_shows_exactly_the_work_done(serve_ws, connect_ws, style):
    handler = Echo if style == "callbacks" else echo_coroutine
    server = await serve_ws(handler, metrics=True, compression=None, max_size=1000,
                            write_limit=4096, process_request=refuse_forbidden)
    fanout_before = stats_module.broadcasts.as_dict()

    # N messages each way, then a normal close by the client.
    client = await connect_ws(server.uri, compression=None)
    for _ in range(N_TEXT):
        await client.send(TEXT)
    for _ in range(N_BINARY):
        await client.send(BINARY)
    echoed = [await wait_for(client.recv(), "an echo") for _ in range(N_TEXT + N_BINARY)]
    assert echoed == [TEXT] * N_TEXT + [BINARY] * N_BINARY
    await client.close()
    await wait_until(lambda: server.stats()["connections_closed"], "the server to see the close")
    after_echo = server.stats()
    # Client frames are masked (2 + 4 header bytes), the server's are not (2); close frames
    # with a code and no reason: 8 bytes in, 4 bytes out.
    assert after_echo["bytes_in"] == N_TEXT * (6 + 10) + N_BINARY * (6 + 20) + 8
    assert after_echo["bytes_out"] == N_TEXT * (2 + 10) + N_BINARY * (2 + 20) + 4

    # A refused handshake.
    with pytest.raises(InvalidStatus):
        await connect_ws(server.uri + "forbidden")

    # A message over max_size: the server closes with 1009.
    big = await connect_ws(server.uri, compression=None)
    await big.send("z" * 2000)
    await wait_for(big.wait_closed(), "the 1009 close")
    assert big.close_code == 1009

    # A subscriber that reads nothing: skipped once its write buffer is over write_limit,
    # then closed as slow (1013) by a broadcast with on_full="close".
    reader, writer = await handshake_raw(server.port())
    await wait_until(lambda: server.stats()["connections_open"] == 1, "the slow subscriber to be open")
    slow = [c for c in server.connections if c._proto is not None]
    sent = skipped = 0
    while not skipped:
        result = wsfast.broadcast(slow, SLOW_PAYLOAD)
        sent += result.sent
        skipped += result.skipped
        await asyncio.sleep(0)  # let a deferred flush run
    closed = wsfast.broadcast(slow, SLOW_PAYLOAD, on_full="close")
    assert (closed.sent, closed.closed) == (0, 1)
    await wait_until(lambda: server.stats()["connections_open"] == 0 and not server.connections,
                     "the slow subscriber's connection to end")
    writer.close()

    snap = server.stats()
    assert snap["connections_opened"] == 3
    assert snap["handshakes_rejected"] == {403: 1}
    assert snap["connections_closed"] == {
        "1000": {"client": 1}, "1009": {"server": 1}, "1013": {"server": 1}}
    assert snap["messages_in"] == {"text": N_TEXT, "binary": N_BINARY}
    assert snap["messages_out"] == {"text": N_TEXT, "binary": N_BINARY + sent}
    assert snap["handshake_seconds"]["count"] == 4  # three opened, one refused
    fanout = {k: snap["broadcast"][k] - fanout_before[k] for k in ("sent", "skipped", "closed")}
    assert fanout == {"sent": sent, "skipped": skipped, "closed": 1}

    head, body = await scrape(server.port())
    assert head.startswith("HTTP/1.1 200")
    assert "text/plain; version=0.0.4" in head
    series = parse(body)
    assert value(series, "wsfast_connections_opened_total") == 3
    assert value(series, "wsfast_connections_open") == 0
    assert value(series, "wsfast_handshakes_rejected_total", status="403") == 1
    assert value(series, "wsfast_connections_closed_total", code="1000", by="client") == 1
    assert value(series, "wsfast_connections_closed_total", code="1009", by="server") == 1
    assert value(series, "wsfast_connections_closed_total", code="1013", by="server") == 1
    assert value(series, "wsfast_connections_closed_total", code="1006", by="none") == 0
    assert value(series, "wsfast_messages_received_total", type="text") == N_TEXT
    assert value(series, "wsfast_messages_received_total", type="binary") == N_BINARY
    assert value(series, "wsfast_messages_sent_total", type="text") == N_TEXT
    assert value(series, "wsfast_messages_sent_total", type="binary") == N_BINARY + sent
    assert value(series, "wsfast_bytes_received_total") == snap["bytes_in"]
    assert value(series, "wsfast_bytes_sent_total") == snap["bytes_out"]
    assert value(series, "wsfast_handshake_duration_seconds_count") == 4
    assert value(series, "wsfast_handshake_duration_seconds_bucket", le="+Inf") == 4
    assert value(series, "wsfast_fanout_deliveries_total", via="broadcast", outcome="skipped") \
        == snap["broadcast"]["skipped"]
    assert value(series, "wsfast_event_loop_lag_seconds") >= 0
    # The scrape itself is neither a handshake nor a refusal.
    assert server.stats()["handshake_seconds"]["count"] == 4


async def test_without_metrics_get_metrics_goes_to_process_request(serve_ws):
    server = await serve_ws(Echo, process_request=lambda conn, req: conn.respond(404, "none\n"))
    head, _ = await scrape(server.port())
    assert head.startswith("HTTP/1.1 404")
    assert server.stats()["handshakes_rejected"] == {404: 1}
    assert server.stats()["loop_lag_seconds"] is None


async def test_live_connections_are_summed_at_scrape_time(serve_ws, connect_ws):
    server = await serve_ws(Echo, metrics="/stats", compression=None)
    client = await connect_ws(server.uri, compression=None)
    await client.send("hello")
    assert await wait_for(client.recv(), "the echo") == "hello"
    _, body = await scrape(server.port(), "/stats")
    series = parse(body)
    assert value(series, "wsfast_connections_open") == 1
    assert value(series, "wsfast_messages_received_total", type="text") == 1
    assert value(series, "wsfast_bytes_sent_total") == 2 + 5
    await client.close()


async def test_hub_deliveries_and_broker_status(serve_ws, connect_ws):
    hub = wsfast.Hub()
    before = stats_module.hub_deliveries.as_dict()

    async def subscriber(ws):
        hub.subscribe(ws, "news")
        await ws.wait_closed()

    server = await serve_ws(subscriber, metrics=True, compression=None)
    clients = [await connect_ws(server.uri, compression=None) for _ in range(3)]
    await wait_until(lambda: len(hub.subscribers("news")) == 3, "three subscribers")
    result = hub.publish("news", "hello")
    assert result.sent == 3
    for ws in clients:
        assert await wait_for(ws.recv(), "the publication") == "hello"
    delivered = server.stats()["hub"]
    assert delivered["sent"] - before["sent"] == 3
    assert {"status": "local", "outages": 0, "undelivered": 0} in server.stats()["brokers"]
    _, body = await scrape(server.port())
    series = parse(body)
    assert value(series, "wsfast_fanout_deliveries_total", via="hub", outcome="sent") == delivered["sent"]
    assert value(series, "wsfast_broker_status", status="local") >= 1
    assert value(series, "wsfast_messages_sent_total", type="text") == 3
    for ws in clients:
        await ws.close()
    await hub.aclose()


async def test_handshake_timeout_is_counted(serve_ws):
    server = await serve_ws(Echo, metrics=True, open_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port())
    writer.write(b"GET / HTTP/1.1\r\n")  # and never the rest
    await wait_until(lambda: server.stats()["connections_handshaking"] == 1, "the handshake to start")
    try:
        await wait_for(reader.read(), "the server to drop the connection")
    except ConnectionResetError:
        pass  # aborted: a reset rather than an end of file
    await wait_until(lambda: not server.connections, "the connection to end")
    writer.close()
    snap = server.stats()
    assert snap["handshakes_timed_out"] == 1
    assert snap["connections_handshaking"] == 0 and snap["handshakes_rejected"] == {}
    _, body = await scrape(server.port())
    assert value(parse(body), "wsfast_handshakes_timed_out_total") == 1
