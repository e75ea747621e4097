"""The client side of feeds: ``Subscriptions`` tracks ``(epoch, offset)`` per topic from the
envelopes it sees and subscribes again from there on every reconnect::

    feed = Subscriptions(["prices"], last=True)
    async for ws in wsfast.connect(uri, on_connect=feed.resume):
        try:
            async for message in ws:
                event = feed.receive(message)
                if isinstance(event, Publication):
                    ...                  # in order, no gap, no duplicate
                elif isinstance(event, Subscribed) and event.lost:
                    ...                  # missed publications are gone: fetch a snapshot
        except wsfast.ConnectionClosed:
            continue

or just ``async for pub in follow(uri, ["prices"]): ...``. A publication that skips offsets
(the server dropped one for a slow reader) is held back and the topic is subscribed again from
the last offset received, so the application still sees every offset in order.
"""
from __future__ import annotations

import asyncio
import collections
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterable

from ..brokers.envelope import Envelope, JsonEnvelope, Publication
from ..brokers.recovery import NOT_ASKED
from .protocol import RETRY_LATER, is_control, subscribe_message


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The server's answer to a subscription (see ``wsfast.feeds.protocol``)."""

    topic: str
    recovered: bool
    reason: str | None
    epoch: str
    offset: int
    replayed: int

    @property
    def lost(self) -> bool:
        """Publications were missed and cannot be replayed (a resume that failed)."""
        return not self.recovered and self.reason != NOT_ASKED


@dataclass(frozen=True, slots=True)
class FeedError:
    """The server refused a control message."""

    topic: str | None
    error: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A publication not passed on: ``"duplicate"`` (already seen) or ``"gap"`` (held back
    while the missing ones are fetched again)."""

    publication: Publication
    why: str


Event = Publication | Subscribed | FeedError | Skipped


class Subscriptions:
    """The topics a client follows and its position in each (``positions[topic]``: the
    ``(epoch, offset)`` of the last publication passed on, or None before the first answer).

    ``last``: ask for a topic's last publication when nothing can be recovered.
    ``retry_after``: seconds before asking again when the server says to (history
    unavailable, too many requests).
    ``counts``: publications passed on, duplicates and gaps seen, resets (recovery refused).
    """

    def __init__(self, topics: Iterable[str] = (), *, last: bool = False,
                 envelope: Envelope | None = None, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        self.positions: dict[str, tuple[str, int] | None] = {topic: None for topic in topics}
        self.last = last
        self.envelope: Envelope = envelope if envelope is not None else JsonEnvelope()
        self.counts: collections.Counter[str] = collections.Counter()
        self._ws: Any = None
        self._refetching: set[str] = set()

    def add(self, topic: str, epoch: str | None = None, offset: int | None = None) -> None:
        """Follow ``topic`` from ``(epoch, offset)`` if known (saved from an earlier run)."""
        self.positions[topic] = (epoch, offset) if epoch is not None and offset is not None else None

    async def resume(self, ws: Any) -> None:
        """Subscribe ``ws`` to every topic from its position (``connect(on_connect=...)``)."""
        self._ws = ws
        self._refetching.clear()
        for topic in self.positions:
            await self._subscribe(ws, topic)

    async def _subscribe(self, ws: Any, topic: str) -> None:
        position = self.positions.get(topic)
        epoch, offset = position if position is not None else (None, None)
        await ws.send(subscribe_message(topic, epoch, offset, self.last))

    def receive(self, message: str | bytes) -> Event | None:
        """What ``message`` is for the feed (None: not a feed message, the application's)."""
        if is_control(message):
            return self._control(json.loads(message))
        pub = self.envelope.decode(message)
        if pub is None or pub.topic not in self.positions:
            return None
        position = self.positions[pub.topic]
        if position is not None and position[0] == pub.epoch:
            if pub.offset <= position[1]:
                self.counts["duplicates"] += 1
                return Skipped(pub, "duplicate")
            if pub.offset > position[1] + 1:
                self.counts["gaps"] += 1
                self._refetch(pub.topic)
                return Skipped(pub, "gap")
        elif position is not None:
            self.counts["epoch changes"] += 1  # the server lost its history meanwhile
        self.positions[pub.topic] = (pub.epoch, pub.offset)
        self.counts["publications"] += 1
        return pub

    def _refetch(self, topic: str, delay: float = 0.0) -> None:
        if topic in self._refetching or self._ws is None:
            return
        self._refetching.add(topic)
        asyncio.ensure_future(self._subscribe_later(self._ws, topic, delay)).add_done_callback(
            lambda t: t.cancelled() or t.exception())

    async def _subscribe_later(self, ws: Any, topic: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if ws is self._ws and not ws.closed:
            await self._subscribe(ws, topic)

    def _control(self, obj: Any) -> Event | None:
        kind = obj.get("feed") if isinstance(obj, dict) else None
        if kind == "error":
            self.counts["errors"] += 1
            error = FeedError(obj.get("topic"), str(obj.get("error")))
            if error.error in RETRY_LATER and error.topic in self.positions:
                self._refetching.discard(error.topic)
                self._refetch(error.topic, self.retry_after)
            return error
        if kind != "subscribed":
            return None
        event = Subscribed(obj["topic"], bool(obj["recovered"]), obj.get("reason"), obj["epoch"],
                           int(obj["offset"]), int(obj.get("replayed", 0)))
        self._refetching.discard(event.topic)
        if not event.recovered:
            if self.positions.get(event.topic) is not None:
                self.counts["resets"] += 1
            # Joined at the topic's head; a last value replayed is the next offset to accept.
            self.positions[event.topic] = (event.epoch, event.offset - event.replayed)
        return event


async def follow(uri: str, topics: Iterable[str], *, last: bool = False,
                 envelope: Envelope | None = None, **connect_options: Any) -> AsyncIterator[Publication]:
    """Yield the publications of ``topics`` across reconnects, each once and in order.

    ``connect_options`` go to ``wsfast.connect`` (``backoff``, ``max_retries``, ...).
    """
    from ..asyncio.client import connect
    from ..exceptions import ConnectionClosed

    feed = Subscriptions(topics, last=last, envelope=envelope)
    async for ws in connect(uri, on_connect=feed.resume, **connect_options):
        try:
            async for message in ws:
                event = feed.receive(message)
                if isinstance(event, Publication):
                    yield event
        except ConnectionClosed:
            continue
