"""The leaf vocabulary every layer shares: opcodes, item kinds, close codes, states and sides.

It imports only ``wsfast.exceptions`` and ``wsfast.limits``, so the kernels (``wsfast._pure``
and ``wsfast._speedups``) can import it without reaching anything above them. Cython code
gets the same numbers as C constants from ``wire.pxd`` next to this file (the two are checked
against each other by ``tests/test_layout.py``).

* Opcodes (RFC 6455 section 5.2) and the RSV bits of the first header byte.
* Item kinds: the parsers turn bytes into ``(kind, value)`` items. A kind is the frame's
  opcode for whole messages and control frames, the opcode or-ed with ``COMPRESSED`` for a
  message still to decompress, and ``ITEM_FAILURE`` for the violation the protocol appends.
* Close codes (RFC 6455 section 7.4) and the close frame payload: both parser twins call
  ``parse_close`` for every close frame, so the rules for the wire live in one place.
* ``State`` and ``Side`` of a connection, and ``TRANSITIONS``: the protocol's state table.
"""
from __future__ import annotations

from enum import Enum, IntEnum

from .exceptions import InvalidCloseCode, InvalidCloseFrame, InvalidUTF8, ReasonTooLong
from .limits import MAX_CLOSE_REASON

# ------------------------------------------------------------------------------ opcodes


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

DATA_OPCODES = frozenset({OP_CONTINUATION, OP_TEXT, OP_BINARY})
CONTROL_OPCODES = frozenset({OP_CLOSE, OP_PING, OP_PONG})

# RSV bits in the first header byte.
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10

# The parser reports a message whose first frame had RSV1 set (permessage-deflate) with this
# flag or-ed into its opcode: the payload is then the raw, still-compressed bytes of all
# fragments, and the protocol decompresses it.
COMPRESSED = 0x40

# --------------------------------------------------------------------------- item kinds
# Plain ints on purpose: the hot path compares them with ``==`` and ``<=`` (an IntEnum member
# would cost an attribute lookup per test). ``ItemKind`` names them for reading and printing.

ITEM_TEXT = OP_TEXT  # (ITEM_TEXT, str), or UTF-8 bytes with decode_text=False
ITEM_BINARY = OP_BINARY  # (ITEM_BINARY, bytes)
ITEM_CLOSE = OP_CLOSE  # (ITEM_CLOSE, (code, reason))
ITEM_PING = OP_PING  # (ITEM_PING, payload)
ITEM_PONG = OP_PONG  # (ITEM_PONG, payload)
ITEM_COMPRESSED_TEXT = OP_TEXT | COMPRESSED  # (kind, compressed bytes), parser to protocol only
ITEM_COMPRESSED_BINARY = OP_BINARY | COMPRESSED
ITEM_FAILURE = -1  # (ITEM_FAILURE, RemoteProtocolError): the peer broke the protocol
# Every kind up to this one is a message for the application (text or binary).
ITEM_LAST_MESSAGE = ITEM_BINARY


class ItemKind(IntEnum):
    TEXT = ITEM_TEXT
    BINARY = ITEM_BINARY
    CLOSE = ITEM_CLOSE
    PING = ITEM_PING
    PONG = ITEM_PONG
    COMPRESSED_TEXT = ITEM_COMPRESSED_TEXT
    COMPRESSED_BINARY = ITEM_COMPRESSED_BINARY
    FAILURE = ITEM_FAILURE


# --------------------------------------------------------------------- states and sides


class Side(Enum):
    SERVER = "server"
    CLIENT = "client"


class State(IntEnum):
    """Connection states, numbered as the browser's ``readyState``."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class Transition(Enum):
    """What moves a connection from one ``State`` to another."""

    OPENED = "opened"  # the opening handshake succeeded
    CLOSE_STARTED = "close started"  # a close frame sent or received, or a failure queued
    ENDED = "ended"  # the TCP connection ended or was aborted


# (state, transition) -> next state. A pair not in the table leaves the state as it is (a
# second close frame, a failure while already closing...).
TRANSITIONS: dict[tuple[State, Transition], State] = {
    (State.CONNECTING, Transition.OPENED): State.OPEN,
    (State.CONNECTING, Transition.ENDED): State.CLOSED,
    (State.OPEN, Transition.CLOSE_STARTED): State.CLOSING,
    (State.OPEN, Transition.ENDED): State.CLOSED,
    (State.CLOSING, Transition.ENDED): State.CLOSED,
}


def next_state(state: State, transition: Transition) -> State:
    """The state after ``transition`` in ``state`` (see ``TRANSITIONS``)."""
    return TRANSITIONS.get((state, transition), state)


# --------------------------------------------------------------------------- close codes


class CloseCode(IntEnum):
    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005  # never on the wire
    ABNORMAL_CLOSURE = 1006  # never on the wire
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never on the wire


# Codes a peer may put in a close frame (1000-1003, 1007-1014, 3000-4999).
_WIRE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def is_valid_wire_code(code: int) -> bool:
    """True if ``code`` may appear in a close frame on the wire."""
    return code in _WIRE_CODES or 3000 <= code <= 4999


def parse_close(payload: bytes) -> tuple[int, str]:
    """Validate a received close frame's payload and return ``(code, reason)``.

    An empty payload means no status: ``(1005, "")``. Raises InvalidCloseFrame (1002) for a
    one-byte payload or a code not allowed on the wire, InvalidUTF8 (1007) for a reason that
    is not valid UTF-8. The caller answers with a close frame of its own.
    """
    n = len(payload)
    if n == 0:
        return 1005, ""
    if n == 1:
        raise InvalidCloseFrame("close frame with a one-byte payload")
    code = (payload[0] << 8) | payload[1]
    if not is_valid_wire_code(code):
        raise InvalidCloseFrame(f"invalid close code {code}")
    try:
        reason = bytes(payload[2:]).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidUTF8("close reason is not valid UTF-8") from None
    return code, reason


def serialize_close(code: int | None, reason: str = "") -> bytes:
    """Return the payload of a close frame this side sends.

    ``code`` None (no status) gives an empty payload and requires an empty reason. Raises
    InvalidCloseCode or ReasonTooLong (local misuse) when the caller's values may not be sent.
    """
    if code is None or code == 1005:
        if reason:
            raise InvalidCloseCode("a close reason needs a close code")
        return b""
    if not is_valid_wire_code(code):
        raise InvalidCloseCode(f"close code {code} may not be sent")
    data = reason.encode("utf-8")
    if len(data) > MAX_CLOSE_REASON:
        raise ReasonTooLong(f"close reason is {len(data)} bytes; at most {MAX_CLOSE_REASON}")
    return code.to_bytes(2, "big") + data
