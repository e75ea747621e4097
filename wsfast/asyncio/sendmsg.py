"""Writing a flush's buffers (frame headers, payloads) to a transport without copying them.

Python 3.11's ``_SelectorSocketTransport.writelines`` joins its buffers into one new object
before sending (3.12 sends them with ``sendmsg`` itself). For a batch of 64 KiB frames that
join, and the copy of the unsent tail into the transport's buffer, cost a memmove of every
byte. ``send_parts`` hands the parts to the kernel in one ``sendmsg`` while the transport
has nothing buffered; ``write_parts`` is how the rest, and any other transport, gets them.
"""
from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

try:
    from asyncio.selector_events import _SelectorSocketTransport as _SELECTOR_TRANSPORT  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - the class is private; without it, no fast path
    _SELECTOR_TRANSPORT = None

# sendmsg takes at most IOV_MAX (1024 on Linux) buffers; more go through write_parts.
MAX_PARTS = 1024
# Buffers from this size on are written on their own by write_parts; only looked for in
# writes of a few parts, which is where large payloads are (small frames come in many).
# Smaller ones are still joined: one send for a batch of 64 KiB frames measured faster.
JOIN_LIMIT = 256 * 1024
SPLIT_MAX_PARTS = 16
_NEEDED = sys.version_info < (3, 12) and hasattr(socket.socket, "sendmsg")


def direct_socket(transport: asyncio.BaseTransport) -> socket.socket | None:
    """The socket under ``transport`` if ``send_parts`` may write to it, else None.

    Only asyncio's own plain-TCP selector transport qualifies, and only before 3.12 (later
    versions already write with sendmsg); TLS, uvloop and aiofastnet transports write their
    own way. The caller keeps the result with the connection and passes it to send_parts.
    """
    if not _NEEDED or type(transport) is not _SELECTOR_TRANSPORT:
        return None
    sock = getattr(transport, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def write_parts(transport: Any, parts: list[Any]) -> None:
    """Write ``parts`` in order through ``transport``: each large buffer by itself and the
    small ones between them together. A transport whose ``writelines`` joins its buffers
    (asyncio's before 3.12) would otherwise copy every large payload into one new object,
    page faults included; the builder hands those payloads over uncopied (a header, then
    the payload)."""
    if len(parts) > SPLIT_MAX_PARTS or max(map(len, parts)) < JOIN_LIMIT:
        transport.writelines(parts)
        return
    small: list[Any] = []
    for buf in parts:
        if len(buf) < JOIN_LIMIT:
            small.append(buf)
            continue
        if small:
            transport.writelines(small)
            small = []
        transport.write(buf)
    if small:
        transport.writelines(small)


def send_parts(transport: Any, sock: socket.socket, parts: list[Any]) -> None:
    """Write ``parts`` in order: straight to ``sock`` when the transport has nothing
    buffered, the unsent rest through the transport (``write_parts``: it buffers it and
    waits for the socket to become writable). Errors are left to the transport to report,
    as if it had made the call itself."""
    if transport.get_write_buffer_size() or len(parts) > MAX_PARTS:
        write_parts(transport, parts)
        return
    try:
        sent = sock.sendmsg(parts)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        # A reset or a broken pipe: the transport's own write hits it again and fails the
        # connection the way it always does (connection_lost with the error).
        write_parts(transport, parts)
        return
    for i, buf in enumerate(parts):
        size = len(buf) if not isinstance(buf, memoryview) else buf.nbytes
        if sent < size:
            rest = parts[i:]
            if sent:
                rest[0] = memoryview(buf).cast("B")[sent:]
            write_parts(transport, rest)
            return
        sent -= size
