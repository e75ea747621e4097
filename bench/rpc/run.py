"""Calls per second and latency of request/response over one WebSocket connection:
wsfast.rpc (JSON-RPC 2.0) against python-socketio's emit-with-ack (``AsyncClient.call``), in
the same run, rounds interleaved.

    .venv/bin/python -m bench.rpc.run                 # 3 rounds x 2 s per case, ~1 min
    .venv/bin/python -m bench.rpc.run --rounds 5 --duration 3 --json out.json

For each round, library and case (1 or 64 calls in flight): a fresh server process, the
client in this process (with ``--pin``: the server on CPU 0, the client on CPU 1), a warm-up,
then ``duration`` seconds counted: completed calls and each call's latency (send to answer).
The table gives medians over rounds, and wsfast's ratios to python-socketio. The payload is
a small JSON object (the same for both).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = {"user": 1234, "text": "hello, world", "tags": ["a", "b"]}
LIBRARIES = ("wsfast", "socketio")
INFLIGHT = (1, 64)


class WsfastClient:
    async def open(self, port: int) -> None:
        from wsfast import rpc

        self.conn = rpc.connect(f"ws://127.0.0.1:{port}/", compression=None, max_outgoing=1024)
        self.peer = await self.conn.__aenter__()
        call = self.peer.call
        self.call = lambda data: call("echo", [data])

    async def close(self) -> None:
        await self.conn.__aexit__(None, None, None)


class SocketioClient:
    async def open(self, port: int) -> None:
        import socketio

        self.sio = socketio.AsyncClient()
        await self.sio.connect(f"http://127.0.0.1:{port}", transports=["websocket"])
        call = self.sio.call
        self.call = lambda data: call("echo", data, timeout=30)

    async def close(self) -> None:
        await self.sio.disconnect()


CLIENTS = {"wsfast": WsfastClient, "socketio": SocketioClient}


async def measure(client, inflight: int, duration: float, warmup: float) -> dict:
    latencies: list[int] = []
    counting = False
    stop = False
    count = 0

    async def worker() -> None:
        nonlocal count
        call = client.call
        clock = time.perf_counter_ns
        while not stop:
            start = clock()
            result = await call(PAYLOAD)
            if counting:
                latencies.append(clock() - start)
                count += 1
            assert result == PAYLOAD, result

    workers = [asyncio.ensure_future(worker()) for _ in range(inflight)]
    await asyncio.sleep(warmup)
    counting = True
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(duration)
    counting = False
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stop = True
    await asyncio.gather(*workers)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] / 1000 if latencies else float("nan")

    return {"calls": count, "rate": count / elapsed, "p50_us": pct(0.50), "p99_us": pct(0.99),
            "client_cpu": cpu / elapsed}


def start_server(name: str, cpu: int | None) -> tuple[subprocess.Popen, int]:
    cmd = [sys.executable, "-m", "bench.rpc.servers", name]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    line = proc.stdout.readline().strip()
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError(f"{name} server did not start: {line!r}")
    return proc, int(line.split()[1])


async def run_case(name: str, inflight: int, args) -> dict:
    proc, port = start_server(name, args.server_cpu)
    try:
        client = CLIENTS[name]()
        await client.open(port)
        try:
            return await measure(client, inflight, args.duration, args.warmup)
        finally:
            await client.close()
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--json", help="write every sample and the summary here")
    parser.add_argument("--pin", action="store_true",
                        help="pin the server to CPU 0 and the client to CPU 1 (on a shared machine the"
                             " other processes on those CPUs then set the tail latency of both libraries)")
    args = parser.parse_args()
    two_cpus = args.pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    args.server_cpu = 0 if two_cpus else None
    if two_cpus:
        os.sched_setaffinity(0, {1})
    libraries = args.libraries.split(",")
    load_before = os.getloadavg()[0]
    samples: dict[str, dict[int, list[dict]]] = {lib: {n: [] for n in INFLIGHT} for lib in libraries}
    for round_ in range(args.rounds):
        for inflight in INFLIGHT:
            for lib in libraries:
                result = asyncio.run(run_case(lib, inflight, args))
                samples[lib][inflight].append(result)
                print(f"round {round_ + 1}/{args.rounds} {lib:9} {inflight:3} in flight: {result['rate']:9.0f} calls/s"
                      f"  p50 {result['p50_us']:7.0f} us  p99 {result['p99_us']:7.0f} us", file=sys.stderr, flush=True)
    summary = {lib: {n: {key: statistics.median(s[key] for s in samples[lib][n])
                         for key in ("rate", "p50_us", "p99_us", "client_cpu")}
                     for n in INFLIGHT} for lib in libraries}
    import wsfast
    from wsfast.rpc import CODEC
    print(f"\n{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {args.rounds} rounds x {args.duration:g} s, "
          f"medians; wsfast {wsfast.IMPLEMENTATION} ({CODEC}), Python {platform.python_version()}, asyncio loop; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"
          f"{'' if args.pin else ', not pinned'}")
    print("\n| in flight | library | calls/s | p50 | p99 |")
    print("|---|---|---|---|---|")
    for n in INFLIGHT:
        for lib in libraries:
            s = summary[lib][n]
            print(f"| {n} | {lib} | {s['rate']:,.0f} | {s['p50_us']:,.0f} us | {s['p99_us']:,.0f} us |")
    ratios: dict[int, dict[str, list[float]]] = {}
    if "wsfast" in summary and "socketio" in summary:
        # Each round's ratio compares samples taken one right after the other, so a busy
        # moment of the machine weighs on both; the band is min / median / max over rounds.
        print("\n| in flight | calls/s: wsfast / socketio | p99: wsfast / socketio |")
        print("|---|---|---|")
        for n in INFLIGHT:
            pairs = list(zip(samples["wsfast"][n], samples["socketio"][n]))
            ratios[n] = {"rate": sorted(w["rate"] / s["rate"] for w, s in pairs),
                         "p99": sorted(w["p99_us"] / s["p99_us"] for w, s in pairs)}

            def band(values: list[float]) -> str:
                return f"{statistics.median(values):.2f}x ({values[0]:.2f}-{values[-1]:.2f})"

            print(f"| {n} | {band(ratios[n]['rate'])} | {band(ratios[n]['p99'])} |")
        print("\nratios: median of the per-round ratios (lowest-highest round)")
    if args.json:
        Path(args.json).write_text(json.dumps({"samples": samples, "summary": summary, "ratios": ratios,
                                               "args": vars(args)}, indent=1))


if __name__ == "__main__":
    main()
