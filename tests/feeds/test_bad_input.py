"""What a client can send wrong: every bad request gets a clear error or recovered: false,
is counted, replays nothing unbounded, and the server goes on serving."""
from __future__ import annotations

import asyncio
import json

import pytest

import wsfast
from wsfast.brokers import LocalBroker
from wsfast.brokers.history import History
from wsfast.feeds import Feeds

from feedhelp import Follower, feed_handler
from waiting import wait_for, wait_until

BAD = [
    ('{"feed":"subscribe", "topic": ', None, "malformed JSON"),
    ('{"feed":"subscribe","topic":"t"} and more', None, "malformed JSON"),
    ('{"feed":["x"]}', None, "topic must be"),
    ({"feed": "subscribe"}, None, "topic must be a string of 1 to 256 characters"),
    ({"feed": "subscribe", "topic": "t" * 257}, None, "topic must be a string of 1 to 256 characters"),
    ({"feed": "replay-everything", "topic": "t"}, "t", "unknown action (subscribe or unsubscribe)"),
    ({"feed": "subscribe", "topic": "t", "epoch": "e1"}, "t", "epoch and offset come together"),
    ({"feed": "subscribe", "topic": "t", "epoch": "../../etc", "offset": 1}, "t", "malformed epoch"),
    ({"feed": "subscribe", "topic": "t", "epoch": "e" * 65, "offset": 1}, "t", "malformed epoch"),
    ({"feed": "subscribe", "topic": "t", "epoch": 7, "offset": 1}, "t", "malformed epoch"),
    ({"feed": "subscribe", "topic": "t", "epoch": "e1", "offset": -1}, "t", "offset"),
    ({"feed": "subscribe", "topic": "t", "epoch": "e1", "offset": 2**70}, "t", "offset"),
    ({"feed": "subscribe", "topic": "t", "epoch": "e1", "offset": 1.5}, "t", "offset"),
    ({"feed": "subscribe", "topic": "t", "epoch": "e1", "offset": True}, "t", "offset"),
    ({"feed": "subscribe", "topic": "t", "epoch": "e1", "offset": "12"}, "t", "offset"),
    ({"feed": "subscribe", "topic": "t", "last": "yes"}, "t", "last must be true or false"),
    ({"feed": "subscribe", "topic": "secret"}, "secret", "unknown topic"),
]


def make_hub():
    hub = wsfast.Hub(history=History(size=100))
    for i in range(1, 51):
        hub.publish("t", f"m{i}")
    return hub


@pytest.mark.parametrize("request_, topic, error", BAD)
async def test_a_bad_request_gets_an_error_and_is_counted(impl_name, request_, topic, error):
    hub = make_hub()
    feeds = Feeds(hub, allow=lambda ws, topic: topic != "secret")
    async with wsfast.serve(feed_handler(feeds), "127.0.0.1", 0, implementation=impl_name) as server:
        async with wsfast.connect(f"ws://127.0.0.1:{server.port()}/", implementation=impl_name) as ws:
            raw = request_ if isinstance(request_, str) else json.dumps(request_, separators=(",", ":"))
            await ws.send(raw)
            answer = json.loads(await wait_for(ws.recv(), "the error"))
            assert answer["feed"] == "error" and answer["topic"] == topic
            if error is not None:
                assert answer["error"].startswith(error)
            # Still serving, on the same connection.
            await ws.send(json.dumps({"feed": "subscribe", "topic": "t"}))
            ok = json.loads(await wait_for(ws.recv(), "the good answer"))
            assert ok["feed"] == "subscribed" and ok["offset"] == 50
    refused = {k: v for k, v in feeds.stats().items() if k.startswith("refused: ")}
    assert sum(refused.values()) == 1, feeds.stats()
    assert not hub.subscribers("secret")


async def test_a_burst_of_recovery_requests_is_cut_off_and_counted(impl_name):
    hub = make_hub()
    epoch = hub.broker.rings["t"].epoch
    feeds = Feeds(hub, max_requests=20, window=3600)
    async with wsfast.serve(feed_handler(feeds), "127.0.0.1", 0, implementation=impl_name) as server:
        async with wsfast.connect(f"ws://127.0.0.1:{server.port()}/", implementation=impl_name) as ws:
            for i in range(200):
                await ws.send(json.dumps({"feed": "subscribe", "topic": f"t{i % 40}", "epoch": epoch,
                                          "offset": 0}))
            answers = [json.loads(await wait_for(ws.recv(), "an answer")) for _ in range(200)]
    refused = [a for a in answers if a["feed"] == "error"]
    assert len(refused) >= 180 and {a["error"] for a in refused} <= {"too many requests", "already subscribing"}
    assert len(answers) - len(refused) <= 20
    stats = feeds.stats()
    assert stats["refused: too many requests"] + stats.get("refused: already subscribing", 0) == len(refused)


async def test_the_same_topic_twice_at_once_is_refused_not_doubled(impl_name):
    hub = make_hub()
    epoch = hub.broker.rings["t"].epoch
    feeds = Feeds(hub)
    async with wsfast.serve(feed_handler(feeds), "127.0.0.1", 0, implementation=impl_name) as server:
        async with wsfast.connect(f"ws://127.0.0.1:{server.port()}/", implementation=impl_name) as ws:
            request = json.dumps({"feed": "subscribe", "topic": "t", "epoch": epoch, "offset": 0})
            await ws.send(request)
            await ws.send(request)
            messages = [json.loads(await wait_for(ws.recv(), "a message")) for _ in range(52)]
    kinds = [m.get("feed", "pub") for m in messages]
    # Either the second came while the first was replaying (refused) or after (replayed again).
    assert kinds.count("subscribed") + kinds.count("error") == 2
    offsets = [m["o"] for m in messages if "o" in m]
    assert offsets[:50] == list(range(1, 51))


async def test_a_client_refused_for_now_asks_again_later(impl_name):
    gate = asyncio.Event()

    class SlowBroker(LocalBroker):
        async def history_ready(self, topic):
            await gate.wait()  # the first two subscriptions stay in flight until released

    hub = wsfast.Hub(SlowBroker(), history=History(size=10))
    feeds = Feeds(hub, max_inflight=2)
    topics = [f"t{i}" for i in range(8)]
    async with wsfast.serve(feed_handler(feeds), "127.0.0.1", 0, implementation=impl_name) as server:
        follower = Follower(f"ws://127.0.0.1:{server.port()}/", topics, implementation=impl_name)
        follower.feed.retry_after = 0.05
        follower.start()
        await wait_until(lambda: feeds.stats().get("refused: too many requests", 0) >= 6, "six refusals")
        gate.set()
        await wait_until(lambda: {a.topic for a in follower.answers} == set(topics), "every topic subscribed")
        await follower.stop()
    assert follower.feed.counts["errors"] >= 6
