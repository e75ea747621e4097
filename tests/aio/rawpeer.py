"""A deliberately minimal WebSocket peer for tests that need to misbehave on the wire.

It writes exactly the bytes a test gives it (raw frames from tests/rawframes.py, partial
handshakes, no pongs) and reads frames back without any of wsfast's own code, so it can't
hide wsfast's bugs.
"""
from __future__ import annotations

import asyncio
import base64
import os
import struct

# tests/ is on sys.path under pytest (for tests/conftest.py); the tests import frame from here.
from rawframes import frame  # noqa: F401
from waiting import HANG, wait_for


def handshake_request(path: str = "/", host: str = "127.0.0.1", extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


class RawPeer:
    """A TCP connection speaking WebSocket by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.response_head = b""

    @classmethod
    async def connect(cls, port: int, *, handshake: bool = True, extra: str = "") -> "RawPeer":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = cls(reader, writer)
        if handshake:
            writer.write(handshake_request(extra=extra))
            peer.response_head = await reader.readuntil(b"\r\n\r\n")
            assert peer.response_head.startswith(b"HTTP/1.1 101"), peer.response_head
        return peer

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read_frame(self, timeout: float = HANG) -> tuple[int, bytes]:
        """Read one (unmasked, server) frame: (opcode, payload). Fin and RSV are ignored."""
        return await wait_for(self._read_frame(), "a frame from the server", timeout)

    async def _read_frame(self) -> tuple[int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return b0 & 0x0F, await self.reader.readexactly(n)

    async def read_close(self, timeout: float = HANG) -> tuple[int, bytes]:
        """Read frames until a close frame; return (code, reason bytes)."""
        while True:
            opcode, payload = await self.read_frame(timeout)
            if opcode == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:]

    async def at_eof(self, timeout: float = HANG) -> bool:
        """True once the server closed the TCP connection (reads and drops anything left)."""

        async def drain() -> None:
            while await self.reader.read(65536):
                pass

        await wait_for(drain(), "the server to close the TCP connection", timeout)
        return True

    def close(self) -> None:
        self.writer.close()
