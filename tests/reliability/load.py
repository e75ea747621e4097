"""Load and churn against a wsfast server in its own process, loopback only.

    .venv/bin/python tests/reliability/load.py load  --connections 10000 --seconds 60
    .venv/bin/python tests/reliability/load.py churn --connections 50000 --concurrency 500

``load``: opens the connections (``--concurrency`` handshakes at a time), then each sends
one message a second (start times spread over the first second) and waits for its echo,
for ``--seconds``; reports errors (must be 0), messages, echo latency percentiles and the
server's memory per connection (RSS growth / connections, from /proc of the server
process). ``churn``: opens and closes connections (a full closing handshake), then checks
that the server's file descriptors and RSS are back to their baseline.

RLIMIT_NOFILE is raised to the hard limit in both processes; the clients run in this
process, the server in a subprocess
(``--implementation`` picks its twin). Every phase is bounded in time. The pytest versions
(``test_load.py``) run scaled-down copies in one process.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

import wsfast  # noqa: E402
from wsfast.asyncio.loop_state import get_wheel  # noqa: E402


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_stats(pid: int | str = "self") -> dict:
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return {"rss": rss, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


# ------------------------------------------------------------------------------ server


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def serve_stdio(implementation: str | None) -> None:
    """Server process: print the port, then answer "stats" lines on stdin with JSON."""
    server = await wsfast.serve(echo, "127.0.0.1", 0, implementation=implementation,
                                backlog=4096, compression=None)
    print(json.dumps({"port": server.port(), "nofile": raise_nofile(),
                      "implementation": implementation or wsfast.IMPLEMENTATION}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"stats":
            import gc
            gc.collect()
            stats = proc_stats()
            stats["connections"] = len(server.connections)
            stats["wheel"] = len(get_wheel(loop))
            print(json.dumps(stats), flush=True)
    server.close()
    await server.wait_closed()


class ServerProcess:
    def __init__(self, implementation: str | None) -> None:
        cmd = [sys.executable, __file__, "server"]
        if implementation:
            cmd += ["--implementation", implementation]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # its readiness line: listening, with its port
        if not line:
            raise RuntimeError(f"the server process exited ({self.proc.wait()}) before listening")
        self.info = json.loads(line)
        self.port = self.info["port"]

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ------------------------------------------------------------------------------ clients


async def open_many(port: int, n: int, concurrency: int, errors: list, **kw) -> list:
    sem = asyncio.Semaphore(concurrency)
    conns: list = []

    async def one():
        async with sem:
            try:
                conns.append(await wsfast.connect(f"ws://127.0.0.1:{port}/", compression=None,
                                                  open_timeout=30, **kw))
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    await asyncio.gather(*(one() for _ in range(n)))
    return conns


async def traffic(conns: list, seconds: float, errors: list,
                  messages: int | None = None) -> tuple[int, list]:
    """Each connection sends a message a second and awaits its echo, for ``seconds``; or,
    with ``messages``, until it has had that many echoes (however long a busy machine
    takes: the phase's deadline, ``seconds`` + 60 s, is for hangs only)."""
    latencies: list[float] = []
    count = 0
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def talk(i, ws):
        nonlocal count
        await asyncio.sleep((i % 1000) / 1000)  # spread the starts over the first second
        seq = 0
        while (seq < messages) if messages is not None else (loop.time() - start < seconds):
            t0 = loop.time()
            message = f"{i}:{seq}"
            try:
                # No per-message wait_for (it costs a task per call and made the clients,
                # not the server, the bottleneck at 10,000 connections); the whole phase
                # has one deadline below.
                await ws.send(message)
                reply = await ws.recv()
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))
                return
            if reply != message:
                errors.append(f"bad echo {reply!r} != {message!r}")
                return
            latencies.append(loop.time() - t0)
            count += 1
            seq += 1
            if messages is None or seq < messages:
                await asyncio.sleep(max(0.0, 1.0 - (loop.time() - t0)))  # pacing: 1 msg/s

    tasks = [asyncio.ensure_future(talk(i, ws)) for i, ws in enumerate(conns)]
    grace = 30 if messages is None else 60
    done, stuck = await asyncio.wait(tasks, timeout=seconds + grace)
    for task in stuck:
        task.cancel()
        errors.append(f"no echo within {grace} s after the end of the run")
    return count, latencies


async def close_all(conns: list, errors: list) -> None:
    async def one(ws):
        try:
            await asyncio.wait_for(ws.close(), 30)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    await asyncio.gather(*(one(ws) for ws in conns))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def run_load(port: int, n: int, seconds: float, concurrency: int, stats=None) -> dict:
    errors: list = []
    before = stats() if stats else None
    t0 = time.monotonic()
    conns = await open_many(port, n, concurrency, errors)
    opened = time.monotonic() - t0
    during = stats() if stats else None
    count, latencies = await traffic(conns, seconds, errors)
    await close_all(conns, errors)
    report = {
        "connections": len(conns), "open_seconds": round(opened, 1), "messages": count,
        "errors": len(errors), "first_errors": errors[:5],
        "messages_per_connection_second": round(count / max(1, len(conns)) / seconds, 2),
        "echo_p50_ms": round(1000 * pct(latencies, 0.5), 2),
        "echo_p99_ms": round(1000 * pct(latencies, 0.99), 2),
    }
    if stats:
        report["server_rss_before_mb"] = round(before["rss"] / 2**20, 1)
        report["server_rss_open_mb"] = round(during["rss"] / 2**20, 1)
        report["server_bytes_per_connection"] = (during["rss"] - before["rss"]) // max(1, len(conns))
    return report


async def run_churn(port: int, n: int, concurrency: int, stats=None) -> dict:
    errors: list = []
    done = 0
    sem = asyncio.Semaphore(concurrency)

    async def one(i):
        nonlocal done
        async with sem:
            try:
                ws = await wsfast.connect(f"ws://127.0.0.1:{port}/", compression=None, open_timeout=30)
                await ws.send("x")
                assert await asyncio.wait_for(ws.recv(), 30) == "x"
                await asyncio.wait_for(ws.close(), 30)
                done += 1
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    before = stats() if stats else None
    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.monotonic() - t0
    report = {"churned": done, "errors": len(errors), "first_errors": errors[:5],
              "seconds": round(elapsed, 1), "per_second": round(done / elapsed)}
    if stats:
        # Until the server has let every closed connection go (none open, none left in its
        # timer wheel); 60 s is a deadline for hangs, reported as such.
        after = stats()
        give_up = time.monotonic() + 60
        while (after["connections"] or after["wheel"]) and time.monotonic() < give_up:
            await asyncio.sleep(0.1)
            after = stats()
        report.update(server_fds_before=before["fds"], server_fds_after=after["fds"],
                      server_connections_after=after["connections"],
                      server_rss_before_mb=round(before["rss"] / 2**20, 1),
                      server_rss_after_mb=round(after["rss"] / 2**20, 1))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description="wsfast load and churn (loopback)")
    parser.add_argument("mode", choices=["load", "churn", "server"])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--implementation", choices=["cython", "python"])
    args = parser.parse_args()
    nofile = raise_nofile()
    if args.mode == "server":
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        except ImportError:
            pass
        asyncio.run(serve_stdio(args.implementation))
        return 0
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # the clients are the bottleneck
    except ImportError:
        pass
    server = ServerProcess(args.implementation)
    print(f"server pid {server.proc.pid} port {server.port} {server.info}; client nofile {nofile}",
          flush=True)
    try:
        if args.mode == "load":
            report = asyncio.run(run_load(server.port, args.connections, args.seconds,
                                          args.concurrency, server.stats))
            ok = report["errors"] == 0 and report["connections"] == args.connections
        else:
            report = asyncio.run(run_churn(server.port, args.connections, args.concurrency,
                                           server.stats))
            ok = (report["errors"] == 0 and report["server_connections_after"] == 0
                  and report["server_fds_after"] <= report["server_fds_before"])
    finally:
        server.stop()
    print(json.dumps(report, indent=1))
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
