"""websockets echo/broadcast server (new asyncio implementation: websockets.asyncio.server).

Fast settings: compression=None (no per-message-deflate; ``compression="deflate"``, the
library's default configuration, with ``WSFAST_BENCH_DEFLATE=1``), ping_interval=None (no keepalive
pings during the measurement), max_size large enough for 1 MiB messages.
"""
from __future__ import annotations

from bench.servers import _common as c


async def start(args):
    from websockets.asyncio.server import broadcast, serve

    payload = c.BROADCAST_PAYLOAD
    subscribers = set()

    async def handler(ws):
        path = ws.request.path
        if path == c.BCAST_PATH:
            subscribers.add(ws)
            try:
                await ws.wait_closed()
            finally:
                subscribers.discard(ws)
        elif path == c.CONTROL_PATH:
            async for msg in ws:
                n = c.parse_broadcast(msg)
                for _ in range(n):
                    broadcast(subscribers, payload)
                await ws.send("done")
        else:
            async for msg in ws:
                await ws.send(msg)

    server = await serve(
        handler, c.HOST, args.port,
        compression="deflate" if c.DEFLATE else None,  # "deflate": its default settings
        max_size=c.MAX_MESSAGE,
        ping_interval=None,
        open_timeout=30,
        backlog=c.BACKLOG,
        ssl=c.server_ssl_context(args),
    )
    return server


if __name__ == "__main__":
    c.run_asyncio(start)
