"""Close codes (RFC 6455 section 7.4) and the close frame payload.

They live in the leaf module ``wsfast.wire``, which the kernels may import; this module keeps
the public import path ``wsfast.close`` working.
"""
from .wire import CloseCode, is_valid_wire_code, parse_close, serialize_close

__all__ = ["CloseCode", "is_valid_wire_code", "parse_close", "serialize_close"]
