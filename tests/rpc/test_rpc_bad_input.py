"""What a peer does with input a correct JSON-RPC 2.0 peer never sends: the error response the
spec asks for, or a counted drop; never a crash, never unbounded work."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import pytest
from rawframes import frame
from rpchelp import wait_until, within

from wsfast import rpc


def methods():
    table = rpc.Methods()
    table.add(lambda value: value, name="echo")
    table.add(lambda a, b: a - b, name="subtract")
    table.add(lambda *args: None, name="notify_me")

    @table.add
    async def wait(event_name):
        await EVENTS[event_name].wait()
        return event_name

    return table


EVENTS: dict[str, asyncio.Event] = {}


def error_of(response, code, id=None):
    assert response["jsonrpc"] == "2.0" and "result" not in response, response
    assert response["id"] == id and response["error"]["code"] == code, response
    return response["error"]


@pytest.mark.parametrize("text", ['{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', "", "\x00",
                                  "[" * 100_000, '{"jsonrpc": "2.0", "method": "echo", "params": [NaN], "id": 1'])
async def test_malformed_json_is_a_parse_error(raw_server, text, codec):
    peer, raw = await raw_server(methods())
    error_of(await raw.ask(text), rpc.PARSE_ERROR)
    assert peer.stats.parse_errors == 1
    assert await raw.ask({"jsonrpc": "2.0", "method": "echo", "params": [1], "id": 1}) == {"jsonrpc": "2.0", "result": 1, "id": 1}


@pytest.mark.parametrize("request_, id", [
    ({"jsonrpc": "2.0", "method": 1, "params": "bar"}, None),          # the spec's example
    ({"jsonrpc": "2.0", "method": "echo", "params": "bar", "id": 5}, 5),  # params neither array nor object
    ({"jsonrpc": "2.0", "method": "echo", "params": 3, "id": 6}, 6),
    ({"jsonrpc": "1.0", "method": "echo", "params": [1], "id": 7}, 7),
    ({"method": "echo", "params": [1], "id": 8}, 8),
    ({"jsonrpc": "2.0", "method": "echo", "params": [1], "id": {"an": "object"}}, None),
    ({"jsonrpc": "2.0", "method": "echo", "params": [1], "id": [1]}, None),
    ({"jsonrpc": "2.0", "method": "echo", "params": [1], "id": True}, None),
    ({"jsonrpc": "2.0", "id": 9}, 9),                                   # neither a request nor a response
    ("42", None),
    ('"a string"', None),
    ("null", None),
])
async def test_invalid_requests(raw_server, request_, id, codec):
    peer, raw = await raw_server(methods())
    error_of(await raw.ask(request_), rpc.INVALID_REQUEST, id)
    assert peer.stats.invalid_requests == 1


async def test_the_spec_batch_examples(raw_server, codec):
    peer, raw = await raw_server(methods())
    error_of(await raw.ask("[]"), rpc.INVALID_REQUEST)
    answers = await raw.ask("[1]")
    assert len(answers) == 1
    error_of(answers[0], rpc.INVALID_REQUEST)
    answers = await raw.ask("[1, 2, 3]")
    assert len(answers) == 3
    for answer in answers:
        error_of(answer, rpc.INVALID_REQUEST)
    answers = await raw.ask([
        {"jsonrpc": "2.0", "method": "echo", "params": [7], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_me", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "subtract", "params": {"a": 1}, "id": "9"},
    ])
    by_id = {answer["id"]: answer for answer in answers}
    assert len(answers) == 5 and by_id["1"]["result"] == 7 and by_id["2"]["result"] == 19
    error_of(by_id[None], rpc.INVALID_REQUEST)
    error_of(by_id["5"], rpc.METHOD_NOT_FOUND, "5")
    error_of(by_id["9"], rpc.INVALID_PARAMS, "9")
    # A batch of notifications only: no answer at all. The next request shows nothing came.
    await raw.send([{"jsonrpc": "2.0", "method": "notify_me", "params": [1, 2]},
                    {"jsonrpc": "2.0", "method": "notify_me", "params": [7]}])
    assert (await raw.ask({"jsonrpc": "2.0", "method": "echo", "params": ["after"], "id": 3}))["result"] == "after"


async def test_a_batch_of_100000_entries_is_one_error(raw_server, codec):
    started = []
    table = methods()
    table.add(lambda: started.append(1), name="count")
    peer, raw = await raw_server(table, serve_options={"max_size": 16 * 2**20})
    entry = {"jsonrpc": "2.0", "method": "count", "id": 1}
    answer = await raw.ask([entry] * 100_000)
    error = error_of(answer, rpc.INVALID_REQUEST)
    assert error["data"] == {"max_batch": 100, "size": 100_000}
    assert started == [] and peer._active == 0 and not peer._queue
    assert peer.stats.batches_too_large == 1
    answers = await raw.ask([entry] * 100)  # at the limit: run
    assert len(answers) == 100 and len(started) == 100


async def test_an_id_reused_while_in_flight(raw_server, codec):
    EVENTS["dup"] = asyncio.Event()
    peer, raw = await raw_server(methods())
    await raw.send({"jsonrpc": "2.0", "method": "wait", "params": ["dup"], "id": 77})
    error_of(await raw.ask({"jsonrpc": "2.0", "method": "echo", "params": [1], "id": 77}), rpc.INVALID_REQUEST, 77)
    assert peer.stats.duplicate_ids == 1
    EVENTS["dup"].set()
    assert (await raw.recv()) == {"jsonrpc": "2.0", "result": "dup", "id": 77}
    # Once answered, the id is free again.
    assert (await raw.ask({"jsonrpc": "2.0", "method": "echo", "params": [2], "id": 77}))["result"] == 2


async def test_answers_to_ids_never_sent_are_counted_and_dropped(raw_server, codec):
    peer, raw = await raw_server(methods())
    await raw.send({"jsonrpc": "2.0", "result": 1, "id": 12345})
    await raw.send({"jsonrpc": "2.0", "error": {"code": -1, "message": "x"}, "id": "nope"})
    await raw.send({"jsonrpc": "2.0", "result": 1, "id": [1, 2]})
    await raw.send({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None})
    await raw.send([{"jsonrpc": "2.0", "result": 1, "id": 1}, {"jsonrpc": "2.0", "result": 2, "id": 2}])
    assert (await raw.ask({"jsonrpc": "2.0", "method": "echo", "params": [3], "id": 3}))["result"] == 3
    assert peer.stats.unknown_responses == 5 and peer.stats.peer_errors == 1
    assert peer.stats.responses_received == 6


async def test_invalid_responses_fail_the_call(serve_ws, connect_ws, codec):
    answers = [
        lambda id: {"jsonrpc": "2.0", "result": 1, "error": {"code": 1, "message": "both"}, "id": id},
        lambda id: {"jsonrpc": "2.0", "error": "not an object", "id": id},
        lambda id: {"jsonrpc": "2.0", "error": {"code": "1", "message": "code not an int"}, "id": id},
        lambda id: {"jsonrpc": "2.0", "error": {"code": 7}, "id": id},  # no message: a default one
    ]

    async def handler(ws):  # a hand-made server answering badly
        for answer in answers:
            request = json.loads(await ws.recv())
            await ws.send(json.dumps(answer(request["id"])))
        await ws.wait_closed()

    server = await serve_ws(handler)
    async with rpc.Peer(await connect_ws(server.uri)) as peer:
        for _ in range(3):
            with pytest.raises(rpc.InternalError):
                await within(peer.call("x"), "a bad answer")
        with pytest.raises(rpc.RPCError) as info:
            await within(peer.call("x"), "an answer without message")
        assert info.value.code == 7 and info.value.message == "Server error"
        assert peer.stats.invalid_responses == 3


async def test_a_method_that_raises_or_never_returns(raw_server, codec):
    table = methods()

    @table.add
    async def hang():
        await asyncio.Event().wait()

    @table.add
    def boom():
        raise RuntimeError("boom")

    peer, raw = await raw_server(table, method_timeout=0.05)
    error_of(await raw.ask({"jsonrpc": "2.0", "method": "boom", "id": 1}), rpc.INTERNAL_ERROR, 1)
    error = error_of(await raw.ask({"jsonrpc": "2.0", "method": "hang", "id": 2}), rpc.METHOD_TIMEOUT, 2)
    assert error["data"] == {"timeout": 0.05}
    await raw.send({"jsonrpc": "2.0", "method": "boom"})  # a notification that raises: counted
    await raw.send({"jsonrpc": "2.0", "method": "echo", "params": [1, 2]})  # bad params: counted
    assert (await raw.ask({"jsonrpc": "2.0", "method": "echo", "params": [3], "id": 3}))["result"] == 3
    assert peer.stats.internal_errors == 1 and peer.stats.method_timeouts == 1
    assert peer.stats.notification_errors == 2 and peer._active == 0


async def test_extension_messages_with_bad_params_are_dropped(raw_server, codec):
    peer, raw = await raw_server(methods())
    for params in ({"id": [1]}, {"nothing": 1}, [1, 2]):
        await raw.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": params})
    await raw.send({"jsonrpc": "2.0", "method": "$/credit", "params": {"id": 1, "credit": "lots"}})
    await raw.send({"jsonrpc": "2.0", "method": "$/item", "params": {"id": 99, "item": 1}})
    await raw.send({"jsonrpc": "2.0", "method": "$/unknown"})
    error_of(await raw.ask({"jsonrpc": "2.0", "method": "$/stream", "params": {"method": "echo", "window": 0}, "id": 4}),
             rpc.INVALID_PARAMS, 4)
    error_of(await raw.ask({"jsonrpc": "2.0", "method": "$/stream", "params": {"method": "nope"}, "id": 5}),
             rpc.METHOD_NOT_FOUND, 5)
    error_of(await raw.ask({"jsonrpc": "2.0", "method": "$/stream", "params": [1], "id": 6}), rpc.INVALID_REQUEST, 6)
    assert (await raw.ask({"jsonrpc": "2.0", "method": "echo", "params": [3], "id": 3}))["result"] == 3
    assert peer.stats.stream_items_dropped == 1 and peer.stats.notification_errors == 5
    assert peer.stats.cancels_received == 0


async def test_a_flood_of_requests_never_runs_more_than_the_limits(raw_server, codec):
    """A peer that sends requests without end: the server runs max_concurrency, queues
    max_queued, and stops reading beyond that; everything is answered in the end."""
    EVENTS["flood"] = asyncio.Event()
    held = []
    table = methods()

    @table.add
    async def hold(i):
        held.append(peer._active + len(peer._queue))
        await EVENTS["flood"].wait()
        return i

    peer, raw = await raw_server(table, max_concurrency=4, max_queued=8)
    n = 200
    for i in range(n):
        await raw.send({"jsonrpc": "2.0", "method": "hold", "params": [i], "id": i})
    await wait_until(lambda: len(peer._queue) == 8, "the queue to fill")
    for _ in range(50):  # loop turns, not time: the peer reads no further
        await asyncio.sleep(0)
    assert peer._active == 4 and len(peer._queue) == 8 and peer.stats.requests_received == 12
    EVENTS["flood"].set()
    results = sorted([(await raw.recv())["result"] for _ in range(n)])
    assert results == list(range(n))
    assert max(held) <= 4 + 8
    assert peer._active == 0 and not peer._queue


async def test_a_peer_that_never_reads_its_answers_stops_being_read(serve_peers):
    """The server stops handling requests while its write buffer is full: a client that sends
    requests and never reads the answers cannot make it buffer them without bound."""
    table = rpc.Methods()
    table.add(lambda size: "x" * size, name="big")
    server, opened = await serve_peers(table, {"write_limit": 64 * 1024})
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port()))
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    assert (await within(reader.readuntil(b"\r\n\r\n"), "the handshake")).startswith(b"HTTP/1.1 101")
    n = 2000  # 2000 answers of 100 kB: far more than any socket buffers hold
    request = frame(1, json.dumps({"jsonrpc": "2.0", "method": "big", "params": [100_000], "id": 1}).encode())
    writer.write(request * n)  # and never read again
    peers = [await within(opened.get(), "the server's peer")]
    await wait_until(lambda: peers[0].ws.buffered_amount > 0, "the server's writes to back up")
    handled = peers[0].stats.requests_received
    for _ in range(100):  # let the server run: it must not take more requests meanwhile
        await asyncio.sleep(0)
    assert peers[0].stats.requests_received == handled < n
    # The limit, plus the answers written between two looks at the write buffer (256 KiB).
    assert peers[0].ws.buffered_amount < 64 * 1024 + 256 * 1024 + 2 * 100_000
    writer.transport.abort()


async def test_extension_notifications_sent_as_requests_get_an_empty_answer(raw_server):
    peer, raw = await raw_server(methods())
    answer = await raw.ask({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 12345}, "id": 1})
    assert answer == {"jsonrpc": "2.0", "result": None, "id": 1}
    assert peer.stats.cancels_received == 1
