"""Every limit and timeout wsfast enforces, with its default, in one place.

Limits are data: they are passed as arguments down to the kernels and never baked into
compiled code. ``None`` means "no limit" where an option allows it.
"""
from __future__ import annotations

# Messages and frames
MAX_SIZE = 1 << 20  # largest message (and so frame) accepted, in bytes, after decompression
MAX_FRAGMENTS = 1024  # most frames in one fragmented message
MAX_QUEUE = 16  # unread messages before the connection stops reading from the socket
WRITE_LIMIT = 64 * 1024  # bytes buffered for writing before send() waits for the drain
MAX_CONTROL_PAYLOAD = 125  # RFC 6455 5.5
MAX_CLOSE_REASON = 123  # 125 bytes minus the 2-byte code

# Handshake
MAX_HEADER_LINE = 8192  # bytes in one request/status or header line
MAX_HEADERS = 128  # header lines in one request or response
MAX_HANDSHAKE_SIZE = 64 * 1024  # bytes for the whole request or response head
MAX_BODY = 1 << 20  # body of a non-101 answer the client reads

# Timing, in seconds
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 10.0
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0

# permessage-deflate
COMPRESSION_THRESHOLD = 128  # messages shorter than this go out uncompressed
DEFLATE_MEM_LEVEL = 8
# Level 1: on 1 KiB JSON-like messages with context takeover, zlib level 6 costs about 3x
# the CPU of level 1 for about 25% fewer bytes (measured in bench/compressed_echo.py's data).
DEFLATE_COMPRESS_LEVEL = 1


def __getattr__(name: str) -> object:
    # ``Limits`` duplicated ``wsfast.asyncio.options.ConnectionOptions`` (which has all of its
    # fields); the old name forwards there with a DeprecationWarning.
    from ._aliases import forward

    return forward(__name__, name)
