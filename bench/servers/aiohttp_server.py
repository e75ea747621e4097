"""aiohttp echo/broadcast server (web.WebSocketResponse).

Fast settings: compress=False (no per-message-deflate; compress=True with
``WSFAST_BENCH_DEFLATE=1``), no heartbeat, no access log,
max_msg_size large enough for 1 MiB messages.
"""
from __future__ import annotations

from bench.servers import _common as c


async def start(args):
    from aiohttp import WSMsgType, web

    TEXT, BINARY = WSMsgType.TEXT, WSMsgType.BINARY
    payload = c.BROADCAST_PAYLOAD
    subscribers = set()

    def response():
        return web.WebSocketResponse(compress=c.DEFLATE, max_msg_size=c.MAX_MESSAGE, heartbeat=None)

    async def echo(request):
        ws = response()
        await ws.prepare(request)
        async for msg in ws:
            t = msg.type
            if t is BINARY:
                await ws.send_bytes(msg.data)
            elif t is TEXT:
                await ws.send_str(msg.data)
        return ws

    async def bcast(request):
        ws = response()
        await ws.prepare(request)
        subscribers.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            subscribers.discard(ws)
        return ws

    async def control(request):
        ws = response()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is TEXT:
                n = c.parse_broadcast(msg.data)
                subs = list(subscribers)
                for _ in range(n):
                    for s in subs:
                        await s.send_bytes(payload)
                await ws.send_str("done")
        return ws

    app = web.Application()
    app.router.add_get(c.BCAST_PATH, bcast)
    app.router.add_get(c.CONTROL_PATH, control)
    app.router.add_get("/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, c.HOST, args.port, backlog=c.BACKLOG,
                       ssl_context=c.server_ssl_context(args))
    await site.start()
    return runner


if __name__ == "__main__":
    c.run_asyncio(start)
