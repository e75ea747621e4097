"""Hostile peers and measuring tools for the reliability tests (no wsfast code on the wire).

``frame`` (from tests/rawframes.py) encodes any frame by hand, lies included (a declared
length without the body, reserved bits, unmasked). ``Raw`` is a TCP client that writes
exactly what a test gives it, parses the server's answer itself, and can reset the
connection (SO_LINGER 0) or stop reading. ``fd_count``, ``rss`` and ``Traced`` measure
what a server in this process holds.
"""
from __future__ import annotations

import asyncio
import base64
import gc
import os
import socket
import struct
import sys
import time
import tracemalloc

# tests/, for rawframes: soak.py imports this module outside pytest.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rawframes import frame  # noqa: E402,F401  (the tests import frame from here)

LOOPBACK = "127.0.0.1"
# How long a read or a wait may take before the test calls it a hang. Generous on purpose:
# it only has to catch a server that never answers, on a machine that may be busy; a
# timeout that a test checks is asserted by that test, not by this deadline.
HANG = 30.0


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def request(
    path: str = "/",
    *,
    host: str | None = "127.0.0.1",
    upgrade: str | None = "websocket",
    connection: str | None = "Upgrade",
    key: str | None = "",
    version: str | None = "13",
    extra: list[tuple[str, str]] = (),
) -> bytes:
    """An upgrade request; a None field is left out, ``key=""`` is a fresh valid key."""
    lines = [f"GET {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key or new_key()}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    lines += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Raw:
    """A raw TCP client. Every read is bounded by a timeout (``HANG`` unless given); one
    that expires fails the test with what it was waiting for."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.head = b""

    @classmethod
    async def open(cls, port: int, *, rcvbuf: int | None = None) -> "Raw":
        sock = None
        if rcvbuf is not None:
            # A small receive buffer, set before connecting, makes "stops reading" bite soon.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (LOOPBACK, port))
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 24)
        else:
            reader, writer = await asyncio.open_connection(LOOPBACK, port, limit=1 << 24)
        return cls(reader, writer)

    @classmethod
    async def upgraded(cls, port: int, extra: list[tuple[str, str]] = (), **kw) -> "Raw":
        peer = await cls.open(port, **kw)
        peer.send(request(extra=extra))
        status = await peer.read_head()
        assert status == 101, peer.head
        return peer

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    async def read_head(self, timeout: float = HANG) -> int:
        """Read an HTTP response head; return its status code."""
        async with deadline(timeout, "the server's HTTP response head"):
            self.head = await self.reader.readuntil(b"\r\n\r\n")
        return int(self.head.split(b" ", 2)[1])

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode("latin-1")
        return None

    async def read_frame(self, timeout: float = HANG) -> tuple[int, int, bytes]:
        """One server frame: (first byte, opcode, payload)."""
        async with deadline(timeout, "a frame from the server"):
            b0, b1 = await self.reader.readexactly(2)
            assert not b1 & 0x80, "a server frame is masked"
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return b0, b0 & 0x0F, await self.reader.readexactly(n)

    async def read_close(self, timeout: float = HANG) -> tuple[int, bytes, list]:
        """Read frames up to a close frame: (code, reason, frames before it)."""
        before = []
        while True:
            b0, op, payload = await self.read_frame(timeout)
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:], before
            before.append((b0, op, payload))

    async def wait_eof(self, timeout: float = HANG) -> bytes:
        """Until the server closed the TCP connection; what it sent meanwhile is returned."""
        got = []
        async with deadline(timeout, "the server to close the TCP connection"):
            try:
                while chunk := await self.reader.read(1 << 16):
                    got.append(chunk)
            except ConnectionResetError:
                pass
        return b"".join(got)

    def reset(self) -> None:
        """Abort with an RST (SO_LINGER 0) instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def stop_reading(self) -> None:
        self.writer.transport.pause_reading()

    def close(self) -> None:
        self.writer.close()


class deadline:
    """``async with deadline(seconds, what):`` an ``asyncio.timeout`` whose expiry fails the
    test with an AssertionError naming what it waited for (not a bare TimeoutError, and not
    the 120 s pytest timeout)."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds, self.what = seconds, what

    async def __aenter__(self):
        self._cm = asyncio.timeout(self.seconds)
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc):
        try:
            return await self._cm.__aexit__(*exc)
        except TimeoutError:
            raise AssertionError(f"timed out after {self.seconds:g} s waiting for {self.what}") from None


async def wait_for(predicate, timeout: float = HANG, interval: float = 0.01,
                   what: str | None = None) -> float:
    """Poll until ``predicate()``; return the seconds it took. After ``timeout`` (a deadline
    for hangs only) it fails, naming ``what`` (default: the predicate's source)."""
    start = time.monotonic()
    if what is None:
        import inspect

        try:
            what = inspect.getsource(predicate).strip()
        except (OSError, TypeError):
            what = repr(predicate)
    async with deadline(timeout, what):
        while not predicate():
            await asyncio.sleep(interval)
    return time.monotonic() - start


def _ioctl_int(sock, request: int) -> int:
    import array
    import fcntl

    buf = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), request, buf, True)
    return buf[0]


def server_socket(conn) -> socket.socket:
    """The socket under a server connection (asyncio's or aiofastnet's transport)."""
    sock = conn.transport.get_extra_info("socket")
    assert sock is not None, f"no socket in {conn.transport!r}"
    return sock


async def server_read_everything(peer: Raw, conn, timeout: float = HANG) -> None:
    """Until every byte ``peer`` wrote has been read by the server connection ``conn``: the
    peer's transport buffer and kernel send queue are empty (SIOCOUTQ: all of it reached
    the server's kernel) and the server's socket has nothing unread (FIONREAD)."""
    import termios

    peer_sock = peer.writer.get_extra_info("socket")
    srv_sock = server_socket(conn)

    def done() -> bool:
        return (peer.writer.transport.get_write_buffer_size() == 0
                and _ioctl_int(peer_sock, termios.TIOCOUTQ) == 0
                and _ioctl_int(srv_sock, termios.FIONREAD) == 0)

    await wait_for(done, timeout, what="the server to read every byte the peer sent")


def pin_send_buffer(conn, size: int = 16 * 1024) -> None:
    """Fix the kernel send buffer of a server connection (SO_SNDBUF, which also turns off
    its autotuning): how much the kernel can take for a peer that never reads is then
    ``2 * size`` (Linux doubles it) on any machine, whatever tcp_wmem allows."""
    server_socket(conn).setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


# ------------------------------------------------------------------------- measuring


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss(pid: int | str = "self") -> int:
    """Resident set size in bytes (Linux)."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Traced:
    """tracemalloc around a block: ``growth`` (current after - before) and ``peak_growth``
    (peak during the block - current before), in bytes, after a collection on both ends."""

    def __enter__(self) -> "Traced":
        self._started = not tracemalloc.is_tracing()
        if self._started:
            tracemalloc.start()
        gc.collect()
        tracemalloc.reset_peak()
        self.before = tracemalloc.get_traced_memory()[0]
        return self

    def sample(self) -> int:
        """Current growth, now."""
        return tracemalloc.get_traced_memory()[0] - self.before

    def peak(self) -> int:
        return tracemalloc.get_traced_memory()[1] - self.before

    def __exit__(self, *exc) -> None:
        self.peak_growth = self.peak()
        gc.collect()
        self.growth = tracemalloc.get_traced_memory()[0] - self.before
        if self._started:
            tracemalloc.stop()


class Blocking:
    """A blocking-socket peer, driven from a worker thread (``await asyncio.to_thread``), so
    that what it sends never sits in an asyncio buffer of this process: tracemalloc then
    sees the server's memory only. Reads time out after ``timeout`` seconds."""

    def __init__(self, port: int, timeout: float = HANG) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.buf = b""

    def handshake(self, extra: list[tuple[str, str]] = ()) -> bytes:
        self.sock.sendall(request(extra=extra))
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "closed during the handshake"
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return head

    def sendall(self, data) -> bool:
        """Send; False if the server closed the connection meanwhile."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _need(self, n: int) -> None:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def read_frame(self) -> tuple[int, bytes]:
        self._need(2)
        n = self.buf[1] & 0x7F
        size = 2 + (2 if n == 126 else 8 if n == 127 else 0)
        self._need(size)
        if n == 126:
            n = struct.unpack("!H", self.buf[2:4])[0]
        elif n == 127:
            n = struct.unpack("!Q", self.buf[2:10])[0]
        self._need(size + n)
        op, payload = self.buf[0] & 0x0F, self.buf[size : size + n]
        self.buf = self.buf[size + n :]
        return op, payload

    def read_data_frame(self) -> tuple[int, bytes]:
        """The next data frame (opcode 0-2); a keepalive ping met before it is answered (a
        slow server, e.g. the pure-Python twin on a busy machine, may ping first)."""
        while True:
            op, payload = self.read_frame()
            if op == 9:
                self.sock.sendall(frame(10, payload))
            elif op < 8:
                return op, payload
            elif op == 8:
                raise EOFError(f"closed: {payload[:2].hex()} {payload[2:]!r}")

    def read_close_code(self) -> int:
        """Frames up to the close frame; its code (1005 if none)."""
        while True:
            try:
                op, payload = self.read_frame()
            except ConnectionResetError:
                raise EOFError("reset") from None
            if op == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def close(self) -> None:
        self.sock.close()
