"""WebSocket frames encoded by hand, without any of wsfast's code, lies included.

Shared by the raw peers of the tests (tests/aio/rawpeer.py, tests/reliability/relpeer.py),
the kernel tests (tests/kernels/helpers.py) and the fuzz seed corpus (fuzz/make_corpus.py);
they put this folder on ``sys.path`` (pytest does it for the test packages).
"""
from __future__ import annotations

import os
import struct


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    mask: bool = True,
    rsv: int = 0,
    length: int | None = None,
    key: bytes | None = None,
) -> bytes:
    """One frame as raw bytes: masked (as a client sends) unless ``mask=False``.

    ``length`` overrides the declared payload length (the payload is written as given);
    ``key`` is the 4-byte mask key, random by default.
    """
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv | opcode
    bit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    return head + key + xor(payload, key)


def xor(data: bytes, key: bytes, phase: int = 0) -> bytes:
    """``data`` masked (or unmasked) with the 4-byte ``key``, starting at key index ``phase``."""
    if not data:
        return b""
    n = len(data)
    key = key[phase:] + key[:phase]
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")
