"""Publish cost with history on against off.

    python -m bench.feeds.publish_cost [--subscribers 0,10,100] [--publishes 20000] [--rounds 5]

Local broker: the Hub in this process, its subscribers' clients in a child process
(``--sink``) that reads and drops everything. Per case and round, ``--publishes``
publications of a 64-byte text payload in batches of 100, each batch followed by one loop
iteration (the frames are written at its end); measured: the time in ``hub.publish`` calls
(``call``) and this process's CPU time for the whole run, writes included (``cpu``), per
publication. History on: ``History(size=1000)``, the default JSON envelope.

Redis (``--redis``, a redis-server started in a temporary directory): the same publications
through ``RedisBroker`` (off: pipelined ``PUBLISH``; on: the history script, ``XADD`` +
``PUBLISH``), no local subscriber, until Redis acknowledged them all; measured: wall time and
CPU time of this process per publication, and Redis' own microseconds per call (INFO
commandstats).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import wsfast
from wsfast.brokers.history import History
from wsfast.feeds import Feeds, Subscriptions

PAYLOAD = "x" * 64
TOPIC = "bench"


async def sink(uri: str, n: int) -> None:
    """The subscribers' side: ``n`` clients subscribed to TOPIC, reading everything."""
    async def one() -> None:
        ws = await wsfast.connect(uri, max_queue=None)
        await Subscriptions([TOPIC]).resume(ws)
        await ws.recv()  # the answer
        ready.append(ws)
        async for _ in ws:
            pass

    ready: list = []
    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    while len(ready) < n:
        await asyncio.sleep(0.01)
    print("READY", flush=True)
    await asyncio.gather(*tasks, return_exceptions=True)


async def local_round(history: bool, subscribers: int, publishes: int) -> dict:
    hub = wsfast.Hub(history=History(size=1000) if history else None)
    feeds = Feeds(hub)

    async def handler(ws):
        async for message in ws:
            await feeds.handle(ws, message)

    async with wsfast.serve(handler, "127.0.0.1", 0) as server:
        proc = None
        if subscribers:
            proc = subprocess.Popen([sys.executable, "-m", "bench.feeds.publish_cost", "--sink",
                                     f"ws://127.0.0.1:{server.port()}/", str(subscribers)],
                                    stdout=subprocess.PIPE)
            assert proc.stdout is not None
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line.startswith(b"READY"), line
        try:
            publish = hub.publish
            in_calls = 0.0
            skipped = 0
            cpu = time.process_time()
            for _ in range(publishes // 100):
                started = time.perf_counter()
                for _ in range(100):
                    result = publish(TOPIC, PAYLOAD)
                in_calls += time.perf_counter() - started
                if not history:
                    skipped += result.skipped
                await asyncio.sleep(0)
            cpu = time.process_time() - cpu
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()
    return {"call_us": in_calls / publishes * 1e6, "cpu_us": cpu / publishes * 1e6, "skipped": skipped}


async def redis_round(history: bool, url: str, publishes: int) -> dict:
    from wsfast.brokers.redis import RedisBroker
    import redis as sync_redis

    client = sync_redis.Redis.from_url(url)
    client.flushall()
    client.config_resetstat()
    broker = RedisBroker(url, max_pending=publishes + 1)
    hub = wsfast.Hub(broker, history=History(size=1000) if history else None)
    await broker.wait_connected(timeout=30)
    cpu = time.process_time()
    started = time.perf_counter()
    last = None
    for i in range(publishes):
        last = hub.publish(TOPIC, PAYLOAD)
        if i % 1000 == 999:
            await asyncio.sleep(0)
    if history:
        await last
    else:
        await broker.flush()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    await hub.aclose()
    stats = client.info("commandstats")
    command = "cmdstat_evalsha" if history else "cmdstat_publish"
    client.close()
    return {"wall_us": wall / publishes * 1e6, "cpu_us": cpu / publishes * 1e6,
            "redis_us_per_call": stats[command]["usec_per_call"]}


def summary(samples: list[dict]) -> dict:
    return {k: round(statistics.median(s[k] for s in samples), 3) for k in samples[0]}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", default="0,10,100")
    parser.add_argument("--publishes", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("--sink", nargs=2)
    args = parser.parse_args()
    if args.sink:
        await sink(args.sink[0], int(args.sink[1]))
        return
    if args.redis:
        with tempfile.TemporaryDirectory(prefix="wsfast-feeds-bench-") as workdir:
            from bench.feeds.mass_reconnect import Redis

            redis = Redis(workdir)
            try:
                results: dict[bool, list[dict]] = {False: [], True: []}
                for _ in range(args.rounds):
                    for history in (False, True):
                        results[history].append(await redis_round(history, redis.url, args.publishes))
            finally:
                redis.stop()
        off, on = summary(results[False]), summary(results[True])
        ratios = [b["cpu_us"] / a["cpu_us"] for a, b in zip(results[False], results[True])]
        print(json.dumps({"broker": "redis", "off": off, "on": on,
                          "cpu_ratio_median": round(statistics.median(ratios), 2)}), flush=True)
        return
    for n in (int(x) for x in args.subscribers.split(",")):
        samples: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(args.rounds):
            for history in (False, True):  # alternated: both see the same machine load
                samples[history].append(await local_round(history, n, args.publishes))
        off, on = summary(samples[False]), summary(samples[True])
        call = [b["call_us"] / a["call_us"] for a, b in zip(samples[False], samples[True])]
        cpu = [b["cpu_us"] / a["cpu_us"] for a, b in zip(samples[False], samples[True])]
        print(json.dumps({"broker": "local", "subscribers": n, "off": off, "on": on,
                          "call_ratio_median": round(statistics.median(call), 2),
                          "cpu_ratio_median": round(statistics.median(cpu), 2)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
