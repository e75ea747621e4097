"""Soak: minutes of mixed, hostile traffic against one wsfast server process; reports the
server's RSS slope. Loopback only, bounded in time.

    .venv/bin/python tests/reliability/soak.py --minutes 5
    .venv/bin/python tests/reliability/soak.py --deflate-messages 1000000

Soak mode: a pool of ``--clients`` client tasks in this process; each, in a loop until the
time is up, picks at random: a well-behaved session (random text/binary messages, some
fragmented, some compressed, echo checked, clean close), a slow reader (stops reading
while the server echoes 1 MiB at it, then resets), an abrupt disconnect (RST in the middle
of a frame or of the handshake), or a protocol violation. The server (a subprocess, echo
handler, small limits and timeouts) is sampled every 5 s; after a warm-up third of the run
the RSS slope (least squares, MiB per minute) is reported and must stay under
``--max-slope`` (default 1 MiB/min). Unexpected client errors fail the run.

``--deflate-messages N``: instead, N messages each way through a sans-I/O Protocol pair
with permessage-deflate and context takeover on both sides (one connection, kept for
the whole run); tracemalloc is sampled every N/20 messages: flat memory is the expectation.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)

import wsfast  # noqa: E402
from relpeer import Raw, frame, request  # noqa: E402

OPTIONS = dict(max_size=2 << 20, write_limit=64 * 1024, open_timeout=2, close_timeout=1,
               ping_interval=2, ping_timeout=2)


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def server_main(implementation) -> None:
    from load import raise_nofile

    raise_nofile()

    async def run():
        server = await wsfast.serve(echo, "127.0.0.1", 0, implementation=implementation, **OPTIONS)
        print(json.dumps({"port": server.port()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        server.close()
        await server.wait_closed()

    asyncio.run(run())


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope, bytes per second."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points) or 1.0
    return sum((t - mx) * (v - my) for t, v in points) / den


class Stats:
    def __init__(self):
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []

    def add(self, name):
        self.counts[name] = self.counts.get(name, 0) + 1


async def good_session(port, rng, stats):
    async with wsfast.connect(f"ws://127.0.0.1:{port}/", open_timeout=5, close_timeout=2,
                              max_size=2 << 20) as ws:
        for _ in range(rng.randint(1, 20)):
            kind = rng.random()
            if kind < 0.4:
                message = "t" * rng.randint(0, 3000) + "é"
                await ws.send(message)
            elif kind < 0.7:
                message = os.urandom(rng.randint(0, 70000))
                await ws.send(message)
            else:
                parts = ["p%d;" % i for i in range(rng.randint(1, 30))]
                await ws.send(parts)
                message = "".join(parts)
            reply = await asyncio.wait_for(ws.recv(), 10)
            assert reply == message, "bad echo"
    stats.add("good")


async def slow_reader(port, rng, stats):
    peer = await Raw.open(port, rcvbuf=4096)
    peer.send(request())
    assert await peer.read_head() == 101
    peer.stop_reading()
    big = os.urandom(256 * 1024)
    for _ in range(4):
        peer.send(frame(2, big))
    await asyncio.sleep(rng.uniform(0.1, 3))
    peer.reset()
    stats.add("slow")


async def abrupt(port, rng, stats):
    peer = await Raw.open(port)
    cut = rng.random()
    if cut < 0.3:
        peer.send(request()[: rng.randint(1, 100)])
    else:
        peer.send(request())
        assert await peer.read_head() == 101
        data = frame(2, os.urandom(rng.randint(10, 500_000)), fin=rng.random() < 0.5)
        peer.send(data[: rng.randint(1, len(data) - 1)])
    await asyncio.sleep(rng.uniform(0, 0.2))
    if rng.random() < 0.7:
        peer.reset()
    else:
        peer.close()
    stats.add("abrupt")


async def violator(port, rng, stats):
    peer = await Raw.upgraded(port)
    bad = rng.choice([frame(1, b"x", mask=False), frame(3, b""), frame(1, b"\xff"),
                      frame(9, b"x" * 126), frame(8, b"\x03"), frame(2, b"", length=1 << 30)])
    peer.send(bad)
    code, _, _ = await peer.read_close(timeout=10)
    assert code in (1002, 1007, 1009), code
    peer.close()
    stats.add("violation")


async def client_loop(port, seed, deadline, stats):
    rng = random.Random(seed)
    kinds = [good_session] * 6 + [slow_reader, abrupt, abrupt, violator]
    while time.monotonic() < deadline:
        kind = rng.choice(kinds)
        try:
            await asyncio.wait_for(kind(port, rng, stats), 30)
        except (ConnectionResetError, BrokenPipeError) if kind in (abrupt, slow_reader) else ():
            stats.add(kind.__name__ + "-reset")
        except Exception as exc:  # noqa: BLE001
            stats.errors.append(f"{kind.__name__}: {exc!r}")


async def soak(minutes: float, clients: int, implementation, max_slope: float) -> int:
    cmd = [sys.executable, __file__, "--server"] + (["--implementation", implementation] if implementation else [])
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = json.loads(proc.stdout.readline())["port"]
    stats = Stats()
    start = time.monotonic()
    deadline = start + minutes * 60
    samples: list[tuple[float, int]] = []

    async def sampler():
        while time.monotonic() < deadline:
            samples.append((time.monotonic() - start, rss(proc.pid)))
            await asyncio.sleep(5)

    try:
        await asyncio.gather(sampler(), *(client_loop(port, i, deadline, stats) for i in range(clients)))
        await asyncio.sleep(3)  # closing handshakes and the server's timers
        samples.append((time.monotonic() - start, rss(proc.pid)))
    finally:
        proc.stdin.close()
        proc.wait(30)
    warm = [p for p in samples if p[0] >= minutes * 60 / 3]
    per_minute = slope(warm) * 60 / 2**20
    report = {
        "minutes": minutes, "clients": clients, "sessions": stats.counts,
        "errors": len(stats.errors), "first_errors": stats.errors[:5],
        "rss_start_mb": round(samples[0][1] / 2**20, 1),
        "rss_after_warmup_mb": round(warm[0][1] / 2**20, 1) if warm else None,
        "rss_end_mb": round(samples[-1][1] / 2**20, 1),
        "rss_slope_mb_per_min_after_warmup": round(per_minute, 3),
    }
    print(json.dumps(report, indent=1))
    ok = not stats.errors and per_minute < max_slope
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def deflate_run(messages: int, implementation) -> int:
    import tracemalloc

    import twins
    from test_hostile_deflate_close import run_takeover_messages

    kernels = twins.get(implementation or wsfast.IMPLEMENTATION)
    tracemalloc.start()
    t0 = time.monotonic()
    points = run_takeover_messages(kernels, messages, samples=20)
    elapsed = time.monotonic() - t0
    tracemalloc.stop()
    span = max(points) - points[0]
    print(json.dumps({"messages_each_way": messages, "implementation": kernels.IMPLEMENTATION,
                      "seconds": round(elapsed, 1), "traced_first_kb": points[0] // 1024,
                      "traced_last_kb": points[-1] // 1024, "span_bytes": span}))
    ok = span < 64 * 1024
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description="wsfast soak (loopback)")
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--implementation", choices=["cython", "python"])
    parser.add_argument("--max-slope", type=float, default=1.0, help="MiB per minute")
    parser.add_argument("--deflate-messages", type=int)
    parser.add_argument("--server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server:
        server_main(args.implementation)
        return 0
    if args.deflate_messages:
        return deflate_run(args.deflate_messages, args.implementation)
    return asyncio.run(soak(args.minutes, args.clients, args.implementation, args.max_slope))


if __name__ == "__main__":
    sys.exit(main())
