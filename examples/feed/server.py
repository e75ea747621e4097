# server.py  (python server.py [port])
import asyncio, json, sys, time
import wsfast
from wsfast.feeds import Feeds, History

hub = wsfast.Hub(history=History(size=1000, ttl=120))   # every topic keeps its last 1000, 2 min
feeds = Feeds(hub)

async def handler(ws):
    async for message in ws:
        if not await feeds.handle(ws, message):          # subscribe / unsubscribe, answered
            await ws.send("unknown request")

async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    async with wsfast.serve(handler, "127.0.0.1", port) as server:
        print("listening on", server.port(), flush=True)
        while True:
            offset = hub.publish("prices", json.dumps({"eurusd": 1.08, "t": time.time()}))
            await asyncio.sleep(0.1)                      # offset: 1, 2, 3, ...

asyncio.run(main())
