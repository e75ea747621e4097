# client.py  (python client.py [uri])
import asyncio, sys
import wsfast
from wsfast.feeds import Publication, Subscribed, Subscriptions

async def main():
    feed = Subscriptions(["prices"], last=True)          # last=True: the last value at once
    uri = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765"
    async for ws in wsfast.connect(uri, on_connect=feed.resume):
        try:
            async for message in ws:
                event = feed.receive(message)
                if isinstance(event, Publication):
                    print(event.offset, event.data, flush=True)   # each offset once, in order
                elif isinstance(event, Subscribed) and event.lost:
                    print("could not recover:", event.reason)   # fetch a snapshot here
        except wsfast.ConnectionClosed:
            continue                                       # reconnects, resumes from the offset

asyncio.run(main())
