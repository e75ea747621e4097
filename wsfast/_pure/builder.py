"""Frame encoding (RFC 6455 section 5.2), pure-Python twin of ``wsfast._speedups.builder``.

Server frames (``mask=False``) are deterministic: the same bytes for every recipient, so a
broadcast encodes once. Client frames (``mask=True``) get a fresh mask key per frame, taken
from a pool filled by ``os.urandom`` (refilled when used up, and after ``fork`` so that a
child never repeats its parent's keys).
"""
from __future__ import annotations

import os
from struct import Struct

from ..exceptions import LocalProtocolError
from .mask import _xor

__all__ = ["encode_frame", "encode_frame_parts", "encode_header", "PARTS_THRESHOLD"]

# Unmasked payloads of at least this many bytes are returned by encode_frame_parts as
# (header, payload) instead of being copied into one frame buffer.
PARTS_THRESHOLD = 8192

_POOL_SIZE = 4096
_pool = b""
_pool_pos = _POOL_SIZE

_H16 = Struct("!BBH").pack
_H64 = Struct("!BBQ").pack


def _reset_pool() -> None:
    """Drop the unused keys (after fork: the child must not reuse the parent's keys)."""
    global _pool, _pool_pos
    _pool = b""
    _pool_pos = _POOL_SIZE


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pool)


def _next_key() -> bytes:
    global _pool, _pool_pos
    if _pool_pos + 4 > _POOL_SIZE:
        _pool = os.urandom(_POOL_SIZE)
        _pool_pos = 0
    _pool_pos += 4
    return _pool[_pool_pos - 4:_pool_pos]


def _check(opcode, rsv, fin, length) -> None:
    if not isinstance(opcode, int) or not 0 <= opcode <= 15:
        raise ValueError(f"invalid opcode {opcode!r}")
    if not isinstance(rsv, int) or rsv & ~0x70:
        raise ValueError(f"invalid rsv bits {rsv!r}")
    if not isinstance(length, int) or not 0 <= length < (1 << 63):
        raise ValueError(f"invalid payload length {length!r}")
    if opcode & 8:
        if not fin:
            raise LocalProtocolError("control frames cannot be fragmented")
        if length > 125:
            raise LocalProtocolError(f"control frame payload of {length} bytes; at most 125")


def _header(opcode: int, fin, rsv: int, length: int, key) -> bytes:
    b0 = (0x80 if fin else 0) | rsv | opcode
    mbit = 0x80 if key is not None else 0
    if length < 126:
        head = bytes((b0, mbit | length))
    elif length < 65536:
        head = _H16(b0, mbit | 126, length)
    else:
        head = _H64(b0, mbit | 127, length)
    return head + key if key is not None else head


def _payload_bytes(payload):
    """``payload`` as something with a byte length: str -> UTF-8, buffers -> byte view."""
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if type(payload) is bytes or type(payload) is bytearray:
        return payload
    view = memoryview(payload)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _frame(opcode, payload, fin, rsv, mask) -> bytes:
    payload = _payload_bytes(payload)
    n = len(payload)
    _check(opcode, rsv, fin, n)
    if mask:
        key = _next_key()
        return _header(opcode, fin, rsv, n, key) + _xor(payload, key, 0)
    return _header(opcode, fin, rsv, n, None) + payload


def encode_frame(opcode, payload, *, fin=True, rsv=0, mask=False) -> bytes:
    """Return one complete frame (header + payload) as ``bytes``.

    ``payload`` is bytes-like or ``str`` (sent as UTF-8). ``mask=True`` is for client frames:
    a fresh random key per frame and the payload masked. ``rsv`` is the RSV bits (subset of
    0x70). Raises ValueError for an invalid opcode/rsv, LocalProtocolError for a fragmented
    or over-125-byte control frame. The caller writes the result to the transport.
    """
    return _frame(opcode, payload, fin, rsv, mask)


def encode_frame_parts(opcode, payload, *, fin=True, rsv=0, mask=False) -> tuple:
    """Like ``encode_frame`` but return a tuple of buffers to write in order.

    ``(frame,)`` for masked frames and payloads under ``PARTS_THRESHOLD``; ``(header,
    payload)`` for larger unmasked payloads, so they are never copied (``payload`` is the
    caller's object, or the UTF-8 bytes of a ``str``; it must not change until written).
    The caller passes the parts to ``transport.writelines``.
    """
    if mask:
        return (_frame(opcode, payload, fin, rsv, True),)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    n = memoryview(payload).nbytes
    if n < PARTS_THRESHOLD:
        return (_frame(opcode, payload, fin, rsv, False),)
    _check(opcode, rsv, fin, n)
    return (_header(opcode, fin, rsv, n, None), payload)


def append_parts(out: list, opcode, payload, fin, rsv, mask) -> int:
    """``out.extend(encode_frame_parts(...))``: the connection's send path (C in the twin)."""
    out.extend(encode_frame_parts(opcode, payload, fin=fin, rsv=rsv, mask=mask))
    return 0


def encode_header(opcode, length, *, fin=True, rsv=0, mask_key=None) -> bytes:
    """Return just a frame header for a payload of ``length`` bytes.

    ``mask_key`` (4 bytes) sets the mask bit and is appended; the caller then sends the
    payload masked with it (``mask.apply_mask``). Validation as in ``encode_frame``.
    """
    _check(opcode, rsv, fin, length)
    if mask_key is not None:
        mask_key = bytes(memoryview(mask_key))
        if len(mask_key) != 4:
            raise ValueError(f"mask key must be 4 bytes, not {len(mask_key)}")
    return _header(opcode, fin, rsv, length, mask_key)
