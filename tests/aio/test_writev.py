"""wsfast.asyncio.sendmsg: frames handed to the socket with one sendmsg on asyncio's own
transport (Python 3.11), the unsent rest through the transport. Unit tests with a scripted
socket for the partial-send bookkeeping, and a real echo of large messages in order."""
from __future__ import annotations

import array
import asyncio
import socket
import sys

import pytest

import wsfast
from wsfast.asyncio import sendmsg as writev
from waiting import wait_until


def loop_name():
    return "asyncio" if type(asyncio.get_running_loop()).__module__.startswith("asyncio") else "other"


class FakeSocket:
    """Accepts ``accept`` bytes per sendmsg call (or raises ``error``) and records them."""

    def __init__(self, accept=None, error=None):
        self.accept, self.error, self.received, self.calls = accept, error, b"", 0

    def sendmsg(self, parts):
        self.calls += 1
        if self.error is not None:
            raise self.error
        data = b"".join(bytes(p) for p in parts)
        n = len(data) if self.accept is None else min(self.accept, len(data))
        self.received += data[:n]
        return n


class FakeTransport:
    """Records each call: ``written`` the bytes in order, ``calls`` one joined entry per
    ``write``/``writelines`` (what a joining transport would copy)."""

    def __init__(self, buffered=0):
        self.buffered, self.written, self.calls = buffered, [], []

    def get_write_buffer_size(self):
        return self.buffered

    def write(self, data):
        self.written.append(bytes(data))
        self.calls.append(len(data))

    def writelines(self, parts):
        self.written.extend(bytes(p) for p in parts)
        self.calls.append(sum(len(p) for p in parts))


PARTS = [b"\x82\x7e\x00\x05", b"hello", b"\x82\x05", memoryview(b"world"), bytearray(b"!!")]
WHOLE = b"".join(bytes(p) for p in PARTS)


@pytest.mark.parametrize("accept", range(len(WHOLE) + 1))
def test_partial_send_leaves_exactly_the_rest_to_the_transport(accept):
    sock, transport = FakeSocket(accept), FakeTransport()
    writev.send_parts(transport, sock, list(PARTS))
    assert sock.calls == 1
    assert sock.received + b"".join(transport.written) == WHOLE
    assert sock.received == WHOLE[:accept]


def test_memoryview_of_wider_items_is_counted_in_bytes():
    ints = memoryview(array.array("i", range(8)))  # 8 items, 32 bytes
    parts = [b"\x82\x20", ints]
    sock, transport = FakeSocket(accept=10), FakeTransport()
    writev.send_parts(transport, sock, parts)
    assert sock.received + b"".join(transport.written) == b"\x82\x20" + ints.tobytes()


@pytest.mark.parametrize("error", [BlockingIOError(), InterruptedError(), ConnectionResetError()])
def test_errors_hand_everything_to_the_transport(error):
    # EAGAIN: nothing was sent; a reset: the transport's own write reports it.
    sock, transport = FakeSocket(error=error), FakeTransport()
    writev.send_parts(transport, sock, list(PARTS))
    assert b"".join(transport.written) == WHOLE


def test_buffered_transport_keeps_the_order():
    # Bytes already queued in the transport go first: no direct send may overtake them.
    sock, transport = FakeSocket(), FakeTransport(buffered=1)
    writev.send_parts(transport, sock, list(PARTS))
    assert sock.calls == 0 and b"".join(transport.written) == WHOLE


def test_large_payloads_are_never_joined_on_the_transport_path():
    # The transport already buffers (or sendmsg took nothing): the 300 KB payloads still go
    # to the transport one by one, the small headers between them joined.
    big1, big2 = b"a" * writev.JOIN_LIMIT, b"b" * (writev.JOIN_LIMIT + 5)
    parts = [b"h1", big1, b"h2", b"h3", big2]
    for sock, transport in ((FakeSocket(), FakeTransport(buffered=1)),
                            (FakeSocket(error=BlockingIOError()), FakeTransport())):
        writev.send_parts(transport, sock, list(parts))
        assert b"".join(transport.written) == b"".join(parts)
        assert transport.calls == [2, len(big1), 4, len(big2)]


def test_small_parts_are_joined_in_one_call():
    transport = FakeTransport()
    writev.write_parts(transport, [b"x" * 100] * 3 + [memoryview(b"y" * 5000)])
    assert transport.calls == [5300]


def test_more_parts_than_iov_max_go_through_the_transport():
    parts = [b"x"] * (writev.MAX_PARTS + 1)
    sock, transport = FakeSocket(), FakeTransport()
    writev.send_parts(transport, sock, parts)
    assert sock.calls == 0 and len(transport.written) == len(parts)


async def test_direct_socket_only_for_the_selector_transport_before_312():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    try:
        sock = writev.direct_socket(transport)
        selector = type(transport).__name__ == "_SelectorSocketTransport"
        if selector and sys.version_info < (3, 12):
            assert isinstance(sock, socket.socket) and sock.fileno() >= 0
        else:
            assert sock is None  # uvloop, or a Python whose writelines already uses sendmsg
    finally:
        transport.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("io", ["transports", "native"])
async def test_large_messages_echo_in_order_through_a_slow_reader(serve_ws, monkeypatch, io):
    # Batches bigger than the socket buffer: partial sendmsg calls, tails buffered by the
    # transport, more sends while it is still buffered; every byte must arrive in order.
    # On the native path the reactor's SocketTransport does the partial writes itself.
    from wsfast.asyncio import connection

    seen = {"direct": 0, "rest_buffered": 0, "native_buffered": 0}

    def spy(transport, sock, parts):
        direct = not transport.get_write_buffer_size()
        writev.send_parts(transport, sock, parts)
        seen["direct"] += direct
        seen["rest_buffered"] += direct and transport.get_write_buffer_size() > 0

    monkeypatch.setattr(connection, "send_parts", spy)

    direct_path = []

    async def handler(ws):
        # Small kernel buffers on both ends (set here, not assumed): a 1.2 MB batch can't fit.
        ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        direct_path.append(writev.direct_socket(ws.transport) is not None)
        async for message in ws:
            for i in range(4):
                ws.send_nowait(message + bytes([i]))
            seen["native_buffered"] += ws.transport.get_write_buffer_size() > 0
            await ws.drain()

    server = await serve_ws(handler, compression=None, max_size=2**22, io=io)
    messages = [bytes([n]) * (300_000 + n) for n in range(6)]
    async with wsfast.connect(server.uri, compression=None, max_size=2**22,
                              use_aiofastnet=False) as ws:
        ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        for message in messages:
            await ws.send(message)
        await wait_until(lambda: direct_path, "the server's handler to start")
        if direct_path[0]:
            # The server's sends outrun this reader, which reads nothing until then.
            await wait_until(lambda: seen["rest_buffered"], "a direct write to leave its rest to the transport")
        for message in messages:
            for i in range(4):
                assert await ws.recv() == message + bytes([i])
        if io == "native":
            # The reactor's transport wrote directly and buffered the rest itself.
            assert not seen["direct"] and seen["native_buffered"]
        elif writev.direct_socket(ws.transport) is not None:  # asyncio's transport on 3.11
            assert seen["direct"] and seen["rest_buffered"]
        else:
            assert loop_name() != "asyncio" or sys.version_info >= (3, 12)
