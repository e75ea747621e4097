"""Helpers of the feed tests: a feed server in this process, a following client that records
every publication it is given, and the checks of a received sequence."""
from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import wsfast
from wsfast.feeds import Feeds, Publication, Subscribed, Subscriptions

from waiting import wait_for


def feed_handler(feeds: Feeds):
    async def handler(ws: Any) -> None:
        async for message in ws:
            if not await feeds.handle(ws, message):
                await ws.send("not a feed message")
    return handler


def reset(ws: Any) -> None:
    """Cut ``ws``'s TCP connection with a RST (no close frame, no FIN)."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


class Follower:
    """A client following ``topics`` (from ``position`` if given) across reconnects;
    ``received[topic]`` lists every
    publication passed on, ``answers`` every ``Subscribed``, ``events`` everything."""

    def __init__(self, uri: str, topics: list[str], *, last: bool = False,
                 position: tuple[str, int] | None = None, **connect_options: Any) -> None:
        self.feed = Subscriptions(topics, last=last)
        if position is not None:  # resume every topic from there
            for topic in topics:
                self.feed.add(topic, *position)
        self.uri = uri
        self.received: dict[str, list[Publication]] = {t: [] for t in topics}
        self.answers: list[Subscribed] = []
        self.events: list[Any] = []
        self.ws: Any = None
        self.connections = 0
        self.options = {"backoff": wsfast.Backoff(initial=0.05, max_delay=0.5)} | connect_options
        self.task: asyncio.Task | None = None
        self.gate = asyncio.Event()  # cleared: the follower stops reading (its peer backs up)
        self.gate.set()

    def start(self) -> "Follower":
        self.task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        async for ws in wsfast.connect(self.uri, on_connect=self.feed.resume, **self.options):
            self.ws = ws
            self.connections += 1
            try:
                async for message in ws:
                    await self.gate.wait()
                    event = self.feed.receive(message)
                    self.events.append(event)
                    if isinstance(event, Publication):
                        self.received[event.topic].append(event)
                    elif isinstance(event, Subscribed):
                        self.answers.append(event)
            except wsfast.ConnectionClosed:
                continue

    def offsets(self, topic: str) -> list[int]:
        return [p.offset for p in self.received[topic]]

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.ws is not None:
            await wait_for(self.ws.close(), "the follower's close")


def check_sequence(pubs: list[Publication], first: int, last: int, content: Any) -> None:
    """Offsets ``first..last`` exactly once each, in order, each with ``content(offset)``."""
    offsets = [p.offset for p in pubs]
    missing = sorted(set(range(first, last + 1)) - set(offsets))
    assert not missing, f"gaps: {missing[:20]} ({len(missing)} missing)"
    assert len(offsets) == len(set(offsets)), "duplicates"
    assert offsets == list(range(first, last + 1)), "out of order"
    for p in pubs:
        assert p.data == content(p.offset), (p.offset, p.data)
