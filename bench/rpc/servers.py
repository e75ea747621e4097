"""The benchmark's RPC servers, one per process: ``python -m bench.rpc.servers NAME --port P``.

Both serve one method, ``echo``, that returns its argument: wsfast.rpc (a plain function,
answered inline) and python-socketio on aiohttp (an async event handler whose return value
is the ack). Prints ``READY <port>`` once listening, ``SKIP <reason>`` if it cannot run.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys


async def serve_wsfast(port: int) -> None:
    from wsfast import rpc

    methods = rpc.Methods()
    methods.add(lambda data: data, name="echo")
    async with rpc.serve(methods, "127.0.0.1", port, compression=None) as server:
        print(f"READY {server.port()}", flush=True)
        await server.serve_forever()


async def serve_socketio(port: int) -> None:
    import socketio
    from aiohttp import web

    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.event
    async def echo(sid, data):
        return data

    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    print(f"READY {site._server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


SERVERS = {"wsfast": serve_wsfast, "socketio": serve_socketio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", choices=sorted(SERVERS))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    try:
        asyncio.run(SERVERS[args.name](args.port))
    except ImportError as exc:
        print(f"SKIP {exc}", flush=True)
        sys.exit(0)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
