"""Recovery over the wire with the LocalBroker: a client whose TCP connection is reset while
publications go on reconnects and gets every one of them, once, in order."""
from __future__ import annotations

import asyncio
import json

import pytest

import wsfast
from wsfast.brokers.history import History
from wsfast.brokers.recovery import AHEAD, EPOCH_CHANGED, OVERFLOWED, TOO_FAR, RecoveryOverrun
from wsfast.feeds import Feeds

from feedhelp import Follower, check_sequence, feed_handler, reset
from waiting import wait_for, wait_until


def content(offset: int) -> str:
    return f"message {offset} ☃"


async def publish_steadily(hub, topic, stop, interval=0.002):
    n = 0
    while not stop.is_set():
        n = hub.publish(topic, content(n + 1))
        await asyncio.sleep(interval)
    return n


async def test_reset_while_publishing_recovers_without_gap_or_duplicate(impl_name):
    hub = wsfast.Hub(history=History(size=100_000))
    feeds = Feeds(hub)
    async with wsfast.serve(feed_handler(feeds), "127.0.0.1", 0, implementation=impl_name) as server:
        follower = Follower(f"ws://127.0.0.1:{server.port()}/", ["ticks"], implementation=impl_name).start()
        await wait_until(lambda: follower.answers, "the first subscription")
        stop = asyncio.Event()
        publisher = asyncio.ensure_future(publish_steadily(hub, "ticks", stop))
        for drop in range(3):
            await wait_until(lambda: len(follower.received["ticks"]) > 20 * (drop + 1), "publications")
            await wait_until(lambda: follower.ws is not None and not follower.ws.closed, "connected")
            reset(follower.ws)
            await wait_until(lambda: follower.connections == drop + 2, "the reconnection")
        await wait_until(lambda: len(follower.answers) == 4, "the fourth subscription answer")
        stop.set()
        top = await wait_for(publisher, "the publisher")
        await wait_until(lambda: follower.offsets("ticks")[-1:] == [top], "the last publication")
        await follower.stop()
    check_sequence(follower.received["ticks"], 1, top, content)
    assert all(a.recovered for a in follower.answers[1:]), follower.answers
    assert follower.feed.counts["duplicates"] == 0 and follower.feed.counts["gaps"] == 0
    assert feeds.stats()["recovery"]["recovered"] == 3


class PacedConnection:
    """Stands for a server connection whose writes wait (as ``send`` does over the write
    limit): every tenth send yields to the loop, so publications arrive in the middle of a
    replay (one publication per loop iteration: a tenth of the replay's pace)."""

    closed = False
    _proto = transport = None  # broadcast() counts it as not open: live ones are not recorded

    def __init__(self) -> None:
        self._closed = asyncio.get_running_loop().create_future()
        self.sent: list[str] = []
        self.failed: tuple[int, str] | None = None

    def _fail_local(self, code: int, reason: str) -> None:
        self.failed = (code, reason)

    async def send(self, message: str) -> None:
        self.sent.append(message)
        if len(self.sent) % 10 == 0:
            await asyncio.sleep(0)


async def test_publications_during_a_paced_replay_are_neither_lost_nor_doubled():
    hub = wsfast.Hub(history=History(size=10_000))
    for i in range(1, 2001):
        hub.publish("t", content(i))
    epoch = hub.broker.rings["t"].epoch
    conn = PacedConnection()
    published_during = []

    async def publisher():
        while conn not in hub.subscribers("t"):
            published_during.append(hub.publish("t", content(hub.broker.rings["t"].top + 1)))
            await asyncio.sleep(0)

    task = asyncio.ensure_future(publisher())
    result = await wait_for(hub.subscribe_from(conn, "t", epoch, 10), "the recovery")
    top = hub.broker.rings["t"].top
    await wait_for(task, "the publisher")
    assert result.recovered and result.replayed == result.offset - 10
    assert len(published_during) > 100, "nothing was published during the replay"
    pubs = [hub.envelope.decode(m) for m in conn.sent]
    check_sequence(pubs, 11, top, content)  # up to the last one published before it joined
    assert hub.publish("t", "next") == top + 1 and conn in hub.subscribers("t")
    assert hub.recoverer.stats()["in_progress"] == 0


async def test_a_recovery_outrun_by_live_publications_is_abandoned():
    hub = wsfast.Hub(history=History(size=1000), max_pending=5)
    for i in range(1, 201):
        hub.publish("t", content(i))
    epoch = hub.broker.rings["t"].epoch
    conn = PacedConnection()
    recovery = asyncio.ensure_future(hub.subscribe_from(conn, "t", epoch, 0))
    while not recovery.done():  # far more than 5 while 200 are replayed
        hub.publish("t", "live")
        await asyncio.sleep(0)
    with pytest.raises(RecoveryOverrun):
        recovery.result()
    assert conn.failed == (1013, "feed recovery could not keep up")
    assert hub.recoverer.stats()["not recovered: could not keep up"] == 1
    assert not hub.recoverer.pending and conn not in hub.subscribers("t")


async def _one_answer(uri, request, impl_name, received=1):
    async with wsfast.connect(uri, implementation=impl_name) as ws:
        await ws.send(request if isinstance(request, str) else json.dumps(request))
        return [json.loads(await wait_for(ws.recv(), "an answer")) for _ in range(received)]


async def test_not_recovered_says_why_and_joins_live(impl_name):
    hub = wsfast.Hub(history=History(size=5))
    feeds = Feeds(hub)
    for i in range(1, 21):
        hub.publish("t", content(i))
    epoch = hub.broker.rings["t"].epoch
    async with wsfast.serve(feed_handler(feeds), "127.0.0.1", 0, implementation=impl_name) as server:
        uri = f"ws://127.0.0.1:{server.port()}/"
        cases = [
            ({"epoch": "0123456789abcdef", "offset": 3}, EPOCH_CHANGED),  # the history was lost
            ({"epoch": epoch, "offset": 10}, OVERFLOWED),                  # 11..15 dropped
            ({"epoch": epoch, "offset": 30}, AHEAD),                       # never published
        ]
        for position, reason in cases:
            await wait_until(lambda: not hub.subscribers("t"), "the previous client to leave")
            async with wsfast.connect(uri, implementation=impl_name) as ws:
                await ws.send(json.dumps({"feed": "subscribe", "topic": "t"} | position))
                answer = json.loads(await wait_for(ws.recv(), "the answer"))
                assert answer == {"feed": "subscribed", "topic": "t", "recovered": False,
                                  "reason": reason, "epoch": epoch, "offset": hub.broker.rings["t"].top,
                                  "replayed": 0}
                await wait_until(lambda: hub.subscribers("t"), "the live subscription")
                hub.publish("t", "live")
                assert json.loads(await wait_for(ws.recv(), "the live one"))["d"] == "live"
    counts = feeds.stats()["recovery"]
    assert counts[f"not recovered: {EPOCH_CHANGED}"] == 1 and counts[f"not recovered: {AHEAD}"] == 1
    assert counts[f"not recovered: {OVERFLOWED}"] == 1


async def test_too_far_behind_is_not_replayed(impl_name):
    hub = wsfast.Hub(history=History(size=1000), max_replay=50)
    for i in range(1, 201):
        hub.publish("t", content(i))
    epoch = hub.broker.rings["t"].epoch
    async with wsfast.serve(feed_handler(Feeds(hub)), "127.0.0.1", 0, implementation=impl_name) as server:
        [answer] = await _one_answer(f"ws://127.0.0.1:{server.port()}/",
                                     {"feed": "subscribe", "topic": "t", "epoch": epoch, "offset": 100}, impl_name)
    assert (answer["recovered"], answer["reason"], answer["replayed"]) == (False, TOO_FAR, 0)


async def test_last_value_on_subscribe(impl_name):
    hub = wsfast.Hub()
    hub.set_history("price", History(size=1))  # "cache" mode: only the last value
    for i in range(1, 6):
        hub.publish("price", f"p{i}")
    async with wsfast.serve(feed_handler(Feeds(hub)), "127.0.0.1", 0, implementation=impl_name) as server:
        follower = Follower(f"ws://127.0.0.1:{server.port()}/", ["price", "empty"], last=True,
                            implementation=impl_name)
        hub.set_history("empty", History(size=1))
        follower.start()
        await wait_until(lambda: follower.received["price"], "the last value")
        await wait_until(lambda: len(follower.answers) == 2, "both answers")
        hub.publish("price", "p6")
        await wait_until(lambda: len(follower.received["price"]) == 2, "the live value")
        await follower.stop()
    assert [(p.offset, p.data) for p in follower.received["price"]] == [(5, "p5"), (6, "p6")]
    answer = next(a for a in follower.answers if a.topic == "price")
    assert (answer.recovered, answer.replayed, answer.offset) == (False, 1, 5)
    assert follower.received["empty"] == []


async def test_a_binary_feed_recovers(impl_name):
    hub = wsfast.Hub(history=History(size=100))
    async with wsfast.serve(feed_handler(Feeds(hub)), "127.0.0.1", 0, implementation=impl_name) as server:
        follower = Follower(f"ws://127.0.0.1:{server.port()}/", ["bin"], implementation=impl_name).start()
        await wait_until(lambda: follower.answers, "subscribed")
        for i in range(1, 11):
            hub.publish("bin", bytes([i]) * i)
        await wait_until(lambda: len(follower.received["bin"]) == 10, "ten publications")
        reset(follower.ws)
        await wait_until(lambda: hub.subscribers("bin") == frozenset(), "the server to see the drop")
        for i in range(11, 21):
            hub.publish("bin", bytes([i]) * i)
        await wait_until(lambda: len(follower.received["bin"]) == 20, "the missed ones")
        await follower.stop()
    check_sequence(follower.received["bin"], 1, 20, lambda i: bytes([i]) * i)


async def test_a_failed_recovery_with_last_gives_the_last_value_then_live(impl_name):
    hub = wsfast.Hub(history=History(size=5))
    for i in range(1, 21):
        hub.publish("t", content(i))
    epoch = hub.broker.rings["t"].epoch
    async with wsfast.serve(feed_handler(Feeds(hub)), "127.0.0.1", 0, implementation=impl_name) as server:
        follower = Follower(f"ws://127.0.0.1:{server.port()}/", ["t"], last=True, position=(epoch, 3),
                            implementation=impl_name).start()
        await wait_until(lambda: follower.received["t"], "the last value")
        hub.publish("t", content(21))
        await wait_until(lambda: len(follower.received["t"]) == 2, "the live one")
        await follower.stop()
    answer = follower.answers[0]
    assert (answer.recovered, answer.reason, answer.replayed, answer.lost) == (False, OVERFLOWED, 1, True)
    check_sequence(follower.received["t"], 20, 21, content)
    assert follower.feed.counts["gaps"] == 0 and follower.feed.counts["resets"] == 1
