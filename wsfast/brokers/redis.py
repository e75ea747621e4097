"""``RedisBroker``: a Hub's publishes reach every process and machine through Redis pub/sub.

    hub = wsfast.Hub(RedisBroker(url="redis://127.0.0.1:6379/0"))
    hub.subscribe(ws, "prices")          # first local subscriber: SUBSCRIBE wsfast:prices
    hub.publish("prices", payload)       # local subscribers now, other nodes through Redis

Needs redis-py (``pip install wsfast[redis]``); its asyncio client is used with its own
retries turned off (a retried PUBLISH could be delivered twice) and this module reconnects
instead.

Design (see ``wsfast.brokers`` for the interface and the frame format):

* One pub/sub connection per broker (per process) subscribed to one channel per topic that
  has local subscribers: ``topic_added`` subscribes, ``topic_removed`` unsubscribes.
* One publishing connection. ``publish`` never awaits: it delivers to local subscribers at
  once, then queues the frame; a writer task sends the queue in pipelined batches, in order,
  so one publisher's messages reach every node in publish order.
* A node ignores its own frames when Redis echoes them (the node id in every frame), so each
  subscriber gets each message exactly once.
* Topics with history (``Hub(history=...)``): ``publish_history`` queues one call of the
  history script (offset, ``XADD``, ``PUBLISH``; ``wsfast.brokers.redis_history``) in the same
  ordered outbox and returns a future of the offset; every node, the publisher's included,
  delivers the publication when pub/sub brings it. ``read_history`` reads the stream, once
  per topic for a batch of recovering subscribers.
* Outage: ``status`` turns "disconnected", a warning goes to the ``wsfast`` logger, local
  delivery goes on, publishes are counted in ``undelivered`` (as are queued or in-flight ones
  when the connection broke), and the broker reconnects with bounded exponential backoff,
  resubscribes every current topic and turns "connected" once Redis confirmed them all.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import BrokerStatus
from .history import History, HistoryRead, new_epoch
from .redis_history import (
    HISTORY_BINARY, HISTORY_TEXT, PUBLISH_SCRIPT, READ_SCRIPT, HistoryReads, history_keys,
    parse_frame, parse_read, publish_args,
)

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("RedisBroker needs redis-py: pip install 'wsfast[redis]'") from exc

logger = logging.getLogger("wsfast")

TEXT = b"t"
BINARY = b"b"
NODE_ID_SIZE = 8
HEADER_SIZE = 1 + NODE_ID_SIZE

# Errors that mean "the connection to Redis is gone"; anything else is a bug and is logged
# with its traceback, then handled like an outage so the broker keeps trying.
_CONNECTION_ERRORS = (RedisError, OSError, asyncio.TimeoutError, EOFError)


def encode_frame(node_id: bytes, message: str | bytes) -> bytes:
    """The frame published to Redis for ``message`` (see ``wsfast.brokers``)."""
    if isinstance(message, str):
        return TEXT + node_id + message.encode("utf-8")
    return BINARY + node_id + bytes(message)


def _retrieved(future: asyncio.Future) -> None:
    """A publish's offset future may never be awaited: its failure is counted, not logged."""
    if not future.cancelled():
        future.exception()


def _fail_history(items: Any, why: str) -> None:
    """Fail the offset futures of the history publications among ``items``."""
    for item in items:
        if len(item) == 3 and not item[2].done():
            item[2].set_exception(ConnectionError(why))


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        parts = parts._replace(netloc=user + netloc)
    return urlunsplit(parts)


class RedisBroker:
    """Carries ``hub.publish`` to the hubs of every process connected to the same Redis.

    ``url``: redis://, rediss:// or unix:// URL. ``channel_prefix``: prepended to topic names.
    ``backoff_initial`` / ``backoff_max``: reconnection delays (doubling, with jitter, bounded).
    ``health_check_interval``: seconds between PINGs on the subscription connection; no
    answer within two intervals counts as an outage. ``max_pending``: frames queued for Redis
    before further publishes count as undelivered (a bound on memory when Redis is slow).
    ``batch_size``: frames per pipelined write. ``connect_timeout``: seconds per connection
    attempt. ``client_kwargs``: more options for ``redis.asyncio.Redis.from_url``.

    Read ``status`` (``BrokerStatus``), ``undelivered``, ``stats()``; await
    ``wait_connected()``, ``wait_subscribed(topic)``, ``flush()`` and ``aclose()``.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        channel_prefix: str = "wsfast:",
        node_id: bytes | None = None,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        health_check_interval: float = 5.0,
        max_pending: int = 100_000,
        batch_size: int = 512,
        connect_timeout: float = 5.0,
        client_kwargs: dict[str, Any] | None = None,
        logger: logging.Logger | logging.LoggerAdapter = logger,
    ) -> None:
        if node_id is None:
            node_id = os.urandom(NODE_ID_SIZE)
        if len(node_id) != NODE_ID_SIZE:
            raise ValueError(f"node_id must be {NODE_ID_SIZE} bytes")
        if backoff_initial <= 0 or backoff_max < backoff_initial:
            raise ValueError("need 0 < backoff_initial <= backoff_max")
        self.url = url
        self.channel_prefix = channel_prefix
        self._prefix = channel_prefix.encode("utf-8")
        self.node_id = bytes(node_id)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.health_check_interval = health_check_interval
        self.max_pending = max_pending
        self.batch_size = batch_size
        self.connect_timeout = connect_timeout
        self.client_kwargs = dict(client_kwargs or {})
        self.logger = logger
        self.hub: Any = None

        self.status = BrokerStatus.CONNECTING
        self.last_error: str | None = None
        # Counters (see stats()).
        self.published = 0      # frames Redis accepted
        self.undelivered = 0    # publishes not carried to other nodes (outage, overflow, broken batch)
        self.received = 0       # frames from other nodes delivered here
        self.echoes = 0         # own frames Redis sent back (ignored)
        self.malformed = 0      # frames not in wsfast's format (ignored)
        self.outages = 0
        self._outage_undelivered = 0

        self._channels: dict[str, bytes] = {}   # topics with local subscribers -> channel
        self._topic_of: dict[bytes, str] = {}   # channel -> topic
        self._requested: set[bytes] = set()     # SUBSCRIBE sent on the current connection
        self._confirmed: set[bytes] = set()     # ... and confirmed by Redis
        self._waiters: dict[bytes, list[asyncio.Future]] = {}
        # (channel, frame) for PUBLISH, ((stream, meta), args, offset future) for history
        self._outbox: collections.deque[tuple[Any, ...]] = collections.deque()
        self._inflight = 0
        self._outbox_event: asyncio.Event | None = None
        self._subs_event: asyncio.Event | None = None
        self._state_event: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._overflow_logged = False
        self._session_id = 0
        self._client: Any = None  # the publishing connection of the current session
        self._shas: tuple[str, str] | None = None  # PUBLISH_SCRIPT's and READ_SCRIPT's
        self.history_reads = HistoryReads(self._read)

    def __repr__(self) -> str:
        return f"<RedisBroker {_redacted(self.url)} node={self.node_id.hex()} {self.status}>"

    # ------------------------------------------------------------------ the Hub's interface

    def attach(self, hub: Any) -> None:
        self.hub = hub
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # created outside the loop: started on first use
        self.start()

    def publish(self, topic: str, message: str | bytes | bytearray | memoryview) -> Any:
        """Deliver to this process's subscribers now and queue the frame for the other nodes.

        Returns the local ``BroadcastResult``. Never awaits; when the frame cannot be carried
        (not connected, or ``max_pending`` frames already queued) it counts in ``undelivered``.
        """
        if not isinstance(message, (str, bytes)):
            message = bytes(message)  # the caller may reuse its buffer
        result = self.hub.deliver(topic, message)
        if self._task is None:
            self.start()
        if self.status != BrokerStatus.CONNECTED:
            self.undelivered += 1
            self._outage_undelivered += 1
            return result
        if len(self._outbox) >= self.max_pending:
            self.undelivered += 1
            if not self._overflow_logged:
                self._overflow_logged = True
                self.logger.warning(
                    "Redis broker: %d frames already queued for %s; further publishes are not "
                    "delivered to other nodes until the queue drains (counted in undelivered)",
                    len(self._outbox), _redacted(self.url),
                )
            return result
        channel = self._channels.get(topic) or self._channel(topic)
        self._outbox.append((channel, encode_frame(self.node_id, message)))
        event = self._outbox_event
        if event is not None and not event.is_set():
            event.set()
        return result

    def publish_history(self, topic: str, message: str | bytes | bytearray | memoryview,
                        policy: History) -> asyncio.Future:
        """Queue ``message`` for ``topic``'s stream; returns a future of its offset.

        Redis assigns the offset, so every node (this one included) delivers the publication
        when Redis sends it back through pub/sub, in offset order. While Redis is unreachable
        the future fails with ``ConnectionError`` (and the publish counts in ``undelivered``).
        """
        if not isinstance(message, (str, bytes)):
            message = bytes(message)
        if self._task is None:
            self.start()
        assert self._loop is not None
        future: asyncio.Future = self._loop.create_future()
        future.add_done_callback(_retrieved)
        if self.status != BrokerStatus.CONNECTED or len(self._outbox) >= self.max_pending:
            self.undelivered += 1
            self._outage_undelivered += 1
            future.set_exception(ConnectionError(f"Redis broker {self.status}: not published"))
            return future
        channel = self._channels.get(topic) or self._channel(topic)
        args = publish_args(self.node_id, channel, message, policy)
        self._outbox.append((history_keys(self._prefix, topic), args, future))  # type: ignore[arg-type]
        event = self._outbox_event
        if event is not None and not event.is_set():
            event.set()
        return future

    async def read_history(self, topic: str, after: int | None, limit: int, policy: History) -> HistoryRead:
        """``topic``'s history after offset ``after`` (None: its last ``limit``), read from
        its stream; concurrent reads of one topic share one ``XRANGE`` (``history_reads``)."""
        return await self.history_reads.read(topic, after, limit, policy)

    async def history_ready(self, topic: str) -> None:
        """Wait until publications on ``topic`` reach this node (its subscription confirmed)
        and its history can be read."""
        await self.wait_connected(timeout=self.connect_timeout * 2)
        await self.wait_subscribed(topic, timeout=self.connect_timeout * 2)

    async def _read(self, topic: str, first: int | None, count: int, policy: History) -> HistoryRead:
        client, shas = self._client, self._shas
        if client is None or shas is None or self.status != BrokerStatus.CONNECTED:
            raise ConnectionError(f"Redis broker {self.status}: history not readable")
        keys = history_keys(self._prefix, topic)
        reply = await client.evalsha(shas[1], 2, *keys, new_epoch(), "" if first is None else first, count)
        return parse_read(reply, policy, reverse=first is None)

    def topic_added(self, topic: str) -> None:
        channel = self._channel(topic)
        self._channels[topic] = channel
        self._topic_of[channel] = topic
        if self._task is None:
            self.start()
        self._wake_subscriptions()

    def topic_removed(self, topic: str) -> None:
        channel = self._channels.pop(topic, None)
        if channel is not None:
            self._topic_of.pop(channel, None)
        self._wake_subscriptions()

    # ------------------------------------------------------------------------ public helpers

    def start(self) -> None:
        """Start connecting (done automatically on first use inside a running loop)."""
        if self._task is not None or self.status == BrokerStatus.CLOSED:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._outbox_event = asyncio.Event()
        self._subs_event = asyncio.Event()
        self._state_event = asyncio.Event()
        self._task = loop.create_task(self._run(), name=f"wsfast-redis-broker-{self.node_id.hex()}")

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the broker is connected with every current topic subscribed."""
        self.start()

        async def wait() -> None:
            while self.status != BrokerStatus.CONNECTED:
                if self.status == BrokerStatus.CLOSED:
                    raise RuntimeError("broker closed")
                assert self._state_event is not None
                self._state_event.clear()
                await self._state_event.wait()

        await asyncio.wait_for(wait(), timeout)

    async def wait_subscribed(self, topic: str, timeout: float | None = None) -> None:
        """Wait until Redis confirmed this node's subscription to ``topic``.

        Messages other nodes publish on ``topic`` after this returns reach this node.
        """
        channel = self._channel(topic)
        if channel in self._confirmed:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        finally:
            waiters = self._waiters.get(channel)
            if waiters and fut in waiters:
                waiters.remove(fut)
                if not waiters:
                    del self._waiters[channel]

    def is_subscribed(self, topic: str) -> bool:
        return self._channel(topic) in self._confirmed

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued frame was written to Redis (or counted as undelivered).

        Returns False if ``timeout`` expired first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._outbox or self._inflight:
            if self.status != BrokerStatus.CONNECTED:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.001)
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "node_id": self.node_id.hex(),
            "topics": len(self._channels),
            "subscribed": len(self._confirmed),
            "published": self.published,
            "undelivered": self.undelivered,
            "received": self.received,
            "echoes": self.echoes,
            "malformed": self.malformed,
            "pending": len(self._outbox) + self._inflight,
            "outages": self.outages,
            "last_error": self.last_error,
            "history_reads": self.history_reads.reads,
            "history_requests": self.history_reads.requests,
        }

    async def aclose(self, flush_timeout: float = 1.0) -> None:
        """Send what is queued (for at most ``flush_timeout`` s), then disconnect."""
        if self.status == BrokerStatus.CLOSED:
            return
        if self._task is not None and self.status == BrokerStatus.CONNECTED:
            await self.flush(flush_timeout)
        self._set_status(BrokerStatus.CLOSED)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._drop_outbox()
        for waiters in self._waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(RuntimeError("broker closed"))
        self._waiters.clear()

    # ----------------------------------------------------------------------------- internals

    def _channel(self, topic: str) -> bytes:
        return self._prefix + topic.encode("utf-8")

    def _wake_subscriptions(self) -> None:
        if self._subs_event is not None:
            self._subs_event.set()

    def _set_status(self, status: str) -> None:
        self.status = status
        if self._state_event is not None:
            self._state_event.set()

    def _drop_outbox(self) -> None:
        dropped = len(self._outbox)
        if dropped:
            self.undelivered += dropped
            self._outage_undelivered += dropped
            _fail_history(self._outbox, "Redis broker: connection lost before sending")
            self._outbox.clear()

    async def _run(self) -> None:
        attempt = 0
        down_since: float | None = None
        while True:
            client = pubsub = None
            try:
                client = aioredis.Redis.from_url(
                    self.url,
                    retry=Retry(NoBackoff(), 0),
                    socket_connect_timeout=self.connect_timeout,
                    **self.client_kwargs,
                )
                pubsub = client.pubsub()
                await asyncio.wait_for(self._connect(client, pubsub), self.connect_timeout * 2)
                if down_since is not None:
                    self.logger.warning(
                        "Redis broker: reconnected to %s after %.1f s, %d topics resubscribed; "
                        "%d messages published meanwhile were not delivered to other nodes",
                        _redacted(self.url), time.monotonic() - down_since, len(self._confirmed),
                        self._outage_undelivered,
                    )
                else:
                    self.logger.info("Redis broker: connected to %s", _redacted(self.url))
                attempt = 0
                down_since = None
                self._outage_undelivered = 0
                self._overflow_logged = False
                self.last_error = None
                self._client = client
                self._set_status(BrokerStatus.CONNECTED)
                await self._session(client, pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure is an outage
                if not isinstance(exc, _CONNECTION_ERRORS):
                    self.logger.error("Redis broker: unexpected error", exc_info=exc)
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._drop_outbox()
                if self.status == BrokerStatus.CONNECTED or down_since is None:
                    self.outages += 1
                    down_since = time.monotonic()
                    self.logger.warning(
                        "Redis broker: connection to %s %s (%s); serving local subscribers only, "
                        "publishes are counted as undelivered until it is back",
                        _redacted(self.url),
                        "lost" if self.status == BrokerStatus.CONNECTED else "failed",
                        self.last_error,
                    )
                self._set_status(BrokerStatus.DISCONNECTED)
            finally:
                self._client = None
                self._requested.clear()
                self._confirmed.clear()
                for closing in (pubsub, client):
                    if closing is not None:
                        try:
                            await asyncio.wait_for(closing.aclose(), 1.0)
                        except BaseException:  # noqa: BLE001 - best effort on a dead socket
                            pass
            delay = min(self.backoff_max, self.backoff_initial * 2 ** min(attempt, 30))
            delay *= random.uniform(0.5, 1.0)
            attempt += 1
            self.logger.debug("Redis broker: reconnecting in %.2f s", delay)
            await asyncio.sleep(delay)

    async def _connect(self, client: Any, pubsub: Any) -> None:
        """Open both connections and subscribe to every current topic, confirmed."""
        await client.ping()
        self._shas = (await client.script_load(PUBLISH_SCRIPT), await client.script_load(READ_SCRIPT))
        await pubsub.connect()
        channels = list(self._channels.values())
        if channels:
            for i in range(0, len(channels), 1000):
                chunk = channels[i:i + 1000]
                self._requested.update(chunk)
                await pubsub.execute_command("SUBSCRIBE", *chunk)
            # Read the confirmations (and deliver anything that arrives in between).
            while not self._requested <= self._confirmed:
                self._handle(await pubsub.parse_response(block=True))

    async def _session(self, client: Any, pubsub: Any) -> None:
        tasks = [
            asyncio.ensure_future(self._reader(pubsub)),
            asyncio.ensure_future(self._writer(client)),
            asyncio.ensure_future(self._subscriber(pubsub)),
            asyncio.ensure_future(self._pinger(pubsub)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None:
                    raise exc
            raise ConnectionError("Redis broker session ended")
        finally:
            # The loops also stop on a new session id: a cancellation that lands inside
            # redis-py can be swallowed there, and an unbounded wait would hang shutdown.
            self._session_id += 1
            for event in (self._outbox_event, self._subs_event):
                if event is not None:
                    event.set()
            for task in tasks:
                task.cancel()
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: no "never retrieved" warning

    async def _reader(self, pubsub: Any) -> None:
        self._last_seen = time.monotonic()
        handle = self._handle
        parse = pubsub.parse_response
        while True:
            response = await parse(block=True)
            self._last_seen = time.monotonic()
            handle(response)

    def _handle(self, response: Any) -> None:
        if not isinstance(response, list) or not response:
            return  # PONG outside subscribed mode
        kind = response[0]
        if kind == b"message":
            data = response[2]
            topic = self._topic_of.get(response[1])
            if topic is None:
                return  # unsubscribed meanwhile
            if data[:1] in (HISTORY_TEXT, HISTORY_BINARY) and len(data) >= HEADER_SIZE:
                # Delivered on every node, the publisher's too: Redis assigned the offset.
                publication = parse_frame(data, HEADER_SIZE)
                if publication is None:
                    self.malformed += 1
                    return
                self.received += 1
                self.hub.deliver_publication(topic, *publication)
                return
            if len(data) < HEADER_SIZE or data[:1] not in (TEXT, BINARY):
                self.malformed += 1
                return
            if data[1:HEADER_SIZE] == self.node_id:
                self.echoes += 1
                return
            payload: str | bytes = data[HEADER_SIZE:]
            if data[:1] == TEXT:
                try:
                    payload = payload.decode("utf-8")  # type: ignore[union-attr]
                except UnicodeDecodeError:
                    self.malformed += 1
                    return
            self.received += 1
            self.hub.deliver(topic, payload)
        elif kind == b"subscribe":
            channel = response[1]
            self._confirmed.add(channel)
            for fut in self._waiters.pop(channel, ()):
                if not fut.done():
                    fut.set_result(None)
        elif kind == b"unsubscribe":
            self._confirmed.discard(response[1])

    async def _writer(self, client: Any) -> None:
        outbox = self._outbox
        event = self._outbox_event
        assert event is not None
        session = self._session_id
        while session == self._session_id:
            if not outbox:
                event.clear()
                await event.wait()
                continue
            n = min(len(outbox), self.batch_size)
            batch = [outbox.popleft() for _ in range(n)]
            self._inflight = n
            pipe = client.pipeline(transaction=False)
            shas = self._shas
            assert shas is not None
            for item in batch:
                if len(item) == 2:
                    pipe.execute_command("PUBLISH", *item)
                else:
                    keys, args, _ = item  # type: ignore[misc]
                    pipe.evalsha(shas[0], 2, *keys, *args)
            try:
                results = await pipe.execute()
            except BaseException:
                # Not confirmed: maybe partly delivered, counted as not delivered.
                self.undelivered += n
                self._outage_undelivered += n
                _fail_history(batch, "Redis broker: connection lost while publishing")
                raise
            finally:
                self._inflight = 0
            self.published += n
            for item, result in zip(batch, results):
                if len(item) == 3 and not item[2].done():  # type: ignore[misc]
                    item[2].set_result(int(result))  # type: ignore[misc]

    async def _subscriber(self, pubsub: Any) -> None:
        event = self._subs_event
        assert event is not None
        session = self._session_id
        while session == self._session_id:
            wanted = set(self._channels.values())
            add = wanted - self._requested
            remove = self._requested - wanted
            if not add and not remove:
                event.clear()
                await event.wait()
                continue
            if add:
                self._requested.update(add)
                await pubsub.execute_command("SUBSCRIBE", *add)
            if remove:
                self._requested.difference_update(remove)
                self._confirmed.difference_update(remove)
                await pubsub.execute_command("UNSUBSCRIBE", *remove)

    async def _pinger(self, pubsub: Any) -> None:
        interval = self.health_check_interval
        if not interval:
            await asyncio.get_running_loop().create_future()
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - self._last_seen > 2 * interval:
                raise ConnectionError(f"no answer from Redis for {2 * interval:.1f} s")
            await pubsub.execute_command("PING")
