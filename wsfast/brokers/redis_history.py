"""Topic history in Redis Streams for ``RedisBroker``.

Per topic with history, two keys: the stream ``<prefix>history:<topic>`` (one entry per
publication, id ``<offset>-0``, fields ``k`` kind, ``d`` payload, ``t`` Redis time in ms) and
the hash ``<prefix>meta:<topic>`` (``e`` epoch, ``s`` last offset). Two Lua scripts keep
them consistent:

* ``PUBLISH_SCRIPT`` takes the next offset, ``XADD``s with ``MAXLEN`` and ``PUBLISH``es the
  frame ``kind (b"T" text / b"B" binary) + node id (8 bytes) + b"<offset>:<epoch>:" +
  payload`` in one atomic step: every node receives a topic's publications in offset order,
  whichever process published them, and a publication missing from a history read made
  after a node's subscription was confirmed is certain to reach it through pub/sub.
* ``READ_SCRIPT`` returns epoch, last offset, Redis time and the entries after an offset
  (``XRANGE``) or the last ones (``XREVRANGE``).

Both create the epoch when the hash is missing (first use, or Redis lost its data) and then
drop any stream left without it, so an epoch always names one unbroken sequence of offsets.

``HistoryReads`` batches reads: while one read of a topic is in flight, every recovery request
for that topic waits for the next one, which serves all of them with a single ``XRANGE``.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from .history import Entry, History, HistoryRead, new_epoch

HISTORY_TEXT = b"T"
HISTORY_BINARY = b"B"

# Both scripts start here: the epoch, created (and a stream without one dropped) if missing,
# and Redis' clock in milliseconds.
_PROLOGUE = """
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[2], 'e', epoch)
  redis.call('DEL', KEYS[1])
end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
"""

PUBLISH_SCRIPT = _PROLOGUE + """
local offset = redis.call('HINCRBY', KEYS[2], 's', 1)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], offset .. '-0', 'k', ARGV[6], 'd', ARGV[5], 't', ms)
if ARGV[7] ~= '0' then
  redis.call('EXPIRE', KEYS[1], ARGV[7])
end
redis.call('PUBLISH', ARGV[3], ARGV[4] .. offset .. ':' .. epoch .. ':' .. ARGV[5])
return offset
"""

READ_SCRIPT = _PROLOGUE + """
local top = redis.call('HGET', KEYS[2], 's') or '0'
local entries
if ARGV[2] == '' then
  entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[3])
else
  entries = redis.call('XRANGE', KEYS[1], ARGV[2] .. '-0', '+', 'COUNT', ARGV[3])
end
return {epoch, top, ms, entries}
"""


def history_keys(prefix: bytes, topic: str) -> tuple[bytes, bytes]:
    """The stream and the hash of ``topic``."""
    name = topic.encode("utf-8")
    return prefix + b"history:" + name, prefix + b"meta:" + name


def publish_args(node_id: bytes, channel: bytes, message: str | bytes, policy: History) -> list[Any]:
    """``PUBLISH_SCRIPT``'s ARGV for ``message``."""
    if isinstance(message, str):
        kind, data = HISTORY_TEXT, message.encode("utf-8")
    else:
        kind, data = HISTORY_BINARY, bytes(message)
    ttl = 0 if policy.ttl is None else max(1, int(policy.ttl + 0.999))
    return [new_epoch(), policy.size, channel, kind + node_id, data, kind, ttl]


def parse_frame(data: bytes, header: int) -> tuple[str, int, str | bytes] | None:
    """``(epoch, offset, payload)`` of a history frame (after its ``header`` bytes: kind and
    node id), or None if it is malformed."""
    try:
        offset_end = data.index(b":", header)
        epoch_end = data.index(b":", offset_end + 1)
        offset = int(data[header:offset_end])
        epoch = data[offset_end + 1:epoch_end].decode("ascii")
        payload: str | bytes = data[epoch_end + 1:]
        if data[:1] == HISTORY_TEXT:
            payload = payload.decode("utf-8")  # type: ignore[union-attr]
    except (ValueError, UnicodeDecodeError):
        return None
    return epoch, offset, payload


def parse_read(reply: list[Any], policy: History, reverse: bool) -> HistoryRead:
    """A ``HistoryRead`` from ``READ_SCRIPT``'s reply, entries older than the ttl dropped."""
    epoch, top, now_ms, raw = reply
    entries: list[Entry] = []
    for entry_id, fields in (reversed(raw) if reverse else raw):
        values = dict(zip(fields[::2], fields[1::2]))
        data: str | bytes = values[b"d"]
        if values.get(b"k") == HISTORY_TEXT:
            data = data.decode("utf-8")  # type: ignore[union-attr]
        offset = int(entry_id.split(b"-", 1)[0])
        entries.append((offset, data, int(values.get(b"t", now_ms)) / 1000.0))
    if policy.ttl is not None:
        oldest = int(now_ms) / 1000.0 - policy.ttl
        entries = [e for e in entries if e[2] >= oldest]
    top = int(top)
    first = entries[0][0] if entries else top + 1
    epoch = epoch.decode("ascii") if isinstance(epoch, bytes) else str(epoch)
    return HistoryRead(epoch, top, first, entries)


class _Batch:
    __slots__ = ("after", "upto", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.after: int | None = None  # the lowest offset asked after (None: last values)
        self.upto = 0  # the highest offset any request may take (last values: the most asked)
        self.future: asyncio.Future = loop.create_future()


class HistoryReads:
    """Reads of topic histories, one in flight per topic (and kind: after an offset, or the
    last values), the requests made meanwhile served together by the next one; at most
    ``concurrency`` reads in flight in all (each holds a Redis connection).
    ``read(topic, after, count, policy)`` runs ``READ_SCRIPT`` through ``run(topic, first,
    count, policy)`` (``first``: the first offset wanted, None for the last ``count``);
    ``reads`` counts the reads issued and ``requests`` the requests served."""

    def __init__(self, run: Callable[[str, int | None, int, History], Awaitable[HistoryRead]],
                 concurrency: int = 16) -> None:
        self._run = run
        self._inflight: dict[tuple[str, bool], asyncio.Future] = {}
        self._next: dict[tuple[str, bool], _Batch] = {}
        self._slots: asyncio.Semaphore | None = None
        self.concurrency = concurrency
        self.reads = 0
        self.requests = 0

    async def read(self, topic: str, after: int | None, count: int, policy: History) -> HistoryRead:
        self.requests += 1
        key = (topic, after is None)
        batch = self._next.get(key)
        if batch is None:
            batch = self._next[key] = _Batch(asyncio.get_running_loop())
            asyncio.ensure_future(self._start(key, batch, policy))
        if after is None:
            batch.upto = max(batch.upto, count)
        else:
            batch.after = after if batch.after is None else min(batch.after, after)
            batch.upto = max(batch.upto, after + count)
        whole: HistoryRead = await asyncio.shield(batch.future)
        if after is None:
            part = whole.entries[-count:]
        else:  # this request's part: the entries after its own offset, up to its count
            start = max(0, after + 1 - whole.first) if whole.entries else 0
            part = whole.entries[start:start + count]
        return HistoryRead(whole.epoch, whole.top, whole.first, part)

    async def _start(self, key: tuple[str, bool], batch: _Batch, policy: History) -> None:
        previous = self._inflight.get(key)
        if previous is not None:
            await asyncio.wait([previous])
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            del self._next[key]  # later requests form the batch after this one
            self._inflight[key] = batch.future
            if batch.after is None:
                first, count = None, batch.upto
            else:
                # The history never keeps more than policy.size: a bigger count reads no more.
                first, count = batch.after + 1, min(policy.size, batch.upto - batch.after)
            self.reads += 1
            try:
                batch.future.set_result(await self._run(key[0], first, count, policy))
            except BaseException as exc:  # noqa: BLE001 - handed to every request of the batch
                batch.future.set_exception(exc)
                batch.future.exception()  # retrieved here: each waiting request raises it
            finally:
                if self._inflight.get(key) is batch.future:
                    del self._inflight[key]
