"""Feeds that survive a reconnect: topics with history, recovery from ``(epoch, offset)``
without gap or duplicate, the last value on subscribe (docs/feeds.md).

Server: ``wsfast.Hub(history=History(...))`` and ``Feeds(hub).handle(ws, message)``.
Client: ``Subscriptions`` with ``wsfast.connect(on_connect=feed.resume)``, or ``follow``.
Browser: ``feed.js`` in this package (``script()`` returns it).
"""
from __future__ import annotations

from importlib import resources

from ..brokers.envelope import Envelope, JsonEnvelope, Publication
from ..brokers.history import History
from ..brokers.recovery import Recovery
from .client import FeedError, Skipped, Subscribed, Subscriptions, follow
from .server import Feeds


def script() -> bytes:
    """The browser snippet (``feed.js``) that follows feeds over the browser's WebSocket."""
    return resources.files(__package__).joinpath("feed.js").read_bytes()


__all__ = ["Envelope", "FeedError", "Feeds", "History", "JsonEnvelope", "Publication", "Recovery",
           "Skipped", "Subscribed", "Subscriptions", "follow", "script"]
