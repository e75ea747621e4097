"""The wsfast side of an Autobahn|Testsuite run: an echo server, or an echo client.

    python autobahn_peer.py server --port 0 --port-file port.txt --implementation cython
    python autobahn_peer.py client --url ws://127.0.0.1:9001 --agent wsfast-cython --implementation python

The server echoes every message on every connection until stopped. The client asks the
fuzzing server how many cases there are, runs each one by echoing what it receives, and asks
for the reports to be written.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys

import wsfast

# Group 9 sends messages up to 16 MiB; the limit sits well above that.
LIMITS = dict(max_size=64 << 20, max_fragments=None, ping_interval=None, close_timeout=5)


async def echo(ws) -> None:
    try:
        async for message in ws:
            await ws.send(message)
    except wsfast.ConnectionClosed:
        pass


async def run_server(port: int, implementation: str, port_file: str | None) -> None:
    async with wsfast.serve(echo, "127.0.0.1", port, implementation=implementation, **LIMITS) as server:
        print(f"READY {server.port()}", flush=True)
        if port_file:  # written once listening: the runner waits for it (port 0 needs no guess)
            with open(port_file + ".tmp", "w") as f:
                f.write(str(server.port()))
            os.replace(port_file + ".tmp", port_file)
        await server.serve_forever()


async def run_client(url: str, agent: str, implementation: str) -> None:
    async with wsfast.connect(f"{url}/getCaseCount", implementation=implementation) as ws:
        count = int(await ws.recv())
    loop = asyncio.get_running_loop()
    for case in range(1, count + 1):
        started = loop.time()
        try:
            async with wsfast.connect(
                f"{url}/runCase?case={case}&agent={agent}", implementation=implementation, **LIMITS
            ) as ws:
                await echo(ws)
        except (wsfast.WebSocketError, OSError) as exc:
            print(f"case {case}: {type(exc).__name__}: {exc}", file=sys.stderr)
        if loop.time() - started > 2:
            print(f"case {case}: took {loop.time() - started:.1f}s", file=sys.stderr, flush=True)
        if case % 50 == 0:
            print(f"{agent}: {case}/{count} cases", flush=True)
    async with wsfast.connect(f"{url}/updateReports?agent={agent}", implementation=implementation) as ws:
        await ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["server", "client"])
    parser.add_argument("--port", type=int, default=9001, help="0: any free port")
    parser.add_argument("--port-file", default=None, help="write the listening port here once ready")
    parser.add_argument("--url", default="ws://127.0.0.1:9001")
    parser.add_argument("--agent", default="wsfast")
    parser.add_argument("--implementation", choices=["cython", "python"], required=True)
    args = parser.parse_args()
    if args.mode == "server":
        asyncio.run(run_server(args.port, args.implementation, args.port_file))
    else:
        asyncio.run(run_client(args.url, args.agent, args.implementation))


if __name__ == "__main__":
    main()
