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

Guarantees of ``RedisBroker``
-----------------------------
Every subscriber connected while both its node and the publisher's node are connected to Redis
gets each message exactly once, and the messages of one publisher in the order they were
published. The publishing process delivers to its own subscribers directly (no Redis round
trip, and its subscribers keep being served while Redis is down) and ignores its own messages
when Redis echoes them back (each message carries the publisher's 8-byte node id). Nothing is
replayed: Redis pub/sub is fire and forget. Messages published while Redis is unreachable are
counted in ``broker.undelivered`` and logged; subscribers of other nodes never get them.

Going further than Redis pub/sub
--------------------------------
When a message must not be lost across an outage, or a node must catch up after a restart, use
a log with acknowledgments instead of pub/sub, behind the same four methods:

* **Redis Streams**: ``publish`` does ``XADD wsfast:<topic> MAXLEN ~ N * m <frame>``; each
  node reads the streams of its topics with ``XREAD BLOCK`` from the last id it saw, so after a
  reconnection it resumes where it stopped (within ``MAXLEN``); consumer groups with ``XACK``
  give at-least-once processing when work must be shared rather than fanned out.
* **NATS** (core for the same semantics as Redis pub/sub with subject wildcards and clustering;
  JetStream for replay, acknowledgments, durable consumers and deduplication by message id).

Both fit the interface: ``topic_added`` starts reading a stream or subscription, ``topic_removed``
stops it, incoming messages go to ``hub.deliver``; the frame format below can be reused as is.

Frame format on the wire (``RedisBroker``)
------------------------------------------
``kind (1 byte: b"t" text, b"b" binary) + node id (8 bytes) + payload`` on channel
``<prefix><topic>`` (prefix ``"wsfast:"`` by default). Text payloads are UTF-8. Other programs
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
