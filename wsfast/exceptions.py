"""Every exception wsfast raises, shared by both kernel implementations.

Two families, as in h11:

* ``LocalProtocolError``: this side misused the API (sending after close, an invalid close
  code from the caller, a reason too long). Nothing went wrong on the wire.
* ``RemoteProtocolError``: the peer broke the protocol. Each type carries the close code the
  connection is failed with (``close_code``), and handshake errors the HTTP status the server
  answers with (``status_code``).

``ConnectionClosed`` (and its OK / Error subclasses, as in websockets) is raised by the I/O
layer to a caller that sends or receives on a closed connection.
"""
from __future__ import annotations

from typing import Any


class WebSocketError(Exception):
    """Base class of all wsfast errors.

    A subclass names the close code the connection is failed with in its class line, so the
    hierarchy below reads as a table: ``class InvalidUTF8(RemoteProtocolError, close_code=1007)``.
    """

    close_code: int = 1011

    def __init_subclass__(cls, close_code: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if close_code is not None:
            cls.close_code = close_code


# ---------------------------------------------------------------------------- local misuse


class LocalProtocolError(WebSocketError, close_code=1011):
    """This side asked for something the protocol or the connection's state forbids."""


class InvalidState(LocalProtocolError):
    """An operation is not allowed in the connection's current state (e.g. send after close)."""


class InvalidCloseCode(LocalProtocolError, ValueError):
    """The caller passed a close code that may not be sent."""


class ReasonTooLong(LocalProtocolError, ValueError):
    """The caller passed a close reason over 123 UTF-8 bytes."""


class InvalidURI(LocalProtocolError, ValueError):
    """The URI to connect to is not a ws:// or wss:// URI."""


# ---------------------------------------------------------------------- peer violations


class RemoteProtocolError(WebSocketError, close_code=1002):
    """The peer broke RFC 6455 / RFC 7692; the connection is failed with ``close_code``."""


class InvalidFrame(RemoteProtocolError, close_code=1002):
    """A frame header breaks a framing rule (masking, RSV bits, opcode, control frame rules)."""


class InvalidUTF8(RemoteProtocolError, close_code=1007):
    """A text message or close reason is not valid UTF-8."""


class InvalidPayload(RemoteProtocolError, close_code=1007):
    """A payload cannot be decoded (a corrupt deflate stream)."""


class PayloadTooBig(RemoteProtocolError, close_code=1009):
    """A frame or message exceeds ``max_size``, or a message has too many fragments."""


class InvalidCloseFrame(RemoteProtocolError, close_code=1002):
    """A close frame with a one-byte payload or a code that may not appear on the wire."""


class PolicyViolation(RemoteProtocolError, close_code=1008):
    """The peer broke an application policy (e.g. a slow consumer over its write cap)."""


# ------------------------------------------------------------------------- handshake


class InvalidHandshake(RemoteProtocolError):
    """The opening handshake failed; a server answers with ``status_code``, which a subclass
    names in its class line like the close code: ``class InvalidOrigin(..., status_code=403)``."""

    status_code: int = 400

    def __init_subclass__(cls, status_code: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status_code is not None:
            cls.status_code = status_code


class InvalidMessage(InvalidHandshake):
    """The HTTP request or response is malformed."""


class InvalidHeader(InvalidHandshake):
    """A required header is missing, duplicated, or has an invalid value."""

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.value = value
        if value is None:
            msg = f"missing {name} header"
        elif value == "":
            msg = f"empty {name} header"
        else:
            msg = f"invalid {name} header: {value}"
        super().__init__(msg)


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header does not ask for a WebSocket upgrade."""


class InvalidVersion(InvalidHeader, status_code=426):
    """Sec-WebSocket-Version is not 13; the server answers 426 with the supported version."""


class HeadersTooLarge(InvalidHandshake, status_code=431):
    """Too many header lines, a line over the limit, or a head over the size limit."""


class InvalidOrigin(InvalidHeader, status_code=403):
    """The Origin header is not in the server's allow-list."""


class NegotiationError(InvalidHandshake):
    """Subprotocol or extension negotiation failed."""


class InvalidStatus(InvalidHandshake):
    """The server answered the upgrade request with something other than 101."""

    def __init__(self, response) -> None:  # response: wsfast.handshake.Response
        self.response = response
        super().__init__(f"server rejected WebSocket connection: HTTP {response.status_code}")


# --------------------------------------------------------------------- connection closed


class ConnectionClosed(WebSocketError):
    """Raised when sending or receiving on a closed connection.

    ``code`` and ``reason`` are what the peer sent (1006 and "" when no close frame arrived);
    ``sent_code`` is what this side sent, if anything.
    """

    def __init__(self, code: int = 1006, reason: str = "", sent_code: int | None = None) -> None:
        self.code = code
        self.reason = reason
        self.sent_code = sent_code
        super().__init__(f"connection closed: {code} {reason}".rstrip())

    @property
    def close_code(self) -> int:  # type: ignore[override]
        return self.code


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally (1000 or 1001 both ways)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error or without a close handshake."""


def closed_exception(code: int, reason: str = "", sent_code: int | None = None) -> ConnectionClosed:
    """Return the right ConnectionClosed subclass for a close code received from the peer."""
    ok = code in (1000, 1001) and (sent_code is None or sent_code in (1000, 1001))
    cls = ConnectionClosedOK if ok else ConnectionClosedError
    return cls(code, reason, sent_code)
