"""Close codes (RFC 6455 section 7.4) and the close frame payload, for both kernel twins.

The parsers of both implementations call ``parse_close`` for every close frame they receive,
so the rules for what may appear on the wire live in exactly one place.
"""
from __future__ import annotations

from enum import IntEnum

from .exceptions import InvalidCloseCode, InvalidCloseFrame, InvalidUTF8, ReasonTooLong
from .limits import MAX_CLOSE_REASON


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
