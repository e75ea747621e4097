"""A JSON-RPC 2.0 server on wsfast: ``python examples/rpc/server.py PORT`` (0: any free port).

Serves on ws://127.0.0.1:PORT/ the methods ``echo(value)``, ``add(a, b)``,
``sleep(seconds)`` (waits, then returns ``seconds``; other calls go on meanwhile) and
``fail()`` (always answers an application error, code 1000, with data). When a client
connects, the server calls the client's ``welcome(name)`` method back, if it has one, and
prints the answer. Any JSON-RPC 2.0 client works: ``examples/rpc/client.py``, or Node's
``json-rpc-2.0`` over ``ws`` (tests/rpc/node/client.mjs).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import run, wsfast  # noqa: E402  (the checkout's wsfast when it is not installed)

from wsfast import rpc  # noqa: E402

methods = rpc.Methods()


@methods.add
def echo(value):
    return value


@methods.add
def add(a, b):
    numbers = (int, float)
    if not isinstance(a, numbers) or not isinstance(b, numbers) or isinstance(a, bool) or isinstance(b, bool):
        raise rpc.InvalidParams(data="add takes two numbers")
    return a + b


@methods.add
async def sleep(seconds):
    if not isinstance(seconds, (int, float)) or not 0 <= seconds <= 60:
        raise rpc.InvalidParams(data="seconds must be a number from 0 to 60")
    await asyncio.sleep(seconds)
    return seconds


@methods.add
def fail():
    raise rpc.RPCError(1000, "this method always fails", {"hint": "an application error, on purpose"})


async def on_connect(peer: rpc.Peer) -> None:
    """Call the client back: its ``welcome`` method, if it registered one."""
    try:
        answer = await peer.call("welcome", ["wsfast"], timeout=10)
    except rpc.MethodNotFound:
        return  # a client that only calls
    except (rpc.RPCError, asyncio.TimeoutError, wsfast.ConnectionClosed) as exc:
        print(f"welcome failed: {exc!r}", flush=True)
        return
    print(f"client answered welcome: {answer!r}", flush=True)


async def main(port: int) -> None:
    async with rpc.serve(methods, "127.0.0.1", port, on_connect=on_connect) as server:
        print(f"JSON-RPC on ws://127.0.0.1:{server.port()}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("port", type=int, help="TCP port on 127.0.0.1 (0: any free port)")
    run(main(parser.parse_args().port))
