"""wsfast echo/broadcast server, callback style (the message-level API: text arrives as a
validated ``str``). The runner also runs it as "wsfast-pure" with ``WSFAST_NO_EXTENSIONS=1``.

Contract: see ``_common`` (echo on any path, ``/bcast`` subscribers, ``/control`` broadcast
trigger, no per-message-deflate unless ``WSFAST_BENCH_DEFLATE=1``: then wsfast's default
``compression="deflate"``, no automatic pings). With ``WSFAST_BENCH_METRICS=1`` (the runner's
"wsfast-metrics") it serves ``/metrics`` and probes the loop's lag, to compare with "wsfast".
"""
from __future__ import annotations

import os

from bench.servers import _common as c


async def start(args):
    import wsfast

    payload = c.BROADCAST_PAYLOAD
    subscribers: set = set()

    class Echo:
        def on_message(self, ws, message, opcode):
            ws.send_nowait(message)

    class Subscriber:
        def on_open(self, ws):
            subscribers.add(ws)

        def on_message(self, ws, message, opcode):
            pass

        def on_close(self, ws, code, reason):
            subscribers.discard(ws)

    class Control:
        def on_message(self, ws, message, opcode):
            n = c.parse_broadcast(message)
            for _ in range(n):
                wsfast.broadcast(subscribers, payload)
            ws.send_nowait("done")

    handlers = {c.BCAST_PATH: Subscriber(), c.CONTROL_PATH: Control()}
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
    c.run_asyncio(start)
