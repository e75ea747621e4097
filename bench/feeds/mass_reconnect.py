"""Mass reconnect: N clients dropped at once reconnect and each recovers the publications it
missed on one of T topics.

    python -m bench.feeds.mass_reconnect [--clients 5000] [--topics 10] [--missed 100]
                                         [--broker local|redis] [--rounds 3]

The server runs in its own process (``bench.feeds.server``), the clients in this one (the
wsfast client, ``Subscriptions``), redis-server (``--broker redis``) in a temporary directory.
Per round: every client connects and subscribes (client i to topic i % T), 10 publications per
topic reach all of them, then every connection is reset at once (RST); once the server saw
them all go, ``--missed`` publications per topic are made; then all clients reconnect at once
and subscribe from their last ``(epoch, offset)``. Measured from the first reconnect to the
last client holding every missed publication: the wall time, the server's CPU time (user +
system, from /proc), the clients' (this process), and with Redis the commands Redis executed (INFO commandstats, delta).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

import wsfast
from wsfast.feeds import Publication, Subscribed, Subscriptions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Server:
    def __init__(self, redis_url: str | None, topics: int, workdir: str) -> None:
        port_file = os.path.join(workdir, "server.port")
        args = [sys.executable, "-m", "bench.feeds.server", "--port-file", port_file,
                "--topics", str(topics)]
        if redis_url:
            args += ["--redis", redis_url]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
        deadline = time.monotonic() + 60
        while not os.path.exists(port_file):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the bench server did not start")
            time.sleep(0.05)
        with open(port_file) as f:
            self.uri = f"ws://127.0.0.1:{int(f.read())}/"

    async def ask(self, command: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        return (await asyncio.to_thread(self.proc.stdout.readline)).decode().split(" ", 1)[1]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Redis:
    def __init__(self, workdir: str) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", workdir],
                                     stdout=subprocess.DEVNULL, cwd=workdir)
        self.url = f"redis://127.0.0.1:{port}/0"
        import redis as sync_redis

        self.client = sync_redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def commands(self) -> dict[str, int]:
        return {k.removeprefix("cmdstat_"): v["calls"] for k, v in self.client.info("commandstats").items()}

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Client:
    __slots__ = ("topic", "feed", "ws", "task", "top", "done", "missed")

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.feed = Subscriptions([topic])
        self.ws = None
        self.task = None
        self.top = 0
        self.done: asyncio.Future | None = None
        self.missed = 0

    async def connect(self, uri: str) -> None:
        self.ws = ws = await wsfast.connect(uri, open_timeout=120)
        await self.feed.resume(ws)
        self.task = asyncio.ensure_future(self.read(ws))

    async def read(self, ws) -> None:
        try:
            async for message in ws:
                event = self.feed.receive(message)
                if isinstance(event, Publication):
                    if event.offset >= self.top and self.done is not None and not self.done.done():
                        self.done.set_result(None)
                elif isinstance(event, Subscribed) and event.lost:
                    self.missed += 1
        except wsfast.ConnectionClosed:
            pass

    def reset(self) -> None:
        sock = self.ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.ws.transport.abort()


async def wait_all(clients: list[Client], top: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    for c in clients:
        c.top = top[c.topic]
        position = c.feed.positions[c.topic]
        c.done = loop.create_future()
        if position is not None and position[1] >= c.top:
            c.done.set_result(None)
    await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), 600)


async def until(predicate, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def one_round(server: Server, redis: Redis | None, n: int, topics: int, missed: int) -> dict:
    clients = [Client(f"topic{i % topics}") for i in range(n)]
    sem = asyncio.Semaphore(500)

    async def connect(c: Client) -> None:
        async with sem:
            await c.connect(server.uri)

    await asyncio.gather(*(connect(c) for c in clients))

    async def subscribed() -> bool:
        return int(await server.ask("subscribers")) == n

    try:
        await until(subscribed, "every client subscribed")
    except RuntimeError:
        print(await server.ask("stats"), await server.ask("subscribers"), file=sys.stderr)
        raise
    await wait_all(clients, json.loads(await server.ask("publish 10")))
    for c in clients:
        c.reset()
    await asyncio.gather(*(c.task for c in clients))

    async def gone() -> bool:
        return int(await server.ask("subscribers")) == 0

    await until(gone, "the server to see every client go")
    tops = json.loads(await server.ask(f"publish {missed}"))
    commands_before = redis.commands() if redis else {}
    cpu_before = cpu_seconds(server.proc.pid)
    clients_cpu = time.process_time()
    started = time.perf_counter()
    recovering = asyncio.ensure_future(wait_all(clients, tops))
    await asyncio.gather(*(c.connect(server.uri) for c in clients))
    await recovering
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(server.proc.pid) - cpu_before
    clients_cpu = time.process_time() - clients_cpu
    commands = {}
    if redis:
        after = redis.commands()
        commands = {k: v - commands_before.get(k, 0) for k, v in after.items() if v != commands_before.get(k, 0)}
    recovered = sum(c.feed.counts["publications"] for c in clients) - 10 * n
    for c in clients:
        await c.ws.close()
    return {"clients": n, "seconds": round(elapsed, 3), "server_cpu": round(cpu, 2),
            "clients_cpu": round(clients_cpu, 2),
            "recovered_publications": recovered, "not_recovered": sum(c.missed for c in clients),
            "redis_commands": commands}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--missed", type=int, default=100)
    parser.add_argument("--broker", choices=("local", "redis"), default="local")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wsfast-feeds-bench-") as workdir:
        redis = Redis(workdir) if args.broker == "redis" else None
        try:
            for r in range(args.rounds):
                server = Server(redis.url if redis else None, args.topics, workdir)
                try:
                    result = await one_round(server, redis, args.clients, args.topics, args.missed)
                    result["stats"] = json.loads(await server.ask("stats"))
                finally:
                    server.stop()
                    os.unlink(os.path.join(workdir, "server.port"))
                print(json.dumps({"broker": args.broker, "round": r + 1} | result), flush=True)
        finally:
            if redis:
                redis.stop()


if __name__ == "__main__":
    asyncio.run(main())
