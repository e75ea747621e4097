"""Frame opcodes of RFC 6455 section 5.2 and the RSV bits.

They live in the leaf module ``wsfast.wire`` (with the item kinds the parsers report); this
module keeps the public import path ``wsfast.opcodes`` working.
"""
from .wire import COMPRESSED, CONTROL_OPCODES, DATA_OPCODES, Opcode  # noqa: F401
from .wire import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT  # noqa: F401
from .wire import RSV1, RSV2, RSV3  # noqa: F401

__all__ = ["COMPRESSED", "CONTROL_OPCODES", "DATA_OPCODES", "Opcode", "OP_BINARY", "OP_CLOSE",
           "OP_CONTINUATION", "OP_PING", "OP_PONG", "OP_TEXT", "RSV1", "RSV2", "RSV3"]
