"""The client's bookkeeping (``Subscriptions``): positions from envelopes, duplicates skipped,
a gap held back and fetched again from the last offset, resets; ``follow`` across a reset."""
from __future__ import annotations

import asyncio
import json

import wsfast
from wsfast.brokers.envelope import JsonEnvelope
from wsfast.brokers.history import History
from wsfast.feeds import FeedError, Feeds, Publication, Skipped, Subscribed, Subscriptions, follow

from feedhelp import feed_handler, reset
from waiting import wait_for, wait_until

ENV = JsonEnvelope()


class RecordingSocket:
    closed = False

    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))


def answer(offset, recovered=True, replayed=0, reason=None, epoch="e1"):
    return json.dumps({"feed": "subscribed", "topic": "t", "recovered": recovered, "reason": reason,
                       "epoch": epoch, "offset": offset, "replayed": replayed})


async def test_positions_duplicates_gaps_and_refetch():
    feed = Subscriptions(["t"])
    ws = RecordingSocket()
    await feed.resume(ws)
    assert ws.sent == [{"feed": "subscribe", "topic": "t"}]
    assert isinstance(feed.receive(answer(2, recovered=False, reason="not asked")), Subscribed)
    assert feed.positions["t"] == ("e1", 2)
    assert isinstance(feed.receive(ENV.encode("t", "e1", 3, "c")), Publication)
    skipped = feed.receive(ENV.encode("t", "e1", 3, "c"))
    assert isinstance(skipped, Skipped) and skipped.why == "duplicate"
    gap = feed.receive(ENV.encode("t", "e1", 6, "f"))
    assert isinstance(gap, Skipped) and gap.why == "gap"
    await wait_until(lambda: len(ws.sent) == 2, "the refetch")
    assert ws.sent[1] == {"feed": "subscribe", "topic": "t", "epoch": "e1", "offset": 3}
    assert isinstance(feed.receive(ENV.encode("t", "e1", 7, "g")), Skipped)  # still held back
    feed.receive(answer(7))
    assert [feed.receive(ENV.encode("t", "e1", i, "x")).offset for i in (4, 5, 6, 7)] == [4, 5, 6, 7]
    assert feed.counts == {"publications": 5, "duplicates": 1, "gaps": 2}
    assert feed.receive("an application message") is None
    assert feed.receive(ENV.encode("other topic", "e1", 1, "x")) is None


async def test_a_lost_position_resets_to_the_servers_head():
    feed = Subscriptions(["t"])
    feed.add("t", "old", 40)
    event = feed.receive(answer(9, recovered=False, reason="epoch changed", replayed=1, epoch="new"))
    assert event.lost and feed.positions["t"] == ("new", 8) and feed.counts["resets"] == 1
    assert feed.receive(ENV.encode("t", "new", 9, "last value")).offset == 9


async def test_an_error_is_returned_and_a_final_one_not_retried():
    feed = Subscriptions(["t"], retry_after=0.01)
    ws = RecordingSocket()
    await feed.resume(ws)
    error = feed.receive(json.dumps({"feed": "error", "topic": "t", "error": "malformed epoch"}))
    assert error == FeedError("t", "malformed epoch")
    feed.receive(json.dumps({"feed": "error", "topic": "t", "error": "history unavailable"}))
    await wait_until(lambda: len(ws.sent) == 2, "the retry")


async def test_unsubscribe_leaves_the_topic(impl_name):
    hub = wsfast.Hub(history=History(size=10))
    async with wsfast.serve(feed_handler(Feeds(hub)), "127.0.0.1", 0, implementation=impl_name) as server:
        async with wsfast.connect(f"ws://127.0.0.1:{server.port()}/", implementation=impl_name) as ws:
            await ws.send(json.dumps({"feed": "subscribe", "topic": "t"}))
            await wait_for(ws.recv(), "subscribed")
            assert len(hub.subscribers("t")) == 1
            await ws.send(json.dumps({"feed": "unsubscribe", "topic": "t"}))
            await wait_until(lambda: not hub.subscribers("t"), "the unsubscription")


async def test_follow_yields_every_publication_across_a_reset(impl_name):
    hub = wsfast.Hub(history=History(size=1000))
    async with wsfast.serve(feed_handler(Feeds(hub)), "127.0.0.1", 0, implementation=impl_name) as server:
        received: list[int] = []

        async def consume():
            async for pub in follow(f"ws://127.0.0.1:{server.port()}/", ["t"], implementation=impl_name,
                                    backoff=wsfast.Backoff(initial=0.05, max_delay=0.2)):
                received.append(pub.offset)
                if pub.offset == 40:
                    return

        task = asyncio.ensure_future(consume())
        await wait_until(lambda: hub.subscribers("t"), "the subscription")
        for i in range(1, 21):
            hub.publish("t", f"m{i}")
        await wait_until(lambda: len(received) == 20, "twenty")
        [conn] = hub.subscribers("t")
        reset(conn)  # from the server's side this time
        await wait_until(lambda: not hub.subscribers("t"), "the drop")
        for i in range(21, 41):
            hub.publish("t", f"m{i}")
        await wait_for(task, "the forty")
    assert received == list(range(1, 41))
