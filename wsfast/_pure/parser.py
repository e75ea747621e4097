"""Incremental RFC 6455 frame parser, pure-Python twin of ``wsfast._speedups.parser``.

The caller feeds whatever the transport received; ``feed`` returns the complete items, in
order, and stops for good at the first protocol violation (``error``) or close frame
(``closed``). See the ``Parser`` docstring for the items and ``CHECK ORDER`` below for the
rules. Both twins produce the same items and the same exception (type, close code, message)
for the same byte stream, however it is cut into chunks.

CHECK ORDER. A frame header is checked once it is complete (2 bytes, the extended length and
the mask key), in this order; the first broken rule is reported:

 1. RSV bits outside ``rsv_allowed``            InvalidFrame "reserved bits must be 0"
 2. reserved opcode (3-7, 0xB-0xF)              InvalidFrame "reserved opcode N"
 3. control frame with FIN=0                    InvalidFrame "fragmented control frame"
 4. control frame with RSV1                     InvalidFrame "RSV1 set on a control frame"
 5. control frame with a 7-bit length > 125     InvalidFrame "control frame too long"
 6. masking: a server must receive masked frames, a client unmasked ones
                                                InvalidFrame "frame from client is not masked"
                                                / "frame from server is masked"
 7. continuation frame with no message started  InvalidFrame "unexpected continuation frame"
    text/binary frame inside a message           InvalidFrame "expected a continuation frame"
 8. continuation frame with RSV1                 InvalidFrame "RSV1 set on a continuation frame"
 9. frame number max_fragments + 1 of a message  PayloadTooBig "more than N fragments in a message"
10. 64-bit length with the top bit set           InvalidFrame "frame length has the most significant bit set"
11. data frame length > limit                    PayloadTooBig "frame of N bytes exceeds limit of L bytes"
    message total (this frame included) > limit  PayloadTooBig "message of N bytes exceeds limit of L bytes"
    (limit: ``max_compressed_size`` for a message whose first frame had RSV1, else ``max_size``;
    control frames are only limited by rule 5)

Then, as payload bytes arrive:

12. text message (not compressed), validated as it streams in: the first frame holding a byte
    that cannot be valid fails          InvalidUTF8 "invalid UTF-8 in text message";
    a sequence still incomplete when the final frame ends
                                        InvalidUTF8 "incomplete UTF-8 sequence at the end of a text message"
13. close frame: ``wsfast.wire.parse_close`` (InvalidCloseFrame / InvalidUTF8, its messages).

Non-minimal length encodings are accepted for data frames (rule 5 covers control frames).
"""
from __future__ import annotations

from ..exceptions import InvalidFrame, InvalidUTF8, PayloadTooBig, RemoteProtocolError
from ..wire import (
    COMPRESSED, ITEM_BINARY, ITEM_CLOSE, ITEM_TEXT, OP_CLOSE, OP_TEXT, RSV1, parse_close,
)
from .mask import _xor
from .utf8 import Utf8Validator

__all__ = ["Parser"]

_HEADER = 0
_PAYLOAD = 1

# Header size after the first two bytes, by (mask bit, 7-bit length).
_EXTRA = {}
for _len7 in range(128):
    _ext = 2 if _len7 == 126 else 8 if _len7 == 127 else 0
    _EXTRA[(0, _len7)] = _ext
    _EXTRA[(1, _len7)] = _ext + 4


class Parser:
    """Turns received bytes into complete WebSocket messages and control frames.

    ``client=True`` means this side is the client, so incoming frames must be unmasked;
    ``client=False`` (server): they must be masked. Limits of ``None`` mean unlimited;
    ``max_compressed_size`` None means the same as ``max_size``. ``rsv_allowed`` holds the
    RSV bits negotiated extensions use (0x40 for permessage-deflate). ``decode_text=False``
    reports text messages as validated UTF-8 ``bytes`` instead of ``str``.

    ``feed(chunk)`` returns a list of ``(opcode, value)`` items:

    * ``(ITEM_TEXT, str)`` text message (``bytes`` with ``decode_text=False``),
      ``(ITEM_BINARY, bytes)`` binary message, fragments joined;
    * ``(ITEM_COMPRESSED_TEXT, bytes)`` / ``(ITEM_COMPRESSED_BINARY, bytes)``: a message
      whose first frame had RSV1, payload joined but not validated: the caller
      decompresses it (and validates text);
    * ``(ITEM_CLOSE, (code, reason))`` close frame; the parser is then done;
    * ``(ITEM_PING, bytes)`` ping, ``(ITEM_PONG, bytes)`` pong (item kinds: ``wsfast.wire``).

    On a violation ``feed`` returns the items completed before it and sets ``error`` to the
    exception (a RemoteProtocolError with ``close_code``); the caller fails the connection
    with that code. After an error or a close frame every ``feed`` returns ``[]``.
    """

    __slots__ = (
        "_client", "_max_size", "_max_csize", "_max_frags", "_rsv_allowed", "_decode_text",
        "error", "closed", "_state", "_hdr",
        "_opcode", "_fin", "_key", "_phase", "_remaining", "_control",
        "_msg_op", "_msg_comp", "_msg_size", "_msg_frames", "_msg_buf", "_validator",
        "_ctrl", "special",
    )

    def __init__(self, *, client: bool, max_size: int | None = 1 << 20,
                 max_compressed_size: int | None = None, max_fragments: int | None = 1024,
                 rsv_allowed: int = 0, decode_text: bool = True) -> None:
        for name, value in (("max_size", max_size), ("max_compressed_size", max_compressed_size),
                            ("max_fragments", max_fragments)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None")
        if rsv_allowed & ~0x70:
            raise ValueError("rsv_allowed must be a subset of 0x70")
        self._client = bool(client)
        self._max_size = max_size
        self._max_csize = max_size if max_compressed_size is None else max_compressed_size
        self._max_frags = max_fragments
        self._rsv_allowed = rsv_allowed
        self._decode_text = bool(decode_text)
        self.error: RemoteProtocolError | None = None
        self.closed = False
        self._state = _HEADER
        self._hdr = b""             # bytes of a header cut by the end of a chunk
        self._opcode = 0            # current frame
        self._fin: bool | int = True
        self._key: bytes | None = None  # mask key, or None
        self._phase = 0
        self._remaining = 0
        self._control = False
        self._msg_op = 0            # 0: no data message in progress, else 1 or 2
        self._msg_comp = False
        self._msg_size = 0          # declared bytes of the message so far
        self._msg_frames = 0
        self._msg_buf: bytearray | None = None  # the message's payload so far
        self._validator: Utf8Validator | None = None  # of a streaming text message
        self._ctrl: bytearray | None = None  # a control frame's payload so far
        # items of the last feed() that are not plain text/binary messages (control frames,
        # compressed messages): the protocol skips its per-item pass when this is 0
        self.special = 0

    def feed_buffer(self, buffer: bytearray, nbytes: int) -> list:
        """Parse the first ``nbytes`` of ``buffer`` (the loop's shared receive buffer)."""
        if nbytes < 0 or nbytes > len(buffer):
            raise ValueError(f"nbytes {nbytes} outside a buffer of {len(buffer)}")
        return self.feed(memoryview(buffer)[:nbytes])

    def feed(self, data) -> list:
        """Parse the next received chunk (any buffer); return the items it completed."""
        out: list = []
        self.special = 0
        if self.error is not None or self.closed:
            return out
        if type(data) is not bytes:
            data = bytes(data)
        if self._hdr:
            data = self._hdr + data
            self._hdr = b""
        try:
            self._parse(data, out)
        except RemoteProtocolError as exc:
            self.error = exc
            self._release()
        return out

    # -------------------------------------------------------------------- internals

    def _release(self) -> None:
        self._msg_buf = None
        self._validator = None
        self._ctrl = None

    def _parse(self, data: bytes, out: list) -> None:
        n = len(data)
        pos = 0
        while pos < n:
            if self._state == _HEADER:
                if n - pos < 2:
                    self._hdr = data[pos:]
                    return
                b0 = data[pos]
                b1 = data[pos + 1]
                len7 = b1 & 0x7F
                masked = b1 >> 7
                size = 2 + _EXTRA[(masked, len7)]
                if n - pos < size:
                    self._hdr = data[pos:]
                    return
                if len7 == 126:
                    length = (data[pos + 2] << 8) | data[pos + 3]
                elif len7 == 127:
                    length = int.from_bytes(data[pos + 2:pos + 10], "big")
                else:
                    length = len7
                self._header(b0, len7, masked, length)
                self._key = data[pos + size - 4:pos + size] if masked else None
                pos += size
                self._phase = 0
                self._remaining = length
                self._state = _PAYLOAD
                # Whole frame present, not part of a longer message: the fast path.
                if not self._control and self._fin and self._msg_frames == 1 and n - pos >= length:
                    payload = data[pos:pos + length]
                    pos += length
                    self._state = _HEADER
                    self._single(payload, out)
                    continue
                if length:
                    continue
                # An empty frame is complete right away.
            else:
                take = min(self._remaining, n - pos)
                if take:
                    self._payload(data[pos:pos + take])
                    pos += take
                    self._remaining -= take
            if self._remaining == 0:
                self._state = _HEADER
                if self._frame_done(out):
                    return

    def _header(self, b0: int, len7: int, masked: int, length: int) -> None:
        """Check a complete header (rules 1-11) and set up the frame state."""
        opcode = b0 & 0x0F
        rsv = b0 & 0x70
        fin = b0 >> 7
        if rsv & ~self._rsv_allowed:
            raise InvalidFrame("reserved bits must be 0")
        if 3 <= opcode <= 7 or opcode >= 0xB:
            raise InvalidFrame(f"reserved opcode {opcode}")
        control = opcode >= 8
        if control:
            if not fin:
                raise InvalidFrame("fragmented control frame")
            if rsv & RSV1:
                raise InvalidFrame("RSV1 set on a control frame")
            if len7 > 125:
                raise InvalidFrame("control frame too long")
        if self._client:
            if masked:
                raise InvalidFrame("frame from server is masked")
        elif not masked:
            raise InvalidFrame("frame from client is not masked")
        if not control:
            if opcode == 0:
                if not self._msg_op:
                    raise InvalidFrame("unexpected continuation frame")
                if rsv & RSV1:
                    raise InvalidFrame("RSV1 set on a continuation frame")
            elif self._msg_op:
                raise InvalidFrame("expected a continuation frame")
            frames = self._msg_frames + 1 if opcode == 0 else 1
            if self._max_frags is not None and frames > self._max_frags:
                raise PayloadTooBig(f"more than {self._max_frags} fragments in a message")
            if length >> 63:
                raise InvalidFrame("frame length has the most significant bit set")
            compressed = bool(rsv & RSV1) if opcode else self._msg_comp
            limit = self._max_csize if compressed else self._max_size
            total = (self._msg_size if opcode == 0 else 0) + length
            if limit is not None:
                if length > limit:
                    raise PayloadTooBig(f"frame of {length} bytes exceeds limit of {limit} bytes")
                if total > limit:
                    raise PayloadTooBig(f"message of {total} bytes exceeds limit of {limit} bytes")
            if opcode:
                self._msg_op = opcode
                self._msg_comp = compressed
                self._msg_buf = None
                self._validator = Utf8Validator() if opcode == OP_TEXT and not compressed else None
            self._msg_frames = frames
            self._msg_size = total
        self._opcode = opcode
        self._fin = fin
        self._control = control
        if control:
            self._ctrl = None

    def _payload(self, chunk: bytes) -> None:
        """Unmask and store part of the current frame's payload; validate streaming text."""
        if self._key is not None:
            chunk = _xor(chunk, self._key, self._phase)
            self._phase = (self._phase + len(chunk)) & 3
        if self._control:
            if self._ctrl is None:
                self._ctrl = bytearray(chunk)
            else:
                self._ctrl += chunk
            return
        if self._validator is not None and self._validator.feed(chunk) >= 0:
            raise InvalidUTF8("invalid UTF-8 in text message")
        if self._msg_buf is None:
            self._msg_buf = bytearray(chunk)
        else:
            self._msg_buf += chunk

    def _frame_done(self, out: list) -> bool:
        """The current frame is complete: emit what it finished. True once closed."""
        if self._control:
            payload = bytes(self._ctrl) if self._ctrl else b""
            self._ctrl = None
            self.special += 1
            if self._opcode == OP_CLOSE:
                out.append((ITEM_CLOSE, parse_close(payload)))
                self.closed = True
                self._release()
                return True
            out.append((self._opcode, payload))
            return False
        if not self._fin:
            return False
        payload = bytes(self._msg_buf) if self._msg_buf else b""
        opcode = self._msg_op
        validator = self._validator
        self._msg_op = 0
        self._msg_frames = 0
        self._msg_size = 0
        self._msg_buf = None
        self._validator = None
        if self._msg_comp:
            self.special += 1
            out.append((opcode | COMPRESSED, payload))
        elif opcode == OP_TEXT:
            assert validator is not None  # every text message in progress has one
            if not validator.finish():
                raise InvalidUTF8("incomplete UTF-8 sequence at the end of a text message")
            out.append((ITEM_TEXT, payload.decode("utf-8") if self._decode_text else payload))
        else:
            out.append((ITEM_BINARY, payload))
        return False

    def _single(self, payload: bytes, out: list) -> None:
        """A whole single-frame data message (checked header, payload of this chunk)."""
        opcode = self._msg_op
        key = self._key
        if key is not None and payload:
            payload = _xor(payload, key, 0)
        self._msg_op = 0
        self._msg_frames = 0
        self._msg_size = 0
        self._validator = None
        if self._msg_comp:
            self.special += 1
            out.append((opcode | COMPRESSED, payload))
        elif opcode == OP_TEXT:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.reason == "unexpected end of data":
                    raise InvalidUTF8(
                        "incomplete UTF-8 sequence at the end of a text message") from None
                raise InvalidUTF8("invalid UTF-8 in text message") from None
            out.append((ITEM_TEXT, text if self._decode_text else payload))
        else:
            out.append((ITEM_BINARY, payload))
