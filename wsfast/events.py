"""Events the sans-I/O ``Protocol`` reports, as small frozen dataclasses (as in wsproto/h11).

``Protocol.events_received()`` returns them in order. The I/O layer on top of the protocol
uses the cheaper tuple form of ``Protocol.receive_messages()`` on its hot path instead.
"""
from __future__ import annotations

from dataclasses import dataclass

from .exceptions import RemoteProtocolError


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A complete text message: ``str``, or validated UTF-8 ``bytes`` when decoding is off."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    """A complete binary message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping from the peer; the protocol has already queued the pong."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong from the peer (answering a ping of ours, or unsolicited)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer's close frame. ``code`` is 1005 when it carried no status."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class ProtocolFailure:
    """The peer broke the protocol; the protocol has queued a close frame with ``error.close_code``."""

    error: RemoteProtocolError


# What events_received() returns. (``wsfast.Event`` is the browser API's event; this union
# was named ``Event`` too, which now forwards here with a DeprecationWarning.)
ProtocolEvent = TextMessage | BinaryMessage | Ping | Pong | CloseReceived | ProtocolFailure


def __getattr__(name: str) -> object:
    from ._aliases import forward

    return forward(__name__, name)
