"""Fan-out: write one message to many connections, encoding it once.

``broadcast`` never awaits. Frames are queued on each connection and leave in one write per
connection at the end of the loop iteration, so a burst of broadcasts costs one system call
per socket, not one per message and socket. A connection whose write buffer is already over its
``write_limit`` is skipped and counted (or, with ``on_full="close"``, closed with 1013), so a
stalled reader neither grows the server's memory without bound nor slows the others.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Iterable

from ..wire import OP_BINARY, OP_TEXT, State
from .. import _impl
from .stats import DeliveryCounters, broadcasts, loop_traffic


@dataclass(slots=True)
class BroadcastResult:
    """What ``broadcast`` did: connections written to, skipped as full, closed as full, not open."""

    sent: int = 0
    skipped: int = 0
    closed: int = 0
    not_open: int = 0


def broadcast(
    connections: Iterable[Any],
    message: str | bytes | bytearray | memoryview,
    *,
    on_full: str = "skip",
    counters: DeliveryCounters = broadcasts,
) -> BroadcastResult:
    """Send ``message`` to every open connection in ``connections`` without waiting.

    The frame is encoded once; server connections without an extension get the very same
    bytes. Connections that negotiated permessage-deflate get it compressed (once for all of
    them when their extension can share compressed bytes). ``on_full`` is "skip" (count the
    connection in ``skipped``) or "close" (close it with 1013, "try again later").
    The outcome is also added to ``counters`` (this process's ``stats.broadcasts``; a Hub
    passes ``stats.hub_deliveries``), and the messages queued on server connections to the
    loop's ``stats.loop_traffic`` (a server's ``messages_out`` includes them).
    """
    if on_full not in ("skip", "close"):
        raise ValueError("on_full must be 'skip' or 'close'")
    text = isinstance(message, str)
    opcode = OP_TEXT if text else OP_BINARY
    frame = _impl.builder.encode_frame(opcode, message)
    # The plain server connections, in compiled code where built (the connection core's
    # fan_out); what is left comes back here.
    sent, not_open, to_flush, full, others = _impl.conn.fan_out(connections, frame)
    result = BroadcastResult(sent=sent, not_open=not_open)
    to_clients = 0
    if others is not None:
        full = full or []
        to_clients = _general_path(others, message, opcode, result, to_flush, full)
    for conn in full or ():
        if on_full == "close" and not conn._fragmenting:
            conn._fail_local(1013, "slow consumer")
            result.closed += 1
        else:
            result.skipped += 1
            conn.skipped_messages += 1
    if to_flush:
        to_flush[0]._wheel.flush_soon(to_flush)
    counters.add(result)
    queued = result.sent - to_clients
    if queued:
        # Counted once per call for the loop, not on each connection: an attribute increment
        # per connection would be a noticeable part of a delivery's cost.
        traffic = loop_traffic(asyncio.get_running_loop())
        if text:
            traffic.broadcast_text += queued
        else:
            traffic.broadcast_binary += queued
    return result


def _general_path(conns: list[Any], message: Any, opcode: int, result: BroadcastResult,
                  to_flush: list[Any], full: list[Any]) -> int:
    """Client-side connections (``send_nowait``: masked frames), server connections with
    extensions (compressed, once for all that can share it) and connection-like objects that
    are not the core's; those over their write limit go to ``full``. Returns how many were
    clients."""
    shared: dict[Any, bytes] = {}
    to_clients = 0
    for conn in conns:
        proto = conn._proto
        transport = conn.transport
        if proto is None or transport is None or proto.state is not State.OPEN or transport.is_closing():
            result.not_open += 1
            continue
        limit = conn._opts.write_limit
        if transport.get_write_buffer_size() + conn._corked_bytes > limit or conn._fragmenting:
            full.append(conn)
            continue
        result.sent += 1
        if proto.client:
            conn.send_nowait(message)  # counted by the connection itself
            to_clients += 1
            continue
        data = _compressed_frame(proto, opcode, message, shared)
        if _impl.conn.cork(conn, data, len(data)):
            to_flush.append(conn)
    return to_clients


def _compressed_frame(proto: Any, opcode: int, message: Any, shared: dict[Any, bytes]) -> bytes:
    """The frame for a server connection with extensions.

    A permessage-deflate connection that compresses without context takeover accepts bytes
    compressed once for everyone (uWebSockets' shared compressor): they are cached per window
    size in ``shared``. Any other connection encodes the message with its own context.
    """
    exts = proto.extensions
    data = message.encode("utf-8") if isinstance(message, str) else message
    if len(exts) == 1:
        bits = getattr(exts[0], "shared_window_bits", None)
        if bits is not None:
            frame = shared.get(bits)
            if frame is None:
                if len(data) < exts[0].threshold:
                    frame = _impl.builder.encode_frame(opcode, data)
                else:
                    from ..extensions.permessage_deflate import compress_message

                    frame = _impl.builder.encode_frame(
                        opcode, compress_message(bytes(data), max_window_bits=bits), rsv=0x40
                    )
                shared[bits] = frame
            return frame
    rsv = 0
    for ext in exts:
        bits, data = ext.encode(opcode, data)
        rsv |= bits
    return _impl.builder.encode_frame(opcode, data, rsv=rsv)
