"""Fixtures and helpers for the permessage-deflate tests."""
from __future__ import annotations

import zlib

import pytest

from wsfast.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)


def _negotiate(
    client: ClientPerMessageDeflateFactory, server: ServerPerMessageDeflateFactory
) -> tuple[PerMessageDeflate, PerMessageDeflate, list]:
    """Run one offer/answer; return (client extension, server extension, response params)."""
    response, server_ext = server.process_request_params(client.get_request_params(), [])
    client_ext = client.process_response_params(response, [])
    return client_ext, server_ext, response


def _roundtrip(sender: PerMessageDeflate, receiver: PerMessageDeflate, payload: bytes,
              max_size: int | None = None) -> bytes:
    rsv, data = sender.encode(1, payload)
    if not rsv:
        return data
    assert rsv == 0x40
    return receiver.decode(1, data, max_size=max_size)


@pytest.fixture
def negotiate():
    return _negotiate


@pytest.fixture
def roundtrip():
    return _roundtrip


@pytest.fixture(scope="session")
def zero_bomb() -> bytes:
    """200 MiB of zeros, raw-deflated and sync-flushed, trailer stripped (~200 KiB)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    chunk = bytes(1 << 20)
    parts = [c.compress(chunk) for _ in range(200)]
    parts.append(c.flush(zlib.Z_SYNC_FLUSH))
    data = b"".join(parts)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


@pytest.fixture
def text_1k() -> bytes:
    """About 1 KiB of JSON-like text."""
    items = ",".join(
        f'{{"id":{i},"name":"user{i}","active":{str(i % 2 == 0).lower()},"score":{i * 37 % 101}}}'
        for i in range(18)
    )
    return f'{{"type":"update","items":[{items}]}}'.encode()
