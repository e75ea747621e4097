"""Compressed echo: 1 KiB JSON-like text with permessage-deflate on, wsfast against websockets
and aiohttp, in one run.

    .venv/bin/python -m bench.compressed_echo [--rounds 3] [--messages 4000] [--json out.json]

Each server runs in its own process (pinned to CPU 0) with compression on as its library
configures it by default; one client (wsfast's, Cython, compression on; pinned to CPU 1) keeps
16 messages in flight on one connection. Reported: messages per second and the server's CPU
microseconds per message (from /proc), medians of interleaved rounds, as ratios to websockets.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time

SERVERS = ["wsfast", "wsfast-pure", "websockets", "aiohttp"]
INFLIGHT = 16


def message(i: int) -> str:
    """A 1 KiB JSON-like text message that varies a little from one message to the next."""
    rows = ",".join(
        f'{{"symbol":"SYM{(i + k) % 50:02d}","bid":{100 + (i * 7 + k) % 97}.{k:02d},'
        f'"ask":{101 + (i * 3 + k) % 89}.{k:02d},"size":{(i + k * 13) % 1000}}}'
        for k in range(12)
    )
    text = f'{{"seq":{i},"type":"book","rows":[{rows}]}}'
    return text[:1024].ljust(1024)


# ----------------------------------------------------------------------------- servers


async def serve(kind: str, port: int) -> None:
    if kind.startswith("wsfast"):
        import wsfast

        class Echo:
            def on_message(self, ws, msg, opcode):
                ws.send_nowait(msg)

        await wsfast.serve(Echo(), "127.0.0.1", port, ping_interval=None)
    elif kind == "websockets":
        from websockets.asyncio.server import serve as ws_serve

        async def echo(ws):
            async for msg in ws:
                await ws.send(msg)

        await ws_serve(echo, "127.0.0.1", port, ping_interval=None)  # compression on by default
    elif kind == "aiohttp":
        from aiohttp import WSMsgType, web

        async def handler(request):
            ws = web.WebSocketResponse(compress=True)
            await ws.prepare(request)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_str(msg.data)
            return ws

        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


# ------------------------------------------------------------------------------ client


async def drive(port: int, count: int) -> tuple[float, bool]:
    """Echo ``count`` messages with INFLIGHT in flight; return (seconds, deflate negotiated)."""
    import wsfast

    async with wsfast.connect(f"ws://127.0.0.1:{port}/", max_queue=None, ping_interval=None) as ws:
        negotiated = bool(ws.extensions)
        msgs = [message(i) for i in range(count)]
        for i in range(INFLIGHT):
            ws.send_nowait(msgs[i])
        start = time.perf_counter()
        sent = INFLIGHT
        for i in range(count):
            got = await ws.recv()
            assert got == msgs[i]
            if sent < count:
                ws.send_nowait(msgs[sent])
                sent += 1
        return time.perf_counter() - start, negotiated


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_one(kind: str, count: int) -> dict:
    port = free_port()
    env = dict(os.environ)
    if kind == "wsfast-pure":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "bench.compressed_echo", "--serve", kind, "--port", str(port)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "READY"
        asyncio.run(drive(port, max(200, count // 10)))  # warm-up
        cpu0 = cpu_seconds(proc.pid)
        seconds, negotiated = asyncio.run(drive(port, count))
        cpu = cpu_seconds(proc.pid) - cpu0
        return {"rate": count / seconds, "server_us": cpu / count * 1e6, "deflate": negotiated}
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve")
    parser.add_argument("--port", type=int)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.port))
        return
    try:
        os.sched_setaffinity(0, {1})
    except (AttributeError, OSError):
        pass
    servers = args.servers.split(",")
    samples: dict[str, list[dict]] = {s: [] for s in servers}
    for rnd in range(args.rounds):
        for kind in servers:  # interleaved: A B C A B C
            samples[kind].append(run_one(kind, args.messages))
            print(f"round {rnd + 1}/{args.rounds} {kind:12} {samples[kind][-1]['rate']:9.0f} msg/s", file=sys.stderr)
    med = {k: {"rate": statistics.median(s["rate"] for s in v),
               "server_us": statistics.median(s["server_us"] for s in v),
               "deflate": all(s["deflate"] for s in v)} for k, v in samples.items()}
    ref = med.get("websockets")
    print(f"compressed echo, 1 KiB JSON-like text, {INFLIGHT} in flight; median of {args.rounds} interleaved rounds")
    print(f"{'server':12} {'deflate':>8} {'msg/s':>10} {'vs websockets':>14} {'server us/msg':>14} {'vs websockets':>14}")
    for kind, m in med.items():
        r1 = f"{m['rate'] / ref['rate']:.2f}x" if ref else "-"
        r2 = f"{m['server_us'] / ref['server_us']:.2f}x" if ref else "-"
        print(f"{kind:12} {str(m['deflate']):>8} {m['rate']:10.0f} {r1:>14} {m['server_us']:14.1f} {r2:>14}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": samples, "median": med}, f, indent=1)


if __name__ == "__main__":
    main()
