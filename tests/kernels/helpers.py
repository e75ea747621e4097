"""Hand-written frame encoder for the kernel tests (independent of the builder under test)."""
from __future__ import annotations

import struct


def xor(data: bytes, key: bytes, phase: int = 0) -> bytes:
    """Reference masking, one byte at a time."""
    return bytes(b ^ key[(phase + i) % 4] for i, b in enumerate(data))


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
          key: bytes | None = None, length: int | None = None) -> bytes:
    """A frame as raw bytes. ``length`` overrides the declared length (for limit tests)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | opcode
    m = 0x80 if key is not None else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if key is not None:
        return head + key + xor(payload, key)
    return head + payload


def feed_all(parser, chunks) -> tuple[list, object]:
    """Feed every chunk; return (all items, parser.error)."""
    items = []
    for chunk in chunks:
        items.extend(parser.feed(chunk))
    return items, parser.error


def err_sig(exc):
    """What both twins must agree on for an error: type, close code, message."""
    if exc is None:
        return None
    return (type(exc), exc.close_code, str(exc))
