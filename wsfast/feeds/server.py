"""``Feeds``: the server side of the feed protocol (``wsfast.feeds.protocol``) over a ``Hub``.

    hub = wsfast.Hub(history=History(size=1000, ttl=300))
    feeds = Feeds(hub)

    async def handler(ws):
        async for message in ws:
            if await feeds.handle(ws, message):
                continue            # a feed control message, answered
            ...                     # the application's own messages

Each subscribe request runs as its own task (the handler keeps reading), bounded per
connection: at most ``max_inflight`` at once and ``max_requests`` per ``window`` seconds
(beyond that the client gets ``error: "too many requests"`` and asks again later; a client
resubscribes every topic it follows on each reconnect, so these bound the topics one
connection may follow at once). Every malformed request gets an ``error`` message; each
refusal is counted (``stats()``); nothing a client sends makes the server replay more than the
Hub's ``max_replay`` publications per request, sent at the pace of the connection's
``write_limit``. When the broker cannot read the history (Redis unreachable) the client gets
``error: "history unavailable"`` and subscribes again later.
"""
from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, Callable

from ..brokers.hub import Hub
from ..brokers.recovery import RecoveryOverrun
from ..exceptions import ConnectionClosed
from .protocol import (
    HISTORY_UNAVAILABLE, TOO_MANY_REQUESTS, BadRequest, Request, error_message, is_control, parse_request,
    subscribed_message,
)

logger = logging.getLogger("wsfast")


class _ConnState:
    __slots__ = ("inflight", "window_start", "requests")

    def __init__(self, now: float) -> None:
        self.inflight: dict[str, asyncio.Task] = {}
        self.window_start = now
        self.requests = 0


class Feeds:
    """Answers the feed control messages of connections on ``hub``.

    ``allow(ws, topic)``: may this connection subscribe to ``topic``? (default: any topic;
    refused ones get ``error: "unknown topic"``).
    """

    def __init__(self, hub: Hub, *, allow: Callable[[Any, str], bool] | None = None,
                 max_inflight: int = 64, max_requests: int = 256, window: float = 10.0) -> None:
        self.hub = hub
        self.allow = allow
        self.max_inflight = max_inflight
        self.max_requests = max_requests
        self.window = window
        self.counts: collections.Counter[str] = collections.Counter()
        self._conns: dict[Any, _ConnState] = {}

    def stats(self) -> dict[str, Any]:
        """Requests handled and refused, with the Hub's recovery counters."""
        return dict(self.counts) | {"recovery": self.hub.recoverer.stats()}

    async def handle(self, ws: Any, message: Any) -> bool:
        """Answer ``message`` if it is a feed control message (True), else return False."""
        if not is_control(message):
            return False
        self.counts["requests"] += 1
        try:
            request = parse_request(message)
            self._admit(ws, request)
        except BadRequest as exc:
            self.counts[f"refused: {exc}"] += 1  # a fixed set of messages: bounded keys
            await ws.send(error_message(str(exc), exc.topic))
            return True
        state = self._state(ws)
        if request.action == "unsubscribe":
            task = state.inflight.pop(request.topic, None)
            if task is not None:
                task.cancel()
            self.hub.unsubscribe(ws, request.topic)
            return True
        task = asyncio.ensure_future(self._subscribe(ws, request))
        state.inflight[request.topic] = task
        task.add_done_callback(lambda t: self._done(ws, request.topic, t))
        return True

    def _state(self, ws: Any) -> _ConnState:
        state = self._conns.get(ws)
        if state is None:
            state = self._conns[ws] = _ConnState(asyncio.get_running_loop().time())
            ws._closed.add_done_callback(lambda _: self._conns.pop(ws, None))
        return state

    def _admit(self, ws: Any, request: Request) -> None:
        if self.allow is not None and not self.allow(ws, request.topic):
            raise BadRequest("unknown topic", request.topic)
        if request.action != "subscribe":
            return
        state = self._state(ws)
        now = asyncio.get_running_loop().time()
        if now - state.window_start >= self.window:
            state.window_start, state.requests = now, 0
        state.requests += 1
        if state.requests > self.max_requests:
            raise BadRequest(TOO_MANY_REQUESTS, request.topic)
        if request.topic in state.inflight:
            raise BadRequest("already subscribing", request.topic)
        if len(state.inflight) >= self.max_inflight:
            raise BadRequest(TOO_MANY_REQUESTS, request.topic)

    def _done(self, ws: Any, topic: str, task: asyncio.Task) -> None:
        state = self._conns.get(ws)
        if state is not None and state.inflight.get(topic) is task:
            del state.inflight[topic]
        if not task.cancelled() and task.exception() is not None:
            self.counts["failed"] += 1
            logger.error("feed subscription to %r failed", topic, exc_info=task.exception())

    async def _subscribe(self, ws: Any, request: Request) -> None:
        try:
            await self.hub.subscribe_from(
                ws, request.topic, request.epoch, request.offset, last=request.last,
                announce=lambda result: ws.send(subscribed_message(result)),
            )
        except (ConnectionClosed, RecoveryOverrun):
            self.counts["dropped while subscribing"] += 1
        except (ConnectionError, asyncio.TimeoutError) as exc:
            # The broker cannot read the history now (Redis down): the client retries.
            self.counts["refused: history unavailable"] += 1
            logger.warning("feed subscription to %r: history unavailable (%s)", request.topic, exc)
            if not ws.closed:
                await ws.send(error_message(HISTORY_UNAVAILABLE, request.topic))
