"""A coarse timer wheel: one loop timer serves the deadlines of many connections; and one
loop callback serves the deferred writes of many connections (``flush_soon``).

A server with tens of thousands of connections would otherwise keep a ``call_later`` handle
per connection for its open, keepalive and close timeouts. Here a connection states its next
deadline; the wheel groups deadlines into slots of ``resolution`` seconds and wakes once per
non-empty slot. A deadline may fire up to one ``resolution`` late, never early.
"""
from __future__ import annotations

import asyncio
import heapq
import time
from typing import Any, Protocol as TypingProtocol

from .. import _impl


# Bytes one read may bring. Connections parse a read before the next one starts, and the
# parsers copy what they keep, so the loop's connections share one buffer of this size.
READ_BUFFER_SIZE = 256 * 1024


class HasDeadline(TypingProtocol):
    _deadline: float | None

    def _on_deadline(self, now: float) -> None: ...


class TimerWheel:
    """Calls ``obj._on_deadline(now)`` once ``obj._deadline`` has passed.

    Callers set ``obj._deadline`` and call ``schedule(obj)``; to cancel they set it to
    None (the stale entry is skipped). Moving a deadline later needs no new call: the wheel
    re-files the object when its old slot comes up.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution: float = 0.1) -> None:
        self._loop = loop
        self._resolution = resolution
        # loop.time() without a Python frame when the loop's clock is time.monotonic (the
        # stock asyncio loops); connections stamp every read with it.
        self.clock = time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time
        self._to_flush: list[Any] = []
        # One receive buffer for every connection of this loop (see Connection.get_buffer).
        self.read_buffer = bytearray(READ_BUFFER_SIZE)
        self.read_view = memoryview(self.read_buffer)
        self._slots: dict[int, set[HasDeadline]] = {}
        self._heap: list[int] = []
        self._handle: asyncio.TimerHandle | None = None
        self._armed_slot: int | None = None

    def schedule(self, obj: HasDeadline) -> None:
        """File ``obj`` under the slot of its current ``_deadline``."""
        deadline = obj._deadline
        if deadline is None:
            return
        slot = int(deadline / self._resolution) + 1
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
            heapq.heappush(self._heap, slot)
        members.add(obj)
        if self._armed_slot is None or slot < self._armed_slot:
            self._arm(slot)

    def _arm(self, slot: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_slot = slot
        self._handle = self._loop.call_at(slot * self._resolution, self._tick)

    def _tick(self) -> None:
        self._handle = None
        self._armed_slot = None
        now = self._loop.time()
        current = int(now / self._resolution)
        due: list[HasDeadline] = []
        while self._heap and self._heap[0] <= current:
            due.extend(self._slots.pop(heapq.heappop(self._heap), ()))
        for obj in due:
            deadline = obj._deadline
            if deadline is None:
                continue
            if deadline <= now:
                obj._on_deadline(now)
            else:
                self.schedule(obj)
        if self._heap and self._armed_slot is None:
            self._arm(self._heap[0])

    def discard(self, obj: HasDeadline) -> None:
        """Forget ``obj`` in every slot (its connection is gone, or it has no deadline left).

        When no deadline is left at all the loop timer is cancelled: a loop with a timer
        pending does more work in every iteration (the scheduled heap, the select timeout).
        """
        for slot in [s for s, members in self._slots.items() if obj in members]:
            members = self._slots[slot]
            members.discard(obj)
            if not members:
                del self._slots[slot]
        if not self._slots and self._handle is not None:
            self.close()

    def flush_soon(self, conns: list[Any]) -> None:
        """Call ``conn._flush()`` for each of ``conns`` in the next loop iteration.

        One loop callback serves every connection corked during this iteration (a broadcast
        to 10,000 connections schedules one callback, not 10,000), so frames queued for a
        socket in one iteration leave in one write.
        """
        if not self._to_flush:
            self._loop.call_soon(self._flush_all)
        self._to_flush.extend(conns)

    def _flush_all(self) -> None:
        conns, self._to_flush = self._to_flush, []
        _impl.conn.flush_all(conns)  # compiled where built: a C call per connection

    def close(self) -> None:
        """Forget every deadline and stop the timer."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_slot = None
        self._slots.clear()
        self._heap.clear()

    def __len__(self) -> int:
        return sum(len(s) for s in self._slots.values())


_wheels: dict[asyncio.AbstractEventLoop, TimerWheel] = {}


def get_wheel(loop: asyncio.AbstractEventLoop) -> TimerWheel:
    """The shared wheel of ``loop`` (one per event loop)."""
    wheel = _wheels.get(loop)
    if wheel is None or wheel._loop.is_closed():
        # Drop wheels of closed loops so tests that make many loops don't accumulate them.
        for dead in [lp for lp in _wheels if lp.is_closed()]:
            del _wheels[dead]
        wheel = _wheels[loop] = TimerWheel(loop)
    return wheel
