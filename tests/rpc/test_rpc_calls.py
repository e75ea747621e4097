"""Calls both ways: params by position and by name, sync and async methods, notifications,
errors as the caller sees them, batches from the caller, plain messages beside RPC."""
from __future__ import annotations

import asyncio

import pytest
from rpchelp import within

import wsfast
from wsfast import rpc


def server_methods():
    methods = rpc.Methods()

    @methods.add
    def echo(value):
        return value

    @methods.add
    async def add(a, b=0):
        return a + b

    @methods.add("math.neg")
    def neg(x):
        return -x

    @methods.add
    def now():
        return "no params"

    @methods.add
    def fail(code=1000):
        raise rpc.RPCError(code, "application failure", {"why": ["on", "purpose"]})

    @methods.add
    async def crash():
        raise ValueError("secret detail")

    @methods.add
    def unencodable():
        return {1, 2}

    @methods.add
    def type_error_inside(x):
        return x + "text"

    return methods


async def test_calls_with_positional_named_and_no_params(rpc_pair, codec):
    _, client = await rpc_pair(server_methods())
    assert await within(client.call("echo", ["hi ☃"]), "echo") == "hi ☃"
    assert await client.call("echo", {"value": {"a": [1, None, True]}}) == {"a": [1, None, True]}
    assert await client.call("add", (2, 40)) == 42
    assert await client.call("add", {"a": 1.5}) == 1.5
    assert await client.call("math.neg", [5]) == -5
    assert await client.call("now") == "no params"
    assert client.stats.calls_sent == 6 and client.stats.responses_received == 6


async def test_errors_reach_the_caller_with_their_codes(rpc_pair, codec):
    server, client = await rpc_pair(server_methods())
    with pytest.raises(rpc.MethodNotFound) as info:
        await within(client.call("missing"), "missing")
    assert info.value.code == rpc.METHOD_NOT_FOUND
    with pytest.raises(rpc.InvalidParams):
        await client.call("add", [1, 2, 3])          # too many
    with pytest.raises(rpc.InvalidParams):
        await client.call("add", {"c": 1})           # unknown name
    with pytest.raises(rpc.RPCError) as info:
        await client.call("fail", [4321])
    assert (info.value.code, info.value.message, info.value.data) == (4321, "application failure", {"why": ["on", "purpose"]})
    with pytest.raises(rpc.InternalError) as info:
        await client.call("crash")
    assert not info.value.has_data                   # the exception's text stays on the server
    with pytest.raises(rpc.InternalError):
        await client.call("unencodable")
    with pytest.raises(rpc.InternalError):           # a TypeError inside the method is not "invalid params"
        await client.call("type_error_inside", [1])
    s = server.stats
    assert (s.methods_not_found, s.invalid_params, s.application_errors, s.internal_errors) == (1, 2, 1, 3)
    assert await client.call("echo", ["still fine"]) == "still fine"


async def test_expose_errors_sends_the_exception_type_and_text(rpc_pair):
    _, client = await rpc_pair(server_methods(), server_options={"expose_errors": True})
    with pytest.raises(rpc.InternalError) as info:
        await within(client.call("crash"), "crash")
    assert info.value.data == {"type": "ValueError", "message": "secret detail"}


async def test_both_sides_call_each_other(rpc_pair):
    client_methods = rpc.Methods()
    client_methods.add(lambda n: n * 10, name="times_ten")
    methods = server_methods()

    @methods.add
    async def ask_back(n):
        # Inside a method, current_peer() is the caller's peer: call it back.
        return await rpc.current_peer().call("times_ten", [n]) + 1

    server, client = await rpc_pair(methods, client_methods)
    assert await within(server.call("times_ten", [4]), "server -> client") == 40
    assert await within(client.call("ask_back", [7]), "client -> server -> client") == 71


async def test_per_connection_methods_and_notifications(rpc_pair, codec):
    got = asyncio.Queue()
    methods = rpc.Methods()

    @methods.add
    def log(*items):
        got.put_nowait(items)

    server, client = await rpc_pair(methods)

    @server.method
    def only_here():
        return "this connection"

    assert "only_here" not in methods  # the shared table is untouched
    assert await within(client.call("only_here"), "only_here") == "this connection"
    await client.notify("log", ["a", 1])
    client.notify_nowait("log")
    await client.notify("no_such_method", [1])       # dropped and counted, never answered
    assert await within(got.get(), "first notification") == ("a", 1)
    assert await within(got.get(), "second notification") == ()
    assert await client.call("only_here") == "this connection"  # the unknown notification got no answer
    assert server.stats.notifications_received == 3 and server.stats.notification_errors == 1
    assert client.stats.unknown_responses == 0 and client.stats.notifications_sent == 3


async def test_call_batch_keeps_order_and_returns_errors_in_place(rpc_pair, codec):
    got = asyncio.Queue()
    methods = server_methods()
    methods.add(lambda x: got.put_nowait(x), name="note")
    server, client = await rpc_pair(methods)
    results = await within(client.call_batch(
        [("echo", ["a"]), ("missing", None), ("add", [1, 2]), ("fail", None)],
        notifications=[("note", ["n"])]), "a batch")
    assert results[0] == "a" and results[2] == 3
    assert isinstance(results[1], rpc.MethodNotFound) and results[3].code == 1000
    assert await within(got.get(), "the batch's notification") == "n"
    assert server.stats.batches_received == 1
    assert await client.call_batch([]) == []


async def test_plain_messages_share_the_connection(serve_peers, connect_peer, codec):
    plain = asyncio.Queue()

    async def on_message(message):  # reader mode awaits it before the next message; callback mode runs it as a task
        plain.put_nowait(message)
        await rpc.current_peer().ws.send(f"plain echo: {message}")

    server, _ = await serve_peers(server_methods(), on_message=on_message)
    client_plain = asyncio.Queue()
    client = await connect_peer(server.uri, on_message=client_plain.put_nowait)
    async with client:
        ws = client.ws
        await ws.send("hello")
        await ws.send('{"type": "chat", "text": "not JSON-RPC"}')
        await ws.send("[1, 2, 3]")
        await ws.send("{not json")
        await ws.send(b"\x00binary")
        assert await within(client.call("echo", ["rpc"]), "a call among plain messages") == "rpc"
        expected = ["hello", '{"type": "chat", "text": "not JSON-RPC"}', "[1, 2, 3]", "{not json", b"\x00binary"]
        for message in expected:
            assert await within(plain.get(), "a plain message") == message
            assert await within(client_plain.get(), "the plain echo") == f"plain echo: {message}"
        assert client.stats.plain_messages == 5 and client.stats.parse_errors == 0


async def test_connection_closing_fails_pending_calls(rpc_pair):
    started = asyncio.Event()
    methods = rpc.Methods()

    @methods.add
    async def forever():
        started.set()
        await asyncio.Event().wait()

    server, client = await rpc_pair(methods)
    call = asyncio.ensure_future(client.call("forever", timeout=None))
    await within(started.wait(), "the method to start")
    await server.close()
    with pytest.raises(wsfast.ConnectionClosed):
        await within(call, "the pending call to fail")
    with pytest.raises(wsfast.ConnectionClosed):
        await within(client.call("forever"), "a call after close")
    await within(client.wait_closed(), "the client peer to stop")
    assert client.closed and rpc.Peer.of(client.ws) is None


async def test_serve_and_connect_hooks(impl_name):
    """rpc.serve's on_connect / on_disconnect, around a connection opened with rpc.connect."""
    events = asyncio.Queue()

    async def on_connect(peer):
        try:
            events.put_nowait(("connect", await peer.call("whoami")))
        except rpc.MethodNotFound:
            events.put_nowait(("connect", "a client without whoami"))

    def on_disconnect(peer):
        events.put_nowait(("disconnect", peer.closed, rpc.Peer.of(peer.ws)))

    client_methods = rpc.Methods()
    client_methods.add(lambda: "the client", name="whoami")
    async with rpc.serve(server_methods(), "127.0.0.1", 0, on_connect=on_connect, on_disconnect=on_disconnect,
                         implementation=impl_name, timeout=10) as server:
        async with rpc.connect(f"ws://127.0.0.1:{server.port()}/", client_methods,
                               implementation=impl_name) as peer:
            assert await within(events.get(), "on_connect") == ("connect", "the client")
            assert await within(peer.call("add", [1, 2]), "a call") == 3
        assert await within(events.get(), "on_disconnect") == ("disconnect", True, None)
        peer = await rpc.connect(f"ws://127.0.0.1:{server.port()}/", implementation=impl_name)
        assert await within(events.get(), "the second connection") == ("connect", "a client without whoami")
        assert await within(peer.call("echo", ["awaited"]), "a call") == "awaited"
        await peer.close()
        assert peer.closed


async def test_methods_of_an_object(rpc_pair):
    class Calculator:
        def __init__(self):
            self.total = 0

        def add(self, n):
            self.total += n
            return self.total

        async def reset(self):
            self.total = 0
            return "reset"

        def _private(self):
            return "hidden"

    calc = Calculator()
    table = rpc.methods_of(calc, "calc.")
    assert sorted(table) == ["calc.add", "calc.reset"]
    _, client = await rpc_pair(table)
    assert await within(client.call("calc.add", [2]), "add") == 2
    assert await client.call("calc.add", [3]) == 5
    assert await client.call("calc.reset") == "reset" and calc.total == 0
    with pytest.raises(rpc.MethodNotFound):
        await client.call("calc._private")
    with pytest.raises(ValueError):
        rpc.Methods().add(len, name="rpc.reserved")
    with pytest.raises(ValueError):
        rpc.Methods({"$/cancelRequest": len})
