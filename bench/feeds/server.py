"""The feed server of the feed benchmarks, as its own process (so its CPU time is its own).

    python -m bench.feeds.server --port-file PATH [--redis URL] [--topics 10] [--size 1000]

Listens on 127.0.0.1 (port written to ``--port-file``) and answers the feed protocol over a
Hub with history on every topic (``LocalBroker``, or ``RedisBroker`` with ``--redis``).
Commands on stdin, one answer line each on stdout:

* ``publish K``: K publications on each topic ("topic<i>"), awaited; answers ``tops <json>``
  (the last offset of each topic);
* ``subscribers``: answers ``subscribers <n>`` (live subscribers on all topics);
* ``stats``: answers ``stats <json>`` (the Feeds' and the broker's counters).
"""
from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import sys

import wsfast
from wsfast.brokers.history import History
from wsfast.feeds import Feeds


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--redis")
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="bench server: %(message)s")
    if args.redis:
        from wsfast.brokers.redis import RedisBroker

        broker = RedisBroker(args.redis)
        hub = wsfast.Hub(broker, history=History(size=args.size))
        await broker.wait_connected(timeout=30)
    else:
        hub = wsfast.Hub(history=History(size=args.size))
    feeds = Feeds(hub, max_requests=1000)
    topics = [f"topic{i}" for i in range(args.topics)]

    async def handler(ws):
        async for message in ws:
            await feeds.handle(ws, message)

    async with wsfast.serve(handler, "127.0.0.1", 0, backlog=4096) as server:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.port()))
        os.replace(tmp, args.port_file)
        reader = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode().split():
            if line[0] == "publish":
                tops = {}
                for n in range(int(line[1])):
                    for topic in topics:
                        tops[topic] = hub.publish(topic, f"{topic} message {n} " + "x" * 64)
                for topic, offset in tops.items():
                    if inspect.isawaitable(offset):  # RedisBroker: Redis assigns it
                        tops[topic] = await offset
                answer = f"tops {json.dumps(tops)}"
            elif line[0] == "subscribers":
                answer = f"subscribers {sum(len(hub.subscribers(t)) for t in topics)}"
            else:
                stats = getattr(hub.broker, "stats", dict)()
                answer = f"stats {json.dumps({'feeds': feeds.stats(), 'broker': stats})}"
            print(answer, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
