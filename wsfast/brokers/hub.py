"""Topics for fan-out: a ``Hub`` maps topic names to subscribed connections.

``publish`` goes through a broker. The default ``LocalBroker`` delivers in this process;
``wsfast.brokers.redis.RedisBroker`` carries messages to every process and machine through
Redis pub/sub and calls ``hub.deliver`` on each node. ``wsfast.brokers`` documents the broker
interface (``attach``, ``publish``, ``topic_added``, ``topic_removed``). Delivery in this
process is ``wsfast.asyncio.broadcast``; a worker process closes every live Hub's broker on
shutdown (``wsfast.asyncio.workers.close_at_shutdown``).
"""
from __future__ import annotations

import inspect
from typing import Any

from ..asyncio.broadcast import BroadcastResult, broadcast
from ..asyncio.stats import hub_deliveries
from ..asyncio.workers import close_at_shutdown, forget_at_shutdown


class LocalBroker:
    """Delivers published messages to the hub of this process only."""

    status = "local"
    undelivered = 0

    def attach(self, hub: "Hub") -> None:
        self.hub = hub

    def publish(self, topic: str, message: Any) -> BroadcastResult:
        return self.hub.deliver(topic, message)

    def topic_added(self, topic: str) -> None:
        """The first local subscriber joined ``topic`` (a remote broker subscribes here)."""

    def topic_removed(self, topic: str) -> None:
        """The last local subscriber left ``topic``."""

    def stats(self) -> dict[str, Any]:
        return {"status": self.status, "undelivered": 0}


class Hub:
    """Connections subscribe to topics; ``publish(topic, message)`` reaches all subscribers.

    Connections leave their topics automatically when they close. ``on_full`` is passed to
    ``broadcast`` ("skip" or "close" slow subscribers).
    """

    def __init__(self, broker: Any = None, *, on_full: str = "skip") -> None:
        self._topics: dict[str, set[Any]] = {}
        self._subscriptions: dict[Any, set[str]] = {}
        self.on_full = on_full
        self.broker = broker if broker is not None else LocalBroker()
        self.broker.attach(self)
        close_at_shutdown(self)

    @classmethod
    def from_url(cls, url: str | None, *, on_full: str = "skip", **broker_options: Any) -> "Hub":
        """A Hub on ``RedisBroker(url, **broker_options)`` when ``url`` is set, else on the
        ``LocalBroker`` (``broker_options`` are then ignored).

        For applications that take their broker from configuration, e.g.
        ``Hub.from_url(os.environ.get("REDIS_URL"))``: the same code runs on one process or on
        many. Needs the ``redis`` extra only when a URL is given.
        """
        if not url:
            return cls(on_full=on_full)
        from .redis import RedisBroker  # only now: the redis extra may not be installed

        return cls(RedisBroker(url, **broker_options), on_full=on_full)

    def subscribe(self, conn: Any, topic: str) -> None:
        """Add ``conn`` to ``topic``'s subscribers."""
        if conn.closed:
            return
        subscribers = self._topics.get(topic)
        if subscribers is None:
            subscribers = self._topics[topic] = set()
            self.broker.topic_added(topic)
        subscribers.add(conn)
        topics = self._subscriptions.get(conn)
        if topics is None:
            topics = self._subscriptions[conn] = set()
            conn._closed.add_done_callback(lambda _: self.unsubscribe_all(conn))
        topics.add(topic)

    def unsubscribe(self, conn: Any, topic: str) -> None:
        """Remove ``conn`` from ``topic``'s subscribers (no error if it wasn't there)."""
        subscribers = self._topics.get(topic)
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self._topics[topic]
                self.broker.topic_removed(topic)
        topics = self._subscriptions.get(conn)
        if topics is not None:
            topics.discard(topic)

    def unsubscribe_all(self, conn: Any) -> None:
        """Remove ``conn`` from every topic (called when it closes)."""
        for topic in list(self._subscriptions.pop(conn, ())):
            self.unsubscribe(conn, topic)

    def subscribers(self, topic: str) -> frozenset[Any]:
        return frozenset(self._topics.get(topic, ()))

    def topics(self) -> list[str]:
        return list(self._topics)

    def publish(self, topic: str, message: str | bytes) -> Any:
        """Publish ``message`` on ``topic`` through the broker; returns the broker's result."""
        return self.broker.publish(topic, message)

    def broker_status(self) -> str:
        """The broker's state: "local" (LocalBroker), or for a remote broker "connecting",
        "connected", "disconnected" (an outage: local delivery only) or "closed"."""
        return getattr(self.broker, "status", "local")

    async def aclose(self) -> None:
        """Close the broker (a remote broker flushes what it can and disconnects)."""
        forget_at_shutdown(self)
        aclose = getattr(self.broker, "aclose", None)
        if aclose is not None:
            result = aclose()
            if inspect.isawaitable(result):
                await result

    def deliver(self, topic: str, message: str | bytes) -> BroadcastResult:
        """Send ``message`` to this process's subscribers of ``topic`` (brokers call this)."""
        subscribers = self._topics.get(topic)
        if not subscribers:
            return BroadcastResult()
        return broadcast(subscribers, message, on_full=self.on_full, counters=hub_deliveries)

