"""Timeouts, cancellation, the limits on calls in flight both ways, and slow methods beside
fast ones and beside plain messages."""
from __future__ import annotations

import asyncio

import pytest
from rpchelp import wait_until, within

import wsfast
from wsfast import rpc


class Gate:
    """Methods that block until the test opens them, counting how many run at once."""

    def __init__(self):
        self.open = asyncio.Event()
        self.running = 0
        self.most = 0
        self.started = 0
        self.cancelled = 0

    def methods(self, table=None):
        table = table if table is not None else rpc.Methods()

        @table.add
        async def block(value=None):
            self.running += 1
            self.started += 1
            self.most = max(self.most, self.running)
            try:
                await self.open.wait()
                return value
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            finally:
                self.running -= 1

        table.add(lambda value: value, name="echo")
        return table


async def test_a_slow_method_blocks_neither_other_calls_nor_plain_messages(serve_ws, connect_ws):
    gate = Gate()
    plain = asyncio.Queue()

    async def handler(ws):
        await rpc.Peer(ws, gate.methods(), on_message=plain.put_nowait).run()

    server = await serve_ws(handler)
    ws = await connect_ws(server.uri)
    async with rpc.Peer(ws) as client:
        slow = asyncio.ensure_future(client.call("block", ["slow"]))
        await wait_until(lambda: gate.running == 1, "the slow method to start")
        assert await within(asyncio.gather(*(client.call("echo", [i]) for i in range(50))), "fast calls") == list(range(50))
        await ws.send("a plain message")
        assert await within(plain.get(), "the plain message") == "a plain message"
        assert not slow.done()
        gate.open.set()
        assert await within(slow, "the slow call") == "slow"


async def test_incoming_methods_are_capped_per_connection(rpc_pair):
    gate = Gate()
    server, client = await rpc_pair(gate.methods(), server_options={"max_concurrency": 3})
    calls = [asyncio.ensure_future(client.call("block", [i])) for i in range(10)]
    await wait_until(lambda: gate.running == 3 and len(server._queue) == 7, "3 running, 7 queued")
    assert gate.started == 3
    # The cap is on methods, not on the connection: answers to the server's own calls still arrive.
    client.method(lambda: "pong", name="ping")
    assert await within(server.call("ping"), "a call the other way") == "pong"
    gate.open.set()
    assert await within(asyncio.gather(*calls), "the capped calls") == list(range(10))
    assert gate.most == 3


async def test_outgoing_calls_are_capped_per_connection(rpc_pair):
    gate = Gate()
    server, client = await rpc_pair(gate.methods(), client_options={"max_outgoing": 2})
    calls = [asyncio.ensure_future(client.call("block", [i])) for i in range(6)]
    await wait_until(lambda: gate.running == 2, "two calls in flight")
    for _ in range(20):  # the others stay on the caller's side (loop turns, not time)
        await asyncio.sleep(0)
    assert gate.started == 2 and client._out_active == 2 and len(client._pending) == 2
    gate.open.set()
    assert await within(asyncio.gather(*calls), "the capped calls") == list(range(6))
    assert gate.most == 2 and client._out_active == 0


async def test_a_call_waiting_for_a_slot_can_be_cancelled(rpc_pair):
    gate = Gate()
    server, client = await rpc_pair(gate.methods(), client_options={"max_outgoing": 1})
    first = asyncio.ensure_future(client.call("block", [1]))
    await wait_until(lambda: gate.running == 1, "the first call to run")
    second = asyncio.ensure_future(client.call("block", [2]))
    third = asyncio.ensure_future(client.call("block", [3]))
    await wait_until(lambda: len(client._out_waiters or ()) == 2, "two calls waiting for a slot")
    second.cancel()
    gate.open.set()
    assert await within(first, "first") == 1
    assert await within(third, "third") == 3  # the cancelled waiter did not eat the slot
    assert second.cancelled() and gate.started == 2


async def test_timeout_tells_the_callee_to_cancel(rpc_pair, codec):
    gate = Gate()
    server, client = await rpc_pair(gate.methods())
    with pytest.raises(rpc.CallTimeout) as info:
        await within(client.call("block", timeout=0.05), "the timeout")
    assert isinstance(info.value, asyncio.TimeoutError) and info.value.method == "block"
    await wait_until(lambda: gate.cancelled == 1, "the callee to cancel the method")
    # The callee answers -32800; the caller absorbs it as a late answer.
    await wait_until(lambda: client.stats.late_responses == 1, "the late answer")
    assert client.stats.timeouts == 1 and client.stats.cancels_sent == 1
    assert server.stats.cancels_received == 1 and server.stats.cancelled == 1
    assert client.stats.unknown_responses == 0 and not client._pending


async def test_cancelling_the_awaiting_task_cancels_the_method(rpc_pair, codec):
    gate = Gate()
    server, client = await rpc_pair(gate.methods())
    call = asyncio.ensure_future(client.call("block"))
    await wait_until(lambda: gate.running == 1, "the method to start")
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await wait_until(lambda: gate.cancelled == 1 and server._active == 0, "the method to be cancelled")
    await wait_until(lambda: client.stats.late_responses == 1, "the -32800 answer")
    assert await within(client.call("echo", ["after"]), "a call after") == "after"


async def test_cancelling_a_queued_request_answers_it_without_running_it(raw_server):
    gate = Gate()
    peer, raw = await raw_server(gate.methods(), max_concurrency=1)
    await raw.send({"jsonrpc": "2.0", "method": "block", "params": [1], "id": 1})
    await raw.send({"jsonrpc": "2.0", "method": "block", "params": [2], "id": 2})
    await wait_until(lambda: gate.running == 1 and len(peer._queue) == 1, "one running, one queued")
    await raw.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 2}})
    answer = await raw.recv()
    assert answer == {"jsonrpc": "2.0", "error": {"code": rpc.REQUEST_CANCELLED, "message": "Request cancelled"}, "id": 2}
    gate.open.set()
    assert (await raw.recv())["result"] == 1
    assert gate.started == 1 and peer.stats.cancelled == 1


async def test_cancelling_a_batch_entry_still_answers_the_batch(raw_server):
    gate = Gate()
    peer, raw = await raw_server(gate.methods())
    await raw.send([{"jsonrpc": "2.0", "method": "block", "params": [1], "id": "a"},
                    {"jsonrpc": "2.0", "method": "echo", "params": [2], "id": "b"}])
    await wait_until(lambda: gate.running == 1, "the batch's slow entry to start")
    await raw.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": "a"}})
    answers = {answer["id"]: answer for answer in await raw.recv()}
    assert answers["a"]["error"]["code"] == rpc.REQUEST_CANCELLED and answers["b"]["result"] == 2


async def test_a_call_without_timeout_waits_as_long_as_it_takes(rpc_pair):
    gate = Gate()
    server, client = await rpc_pair(gate.methods(), client_options={"timeout": None})
    call = asyncio.ensure_future(client.call("block", ["done"]))
    await wait_until(lambda: gate.running == 1, "the method to start")
    gate.open.set()
    assert await within(call, "the call") == "done"


async def test_limits_must_be_positive(rpc_pair):
    _, client = await rpc_pair()
    with pytest.raises(ValueError):
        rpc.Peer(client.ws, max_concurrency=0)


async def test_methods_calling_back_their_caller_do_not_deadlock_a_full_queue(rpc_pair):
    """The server's one slot and its queue are full of methods that call the client back: it
    keeps reading (the answers free the slots) and refuses the requests beyond the queue with
    -32002, instead of stopping its reads and waiting for answers it no longer reads."""
    gate = asyncio.Event()
    server_methods = rpc.Methods()

    @server_methods.add
    async def ask(i):
        return await rpc.current_peer().call("answer", [i])

    client_methods = rpc.Methods()

    @client_methods.add
    async def answer(i):
        await gate.wait()
        return i * 2

    server, client = await rpc_pair(server_methods, client_methods,
                                    server_options={"max_concurrency": 1, "max_queued": 1, "timeout": 60},
                                    client_options={"timeout": 60})
    calls = [asyncio.ensure_future(client.call("ask", [i])) for i in range(6)]
    await wait_until(lambda: server.stats.overloaded == 4, "the requests beyond the queue to be refused")
    gate.set()
    results = await within(asyncio.gather(*calls, return_exceptions=True), "every call to end")
    assert results[:2] == [0, 2]
    assert all(isinstance(result, rpc.Overloaded) for result in results[2:])
    assert await within(client.call("ask", [7]), "a call after") == 14


async def test_no_queue_at_all(rpc_pair):
    """max_queued=0: a request that finds every slot taken stops the reading until one frees."""
    gate = Gate()
    server, client = await rpc_pair(gate.methods(), server_options={"max_concurrency": 1, "max_queued": 0})
    calls = [asyncio.ensure_future(client.call("block", [i])) for i in range(3)]
    await wait_until(lambda: gate.running == 1, "one method to run")
    for _ in range(50):  # loop turns, not time
        await asyncio.sleep(0)
    assert not server._queue and server.stats.requests_received == 1
    gate.open.set()
    assert await within(asyncio.gather(*calls), "the calls") == [0, 1, 2]


async def test_timeouts_of_calls_in_flight_together(rpc_pair):
    """A short timeout after a long one expires first; the long call is untouched."""
    gate = Gate()
    server, client = await rpc_pair(gate.methods())
    long_call = asyncio.ensure_future(client.call("block", ["long"], timeout=60))
    await wait_until(lambda: gate.running == 1, "the long call to run")
    for _ in range(2):
        with pytest.raises(rpc.CallTimeout):
            await within(client.call("block", ["short"], timeout=0.05), "the short call's timeout")
    await wait_until(lambda: gate.cancelled == 2, "the short calls to be cancelled")
    assert not long_call.done() and gate.running == 1
    gate.open.set()
    assert await within(long_call, "the long call") == "long"
    assert client.stats.timeouts == 2 and not client._deadlines


async def test_call_batch_timeouts_and_cancellation(rpc_pair):
    gate = Gate()
    server, client = await rpc_pair(gate.methods())
    # A batch is answered with one array once every entry is done: a slow entry holds the rest.
    results = await within(client.call_batch([("echo", [1]), ("block", [2])], timeout=0.05), "the batch")
    assert all(isinstance(result, rpc.CallTimeout) for result in results)
    await wait_until(lambda: gate.cancelled == 1, "the timed-out entry to be cancelled on the server")
    await wait_until(lambda: client.stats.late_responses == 2, "the batch's late answer")
    batch = asyncio.ensure_future(client.call_batch([("block", [3]), ("block", [4])], timeout=None))
    await wait_until(lambda: gate.running == 2, "both entries to run")
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    await wait_until(lambda: gate.cancelled == 3 and server._active == 0, "both entries to be cancelled")
    assert client.stats.cancels_sent == 4 and client._out_active == 0 and not client._pending


async def test_cancelling_a_task_iterating_a_stream_cancels_the_method(rpc_pair):
    produced = []
    methods = rpc.Methods()

    @methods.add
    async def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    server, client = await rpc_pair(methods)
    first = asyncio.Event()

    async def consume():
        async for _ in client.stream("endless", window=2):
            first.set()
            await asyncio.Event().wait()  # stuck on the first item

    task = asyncio.ensure_future(consume())
    await within(first.wait(), "the first item")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: server.stats.cancelled == 1 and server._active == 0, "the method to be cancelled")
    assert client._out_active == 0 and not client._streams


async def test_a_failing_reader_fails_the_pending_calls(serve_ws, connect_ws):
    """Reader mode: when on_message raises, run() ends with it and the calls in flight fail."""
    started = asyncio.Event()

    async def handler(ws):
        table = rpc.Methods()

        @table.add
        async def hold():
            started.set()
            await asyncio.Event().wait()

        await rpc.Peer(ws, table).run()

    server = await serve_ws(handler)

    def on_message(message):
        raise RuntimeError("application bug")

    ws = await connect_ws(server.uri)
    peer = rpc.Peer(ws, on_message=on_message)
    reader = asyncio.ensure_future(peer.run())
    call = asyncio.ensure_future(peer.call("hold"))
    await within(started.wait(), "the method to run")
    await next(iter(server.connections)).send("a plain message from the server")
    with pytest.raises(RuntimeError):
        await within(reader, "the reader to fail")
    with pytest.raises(wsfast.ConnectionClosed):
        await within(call, "the pending call to fail")
    assert peer.closed
    await ws.close()
