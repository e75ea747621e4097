"""wsfast echo/broadcast server, coroutine style (websockets-like ``async for`` / ``await
send``), to set beside the callback-style ``wsfast_server``. Runs as "wsfast-coro" and, with
``WSFAST_NO_EXTENSIONS=1``, "wsfast-coro-pure". Contract: see ``_common`` (with ``WSFAST_BENCH_DEFLATE=1``: ``compression="deflate"``).
Topics (``/topic``, ``/game``, ``publish``/``game`` commands) go through one ``wsfast.Hub``;
the game's ticks run in the control connection's handler coroutine (``asyncio.sleep`` to each
tick's scheduled time, ``sleep(0)`` when late: the loop runs, and writes, between ticks)."""
from __future__ import annotations

from bench.servers import _common as c


async def start(args):
    import asyncio

    import wsfast

    payload = c.BROADCAST_PAYLOAD
    # A dict in subscription order, not a set: broadcast()'s compiled loop walks
    # connections in the order they were made ~2x faster than in a set's hash order
    # (bench/hub_vs_broadcast.py), as a Hub topic keeps them.
    subscribers: dict = {}
    hub = wsfast.Hub()
    loop = asyncio.get_running_loop()

    async def game(ticks, hz, rooms):
        topics = [(c.room_topic(r), r) for r in range(rooms)] + [(c.GLOBAL_TOPIC, c.GLOBAL_ID)]
        publish = hub.publish
        stamp = c.game_payload
        t0 = loop.time()
        for i in range(ticks):
            # always yield, even when behind schedule: each tick's messages leave before the
            # next tick (back-to-back ticks would share one write per connection, a batching
            # a game loop does not get)
            await asyncio.sleep(max(0.0, t0 + i / hz - loop.time()))
            for topic, tid in topics:
                publish(topic, stamp(i, tid))

    async def handler(ws):
        path = ws.request.path
        if path == c.BCAST_PATH:
            subscribers[ws] = None
            try:
                await ws.wait_closed()
            finally:
                subscribers.pop(ws, None)
        elif path == c.TOPIC_PATH:
            hub.subscribe(ws, c.TOPIC)  # left automatically when it closes
            await ws.wait_closed()
        elif path == c.GAME_PATH:
            async for message in ws:
                room = c.parse_join(message)
                if room is not None:
                    hub.subscribe(ws, c.room_topic(room))
                    hub.subscribe(ws, c.GLOBAL_TOPIC)
                    await ws.send("joined")
        elif path == c.CONTROL_PATH:
            async for message in ws:
                n = c.parse_broadcast(message)
                if n:
                    for _ in range(n):
                        wsfast.broadcast(subscribers, payload)
                elif (g := c.parse_game(message)) is not None:
                    await game(*g)
                else:
                    for _ in range(c.parse_publish(message)):
                        hub.publish(c.TOPIC, payload)
                await ws.send("done")
        else:
            async for message in ws:
                await ws.send(message)

    return await wsfast.serve(
        handler, c.HOST, args.port,
        compression="deflate" if c.DEFLATE else None, ping_interval=None, max_size=c.MAX_MESSAGE, backlog=c.BACKLOG,
        use_aiofastnet=c.use_aiofastnet(), ssl=c.server_ssl_context(args),
    )


if __name__ == "__main__":
    c.run_asyncio(start, cases=c.TOPIC_CASES)
