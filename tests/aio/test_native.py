"""The native I/O path: the reactor's ``SocketTransport`` (both twins, asyncio and uvloop)
behaves as the asyncio transport subset wsfast relies on, and a server on it survives
peers that vanish, partial writes, resets, closes from inside a callback and mass drops.

Every wait is for an event, with a deadline that only catches hangs (tests/waiting.py).
"""
from __future__ import annotations

import asyncio
import gc
import os
import socket
import struct

import pytest

import wsfast
from wsfast.asyncio import native
from waiting import wait_for, wait_until

pytestmark = pytest.mark.skipif(not native.available(), reason="the native path needs Linux epoll")


def open_fds() -> int:
    """This process's sockets and epoll sets (not pipes: uvloop keeps a subprocess's a
    little longer, and those are not the server's)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, closed meanwhile
        count += target.startswith("socket:") or target == "anon_inode:[eventpoll]"
    return count


class Recorder(asyncio.BufferedProtocol):
    """Records what a transport tells its protocol."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = None
        self.data = bytearray()
        self.buf = bytearray(4096)
        self.events: list = []
        self.lost = loop.create_future()
        self.keep_open = False
        self.on_data = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def get_buffer(self, sizehint):
        return memoryview(self.buf)

    def buffer_updated(self, nbytes):
        self.data += self.buf[:nbytes]
        if self.on_data is not None:
            self.on_data(self)

    def eof_received(self):
        self.events.append("eof")
        return self.keep_open

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.events.append(("lost", exc))
        self.lost.set_result(exc)


class Pair:
    """A reactor serving one accepted TCP connection, and the plain client socket."""

    def __init__(self, impl):
        self.impl = impl
        self.protocols: list[Recorder] = []

    async def start(self):
        loop = asyncio.get_running_loop()
        self.reactor = self.impl.reactor.Reactor(loop)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.reactor.listen(self.listener, lambda: self._made(loop), 16)
        self.client = socket.socket()
        self.client.setblocking(False)
        await loop.sock_connect(self.client, self.listener.getsockname())
        await wait_until(lambda: self.protocols, "the reactor to accept the connection")
        self.server = self.protocols[0]
        return self

    def _made(self, loop):
        proto = Recorder(loop)
        self.protocols.append(proto)
        return proto

    async def read_exactly(self, n: int) -> bytes:
        loop = asyncio.get_running_loop()
        out = bytearray()
        while len(out) < n:
            chunk = await wait_for(loop.sock_recv(self.client, 1 << 20), f"{n - len(out)} more bytes")
            assert chunk, f"EOF after {len(out)} of {n} bytes"
            out += chunk
        return bytes(out)

    async def read_to_eof(self) -> bytes:
        loop = asyncio.get_running_loop()
        out = bytearray()
        while chunk := await wait_for(loop.sock_recv(self.client, 1 << 20), "EOF from the server"):
            out += chunk
        return bytes(out)

    def small_buffers(self):
        """Small kernel buffers on both ends, set here rather than assumed: megabytes can't
        fit, so writes are partial and the rest waits in the transport."""
        self.server.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        self.client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)

    def close(self):
        self.client.close()
        self.reactor.stop_listening(self.listener)
        self.listener.close()
        self.reactor.close()


@pytest.fixture
async def pair(impl):
    p = await Pair(impl).start()
    yield p
    p.close()


async def test_echo_addresses_and_socket(pair):
    loop = asyncio.get_running_loop()
    t = pair.server.transport
    assert t.get_extra_info("peername") == pair.client.getsockname()
    assert t.get_extra_info("sockname") == pair.listener.getsockname()
    assert t.get_extra_info("nonsense", 7) == 7
    assert t.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert t.get_protocol() is pair.server and t.is_reading() and not t.is_closing()
    await loop.sock_sendall(pair.client, b"hello")
    await wait_until(lambda: pair.server.data == b"hello", "the server to read 5 bytes")
    t.write(b"abc")
    t.write(memoryview(b"--def--")[2:5])
    t.writelines([b"g", bytearray(b"h"), memoryview(b"i"), b""])
    assert await pair.read_exactly(9) == b"abcdefghi"
    assert len(pair.reactor) == 1


async def test_partial_writes_buffer_pause_and_resume_in_order(pair):
    t = pair.server.transport
    pair.small_buffers()  # and a reader that reads nothing yet
    t.set_write_buffer_limits(high=65536)
    assert t.get_write_buffer_limits() == (16384, 65536)
    blob = os.urandom(4 << 20)
    t.write(blob[:1 << 20])
    t.writelines([blob[1 << 20:2 << 20], memoryview(blob)[2 << 20:3 << 20]])
    t.write(blob[3 << 20:])
    assert t.get_write_buffer_size() > 0
    assert pair.server.events.count("pause") == 1
    assert await pair.read_exactly(len(blob)) == blob
    await wait_until(lambda: t.get_write_buffer_size() == 0, "the buffer to drain")
    assert pair.server.events[-1] == "resume"


async def test_close_drains_the_buffer_then_connection_lost(pair):
    t = pair.server.transport
    pair.small_buffers()
    blob = os.urandom(2 << 20)
    t.write(blob)
    t.close()
    assert t.is_closing() and not t.is_reading()
    t.close()  # twice is harmless
    assert await pair.read_to_eof() == blob
    assert await wait_for(pair.server.lost, "connection_lost") is None
    assert pair.server.events.count(("lost", None)) == 1
    await wait_until(lambda: len(pair.reactor) == 0, "the reactor to forget the transport")
    t.write(b"ignored after close")  # no error: the bytes are dropped, as asyncio does


async def test_abort_drops_the_buffer(pair):
    t = pair.server.transport
    pair.small_buffers()
    t.write(os.urandom(2 << 20))
    assert t.get_write_buffer_size() > 0
    t.abort()
    assert t.get_write_buffer_size() == 0
    assert await wait_for(pair.server.lost, "connection_lost") is None


async def test_peer_reset_while_writing_reports_the_error(pair):
    t = pair.server.transport
    pair.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    pair.client.close()  # RST
    for _ in range(1000):  # EPIPE or ECONNRESET, on a write or on the read of the RST
        if pair.server.lost.done():
            break
        t.write(b"x" * 65536)
        await asyncio.sleep(0)
    exc = await wait_for(pair.server.lost, "connection_lost after the peer's reset")
    assert isinstance(exc, (ConnectionResetError, BrokenPipeError)), exc
    assert pair.server.events.count("made") == 1


async def test_close_from_inside_its_own_read(pair):
    loop = asyncio.get_running_loop()

    def on_data(proto):
        proto.transport.write(b"bye")
        proto.transport.close()
        assert not proto.lost.done()  # connection_lost comes later, from the loop

    pair.server.on_data = on_data
    await loop.sock_sendall(pair.client, b"hi")
    assert await pair.read_to_eof() == b"bye"
    await wait_for(pair.server.lost, "connection_lost")
    assert [e for e in pair.server.events if e != "made"] == [("lost", None)]


async def test_eof_received_half_close_and_write_eof(pair):
    loop = asyncio.get_running_loop()
    pair.server.keep_open = True
    pair.client.shutdown(socket.SHUT_WR)
    await wait_until(lambda: "eof" in pair.server.events, "eof_received")
    t = pair.server.transport
    assert not t.is_closing()  # eof_received returned True: still writable
    t.write(b"after eof")
    assert t.can_write_eof()
    t.write_eof()
    with pytest.raises(RuntimeError):
        t.write(b"more")
    assert await pair.read_to_eof() == b"after eof"
    t.close()
    await wait_for(pair.server.lost, "connection_lost")
    del loop


async def test_eof_received_false_closes(pair):
    pair.client.shutdown(socket.SHUT_WR)
    await wait_for(pair.server.lost, "connection_lost after the peer's FIN")
    assert pair.server.events[1:] == ["eof", ("lost", None)]


async def test_pause_and_resume_reading(pair):
    loop = asyncio.get_running_loop()
    t = pair.server.transport
    t.pause_reading()
    assert not t.is_reading()
    await loop.sock_sendall(pair.client, b"held")
    # The bytes wait in the kernel; a round trip through the loop proves nothing was read.
    for _ in range(20):
        await asyncio.sleep(0)
    assert pair.server.data == b""
    t.resume_reading()
    await wait_until(lambda: pair.server.data == b"held", "the held bytes after resume_reading")


async def test_descriptors_come_back_after_many_connections(impl):
    loop = asyncio.get_running_loop()
    before = open_fds()
    p = await Pair(impl).start()
    clients = [p.client]
    for _ in range(199):
        c = socket.socket()
        c.setblocking(False)
        await loop.sock_connect(c, p.listener.getsockname())
        clients.append(c)
    await wait_until(lambda: len(p.protocols) == 200, "200 accepted connections")
    for c in clients:
        c.close()
    await wait_until(lambda: all(pr.lost.done() for pr in p.protocols), "200 connection_lost calls")
    assert len(p.reactor) == 0
    p.reactor.stop_listening(p.listener)
    p.listener.close()
    p.reactor.close_when_empty()  # no transport left: closes the epoll descriptor now
    assert p.reactor.closed
    assert open_fds() == before


# ------------------------------------------------------------------------ whole servers


async def test_serve_io_choices(impl_name):
    async def handler(ws):
        await ws.send(ws.request.path)

    for io in ("native", "transports"):
        async with wsfast.serve(handler, "127.0.0.1", 0, io=io, implementation=impl_name) as server:
            assert isinstance(server.server, native.NativeServer) == (io == "native")
            async with wsfast.connect(f"ws://127.0.0.1:{server.port()}/p", implementation=impl_name) as ws:
                assert await ws.recv() == "/p"
    with pytest.raises(ValueError, match="io must be"):
        wsfast.serve(handler, "127.0.0.1", 0, io="epoll")


async def test_unix_sockets_keep_the_transports(tmp_path):
    async def handler(ws):
        await ws.send("ok")

    with pytest.raises(ValueError, match="unix sockets"):
        wsfast.unix_serve(handler, str(tmp_path / "s"), io="native")
    async with wsfast.unix_serve(handler, str(tmp_path / "s")) as server:  # None: falls back
        assert not isinstance(server.server, native.NativeServer)


def _raw_upgrade(port: int) -> bytes:
    return (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % port)


async def _raw_clients(port: int, count: int) -> list[socket.socket]:
    """``count`` upgraded connections from plain sockets (each reads its 101 answer)."""
    loop = asyncio.get_running_loop()
    request = _raw_upgrade(port)

    async def one() -> socket.socket:
        s = socket.socket()
        s.setblocking(False)
        await loop.sock_connect(s, ("127.0.0.1", port))
        await loop.sock_sendall(s, request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(s, 4096)
            assert chunk, "closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head[:40]
        return s

    clients: list[socket.socket] = []
    for start in range(0, count, 500):  # 500 handshakes at a time: within any backlog
        clients += await wait_for(asyncio.gather(*(one() for _ in range(min(500, count - start)))),
                                  f"handshakes {start}..{start + 500}")
    return clients


# The peers of the mass-drop test, in their own process (its own descriptor limit): open
# COUNT upgraded connections, say "open", and on a line from stdin reset them all at once.
_DROPPER = r"""
import resource, socket, struct, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
request = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
socks = []
for i in range(count):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(f"connection {i} closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit(f"connection {i}: {head[:40]!r}")
    socks.append(s)
print("open", flush=True)
sys.stdin.readline()
linger = struct.pack("ii", 1, 0)
for s in socks:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    s.close()
print("reset", flush=True)
"""


async def test_ten_thousand_connections_dropped_at_once(impl_name):
    """10,000 upgraded connections reset by their peers in one go: no crash, every
    connection closed, descriptors back to baseline, Python memory back near its baseline."""
    import resource
    import sys
    import tracemalloc

    count = 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < count + 500:
        pytest.skip(f"needs {count + 500} descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    closed = []

    class Callbacks:
        def on_message(self, ws, message, opcode):
            pass

        def on_close(self, ws, code, reason):
            closed.append(code)

    gc.collect()
    tracemalloc.start()
    peers = None
    try:
        before_fds = open_fds()
        base = tracemalloc.get_traced_memory()[0]
        server = await wsfast.serve(Callbacks(), "127.0.0.1", 0, io="native", backlog=4096,
                                    implementation=impl_name, compression=None)
        peers = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _DROPPER, str(server.port()), str(count),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        line = await wait_for(peers.stdout.readline(), f"the peer process to open {count} connections", timeout=300)
        assert line == b"open\n", line
        await wait_until(lambda: len(server.connections) == count, f"{count} open connections")
        during = tracemalloc.get_traced_memory()[0] - base
        peers.stdin.write(b"go\n")
        await peers.stdin.drain()
        assert await wait_for(peers.stdout.readline(), "the peers' resets") == b"reset\n"
        await wait_until(lambda: len(closed) == count, f"on_close for {count} connections", timeout=120)
        assert set(closed) == {1006}
        assert not server.connections and len(server.server.reactor) == 0
        server.close()
        await wait_for(server.wait_closed(), "the server to close")
        del server
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        if peers is not None and peers.returncode is None:
            peers.kill()
            await peers.wait()
    assert open_fds() == before_fds
    # The Python memory the connections held goes back: what is left is a small fraction
    # (caches warmed once, e.g. the reactor's descriptor table while it lived).
    assert after < during / 10, (after, during)


async def test_peers_vanish_mid_broadcast(impl_name):
    """Half the subscribers reset their connections while broadcasts are in flight: every
    call accounts for every connection, the others receive every message in order."""
    conns = []

    class Callbacks:
        def on_open(self, ws):
            conns.append(ws)

        def on_message(self, ws, message, opcode):
            pass

    server = await wsfast.serve(Callbacks(), "127.0.0.1", 0, io="native",
                                implementation=impl_name, compression=None)
    try:
        clients = await _raw_clients(server.port(), 100)
        await wait_until(lambda: len(conns) == 100, "100 open connections")
        for s in clients:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        survivors, leavers = clients[::2], clients[1::2]
        linger = struct.pack("ii", 1, 0)
        payload = b"m" * 1000
        results = []
        for i in range(60):
            if i == 20:
                for s in leavers:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    s.close()
            results.append(wsfast.broadcast(list(conns), payload + b"%04d" % i))
            await asyncio.sleep(0)
        for r in results:
            assert r.sent + r.skipped + r.closed + r.not_open == 100
        assert results[0].sent == 100
        # The survivors read everything broadcast to them, in order.
        loop = asyncio.get_running_loop()
        frame_size = 4 + 1004
        for s in survivors:
            got = bytearray()
            while len(got) < 60 * frame_size:
                chunk = await wait_for(loop.sock_recv(s, 1 << 20), "the survivor's broadcasts")
                assert chunk
                got += chunk
            for i in range(60):
                frame = got[i * frame_size:(i + 1) * frame_size]
                assert frame[:4] == b"\x82\x7e\x03\xec" and frame[-4:] == b"%04d" % i
        await wait_until(lambda: len(server.connections) == 50, "the 50 reset connections to close")
        for s in survivors:
            s.close()
    finally:
        server.close()
        await wait_for(server.wait_closed(), "the server to close")
