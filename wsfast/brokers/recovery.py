"""Joining a topic from a known position: ``Recovery`` (the answer) and ``Recoverer`` (the
Hub's part that replays missed publications, then hands the subscriber over to live delivery
without a gap or a duplicate).

How a recovery stays exact while publications keep arriving:

1. The subscriber is registered as *recovering* on the topic before anything is read: every
   publication delivered to this process from then on is appended to its pending queue (the
   broker is already carrying the topic here: ``Hub`` counts recovering subscribers as
   subscribers for ``topic_added``).
2. The broker reads the history after the subscriber's offset (``RedisBroker``: once per
   topic for a whole batch of recovering subscribers).
3. The replay is sent with ``await ws.send``: it goes at the pace the connection's
   ``write_limit`` allows. Then the pending queue is sent, skipping offsets already sent
   (a publication can be both in the history read and in the queue).
4. Once the queue is empty the subscriber joins the live subscribers, with no ``await`` in
   between, so nothing can be delivered to neither.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .history import MAX_OFFSET, Entry, History, HistoryRead

# Why a recovery failed (``Recovery.reason``).
NOT_ASKED = "not asked"                #: plain subscribe, no position given
NO_HISTORY = "no history"              #: the topic keeps no history
EPOCH_CHANGED = "epoch changed"        #: the history was lost since (restart, Redis data lost)
OVERFLOWED = "history overflowed"      #: missed publications already dropped (count, bytes, age)
TOO_FAR = "too far behind"             #: more missed than ``max_replay``
AHEAD = "offset ahead of history"      #: an offset this topic never reached
FELL_BEHIND = "could not keep up"      #: live publications outran the replay


CHUNK = 64  # replayed publications per write
ENCODED_CACHE = 100_000  # encoded publications kept for concurrent recoveries

@dataclass(slots=True)
class Recovery:
    """What joining ``topic`` did: ``recovered`` (every missed publication is being replayed)
    or why not (``reason``), the topic's ``epoch`` and ``offset`` (its last publication when
    read), and how many publications were sent before the live ones (``replayed``: missed
    ones, or the last value)."""

    topic: str
    recovered: bool
    reason: str | None
    epoch: str
    offset: int
    replayed: int = 0


class RecoveryOverrun(Exception):
    """More live publications queued for a recovering subscriber than ``max_pending``."""


class Recoverer:
    """The recoveries in progress of one Hub, with their counters (``stats()``)."""

    def __init__(self, hub: Any, max_replay: int, max_pending: int) -> None:
        self.hub = hub
        self.max_replay = max_replay
        self.max_pending = max_pending
        # topic -> {connection: publications delivered since it started recovering}
        self.pending: dict[str, dict[Any, collections.deque]] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        # Publications as encoded for the wire, shared by the subscribers recovering at once.
        self._cache: dict[tuple[str, str, int], str | bytes] = {}
        # (topic, connection) whose pending queue reached max_pending: something was dropped.
        self._overrun: set[tuple[str, Any]] = set()

    def _encoded(self, topic: str, epoch: str, offset: int, data: str | bytes) -> str | bytes:
        key = (topic, epoch, offset)
        message = self._cache.get(key)
        if message is None:
            if len(self._cache) >= ENCODED_CACHE:
                self._cache.clear()
            message = self._cache[key] = self.hub.envelope.encode(topic, epoch, offset, data)
        return message

    def stats(self) -> dict[str, int]:
        return dict(self.counts) | {"in_progress": sum(len(p) for p in self.pending.values())}

    def queue(self, topic: str, epoch: str, offset: int, data: str | bytes) -> None:
        """A publication reached this process while subscribers of ``topic`` recover."""
        for conn, pending in self.pending[topic].items():
            if len(pending) >= self.max_pending:
                self._overrun.add((topic, conn))  # its recovery ends with FELL_BEHIND
                continue
            pending.append((epoch, offset, data))

    def decide(self, read: HistoryRead, epoch: str | None, offset: int | None) -> tuple[bool, str | None]:
        if epoch is None or offset is None:
            return False, NOT_ASKED
        if epoch != read.epoch:
            return False, EPOCH_CHANGED
        if offset > read.top:
            return False, AHEAD
        if offset + 1 < read.first:
            return False, OVERFLOWED
        if read.top - offset > self.max_replay:
            return False, TOO_FAR
        return True, None

    async def join(
        self,
        conn: Any,
        topic: str,
        policy: History,
        epoch: str | None,
        offset: int | None,
        last: bool,
        announce: Callable[[Recovery], Awaitable[None] | None] | None,
    ) -> Recovery:
        if offset is not None and not 0 <= offset <= MAX_OFFSET:
            raise ValueError(f"offset must be between 0 and {MAX_OFFSET}")
        hub = self.hub
        broker = hub.broker
        pending: collections.deque = collections.deque()
        waiting = self.pending.setdefault(topic, {})
        if conn in waiting:
            raise RuntimeError(f"already recovering on {topic!r}")
        present = topic in hub._topics or bool(waiting)
        waiting[conn] = pending
        hub.unsubscribe(conn, topic)  # a resubscription replays from its own position
        if not present:
            broker.topic_added(topic)
        self.counts["requests"] += 1
        joined = False
        try:
            ready = getattr(broker, "history_ready", None)
            if ready is not None:
                await ready(topic)
            asked = epoch is not None and offset is not None
            read = await _maybe_await(broker.read_history(topic, offset if asked else None,
                                                         self.max_replay if asked else 1, policy))
            recovered, reason = self.decide(read, epoch, offset)
            entries: list[Entry] = read.entries if recovered else []
            top = read.top
            if not recovered and last:
                entries = read.entries[-1:] if not asked else (await _maybe_await(
                    broker.read_history(topic, None, 1, policy))).entries
                if entries:  # read later than ``read``: publications may have come between
                    top = max(top, entries[-1][0])
            self.counts["recovered" if recovered else f"not recovered: {reason}"] += 1
            result = Recovery(topic, recovered, reason, read.epoch, top, len(entries))
            if announce is not None:
                await _maybe_await(announce(result))
            sent = offset if recovered else read.top
            assert sent is not None
            encoded = self._encoded
            for start in range(0, len(entries), CHUNK):
                await send_in_order(conn, [encoded(topic, read.epoch, entry_offset, data)
                                           for entry_offset, data, _ in entries[start:start + CHUNK]])
            self.counts["replayed"] += len(entries)
            if entries:
                sent = max(sent, entries[-1][0])
            while pending or (topic, conn) in self._overrun:
                if (topic, conn) in self._overrun:
                    raise RecoveryOverrun(topic)
                chunk: list[str | bytes] = []
                while pending and len(chunk) < CHUNK:
                    pub_epoch, pub_offset, data = pending.popleft()
                    if pub_offset <= sent and pub_epoch == read.epoch:
                        self.counts["duplicates skipped"] += 1
                        continue
                    chunk.append(encoded(topic, pub_epoch, pub_offset, data))
                    sent = pub_offset
                await send_in_order(conn, chunk)
            # No await from the empty check to here: the next publication goes to it live.
            del waiting[conn]
            hub._add_live(conn, topic)
            joined = True
            return result
        except RecoveryOverrun:
            self.counts[f"not recovered: {FELL_BEHIND}"] += 1
            conn._fail_local(1013, "feed recovery could not keep up")
            raise
        finally:
            self._overrun.discard((topic, conn))
            if not joined:
                waiting.pop(conn, None)
                hub._member_removed(topic)
            if not waiting and self.pending.get(topic) is waiting:
                del self.pending[topic]


async def send_in_order(conn: Any, messages: list[Any]) -> None:
    """Send ``messages`` to ``conn`` in one write, then wait while its write buffer is over
    its ``write_limit``; anything without the connection's cork is sent one ``send`` each."""
    if not messages:
        return
    if not hasattr(conn, "_corked") or conn._corked:
        for message in messages:
            await conn.send(message)
        return
    # Corked as during a received batch: the frames leave in one write, not one per message.
    conn._corked = True
    try:
        for message in messages:
            conn.send_nowait(message)
    finally:
        conn._corked = False
    conn._flush()
    if conn._writing_paused:
        await conn.drain()


async def _maybe_await(value: Any) -> Any:
    if isinstance(value, Awaitable):
        return await value
    return value
