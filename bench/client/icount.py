"""User-space instructions per round trip of each client, counted by callgrind.

    python -m bench.client.icount [--clients wsfast-cb,picows,...] [--sizes 64,1024] [--scheme ws|wss]

Wall-clock CPU time on this VM varies by 10% from run to run, and two thirds of a 64-byte
round trip is kernel time (sendto, epoll_wait, recvfrom: the same three system calls per
round trip for every client, checked with ``strace -c``). What tells the clients apart is the
work they do themselves, and callgrind counts that exactly: every instruction executed in
user space (the interpreter, the library, its extensions, libc, OpenSSL), none in the kernel.

Each client runs twice under ``valgrind --tool=callgrind`` against the benchmark's fixed echo
server (picows on uvloop, not under valgrind): once with ``--low`` round trips, once with
``--high``. Start-up, imports, the handshake and closing are the same in both runs, so
``(I_high - I_low) / (high - low)`` is the cost of one round trip alone. Ratios are to
``picows`` (callback style) and ``picows-ws`` (coroutine style), as in ``bench.client.run``.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from typing import Any

from bench.client import clients as cl
from bench.client.run import BASE, PY, ROOT, make_certs, start_server

DEFAULT = "wsfast-cb,wsfast-coro,picows,picows-ws,websockets,aiohttp"


class CountedRun(cl.Run):
    """A ``Run`` whose ``stop`` turns true after ``limit`` round trips (drivers poll it)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    @property  # type: ignore[override]
    def stop(self) -> bool:
        return self.n >= self.limit

    @stop.setter
    def stop(self, value: bool) -> None:
        pass  # Run.__init__ sets it; the count decides


async def child(client: str, uri: str, ca: str | None, size: int, count: int) -> None:
    """Open, make ``count`` round trips of ``size`` bytes, close (the measured process)."""
    import ssl

    ctx = ssl.create_default_context(cafile=ca) if uri.startswith("wss://") else None
    driver = cl.CLIENTS[client]()
    await driver.open(uri, ctx)
    try:
        await driver.pingpong(CountedRun(count), os.urandom(size))
    finally:
        await driver.close()


def instructions(client: str, uri: str, ca: str | None, size: int, count: int, tmp: str) -> int:
    """Total user-space instructions (callgrind's ``summary``) of one child run."""
    out = os.path.join(tmp, f"cg.{client}.{size}.{count}")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           PY, "-m", "bench.client.icount", "--child", "--client", client, "--uri", uri,
           "--size", str(size), "--count", str(count)]
    if ca:
        cmd += ["--ca", ca]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        text = f.read()
    os.unlink(out)
    m = re.search(r"^summary:\s*(\d+)", text, re.M) or re.search(r"^totals:\s*(\d+)", text, re.M)
    if m is None:
        raise RuntimeError(f"no instruction total in callgrind output for {client}")
    return int(m.group(1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", default=DEFAULT)
    p.add_argument("--sizes", default="64,1024")
    p.add_argument("--scheme", choices=("ws", "wss"), default="ws")
    p.add_argument("--low", type=int, default=200)
    p.add_argument("--high", type=int, default=2200)
    p.add_argument("--server-cpu", type=int, default=0)
    # child mode (inside valgrind)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--client", help=argparse.SUPPRESS)
    p.add_argument("--uri", help=argparse.SUPPRESS)
    p.add_argument("--ca", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        asyncio.run(child(args.client, args.uri, args.ca, args.size, args.count))
        return

    names = [c for c in args.clients.split(",") if c]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    args.server = "picows"
    with tempfile.TemporaryDirectory() as tmp:
        ca = None
        if args.scheme == "wss":
            make_certs(tmp)
            ca = os.path.join(tmp, "ca.pem")
        proc, port = start_server(args, args.scheme, tmp)
        host = "localhost" if args.scheme == "wss" else "127.0.0.1"
        uri = f"{args.scheme}://{host}:{port}/"
        per: dict[tuple[str, int], float] = {}
        try:
            for size in sizes:
                for name in names:
                    lo = instructions(name, uri, ca, size, args.low, tmp)
                    hi = instructions(name, uri, ca, size, args.high, tmp)
                    per[name, size] = (hi - lo) / (args.high - args.low)
                    print(f"# {name:12s} {size:6d} B: {per[name, size]:9.0f} instructions/round trip",
                          file=sys.stderr, flush=True)
        finally:
            proc.terminate()
            proc.wait()
    print(f"\n## {args.scheme}:// user-space instructions per round trip (callgrind; "
          f"({args.high} - {args.low} round trips) difference)")
    head = "client        " + "".join(f" | {s:>6d} B   x pic  x p-ws" for s in sizes)
    print(head)
    for name in names:
        row = f"{name:14s}"
        for size in sizes:
            v = per[name, size]
            base: dict[str, Any] = {k: per.get((b, size)) for k, b in BASE.items()}
            x_pic = f"{v / base['callback']:5.2f}x" if base["callback"] else "   - "
            x_pws = f"{v / base['coroutine']:5.2f}x" if base["coroutine"] else "   - "
            row += f" | {v / 1000:7.1f}k {x_pic} {x_pws}"
        print(row)
    print("(k = thousands of instructions; ratios to picows, the callback-style baseline, "
          "and picows-ws, the coroutine-style one)")


if __name__ == "__main__":
    main()
