"""Interpreter opcodes per round trip, per Python function, for one client.

    python -m bench.client.opcount --client wsfast-cb [--client picows ...] [--size 64] [--n 2000]

``icount.py`` counts every user-space instruction (callgrind), which is exact but does not
say which Python code they come from. This tool traces the client's Python code
(``sys.settrace`` with ``f_trace_opcodes``) over ``--n`` ping-pong round trips against the
benchmark's picows echo server and prints, per function, the opcodes executed per round
trip: the asyncio loop's own share (the same for every client), and the library's. It found
a loop timer left armed by a connection without deadlines (every loop iteration then ran
asyncio's scheduled-timer code). Counts are exact; tracing makes the run itself slow, so
nothing here is a timing. C code (Cython kernels, picows, aiofastnet) executes no opcodes.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
from typing import Any

from bench.client import clients as cl
from bench.client.icount import CountedRun
from bench.client.run import PY, ROOT, free_port


def _label(code: Any) -> str:
    parts = code.co_filename.split(os.sep)
    return f"{'/'.join(parts[-2:])}:{code.co_name}"


async def count(client: str, uri: str, size: int, n: int) -> tuple[float, list[tuple[str, float]]]:
    """Opcodes per round trip in total and per function (highest first) for ``client``."""
    counts: collections.Counter[str] = collections.Counter()

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        label = _label(frame.f_code)

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[label] += 1
            return local
        return local

    driver = cl.CLIENTS[client]()
    await driver.open(uri, None)
    sys.settrace(tracer)
    try:
        await driver.pingpong(CountedRun(n), os.urandom(size))
    finally:
        sys.settrace(None)
    await driver.close()
    trips = n
    total = sum(counts.values()) / trips
    own = {k: v for k, v in counts.items() if "opcount.py" not in k}
    per = sorted(((k, v / trips) for k, v in own.items()), key=lambda kv: -kv[1])
    return total, per


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--client", action="append", choices=sorted(cl.CLIENTS), required=True)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--n", type=int, default=2000, help="round trips traced")
    p.add_argument("--top", type=int, default=20)
    args = p.parse_args()

    port = free_port()
    server = subprocess.Popen([PY, "-m", "bench.client.echo_server", "--impl", "picows",
                               "--port", str(port), "--uvloop"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        if server.stdout.readline().strip() != "READY":  # type: ignore[union-attr]
            raise SystemExit("echo server did not start")
        for client in args.client:
            total, per = asyncio.run(count(client, f"ws://127.0.0.1:{port}/", args.size, args.n))
            print(f"## {client}: {total:.0f} opcodes per {args.size} B round trip")
            for label, value in per[:args.top]:
                if value >= 0.5:
                    print(f"{value:8.1f}  {label}")
            print()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
