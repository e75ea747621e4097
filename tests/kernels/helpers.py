"""Frame helpers for the kernel tests: the hand-written encoder of ``tests/rawframes.py``
(independent of the builder under test), unmasked unless a key is given."""
from __future__ import annotations

import rawframes
from rawframes import xor

__all__ = ["xor", "frame", "feed_all", "err_sig"]


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
          key: bytes | None = None, length: int | None = None) -> bytes:
    """A frame as raw bytes, masked with ``key`` if one is given. ``length`` overrides the
    declared length (for limit tests)."""
    return rawframes.frame(opcode, payload, fin=fin, mask=key is not None, rsv=rsv,
                           length=length, key=key)


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
