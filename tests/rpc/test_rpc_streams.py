"""Streaming results: a method returns an async iterator, the caller iterates with credit-based
flow control; plain callers get a list; leaving early cancels the method."""
from __future__ import annotations

import asyncio

import pytest
from rpchelp import wait_until, within

from wsfast import rpc


class Counter:
    def __init__(self):
        self.produced = 0
        self.closed = asyncio.Event()

    def methods(self):
        table = rpc.Methods()

        @table.add
        async def count(n):
            try:
                for i in range(n):
                    self.produced += 1
                    yield i
            finally:
                self.closed.set()

        @table.add
        async def later(n):  # a coroutine that returns the async iterator
            await asyncio.sleep(0)
            return count(n)

        @table.add
        def listed(n):  # a list streams too
            return list(range(n))

        @table.add
        async def broken(n):
            for i in range(n):
                yield i
            raise rpc.RPCError(7, "broken stream", {"after": n})

        @table.add
        def not_a_stream():
            return 5

        return table


async def collect(stream):
    return [item async for item in stream]


async def test_stream_items_in_order(rpc_pair, codec):
    counter = Counter()
    _, client = await rpc_pair(counter.methods())
    stream = client.stream("count", [100], window=8)
    assert await within(collect(stream), "the stream") == list(range(100))
    assert stream.result == 100
    assert await within(collect(client.stream("later", {"n": 5})), "a coroutine's stream") == list(range(5))
    assert await within(collect(client.stream("listed", [3])), "a list's stream") == [0, 1, 2]
    assert await within(collect(client.stream("count", [0])), "an empty stream") == []
    assert client._out_active == 0 and not client._streams and not client._pending


async def test_the_callee_waits_for_credit(rpc_pair):
    counter = Counter()
    server, client = await rpc_pair(counter.methods())
    window = 4
    stream = client.stream("count", [50], window=window)
    first = await within(stream.__anext__(), "the first item")
    assert first == 0
    # The callee sends the window's 4 items and waits for credit with the 5th in hand; one
    # item consumed is not yet worth a credit message (they go out per half window).
    await wait_until(lambda: counter.produced == window + 1 and len(stream._items) == window - 1,
                     "the producer to stop at the window")
    for _ in range(50):  # loop turns, not time: nothing more arrives without credit
        await asyncio.sleep(0)
    assert counter.produced == window + 1 and len(stream._items) == window - 1
    assert client.stats.stream_items_dropped == 0
    rest = await within(collect(stream), "the rest")
    assert [first, *rest] == list(range(50))


async def test_a_plain_call_gets_the_items_as_a_list(rpc_pair, codec):
    counter = Counter()
    server, client = await rpc_pair(counter.methods(), server_options={"max_collect": 10})
    assert await within(client.call("count", [10]), "a plain call of a stream") == list(range(10))
    with pytest.raises(rpc.InternalError) as info:
        await within(client.call("count", [11]), "a stream too long")
    assert info.value.data == {"max_collect": 10}
    await within(counter.closed.wait(), "the generator to be closed")


@pytest.mark.parametrize("how", ["async with", "plain break"])
async def test_leaving_the_loop_early_cancels_the_method(rpc_pair, how):
    counter = Counter()
    server, client = await rpc_pair(counter.methods())
    if how == "async with":
        async with client.stream("count", [10**9], window=4) as stream:
            async for item in stream:
                if item == 10:
                    break
    else:  # no aclose(): the dropped Stream cleans up
        async for item in client.stream("count", [10**9], window=4):
            if item == 10:
                break
    await within(counter.closed.wait(), "the callee's generator to close")
    await wait_until(lambda: server._active == 0 and not server._incoming, "the callee to finish")
    assert server.stats.cancelled == 1 and client._out_active == 0
    assert await within(client.call("listed", [2]), "a call after") == [0, 1]


async def test_stream_errors_and_timeouts(rpc_pair, codec):
    counter = Counter()
    server, client = await rpc_pair(counter.methods())
    got = []
    with pytest.raises(rpc.RPCError) as info:
        async for item in client.stream("broken", [3]):
            got.append(item)
    assert got == [0, 1, 2] and info.value.code == 7 and info.value.data == {"after": 3}
    with pytest.raises(rpc.MethodNotFound):
        await within(collect(client.stream("missing")), "a missing stream")
    with pytest.raises(rpc.InternalError):
        await within(collect(client.stream("not_a_stream")), "not a stream")
    gate = asyncio.Event()

    @client.method
    async def never():
        await gate.wait()
        yield 1

    # The other way round (the server streams from the client), with an idle timeout per item.
    with pytest.raises(rpc.CallTimeout):
        await within(collect(server.stream("never", timeout=0.05)), "the item timeout")
    await wait_until(lambda: client._active == 0 and client.stats.cancelled == 1, "the method to be cancelled")
    assert server._out_active == 0 and not server._streams


async def test_items_beyond_the_credit_are_dropped(serve_ws, connect_ws):
    """A misbehaving callee that ignores the window cannot grow the caller's buffer."""
    import json

    async def handler(ws):
        request = json.loads(await ws.recv())
        id = request["id"]
        for i in range(10):  # window is 2: 8 too many
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "$/item", "params": {"id": id, "item": i}}))
        await ws.send(json.dumps({"jsonrpc": "2.0", "result": 10, "id": id}))
        await ws.wait_closed()

    server = await serve_ws(handler)
    async with rpc.Peer(await connect_ws(server.uri)) as peer:
        items = await within(collect(peer.stream("flood", window=2)), "the flood")
        assert items == [0, 1] and peer.stats.stream_items_dropped == 8
