"""Frame opcodes of RFC 6455 section 5.2 and the RSV bits.

They live in the leaf module ``wsfast.wire`` (with the item kinds the parsers report); this
module keeps the public import path ``wsfast.opcodes`` working.
"""
from .wire import (
    COMPRESSED,
    CONTROL_OPCODES,
    DATA_OPCODES,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RSV1,
    RSV2,
    RSV3,
    Opcode,
)

__all__ = [
    "COMPRESSED", "CONTROL_OPCODES", "DATA_OPCODES", "OP_BINARY", "OP_CLOSE", "OP_CONTINUATION",
    "OP_PING", "OP_PONG", "OP_TEXT", "RSV1", "RSV2", "RSV3", "Opcode",
]
