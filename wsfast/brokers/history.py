"""Topic history: the bounds a topic keeps (``History``), the in-process ring of the
``LocalBroker`` (``Ring``) and what a read of the history returns (``HistoryRead``).

Every publication on a topic with history gets an offset (1 for the first, +1 for each next
one) and the topic an epoch: a string that changes whenever the history was lost (a new
process for the local ring, a Redis stream that disappeared for ``RedisBroker``), so that an
offset is only ever compared with offsets of the same epoch.
"""
from __future__ import annotations

import collections
import itertools
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

# One stored publication: (offset, payload, time of publication: monotonic in the ring, 0.0
# there without an age bound; Redis' clock in seconds for RedisBroker).
Entry = tuple[int, "str | bytes", float]

MAX_OFFSET = 2**63 - 1  # offsets are signed 64-bit on every wire that carries them


def new_epoch() -> str:
    """A fresh epoch: 8 random bytes in hex."""
    return os.urandom(8).hex()


@dataclass(frozen=True)
class History:
    """How much of a topic's past is kept: at most ``size`` publications, at most
    ``max_bytes`` of payload (None: no byte bound) and none older than ``ttl`` seconds (None:
    no age bound). ``History(size=1)`` keeps only the last value ("cache" mode)."""

    size: int = 1000
    max_bytes: int | None = None
    ttl: float | None = None

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("History.size must be at least 1")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise ValueError("History.max_bytes must be positive or None")
        if self.ttl is not None and self.ttl <= 0:
            raise ValueError("History.ttl must be positive or None")


@dataclass(slots=True)
class HistoryRead:
    """A topic's history as a broker read it: its ``epoch``, its ``top`` offset (the last
    publication's, 0 before any) and the kept publications after the offset asked for,
    oldest first (at most the limit asked for). ``first`` is the oldest kept offset
    (``top + 1`` when nothing is kept)."""

    epoch: str
    top: int
    first: int
    entries: list[Entry] = field(default_factory=list)


class Ring:
    """The bounded history of one topic in this process (``LocalBroker``)."""

    __slots__ = ("policy", "epoch", "top", "nbytes", "_entries", "_clock", "_size", "_max_bytes",
                 "_timed")

    def __init__(self, policy: History, epoch: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.epoch = epoch or new_epoch()
        self.top = 0
        self.nbytes = 0  # payload bytes kept (characters for text)
        self._entries: collections.deque[Entry] = collections.deque()
        self._clock = clock
        # The policy's fields, read on every append.
        self._size = policy.size
        self._max_bytes = policy.max_bytes
        self._timed = policy.ttl is not None  # the clock is read only for an age bound

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, payload: str | bytes) -> int:
        """Keep ``payload`` as the next publication; returns its offset."""
        self.top = offset = self.top + 1
        entries = self._entries
        entries.append((offset, payload, self._clock() if self._timed else 0.0))
        self.nbytes += len(payload)
        if len(entries) > self._size:  # one in, at most one out: the ring was full
            self.nbytes -= len(entries.popleft()[1])
        max_bytes = self._max_bytes
        if max_bytes is not None:
            while self.nbytes > max_bytes and len(entries) > 1:
                self.nbytes -= len(entries.popleft()[1])
        return offset

    def _expire(self) -> None:
        ttl = self.policy.ttl
        if ttl is None:
            return
        limit = self._clock() - ttl
        entries = self._entries
        while entries and entries[0][2] < limit:
            self.nbytes -= len(entries.popleft()[1])

    def read(self, after: int, limit: int) -> HistoryRead:
        """The kept publications with an offset above ``after``, at most ``limit`` of them."""
        self._expire()
        entries = self._entries
        first = entries[0][0] if entries else self.top + 1
        start = max(after + 1, first)
        found: list[Entry] = []
        if start <= self.top and limit > 0:
            # Offsets are contiguous in the ring: index arithmetic, no search.
            index = start - first
            found = list(itertools.islice(entries, index, index + limit))
        return HistoryRead(self.epoch, self.top, first, found)

    def last(self) -> Entry | None:
        self._expire()
        return self._entries[-1] if self._entries else None

    def memory(self) -> int:
        """Approximate bytes held: payloads, entry tuples and the deque's blocks."""
        n = len(self._entries)
        per_entry = sys.getsizeof((0, b"", 0.0)) + 8 + 24 + 24  # tuple, slot, int, float
        return self.nbytes + n * per_entry + sys.getsizeof(self._entries)
