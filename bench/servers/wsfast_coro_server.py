"""wsfast echo/broadcast server, coroutine style (websockets-like ``async for`` / ``await
send``), to set beside the callback-style ``wsfast_server``. Runs as "wsfast-coro" and, with
``WSFAST_NO_EXTENSIONS=1``, "wsfast-coro-pure". Contract: see ``_common`` (with ``WSFAST_BENCH_DEFLATE=1``: ``compression="deflate"``)."""
from __future__ import annotations

from bench.servers import _common as c


async def start(args):
    import wsfast

    payload = c.BROADCAST_PAYLOAD
    subscribers: set = set()

    async def handler(ws):
        path = ws.request.path
        if path == c.BCAST_PATH:
            subscribers.add(ws)
            try:
                await ws.wait_closed()
            finally:
                subscribers.discard(ws)
        elif path == c.CONTROL_PATH:
            async for message in ws:
                for _ in range(c.parse_broadcast(message)):
                    wsfast.broadcast(subscribers, payload)
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
    c.run_asyncio(start)
