"""wsfast echo/broadcast server, callback style (the message-level API: text arrives as a
validated ``str``). The runner also runs it as "wsfast-pure" with ``WSFAST_NO_EXTENSIONS=1``.

Contract: see ``_common`` (echo on any path, ``/bcast`` subscribers, ``/control`` broadcast
trigger, no per-message-deflate unless ``WSFAST_BENCH_DEFLATE=1``: then wsfast's default
``compression="deflate"``, no automatic pings). With ``WSFAST_BENCH_METRICS=1`` (the runner's
"wsfast-metrics") it serves ``/metrics`` and probes the loop's lag, to compare with "wsfast".
Topics (``/topic``, ``/game``, ``publish``/``game`` commands) go through one ``wsfast.Hub``.
"""
from __future__ import annotations

import os

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

    class Echo:
        def on_message(self, ws, message, opcode):
            ws.send_nowait(message)

    class Subscriber:
        def on_open(self, ws):
            subscribers[ws] = None

        def on_message(self, ws, message, opcode):
            pass

        def on_close(self, ws, code, reason):
            subscribers.pop(ws, None)

    class TopicSubscriber:
        def on_open(self, ws):
            hub.subscribe(ws, c.TOPIC)  # left automatically when it closes

        def on_message(self, ws, message, opcode):
            pass

    class Player:
        def on_message(self, ws, message, opcode):
            room = c.parse_join(message)
            if room is not None:
                hub.subscribe(ws, c.room_topic(room))
                hub.subscribe(ws, c.GLOBAL_TOPIC)
                ws.send_nowait("joined")

    def game(ws, ticks, hz, rooms):
        """``ticks`` ticks on a fixed schedule; each publishes on every room and the global topic."""
        topics = [(c.room_topic(r), r) for r in range(rooms)] + [(c.GLOBAL_TOPIC, c.GLOBAL_ID)]
        publish = hub.publish
        stamp = c.game_payload
        t0 = loop.time()

        def tick(i):
            for topic, tid in topics:
                publish(topic, stamp(i, tid))
            if i + 1 < ticks:
                loop.call_at(t0 + (i + 1) / hz, tick, i + 1)
            else:
                ws.send_nowait("done")

        if ticks:
            tick(0)
        else:
            ws.send_nowait("done")

    class Control:
        def on_message(self, ws, message, opcode):
            n = c.parse_broadcast(message)
            if n:
                for _ in range(n):
                    wsfast.broadcast(subscribers, payload)
                ws.send_nowait("done")
                return
            g = c.parse_game(message)
            if g is not None:
                game(ws, *g)
                return
            for _ in range(c.parse_publish(message)):
                hub.publish(c.TOPIC, payload)
            ws.send_nowait("done")

    handlers = {c.BCAST_PATH: Subscriber(), c.CONTROL_PATH: Control(),
                c.TOPIC_PATH: TopicSubscriber(), c.GAME_PATH: Player()}
    echo = Echo()

    class Route:
        """One callbacks object per connection, chosen by the request path."""

        def __init__(self):
            self.target = echo

        def on_open(self, ws):
            self.target = handlers.get(ws.request.path, echo)
            self.on_message = self.target.on_message
            on_open = getattr(self.target, "on_open", None)
            if on_open is not None:
                on_open(ws)

        def on_message(self, ws, message, opcode):  # replaced in on_open
            self.target.on_message(ws, message, opcode)

        def on_close(self, ws, code, reason):
            on_close = getattr(self.target, "on_close", None)
            if on_close is not None:
                on_close(ws, code, reason)

    return await wsfast.serve(
        Route, c.HOST, args.port,
        compression="deflate" if c.DEFLATE else None, ping_interval=None, max_size=c.MAX_MESSAGE, backlog=c.BACKLOG,
        use_aiofastnet=c.use_aiofastnet(), ssl=c.server_ssl_context(args),
        metrics=os.environ.get("WSFAST_BENCH_METRICS") == "1",
    )


if __name__ == "__main__":
    c.run_asyncio(start, cases=c.TOPIC_CASES)
