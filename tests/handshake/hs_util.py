"""Helpers shared by the handshake tests (imported by name: tests/handshake is on sys.path
under pytest's default "prepend" import mode)."""
from __future__ import annotations

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

DEFAULT_REQUEST_HEADERS = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", RFC_KEY),
    ("Sec-WebSocket-Version", "13"),
]


def build_request(
    headers=None, *, drop=(), add=(), start_line: bytes = b"GET /chat HTTP/1.1"
) -> bytes:
    """Raw request bytes: the RFC 6455 example request, minus the ``drop`` names, plus the
    ``add`` fields (names may repeat)."""
    fields = list(DEFAULT_REQUEST_HEADERS if headers is None else headers)
    dropped = {name.lower() for name in drop}
    fields = [(n, v) for n, v in fields if n.lower() not in dropped] + list(add)
    lines = [start_line] + [f"{n}: {v}".encode("latin-1") for n, v in fields]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def feed_in_two(parser, feed, data: bytes, split: int):
    """Give ``data`` to ``feed`` (a method of ``parser``) in two reads cut at ``split``, as a
    connection would: the second read only when the first gave no result.

    Returns the result and the bytes handed on behind the handshake: ``parser.leftover``, plus
    the second read when it was not needed (the caller gives later reads to the WebSocket
    protocol, after leftover).
    """
    result = feed(data[:split])
    if result is None:
        return feed(data[split:]), parser.leftover
    return result, parser.leftover + data[split:]
