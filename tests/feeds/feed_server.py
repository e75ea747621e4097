"""A feed server process for the multi-process tests: a wsfast server whose Hub keeps history
in Redis (``RedisBroker``), answering the feed protocol.

    python feed_server.py --redis URL --port-file PATH [--publish N --interval S --tag T]

It writes its port to ``--port-file`` once listening. With ``--publish`` it waits for a line
on stdin, then publishes ``"<tag>:<i>"`` for i = 1..N on topic "ticks", one every ``interval``
seconds, awaiting each offset, and prints ``DONE <tag> <first offset> <last offset>``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys

import wsfast
from wsfast.brokers.history import History
from wsfast.brokers.redis import RedisBroker
from wsfast.feeds import Feeds


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--publish", type=int, default=0)
    parser.add_argument("--interval", type=float, default=0.005)
    parser.add_argument("--tag", default="p")
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    broker = RedisBroker(args.redis, backoff_initial=0.05, backoff_max=0.5)
    hub = wsfast.Hub(broker, history=History(size=args.size))
    feeds = Feeds(hub)

    async def handler(ws):
        async for message in ws:
            await feeds.handle(ws, message)

    async with wsfast.serve(handler, "127.0.0.1", 0) as server:
        await broker.wait_connected(timeout=60)
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.port()))
        os.replace(tmp, args.port_file)
        if not args.publish:
            await asyncio.get_running_loop().create_future()
        await asyncio.to_thread(sys.stdin.readline)
        offsets = []
        for i in range(1, args.publish + 1):
            offsets.append(await hub.publish("ticks", f"{args.tag}:{i}"))
            await asyncio.sleep(args.interval)
        print(f"DONE {args.tag} {offsets[0]} {offsets[-1]}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
