"""A JSON-RPC 2.0 client on wsfast: ``python examples/rpc/client.py PORT`` (or a ws:// URI).

Calls the example server's methods (examples/rpc/server.py): ``echo`` and ``add``, a slow
``sleep`` with quick calls answered meanwhile, ``fail`` (an application error), a batch, a
call with a timeout; and registers ``welcome(name)``, which the server calls back.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import run  # noqa: E402  (the checkout's wsfast when it is not installed)

from wsfast import rpc  # noqa: E402


async def main(uri: str) -> None:
    welcomed = asyncio.Event()
    methods = rpc.Methods()

    @methods.add
    def welcome(name):
        welcomed.set()
        return f"hello {name}, this is the client"

    async with rpc.connect(uri, methods, timeout=10) as peer:
        print("echo ->", await peer.call("echo", ["hi ☃"]))
        print("add ->", await peer.call("add", {"a": 2, "b": 40}))
        slow = asyncio.create_task(peer.call("sleep", [0.5]))
        quick = await asyncio.gather(*(peer.call("add", [i, i]) for i in range(5)))
        print("while sleep runs ->", quick)
        print("sleep ->", await slow)
        try:
            await peer.call("fail")
        except rpc.RPCError as exc:
            print("fail ->", exc.code, exc.message, exc.data)
        print("batch ->", await peer.call_batch([("echo", ["a"]), ("add", [1, 2]), ("nope", None)]))
        try:
            await peer.call("sleep", [30], timeout=0.2)
        except asyncio.TimeoutError as exc:
            print("timeout ->", exc)
        await asyncio.wait_for(welcomed.wait(), 10)
        print("the server called welcome")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="the server's port on 127.0.0.1, or a ws:// URI")
    target = parser.parse_args().target
    run(main(target if "://" in target else f"ws://127.0.0.1:{target}/"))
