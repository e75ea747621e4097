"""Fan-out across worker processes, and the latency a Redis hop adds.

    .venv/bin/python bench/scale/fanout.py                      # both parts, defaults below
    .venv/bin/python bench/scale/fanout.py --workers 1 2 4 --connections 10000 --messages 200
    .venv/bin/python bench/scale/fanout.py --skip-throughput    # latency only

Part 1, deliveries per second: ``run_workers`` serves ``bench/scale/app.py`` with 1, 2 and 4
worker processes; ``--client-procs`` load-generator processes open ``--connections`` in total
(spread over the workers by SO_REUSEPORT), each subscribed to one topic. Mode "local": every
worker publishes ``--messages`` messages to its own share of the subscribers (LocalBroker).
Mode "redis" (``--modes local redis``): the workers share a RedisBroker and together publish
``--messages`` messages, each one reaching every connection on every worker. Deliveries/s are
counted by the clients (frames received / time from the first to the last one); "skipped"
counts subscribers whose write buffer was over ``write_limit`` (broadcast never waits).

Part 2, latency: two single-worker servers with a RedisBroker each; one client on each,
subscribed to "lat". For each of ``--samples`` messages published on server A: the time from
just before ``hub.publish`` to receipt by the client of A (local delivery, no Redis) and by
the client of B (through Redis pub/sub), p50 and p99.

Clients use a minimal raw-socket WebSocket client (the handshake and a frame counter) so the
load generator costs as little CPU as possible: on a 2-core machine the workers and the
clients share the cores, so 4 workers oversubscribe them and show the cost of more
processes than cores, not extra capacity. RLIMIT_NOFILE is raised to its hard limit.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)


def raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# --------------------------------------------------------------------------- servers


WORKER_SCRIPT = """
import os, resource, sys
sys.path.insert(0, {here!r}); sys.path.insert(0, {root!r})
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
from wsfast.asyncio.workers import run_workers
def ready(port):
    print("READY", port, flush=True)
raise SystemExit(run_workers("app:Handler", {workers}, host="127.0.0.1", port=0, ready=ready,
                             loop={loop!r}, compression=None, ping_interval=None,
                             write_limit={write_limit}, close_timeout=2, shutdown_timeout=10))
"""


class Workers:
    def __init__(self, n: int, env: dict[str, str], loop: str, write_limit: int) -> None:
        code = WORKER_SCRIPT.format(here=HERE, root=ROOT, workers=n, loop=loop, write_limit=write_limit)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline()
        if not line.startswith(b"READY"):
            raise RuntimeError(f"workers did not start: {line!r}")
        self.port = int(line.split()[1])
        time.sleep(0.3 + 0.1 * n)  # let every worker bind

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Redis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server not found (apt-get install redis-server)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


# --------------------------------------------------------------------------- load generator


def _handshake(path: str = "/") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


class Counter(asyncio.Protocol):
    """Counts the bytes of server frames after the handshake (all frames have one size)."""

    def __init__(self, stats: dict, opened: asyncio.Future) -> None:
        self.stats = stats
        self.opened = opened
        self.head = b""
        self.open = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(_handshake())

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(self.head[:40]))
                return
            self.open = True
            self.opened.set_result(None)
            data = self.head[end + 4:]
            if not data:
                return
        stats = self.stats
        now = time.monotonic()
        if stats["first"] is None:
            stats["first"] = now
        stats["last"] = now
        stats["bytes"] += len(data)

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during handshake"))


def client_process(port: int, count: int, frame_size: int, conn, quiet: float) -> None:
    raise_nofile()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stats = {"first": None, "last": None, "bytes": 0}
        transports = []
        sem = asyncio.Semaphore(200)

        async def one() -> None:
            async with sem:
                for attempt in range(5):
                    opened = loop.create_future()
                    try:
                        transport, _ = await loop.create_connection(
                            lambda: Counter(stats, opened), "127.0.0.1", port)
                        await asyncio.wait_for(opened, 20)
                        transports.append(transport)
                        return
                    except (OSError, RuntimeError, asyncio.TimeoutError, ConnectionError):
                        await asyncio.sleep(0.1 * (attempt + 1))
                raise RuntimeError("could not connect")

        await asyncio.gather(*(one() for _ in range(count)))
        conn.send(("connected", len(transports)))
        # Wait for the first frame, then until the stream has been quiet for `quiet` s.
        while stats["first"] is None:
            await asyncio.sleep(0.05)
        while time.monotonic() - stats["last"] < quiet:
            await asyncio.sleep(0.05)
        conn.send(("done", stats["bytes"] // frame_size, stats["first"], stats["last"]))
        conn.recv()  # the driver says when to hang up
        for transport in transports:
            transport.abort()

    asyncio.run(main())


def throughput(n_workers: int, args, mode: str, redis_url: str | None) -> dict:
    directory = tempfile.mkdtemp(prefix="wsfast-fanout-")
    env = dict(os.environ, BENCH_DIR=directory)
    env.pop("BENCH_REDIS", None)
    if redis_url:
        env["BENCH_REDIS"] = redis_url
    if args.impl == "python":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    workers = Workers(n_workers, env, args.loop, args.write_limit)
    frame_size = 2 + args.size if args.size < 126 else 4 + args.size
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    try:
        per = [args.connections // args.client_procs + (i < args.connections % args.client_procs)
               for i in range(args.client_procs)]
        for count in per:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=client_process, args=(workers.port, count, frame_size, child, args.quiet))
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        t0 = time.monotonic()
        connected = sum(p.recv()[1] for p in pipes)
        connect_time = time.monotonic() - t0
        time.sleep(0.5)
        messages = args.messages if mode == "local" else max(1, args.messages // n_workers)
        tmp = os.path.join(directory, "go.tmp")
        with open(tmp, "w") as f:
            json.dump({"messages": messages, "size": args.size}, f)
        os.rename(tmp, os.path.join(directory, "go"))
        results = [p.recv() for p in pipes]
        deadline = time.monotonic() + 30
        while len([f for f in os.listdir(directory) if f.startswith("worker-")]) < n_workers:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not report")
            time.sleep(0.05)
        reports = []
        for name in os.listdir(directory):
            if name.startswith("worker-"):
                with open(os.path.join(directory, name)) as f:
                    reports.append(json.load(f))
        for p in pipes:
            p.send("bye")
        for proc in procs:
            proc.join(30)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        workers.stop()
        shutil.rmtree(directory, ignore_errors=True)
    received = sum(r[1] for r in results)
    span = max(r[3] for r in results) - min(r[2] for r in results)
    published = messages * n_workers
    if mode == "redis":
        expected = published * connected
    else:
        expected = sum(messages * r["subscribers"] for r in reports)
    return {
        "workers": n_workers, "mode": mode, "connections": connected, "connect_s": round(connect_time, 2),
        "subscribers_per_worker": sorted(r["subscribers"] for r in reports),
        "published": published, "expected": expected, "received": received,
        "skipped": sum(r["skipped"] for r in reports),
        "seconds": round(span, 3), "deliveries_per_s": round(received / span) if span > 0 else None,
        "implementation": reports[0]["implementation"],
        "publish_s": [round(r["elapsed"], 3) for r in reports],
        "client_spans": [round(r[3] - r[2], 3) for r in results],
    }


# --------------------------------------------------------------------------- latency


async def latency(args, redis_url: str) -> dict:
    import wsfast

    env = dict(os.environ, BENCH_REDIS=redis_url)
    env.pop("BENCH_DIR", None)
    if args.impl == "python":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    a = Workers(1, env, args.loop, args.write_limit)
    b = Workers(1, env, args.loop, args.write_limit)
    try:
        local = await wsfast.connect(f"ws://127.0.0.1:{a.port}/lat", compression=None, max_queue=None)
        remote = await wsfast.connect(f"ws://127.0.0.1:{b.port}/lat", compression=None, max_queue=None)
        assert await local.recv() == "ready" and await remote.recv() == "ready"
        lat_local, lat_redis = [], []
        for seq in range(args.samples + 100):
            await local.send(f"go {seq}")
            m1 = await local.recv()
            t1 = time.monotonic_ns()
            m2 = await remote.recv()
            t2 = time.monotonic_ns()
            s1, stamp1 = struct.unpack("!QQ", m1)
            s2, stamp2 = struct.unpack("!QQ", m2)
            assert s1 == s2 == seq
            if seq >= 100:  # warm-up
                lat_local.append((t1 - stamp1) / 1000)
                lat_redis.append((t2 - stamp2) / 1000)
            await asyncio.sleep(0.001)
        await local.close()
        await remote.close()
    finally:
        a.stop()
        b.stop()

    def pct(values: list[float], q: float) -> float:
        values = sorted(values)
        return round(values[min(len(values) - 1, int(q * len(values)))], 1)

    result = {"samples": len(lat_local)}
    for name, values in (("local", lat_local), ("redis", lat_redis)):
        result[name] = {"p50_us": pct(values, 0.5), "p99_us": pct(values, 0.99),
                        "mean_us": round(statistics.fmean(values), 1)}
    result["added_p50_us"] = round(result["redis"]["p50_us"] - result["local"]["p50_us"], 1)
    result["added_p99_us"] = round(result["redis"]["p99_us"] - result["local"]["p99_us"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--messages", type=int, default=30, help="per worker (local) or in total (redis)")
    parser.add_argument("--size", type=int, default=32, help="payload bytes (binary)")
    parser.add_argument("--write-limit", type=int, default=1 << 20)
    parser.add_argument("--modes", nargs="+", default=["local"], choices=["local", "redis"])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--impl", choices=["cython", "python"], default="cython")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--quiet", type=float, default=1.0, help="seconds without data that end a run")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    soft, hard = raise_nofile()
    print(f"RLIMIT_NOFILE {soft}/{hard}; {os.cpu_count()} CPUs; kernels={args.impl}; loop={args.loop}")
    need = args.connections // max(1, args.client_procs) + 100
    if soft < need:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} is too low for {need} sockets per process")
    results: dict = {"cpus": os.cpu_count(), "throughput": [], "latency": None}
    redis = Redis() if ("redis" in args.modes and not args.skip_throughput) or not args.skip_latency else None
    try:
        if not args.skip_throughput:
            for mode in args.modes:
                for n in args.workers:
                    r = throughput(n, args, mode, redis.url if mode == "redis" else None)
                    results["throughput"].append(r)
                    print(f"{mode:5} workers={n}: {r['connections']} connections "
                          f"(per worker {r['subscribers_per_worker']}), {r['published']} messages, "
                          f"{r['received']}/{r['expected']} delivered in {r['seconds']} s = "
                          f"{r['deliveries_per_s']:,} deliveries/s, skipped {r['skipped']}", flush=True)
        if not args.skip_latency:
            r = asyncio.run(latency(args, redis.url))
            results["latency"] = r
            print(f"latency over {r['samples']} messages, publish -> client receipt: "
                  f"local p50 {r['local']['p50_us']} us p99 {r['local']['p99_us']} us; "
                  f"through Redis p50 {r['redis']['p50_us']} us p99 {r['redis']['p99_us']} us; "
                  f"added by the Redis hop: p50 {r['added_p50_us']} us, p99 {r['added_p99_us']} us")
    finally:
        if redis is not None:
            redis.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
