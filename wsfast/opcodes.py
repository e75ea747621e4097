"""Frame opcodes of RFC 6455 section 5.2, and the flag the parser adds to compressed messages."""
from enum import IntEnum


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
# flag or-ed into its opcode: OP_TEXT | COMPRESSED == 0x41. The payload is then the raw,
# still-compressed bytes of all fragments, and the protocol decompresses it.
COMPRESSED = 0x40
