"""Brokers carry ``Hub.publish`` between processes and machines.

A ``wsfast.Hub`` keeps the subscribers of each topic *in this process*; its broker decides
where a published message goes. ``wsfast.brokers.LocalBroker`` (the default) delivers in
this process only. ``wsfast.brokers.redis.RedisBroker`` (``pip install wsfast[redis]``) uses
Redis pub/sub so that ``hub.publish(topic, message)`` on any process or machine reaches the
subscribers of ``topic`` on all of them::

    from wsfast import Hub
    from wsfast.brokers.redis import RedisBroker

    hub = Hub(RedisBroker(url="redis://127.0.0.1:6379/0"))

The broker interface
--------------------
Four methods, all called on the event loop thread, none of them a coroutine:

``attach(hub)``
    Called once by ``Hub.__init__``. The broker keeps the hub and later calls
    ``hub.deliver(topic, message)`` for every message that reaches this process.
``publish(topic, message) -> result``
    Called by ``hub.publish``; must not block. ``message`` is ``str`` (a text message) or
    bytes-like (binary); a broker must hand the same type to ``hub.deliver`` on every node.
    It returns what ``hub.publish`` returns (both built-in brokers: the ``BroadcastResult``
    of the delivery in this process).
``topic_added(topic)`` / ``topic_removed(topic)``
    The first local subscriber joined ``topic`` / the last one left. A remote broker holds
    one upstream subscription per topic per process here, never one per connection.

Optional, read when present: ``status`` (a string, see ``BrokerStatus``; ``hub.broker_status()``
returns it), ``undelivered`` (messages that could not be handed to other nodes, counted, never
dropped silently), ``stats()`` (a dict of counters) and ``async aclose()`` (``hub.aclose()``
awaits it).

Topics with history (``Hub(history=...)``, ``docs/feeds.md``) need three more:

``publish_history(topic, message, policy) -> offset``
    Keep ``message`` in ``topic``'s history (bounded by ``policy``, a ``History``) with the next
    offset, have ``hub.deliver_publication(topic, epoch, offset, message)`` called on every node
    in offset order, and return the offset (or an awaitable of it).
``read_history(topic, after, limit, policy) -> HistoryRead``
    The epoch, the last offset and the kept publications after ``after`` (None: the last
    ``limit``), at most ``limit`` of them; may be a coroutine.
``history_ready(topic)`` (optional coroutine)
    Returns once publications on ``topic`` reach this node; a history read made after it
    misses nothing that pub/sub will not deliver.

Guarantees of ``RedisBroker``
-----------------------------
Every subscriber connected while both its node and the publisher's node are connected to Redis
gets each message exactly once, and the messages of one publisher in the order they were
published. The publishing process delivers to its own subscribers directly (no Redis round
trip, and its subscribers keep being served while Redis is down) and ignores its own messages
when Redis echoes them back (each message carries the publisher's 8-byte node id). On topics
without history nothing is replayed: Redis pub/sub is fire and forget. On topics with history
every node delivers each publication when Redis sends it back, in offset order. Messages published while Redis is unreachable are
counted in ``broker.undelivered`` and logged; subscribers of other nodes never get them.

Going further than Redis pub/sub
--------------------------------
Topics with history go through Redis Streams (``wsfast.brokers.redis_history``): every
publication is kept (``XADD`` with ``MAXLEN``) with an offset Redis assigns, and a subscriber
that comes back recovers what it missed from the stream; see ``docs/feeds.md``. Topics without
history stay fire and forget. For work that must be shared rather than fanned out
(at-least-once processing), consumer groups with ``XACK`` or NATS JetStream fit behind the
same methods: ``topic_added`` starts reading a stream or subscription, ``topic_removed`` stops
it, incoming messages go to ``hub.deliver``.

Frame format on the wire (``RedisBroker``)
------------------------------------------
``kind (1 byte: b"t" text, b"b" binary) + node id (8 bytes) + payload`` on channel
``<prefix><topic>`` (prefix ``"wsfast:"`` by default). Publications of topics with history use
kinds ``b"T"`` / ``b"B"`` and carry ``b"<offset>:<epoch>:"`` before the payload
(``wsfast.brokers.redis_history``). Text payloads are UTF-8. Other programs
can publish to wsfast nodes by sending frames in this format with a node id of their own.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class BrokerStatus:
    """Values of ``broker.status``."""

    LOCAL = "local"                #: LocalBroker: no remote side, nothing to lose
    CONNECTING = "connecting"      #: first connection in progress (publishes not yet carried)
    CONNECTED = "connected"        #: carried to other nodes, every current topic subscribed
    DISCONNECTED = "disconnected"  #: outage: local delivery only, reconnecting with backoff
    CLOSED = "closed"              #: aclose() was called


@runtime_checkable
class Broker(Protocol):
    """The four methods a Hub calls (see the module docstring)."""

    def attach(self, hub: Any) -> None: ...

    def publish(self, topic: str, message: Any) -> Any: ...

    def topic_added(self, topic: str) -> None: ...

    def topic_removed(self, topic: str) -> None: ...


from .hub import Hub, LocalBroker  # noqa: E402  (after BrokerStatus: redis.py imports it)

__all__ = ["Broker", "BrokerStatus", "Hub", "LocalBroker"]
