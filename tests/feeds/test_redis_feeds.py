"""Feeds on RedisBroker with a real redis-server: offsets agree across processes publishing
on one topic, a reset client recovers with no gap or duplicate, a Redis that lost its data
changes the epoch, an overflowed history is said so, the last value comes on subscribe."""
from __future__ import annotations

import asyncio
import contextlib
import os
import sys

import pytest
import redis.asyncio as aioredis

import wsfast
from wsfast.brokers.history import History
from wsfast.brokers.recovery import AHEAD, EPOCH_CHANGED, OVERFLOWED
from wsfast.brokers.redis import RedisBroker
from wsfast.feeds import Feeds

from feedhelp import Follower, check_sequence, feed_handler, reset
from waiting import wait_for, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
WSFAST_HOME = os.path.dirname(os.path.dirname(os.path.abspath(wsfast.__file__)))


class FeedProcess:
    """``feed_server.py`` as a subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port = proc, port
        self.uri = f"ws://127.0.0.1:{port}/"

    @classmethod
    async def start(cls, tmp_path, name: str, redis_url: str, *extra: str) -> "FeedProcess":
        port_file = str(tmp_path / f"{name}.port")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([WSFAST_HOME, os.environ.get("PYTHONPATH", "")]))
        with open(tmp_path / f"{name}.log", "wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, os.path.join(HERE, "feed_server.py"), "--redis", redis_url,
                "--port-file", port_file, *extra, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=log, env=env)
        await wait_until(lambda: os.path.exists(port_file) or proc.returncode is not None,
                         f"{name} to listen", timeout=60)
        assert proc.returncode is None, (tmp_path / f"{name}.log").read_text()
        with open(port_file) as f:
            return cls(proc, int(f.read()))

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


@pytest.mark.hang_deadline(180)
async def test_three_processes_two_publishers_reset_clients_recover_everything(redis, tmp_path):
    processes = []
    followers = []
    try:
        a = await FeedProcess.start(tmp_path, "a", redis.url, "--publish", "300", "--tag", "a")
        b = await FeedProcess.start(tmp_path, "b", redis.url, "--publish", "300", "--tag", "b")
        c = await FeedProcess.start(tmp_path, "c", redis.url)
        processes = [a, b, c]
        on_c = Follower(c.uri, ["ticks"]).start()
        on_a = Follower(a.uri, ["ticks"]).start()
        followers = [on_c, on_a]
        for follower in followers:
            await wait_until(lambda: follower.answers, "the first subscription")
        for publisher in (a, b):
            publisher.proc.stdin.write(b"go\n")
            await publisher.proc.stdin.drain()
        for drop in range(3):
            seen = len(on_c.received["ticks"])
            await wait_until(lambda: len(on_c.received["ticks"]) >= seen + 40, "publications")
            await wait_until(lambda: on_c.ws is not None and not on_c.ws.closed, "connected")
            reset(on_c.ws)
            if drop == 1:
                reset(on_a.ws)
            await wait_until(lambda: on_c.connections == drop + 2, "the reconnection")
        done = [await wait_for(p.proc.stdout.readline(), "the publisher to finish", timeout=120)
                for p in (a, b)]
        assert all(line.startswith(b"DONE ") for line in done), done
        client = aioredis.Redis.from_url(redis.url)
        try:
            entries = await client.xrange("wsfast:history:ticks")
        finally:
            await client.aclose()
        truth = {int(i.split(b"-")[0]): f[b"d"].decode() for i, f in entries}
        top = max(truth)
        assert top == 600 and sorted(truth) == list(range(1, 601))
        for follower in followers:
            await wait_until(lambda: follower.offsets("ticks")[-1:] == [top], "the last publication", timeout=60)
            check_sequence(follower.received["ticks"], 1, top, truth.__getitem__)
            assert all(answer.recovered for answer in follower.answers[1:]), follower.answers
            assert follower.feed.counts["duplicates"] == 0 and follower.feed.counts["gaps"] == 0
        # Each publisher's messages in the order it published them.
        for tag in "ab":
            numbers = [int(p.data.split(":")[1]) for p in on_c.received["ticks"] if p.data.startswith(tag)]
            assert numbers == list(range(1, 301))
        assert on_c.connections == 4 and on_a.connections == 2
    finally:
        for follower in followers:
            await follower.stop()
        for process in processes:
            await process.stop()


async def _feed_server(hub):
    return wsfast.serve(feed_handler(Feeds(hub)), "127.0.0.1", 0)


@contextlib.asynccontextmanager
async def redis_hub(url, size, **options):
    """A Hub keeping ``size`` publications per topic in Redis, connected."""
    broker = RedisBroker(url, **options)
    hub = wsfast.Hub(broker, history=History(size=size))
    try:
        await broker.wait_connected(timeout=30)
        yield hub
    finally:
        await hub.aclose()


async def publish(hub, topic, payloads):
    """Publish each payload, waiting for its offset; returns the offsets."""
    return [await wait_for(hub.publish(topic, p), "an offset") for p in payloads]


async def test_redis_losing_its_data_changes_the_epoch(redis):
    async with redis_hub(redis.url, 1000, backoff_initial=0.05, backoff_max=0.2) as hub:
        broker = hub.broker
        async with await _feed_server(hub) as server:
            follower = Follower(f"ws://127.0.0.1:{server.port()}/", ["t"]).start()
            await wait_until(lambda: follower.answers, "subscribed")
            first_epoch = follower.answers[0].epoch
            await publish(hub, "t", [f"m{i}" for i in range(10)])
            await wait_until(lambda: len(follower.received["t"]) == 10, "ten publications")
            outages = broker.outages
            redis.stop()
            redis.start()  # no persistence: everything is gone
            await wait_until(lambda: broker.outages > outages and broker.status == "connected",
                             "the broker to reconnect")
            reset(follower.ws)
            await wait_until(lambda: len(follower.answers) == 2, "the answer after the reconnect")
            answer = follower.answers[1]
            assert (answer.recovered, answer.reason) == (False, EPOCH_CHANGED)
            assert answer.epoch != first_epoch and answer.offset == 0
            assert await wait_for(hub.publish("t", "after"), "an offset") == 1
            await wait_until(lambda: len(follower.received["t"]) == 11, "the new epoch's first")
            assert follower.received["t"][-1].epoch == answer.epoch
            assert follower.feed.counts["resets"] == 1
            await follower.stop()


async def test_redis_history_overflow_and_last_value(redis):
    async with redis_hub(redis.url, 5) as hub:
        assert await publish(hub, "t", [f"m{i}" for i in range(1, 21)]) == list(range(1, 21))
        async with await _feed_server(hub) as server:
            uri = f"ws://127.0.0.1:{server.port()}/"
            follower = Follower(uri, ["t"], last=True).start()
            await wait_until(lambda: follower.received["t"], "the last value")
            assert [(p.offset, p.data) for p in follower.received["t"]] == [(20, "m20")]
            epoch = follower.answers[0].epoch
            await follower.stop()
            late = Follower(uri, ["t"], position=(epoch, 10)).start()  # 11..15 are no longer kept
            await wait_until(lambda: late.answers, "the answer")
            assert (late.answers[0].recovered, late.answers[0].reason) == (False, OVERFLOWED)
            ahead = Follower(uri, ["t"], position=(epoch, 2**63 - 1)).start()  # never published
            await wait_until(lambda: ahead.answers, "the answer")
            assert (ahead.answers[0].recovered, ahead.answers[0].reason) == (False, AHEAD)
            recovering = Follower(uri, ["t"], position=(epoch, 16)).start()
            await wait_until(lambda: len(recovering.received["t"]) == 4, "the four missed")
            assert recovering.offsets("t") == [17, 18, 19, 20] and recovering.answers[0].recovered
            for follower in (late, ahead, recovering):
                await follower.stop()


async def test_a_mass_reconnect_reads_each_stream_once_per_batch(redis):
    async with redis_hub(redis.url, 1000) as hub:
        broker = hub.broker
        for topic in ("x", "y"):
            await publish(hub, topic, [f"{topic}{i}" for i in range(1, 201)])
        epoch = (await broker.read_history("x", 0, 1, hub.history_of("x"))).epoch
        reads_before, requests_before = broker.history_reads.reads, broker.history_reads.requests
        async with await _feed_server(hub) as server:
            followers = []
            for n in range(60):
                topic = "xy"[n % 2]
                followers.append(Follower(f"ws://127.0.0.1:{server.port()}/", [topic],
                                          position=(epoch if topic == "x" else "0", 100 + n)))
            for follower in followers:
                follower.start()
            for n, follower in enumerate(followers):
                topic = "xy"[n % 2]
                await wait_until(lambda: follower.answers, "an answer")
                if topic == "x":
                    await wait_until(lambda: follower.offsets("x")[-1:] == [200], "the missed ones")
                    assert follower.offsets("x") == list(range(101 + n, 201))
                else:  # "y" has its own epoch: not recovered, but read in the same batches
                    assert follower.answers[0].reason == EPOCH_CHANGED
            for follower in followers:
                await follower.stop()
        reads = broker.history_reads.reads - reads_before
        assert broker.history_reads.requests - requests_before == 60
        assert reads < 30, f"{reads} reads for 60 recovering subscribers on 2 topics"


def test_history_read_drops_entries_older_than_the_ttl():
    from wsfast.brokers.redis_history import parse_read

    now_ms = 1_000_000
    raw = [[b"7-0", [b"k", b"T", b"d", "old ☃".encode(), b"t", str(now_ms - 5000).encode()]],
           [b"8-0", [b"k", b"B", b"d", b"\x00new", b"t", str(now_ms - 500).encode()]]]
    read = parse_read([b"ep", b"8", now_ms, raw], History(size=10, ttl=2), reverse=False)
    assert (read.epoch, read.top, read.first) == ("ep", 8, 8)
    assert [(e[0], e[1]) for e in read.entries] == [(8, b"\x00new")]
    everything = parse_read([b"ep", b"8", now_ms, raw], History(size=10), reverse=False)
    assert [e[1] for e in everything.entries] == ["old ☃", b"\x00new"]


async def test_binary_publications_through_redis(redis):
    async with redis_hub(redis.url, 100) as hub:
        async with await _feed_server(hub) as server:
            follower = Follower(f"ws://127.0.0.1:{server.port()}/", ["bin"]).start()
            await wait_until(lambda: follower.answers, "subscribed")
            payloads = [bytes([i]) * i + b":\x00\xff" for i in range(1, 6)]
            await publish(hub, "bin", payloads)
            await wait_until(lambda: len(follower.received["bin"]) == 5, "five")
            reset(follower.ws)
            await wait_until(lambda: follower.connections == 2 and len(follower.answers) == 2, "back")
            await follower.stop()
        late = await hub.broker.read_history("bin", 2, 10, hub.history_of("bin"))
    assert [p.data for p in follower.received["bin"]] == payloads
    assert [(e[0], e[1]) for e in late.entries] == list(zip([3, 4, 5], payloads[2:]))
