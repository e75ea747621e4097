"""Topics for fan-out: a ``Hub`` maps topic names to subscribed connections.

``publish`` goes through a broker. A topic can keep a history (``Hub(history=History(...))``
for every topic, ``hub.set_history(topic, ...)`` for one): its publications get offsets and
go out in an envelope (``wsfast.brokers.envelope``), and ``subscribe_from`` joins it from a
known ``(epoch, offset)`` or with its last value (``wsfast.brokers.recovery``).

The default ``LocalBroker`` delivers in this process;
``wsfast.brokers.redis.RedisBroker`` carries messages to every process and machine through
Redis pub/sub and calls ``hub.deliver`` on each node. ``wsfast.brokers`` documents the broker
interface (``attach``, ``publish``, ``topic_added``, ``topic_removed``). Delivery in this
process is ``wsfast.asyncio.broadcast``; a worker process closes every live Hub's broker on
shutdown (``wsfast.asyncio.workers.close_at_shutdown``).
"""
from __future__ import annotations

import inspect
from typing import Any, Awaitable, Callable

from ..asyncio.broadcast import BroadcastResult, broadcast
from ..asyncio.stats import hub_deliveries
from ..asyncio.workers import close_at_shutdown, forget_at_shutdown
from .envelope import Envelope, JsonEnvelope
from .history import History, HistoryRead, Ring
from .recovery import NO_HISTORY, Recoverer, Recovery


class LocalBroker:
    """Delivers published messages to the hub of this process only; keeps the history of
    topics with history in a bounded ``Ring`` each (``stats()`` reports their memory)."""

    status = "local"
    undelivered = 0

    def __init__(self) -> None:
        self.rings: dict[str, Ring] = {}

    def attach(self, hub: "Hub") -> None:
        self.hub = hub

    def publish(self, topic: str, message: Any) -> BroadcastResult:
        return self.hub.deliver(topic, message)

    def _ring(self, topic: str, policy: History) -> Ring:
        ring = self.rings.get(topic)
        if ring is None or ring.policy != policy:
            ring = self.rings[topic] = Ring(policy, ring.epoch if ring is not None else None)
        return ring

    def publish_history(self, topic: str, message: Any, policy: History) -> int:
        """Keep ``message`` in ``topic``'s ring, deliver it here; returns its offset."""
        if not isinstance(message, (str, bytes)):
            message = bytes(message)  # kept: the caller may reuse its buffer
        ring = self.rings.get(topic)
        if ring is None or ring.policy is not policy:
            ring = self._ring(topic, policy)
        offset = ring.append(message)
        self.hub.deliver_publication(topic, ring.epoch, offset, message)
        return offset

    def read_history(self, topic: str, after: int | None, limit: int, policy: History) -> HistoryRead:
        """``topic``'s history after offset ``after`` (None: its last ``limit`` publications)."""
        ring = self._ring(topic, policy)
        if after is None:
            after = max(0, ring.top - limit)
        return ring.read(after, limit)

    def topic_added(self, topic: str) -> None:
        """The first local subscriber joined ``topic`` (a remote broker subscribes here)."""

    def topic_removed(self, topic: str) -> None:
        """The last local subscriber left ``topic``."""

    def stats(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "undelivered": 0,
            "history_topics": len(self.rings),
            "history_entries": sum(len(r) for r in self.rings.values()),
            "history_memory": sum(r.memory() for r in self.rings.values()),
        }


class Hub:
    """Connections subscribe to topics; ``publish(topic, message)`` reaches all subscribers.

    Connections leave their topics automatically when they close. ``on_full`` is passed to
    ``broadcast`` ("skip" or "close" slow subscribers).

    ``history``: keep this much of every topic's past (``History``; None: no history unless
    ``set_history`` says so for a topic). ``envelope``: how publications of topics with
    history are wrapped (``JsonEnvelope`` by default). ``max_replay``: the most publications
    one recovery replays (more missed: ``recovered: false``, "too far behind").
    ``max_pending``: live publications queued for one recovering subscriber before its
    recovery is abandoned and the connection closed with 1013.
    """

    def __init__(self, broker: Any = None, *, on_full: str = "skip", history: History | None = None,
                 envelope: Envelope | None = None, max_replay: int = 10_000,
                 max_pending: int = 10_000) -> None:
        # topic -> its subscribers, as the keys of a dict: broadcast's compiled loop walks them
        # in the order they subscribed (a dict's entries are one array in insertion order),
        # which for connections that subscribe as they open is the order their objects were
        # allocated in. A set would hand them over in hash order, all over memory: with
        # 10,000 subscribers that made the walk 2-3x slower (bench/hub_vs_broadcast.py).
        # Removal stays O(1).
        self._topics: dict[str, dict[Any, None]] = {}
        self._subscriptions: dict[Any, set[str]] = {}
        self.on_full = on_full
        self.history = history
        self._history: dict[str, History | None] = {}
        self.envelope: Envelope = envelope if envelope is not None else JsonEnvelope()
        self.recoverer = Recoverer(self, max_replay, max_pending)
        self.broker = broker if broker is not None else LocalBroker()
        self.broker.attach(self)
        close_at_shutdown(self)

    @classmethod
    def from_url(cls, url: str | None, *, on_full: str = "skip", history: History | None = None,
                 **broker_options: Any) -> "Hub":
        """A Hub on ``RedisBroker(url, **broker_options)`` when ``url`` is set, else on the
        ``LocalBroker`` (``broker_options`` are then ignored); ``history`` as for ``Hub``.

        For applications that take their broker from configuration, e.g.
        ``Hub.from_url(os.environ.get("REDIS_URL"))``: the same code runs on one process or on
        many. Needs the ``redis`` extra only when a URL is given.
        """
        if not url:
            return cls(on_full=on_full, history=history)
        from .redis import RedisBroker  # only now: the redis extra may not be installed

        return cls(RedisBroker(url, **broker_options), on_full=on_full, history=history)

    def set_history(self, topic: str, history: History | None) -> None:
        """Keep ``history`` for ``topic`` (None: no history, whatever the Hub's default)."""
        self._history[topic] = history

    def history_of(self, topic: str) -> History | None:
        """The history ``topic`` keeps, or None."""
        return self._history.get(topic, self.history)

    def subscribe(self, conn: Any, topic: str) -> None:
        """Add ``conn`` to ``topic``'s subscribers (live publications only; in their envelope
        on a topic with history)."""
        if conn.closed:
            return
        if topic not in self._topics and topic not in self.recoverer.pending:
            self.broker.topic_added(topic)
        self._add_live(conn, topic)

    async def subscribe_from(
        self,
        conn: Any,
        topic: str,
        epoch: str | None = None,
        offset: int | None = None,
        *,
        last: bool = False,
        announce: Callable[[Recovery], Awaitable[None] | None] | None = None,
    ) -> Recovery:
        """Subscribe ``conn`` to ``topic`` (a topic with history) from a known position.

        With ``epoch`` and ``offset`` (the last publication the subscriber has): every later
        publication is sent to it, then the live ones, with no gap or duplicate; if that cannot
        be done the result says why (``recovered`` False, ``reason``) and it joins live anyway.
        ``last``: when nothing is recovered, send the topic's last publication first.
        ``announce(result)`` runs before anything is replayed (to tell the client). Returns
        when ``conn`` is a live subscriber. Raises ``ValueError`` for an offset out of range.
        """
        policy = self.history_of(topic)
        if policy is None:
            self.subscribe(conn, topic)
            result = Recovery(topic, False, NO_HISTORY, "", 0)
            self.recoverer.counts[f"not recovered: {NO_HISTORY}"] += 1
            if announce is not None:
                ack = announce(result)
                if inspect.isawaitable(ack):
                    await ack
            return result
        return await self.recoverer.join(conn, topic, policy, epoch, offset, last, announce)

    def _member_removed(self, topic: str) -> None:
        """A recovering subscriber left without joining: the last member gone, stop carrying it."""
        if topic not in self._topics and len(self.recoverer.pending.get(topic, ())) == 0:
            self.broker.topic_removed(topic)

    def _add_live(self, conn: Any, topic: str) -> None:
        if conn.closed:
            if topic not in self._topics and not self.recoverer.pending.get(topic):
                self.broker.topic_removed(topic)
            return
        subscribers = self._topics.get(topic)
        if subscribers is None:
            subscribers = self._topics[topic] = {}
        subscribers[conn] = None
        topics = self._subscriptions.get(conn)
        if topics is None:
            topics = self._subscriptions[conn] = set()
            conn._closed.add_done_callback(lambda _: self.unsubscribe_all(conn))
        topics.add(topic)

    def unsubscribe(self, conn: Any, topic: str) -> None:
        """Remove ``conn`` from ``topic``'s subscribers (no error if it wasn't there)."""
        subscribers = self._topics.get(topic)
        if subscribers is not None:
            subscribers.pop(conn, None)
            if not subscribers:
                del self._topics[topic]
                if not self.recoverer.pending.get(topic):
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
        """Publish ``message`` on ``topic`` through the broker; returns the broker's result.

        On a topic with history it returns the publication's offset: an ``int`` with the
        ``LocalBroker``, an ``asyncio.Future`` of it with ``RedisBroker`` (Redis assigns it).
        """
        policy = self._history.get(topic, self.history)
        if policy is None:
            return self.broker.publish(topic, message)
        return self.broker.publish_history(topic, message, policy)

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

    def deliver_publication(self, topic: str, epoch: str, offset: int, data: str | bytes) -> BroadcastResult:
        """Send a publication of a topic with history, in its envelope, to this process's
        subscribers of ``topic``, and queue it for those recovering (brokers call this)."""
        if topic in self.recoverer.pending:
            self.recoverer.queue(topic, epoch, offset, data)
        subscribers = self._topics.get(topic)
        if not subscribers:
            return BroadcastResult()
        return broadcast(subscribers, self.envelope.encode(topic, epoch, offset, data), on_full=self.on_full)

