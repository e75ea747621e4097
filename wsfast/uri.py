"""Parsing ws:// and wss:// URIs (RFC 6455 section 3)."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .exceptions import InvalidURI


@dataclass(frozen=True, slots=True)
class WebSocketURI:
    """The parts of a WebSocket URI a client needs to connect and to build its request."""

    secure: bool
    host: str
    port: int
    path: str  # path and query, "/" at least

    @property
    def default_port(self) -> bool:
        return self.port == (443 if self.secure else 80)


def parse_uri(uri: str) -> WebSocketURI:
    """Split a ws:// or wss:// URI; raise InvalidURI for anything else (fragments included)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidURI(f"{uri} is not a valid URI: {exc}") from None
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(f"{uri} is not a ws:// or wss:// URI")
    if parts.fragment:
        raise InvalidURI(f"{uri} has a fragment, which WebSocket URIs may not have")
    if not parts.hostname:
        raise InvalidURI(f"{uri} has no host")
    secure = parts.scheme == "wss"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return WebSocketURI(secure, parts.hostname, port or (443 if secure else 80), path)
