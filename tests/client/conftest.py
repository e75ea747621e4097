"""Fixtures for client tests: both twins, and a raw asyncio server that misbehaves on cue."""
from __future__ import annotations

import asyncio
import base64
import hashlib

import pytest
import rawframes

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def server_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked frame, as a server sends it."""
    return rawframes.frame(opcode, payload, mask=False)


class FlakyServer:
    """A WebSocket server written on raw asyncio streams whose Nth connection does what
    ``script[N]`` says (the last entry repeats):

    * ``"refuse"``: close the TCP connection at once, before reading anything;
    * ``"mid-handshake"``: send half of a 101 response, then drop;
    * ``"status:<code>"``: answer ``HTTP/1.1 <code>`` and close;
    * ``"mid-frame"``: upgrade, send a greeting message, then half a frame, then drop;
    * ``"after-close"``: upgrade, greet, exchange close frames, then drop (a normal end);
    * ``"abort"``: upgrade, greet, then drop without a close frame;
    * ``"serve"``: upgrade, greet, then echo until the client closes;
    * ``"silent"``: upgrade, greet, then say nothing and keep the connection open.

    ``connections`` counts TCP connections; ``received`` holds the client's text messages.
    """

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.connections = 0
        self.received: list[str] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> "FlakyServer":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def close(self) -> None:
        self.server.close()
        for w in self._writers:
            w.transport.abort()
        if self._tasks:  # the handlers end on the aborted transports
            await asyncio.wait(self._tasks, timeout=2)
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self._tasks.add(asyncio.current_task())
        n = self.connections
        self.connections += 1
        action = self.script[min(n, len(self.script) - 1)]
        try:
            await self._act(action, n, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    async def _act(self, action: str, n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if action == "refuse":
            return
        head = await reader.readuntil(b"\r\n\r\n")
        key = b""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"sec-websocket-key:"):
                key = line.split(b":", 1)[1].strip()
        response = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n")
        if action == "mid-handshake":
            writer.write(response[: len(response) // 2])
            await writer.drain()
            await asyncio.sleep(0.01)
            return
        if action.startswith("status:"):
            code = action.split(":")[1]
            extra = b"Retry-After: 0\r\n" if code == "503" else b""
            writer.write(f"HTTP/1.1 {code} Nope\r\nContent-Length: 0\r\n".encode() + extra + b"\r\n")
            await writer.drain()
            return
        writer.write(response + server_frame(1, f"hello {n}".encode()))
        await writer.drain()
        if action == "mid-frame":
            frame = server_frame(2, b"x" * 1000)
            writer.write(frame[:500])
            await writer.drain()
            await asyncio.sleep(0.01)
        elif action == "abort":
            await asyncio.sleep(0.01)
        elif action == "after-close":
            writer.write(server_frame(8, (1000).to_bytes(2, "big")))
            await writer.drain()
            await self._read_until_close(reader)
        elif action == "serve":
            await self._echo(reader, writer)
        elif action == "silent":
            await self._read_until_close(reader)

    async def _read_frame(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        mask = await reader.readexactly(4)
        data = await reader.readexactly(n)
        return b0 & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    async def _read_until_close(self, reader: asyncio.StreamReader) -> None:
        while True:
            op, _ = await self._read_frame(reader)
            if op == 8:
                return

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            op, data = await self._read_frame(reader)
            if op == 8:
                writer.write(server_frame(8, data[:2]))
                await writer.drain()
                return
            if op == 1:
                self.received.append(data.decode())
            if op in (1, 2):
                writer.write(server_frame(op, data))
                await writer.drain()


@pytest.fixture
async def flaky():
    servers: list[FlakyServer] = []

    async def start(script: list[str]) -> FlakyServer:
        server = await FlakyServer(script).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
def ws_close_timeout():
    """Client tests close against misbehaving servers: a shorter close_timeout."""
    return 1
