"""broadcast() and Hub: one encoding for all, slow subscribers skipped or closed, bounded memory."""
from __future__ import annotations

import asyncio

import wsfast
from rawpeer import RawPeer
from waiting import wait_for, wait_until


def holding_handler():
    """A server handler that appends each connection to a list and holds it open until it
    closes; returns the handler and the list."""
    conns = []

    async def handler(ws):
        conns.append(ws)
        await ws.wait_closed()

    return handler, conns


async def test_broadcast_reaches_every_open_connection(serve_ws, connect_ws):
    handler, conns = holding_handler()
    server = await serve_ws(handler)
    clients = [await connect_ws(server.uri, compression=None) for _ in range(20)]
    await wait_until(lambda: len(conns) >= 20, "20 server handlers to start")
    result = wsfast.broadcast(server.connections, "to all ☃")
    assert result.sent == 20 and result.skipped == 0
    for c in clients:
        assert await c.recv() == "to all ☃"
    result = wsfast.broadcast(server.connections, b"\x00bin")
    for c in clients:
        assert await c.recv() == b"\x00bin"
    for c in clients:
        await c.close()


async def test_broadcast_with_deflate_connections(serve_ws, connect_ws):
    handler, conns = holding_handler()
    server = await serve_ws(handler)
    clients = [await connect_ws(server.uri) for _ in range(5)] + [
        await connect_ws(server.uri, compression=None) for _ in range(5)
    ]
    await wait_until(lambda: len(conns) >= 10, "10 server handlers to start")
    message = "compressible " * 200
    assert wsfast.broadcast(server.connections, message).sent == 10
    for c in clients:
        assert await c.recv() == message
        await c.close()


async def test_slow_subscriber_is_skipped_and_memory_bounded(serve_ws, connect_ws):
    handler, conns = holding_handler()
    write_limit = 64 * 1024
    server = await serve_ws(handler, write_limit=write_limit)
    slow = await RawPeer.connect(server.port())
    slow.writer.transport.pause_reading()  # never reads
    fast = [await connect_ws(server.uri, compression=None, max_queue=None) for _ in range(3)]
    await wait_until(lambda: len(conns) >= 4, "4 server handlers to start")
    slow_conn = next(c for c in conns if c.remote_address[1] == slow.writer.get_extra_info("sockname")[1])
    message = b"m" * 16384
    skipped = 0
    peak = 0
    for i in range(400):
        result = wsfast.broadcast(server.connections, message)
        skipped += result.skipped
        peak = max(peak, slow_conn.buffered_amount)
        if i % 20 == 0:
            await asyncio.sleep(0)  # let the fast clients read
    # Bound: the write limit plus one message (the last write that crossed it).
    assert peak <= write_limit + len(message) + 64
    assert skipped > 0
    for c in fast:
        for _ in range(400):
            assert await wait_for(c.recv(), "each client to receive the broadcast") == message
        await c.close()
    slow.close()


async def test_slow_subscriber_closed_with_1013(serve_ws):
    handler, conns = holding_handler()
    server = await serve_ws(handler, write_limit=16384)
    slow = await RawPeer.connect(server.port())
    slow.writer.transport.pause_reading()
    await wait_until(lambda: bool(conns), "the server handler to start")
    closed = 0
    # Loopback socket buffers absorb several MiB before the write buffer fills up.
    for _ in range(1000):
        closed += wsfast.broadcast(server.connections, b"x" * 65536, on_full="close").closed
        await asyncio.sleep(0)
        if closed:
            break
    assert closed == 1
    slow.writer.transport.resume_reading()
    code, _ = await slow.read_close()
    assert code == 1013
    slow.close()


async def test_hub_topics_and_cleanup(serve_ws, connect_ws):
    hub = wsfast.Hub()

    async def handler(ws):
        async for topic in ws:
            hub.subscribe(ws, topic)
            await ws.send(f"joined {topic}")

    server = await serve_ws(handler)
    a = await connect_ws(server.uri)
    b = await connect_ws(server.uri)
    await a.send("red")
    await b.send("blue")
    await b.send("red")
    assert await a.recv() == "joined red"
    assert await b.recv() == "joined blue"
    assert await b.recv() == "joined red"
    assert hub.publish("red", "r1").sent == 2
    assert hub.publish("blue", "b1").sent == 1
    assert await a.recv() == "r1"
    assert await b.recv() == "r1"
    assert await b.recv() == "b1"
    await a.close()
    await wait_until(lambda: len(hub.subscribers("red")) == 1, "the hub to drop a's subscription once it closed")
    assert len(hub.subscribers("blue")) == 1
    await b.close()
    await wait_until(lambda: hub.topics() == [], "the hub to forget every topic once b closed")


async def test_broadcast_shared_compressor(serve_ws, connect_ws):
    """With a shared compressor, a broadcast is compressed once and the same bytes go to all."""
    from wsfast.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    handler, conns = holding_handler()
    server = await serve_ws(handler, compression=ServerPerMessageDeflateFactory(shared_compressor=True))
    clients = [await connect_ws(server.uri) for _ in range(6)]
    await wait_until(lambda: len(conns) >= 6, "6 server handlers to start")
    assert all(c.extensions and c.extensions[0].remote_no_context_takeover for c in clients)
    from wsfast.extensions import permessage_deflate

    calls = []
    original = permessage_deflate.compress_message

    def counting(payload, **kwargs):
        calls.append(len(payload))
        return original(payload, **kwargs)

    permessage_deflate.compress_message = counting
    try:
        message = '{"price": 101.25, "symbol": "ACME"} ' * 40
        assert wsfast.broadcast(server.connections, message).sent == 6
    finally:
        permessage_deflate.compress_message = original
    assert calls == [len(message)]  # compressed once for all six subscribers
    for c in clients:
        assert await c.recv() == message
        await c.close()


async def test_hub_hands_broadcast_its_subscribers_in_subscription_order(monkeypatch):
    """A topic keeps its subscribers in one insertion-ordered structure that goes to broadcast
    as it is (no copy per publish): the compiled loop then walks connections in the order they
    subscribed, which for connections subscribing as they open is the order they were
    allocated in (a set's hash order costs 2-3x at 10,000 subscribers:
    bench/hub_vs_broadcast.py)."""
    from wsfast.asyncio.broadcast import BroadcastResult
    from wsfast.brokers import hub as hub_module

    loop = asyncio.get_running_loop()

    class Conn:
        closed = False

        def __init__(self):
            self._closed = loop.create_future()

    handed = []

    def fake_broadcast(connections, message, **kw):
        handed.append(connections)
        return BroadcastResult(sent=len(connections))

    monkeypatch.setattr(hub_module, "broadcast", fake_broadcast)
    hub = wsfast.Hub()
    conns = [Conn() for _ in range(64)]
    for c in conns:
        hub.subscribe(c, "t")
    hub.publish("t", b"1")
    hub.publish("t", b"2")
    assert handed[0] is handed[1]  # the hub's own structure, not a copy per publish
    assert list(handed[0]) == conns
    hub.unsubscribe(conns[10], "t")
    hub.subscribe(conns[10], "t")
    hub.publish("t", b"3")
    assert list(handed[2]) == conns[:10] + conns[11:] + [conns[10]]
    conns[5]._closed.set_result(None)  # a connection that closes leaves its topics
    await asyncio.sleep(0)
    hub.publish("t", b"4")
    assert conns[5] not in list(handed[3]) and len(handed[3]) == 63
