"""One WebSocket *client* under test, in its own process: round trips against an echo server.

    python -m bench.client.clients --client wsfast-cb --uri ws://127.0.0.1:9001/ \
        [--ca ca.pem] [--sizes 64,1024,65536] [--duration 2] [--warmup 0.5] \
        [--latency-rate 1000] [--latency-duration 3] [--server-pid PID] [--cpu 1] [--uvloop]

Prints one JSON object. For each size: ``rate`` = round trips/s with one message in flight
(send, wait for the echo, send the next), the client's CPU time per round trip
(``time.process_time``, every thread of this process) and the server's CPU share over the
same window (``/proc/PID/stat``). Then ``latency``: 64-byte round trips paced at
``--latency-rate`` per second (one in flight; the next leaves at its slot, or at once if the
echo came later), each timed with ``perf_counter_ns`` from just before the send to the
arrival of the echo in the client's handler; raw samples (ns) go to the runner, which builds
the HDR histogram.

Each client uses its library's fast settings: no compression, no keepalive pings, large
size limits, binary messages.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
from typing import Any

MAX_SIZE = 4 * 1024 * 1024
SPIN_US = 200.0  # "-spin" clients: the loop polls this long before it sleeps
LATENCY_SIZE = 64


def server_cpu(pid: int | None) -> float:
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class Run:
    """What a driver shares with the harness: a counter, a stop flag, latency samples."""

    def __init__(self) -> None:
        self.n = 0
        self.stop = False
        self.samples: list[int] = []
        self.done: asyncio.Future | None = None


# ----------------------------------------------------------------------------- drivers
# A driver: ``await open(uri, ssl)``; ``await pingpong(run, payload)`` (until run.stop);
# ``await paced(run, payload, interval)`` (until run.stop); ``await close()``.


class WsfastCallbacks:
    """wsfast callback style: ``on_message`` sends the next message (``send_nowait``)."""

    def __init__(self, implementation: str, aiofastnet: bool | None = None) -> None:
        self.impl = implementation
        self.afn = aiofastnet

    async def open(self, uri: str, ctx: ssl.SSLContext | None) -> None:
        import wsfast

        self.handler = None
        outer = self

        class Handler:
            def on_message(self, ws: Any, message: Any, opcode: int) -> None:
                outer.handler(ws, message)

        kw = {"ssl": ctx} if ctx is not None else {}
        if self.afn is not None:
            kw["use_aiofastnet"] = self.afn
        self.ws = await wsfast.connect(
            uri, callbacks=Handler(), compression=None, ping_interval=None, max_size=MAX_SIZE,
            max_queue=None, implementation=self.impl, **kw,
        )

    async def pingpong(self, run: Run, payload: bytes) -> None:
        run.done = asyncio.get_running_loop().create_future()

        def on_message(ws: Any, message: Any) -> None:
            run.n += 1
            if run.stop:
                run.done.set_result(None)
            else:
                ws.send_nowait(payload)

        self.handler = on_message
        self.ws.send_nowait(payload)
        await run.done

    async def paced(self, run: Run, payload: bytes, interval: float) -> None:
        ws = self.ws

        def install(on_echo: Any) -> None:
            self.handler = lambda ws_, message: on_echo()

        await paced_callback(run, lambda: ws.send_nowait(payload), install, interval)

    async def close(self) -> None:
        await self.ws.close()


async def paced_callback(run: Run, send: Any, install: Any, interval: float) -> None:
    """Paced round trips for the callback-style drivers (see ``paced_coroutine``).

    ``send()`` sends one message; ``install(on_echo)`` makes the driver's message handler
    call ``on_echo()`` for each echo. Each round trip is timed from just before ``send()``;
    the next message leaves at its slot, or at once if the echo came later.
    """
    loop = asyncio.get_running_loop()
    run.done = loop.create_future()
    perf = time.perf_counter_ns
    samples = run.samples
    state = {"t0": 0, "next": loop.time()}

    def send_timed() -> None:
        state["t0"] = perf()
        send()

    def on_echo() -> None:
        samples.append(perf() - state["t0"])
        run.n += 1
        if run.stop:
            run.done.set_result(None)
            return
        nxt = state["next"] = max(state["next"] + interval, loop.time())
        loop.call_at(nxt, send_timed)

    install(on_echo)
    send_timed()
    await run.done


async def pingpong_coroutine(run: Run, send: Any, recv: Any, payload: bytes) -> None:
    """Round trips one after another for the coroutine-style drivers, until ``run.stop``."""
    while not run.stop:
        await send(payload)
        await recv()
        run.n += 1


async def paced_coroutine(run: Run, send: Any, recv: Any, payload: bytes, interval: float) -> None:
    loop = asyncio.get_running_loop()
    perf = time.perf_counter_ns
    samples = run.samples
    nxt = loop.time()
    while not run.stop:
        t0 = perf()
        await send(payload)
        await recv()
        samples.append(perf() - t0)
        run.n += 1
        nxt = max(nxt + interval, loop.time())
        delay = nxt - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


class Picows:
    """picows frames API: ``ws_connect`` + ``WSListener.on_ws_frame``, ``transport.send``."""

    def __init__(self, aiofastnet: bool | None = None) -> None:
        self.afn = aiofastnet

    async def open(self, uri: str, ctx: ssl.SSLContext | None) -> None:
        from picows import WSListener, WSMsgType, ws_connect

        outer = self
        self.BINARY = WSMsgType.BINARY

        class Listener(WSListener):
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                outer.handler(transport, frame)

        kw: dict[str, Any] = {"ssl_context": ctx} if ctx is not None else {}
        if self.afn is not None:
            kw["use_aiofastnet"] = self.afn
        self.transport, _ = await ws_connect(Listener, uri, max_frame_size=MAX_SIZE, **kw)

    async def pingpong(self, run: Run, payload: bytes) -> None:
        run.done = asyncio.get_running_loop().create_future()
        BINARY = self.BINARY

        def handler(transport: Any, frame: Any) -> None:
            run.n += 1
            if run.stop:
                run.done.set_result(None)
            else:
                transport.send(BINARY, payload)

        self.handler = handler
        self.transport.send(BINARY, payload)
        await run.done

    async def paced(self, run: Run, payload: bytes, interval: float) -> None:
        transport, BINARY = self.transport, self.BINARY

        def install(on_echo: Any) -> None:
            self.handler = lambda transport_, frame: on_echo()

        await paced_callback(run, lambda: transport.send(BINARY, payload), install, interval)

    async def close(self) -> None:
        self.transport.send_close()
        self.transport.disconnect()
        await self.transport.wait_disconnected()


class Coroutine:
    """A websockets-style client: ``send``/``recv`` coroutines (websockets, picows.websockets;
    subclasses open other libraries' connections of the same shape)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def open(self, uri: str, ctx: ssl.SSLContext | None) -> None:
        kw = {"ssl": ctx} if ctx is not None else {}
        if self.name == "websockets":
            from websockets.asyncio.client import connect
        else:
            from picows.websockets import connect
        self.ws = await connect(uri, compression=None, ping_interval=None, max_size=MAX_SIZE, **kw)

    async def pingpong(self, run: Run, payload: bytes) -> None:
        await pingpong_coroutine(run, self.ws.send, self.ws.recv, payload)

    async def paced(self, run: Run, payload: bytes, interval: float) -> None:
        await paced_coroutine(run, self.ws.send, self.ws.recv, payload, interval)

    async def close(self) -> None:
        await self.ws.close()


class WsfastCoroutine(Coroutine):
    """wsfast coroutine style: ``await ws.send(m); await ws.recv()``."""

    def __init__(self, implementation: str, aiofastnet: bool | None = None) -> None:
        self.impl = implementation
        self.afn = aiofastnet

    async def open(self, uri: str, ctx: ssl.SSLContext | None) -> None:
        import wsfast

        kw = {"ssl": ctx} if ctx is not None else {}
        if self.afn is not None:
            kw["use_aiofastnet"] = self.afn
        self.ws = await wsfast.connect(
            uri, compression=None, ping_interval=None, max_size=MAX_SIZE,
            implementation=self.impl, **kw,
        )


class Aiohttp:
    async def open(self, uri: str, ctx: ssl.SSLContext | None) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession()
        kw = {"ssl": ctx} if ctx is not None else {}
        self.ws = await self.session.ws_connect(uri, compress=0, autoping=True, max_msg_size=MAX_SIZE, **kw)

    async def pingpong(self, run: Run, payload: bytes) -> None:
        await pingpong_coroutine(run, self.ws.send_bytes, self.ws.receive, payload)

    async def paced(self, run: Run, payload: bytes, interval: float) -> None:
        await paced_coroutine(run, self.ws.send_bytes, self.ws.receive, payload, interval)

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


CLIENTS = {
    "wsfast-cb": lambda: WsfastCallbacks("cython"),
    "wsfast-cb-pure": lambda: WsfastCallbacks("python"),
    "wsfast-coro": lambda: WsfastCoroutine("cython"),
    "wsfast-coro-pure": lambda: WsfastCoroutine("python"),
    # The plain names use wsfast's default (aiofastnet for wss:// when installed, not for
    # ws://); these force it on or off for the comparison.
    "wsfast-cb-afn": lambda: WsfastCallbacks("cython", aiofastnet=True),
    "wsfast-coro-afn": lambda: WsfastCoroutine("cython", aiofastnet=True),
    "wsfast-cb-noafn": lambda: WsfastCallbacks("cython", aiofastnet=False),
    "wsfast-coro-noafn": lambda: WsfastCoroutine("cython", aiofastnet=False),
    "picows": lambda: Picows(),
    "picows-noafn": lambda: Picows(aiofastnet=False),
    # The same clients on a busy-polling asyncio loop (see SPIN_US and main()).
    "wsfast-cb-spin": lambda: WsfastCallbacks("cython"),
    "picows-spin": lambda: Picows(),
    "picows-ws": lambda: Coroutine("picows-ws"),
    "websockets": lambda: Coroutine("websockets"),
    "aiohttp": lambda: Aiohttp(),
}


# ----------------------------------------------------------------------------- harness


async def measure(driver: Any, coro_fn: Any, warmup: float, duration: float, server_pid: int | None) -> dict:
    """Run ``coro_fn(run)``; snapshot counters at warmup end and at the end of the window."""
    loop = asyncio.get_running_loop()
    run = Run()
    snaps: list[tuple[int, float, float, float, int, float]] = []

    def snap() -> None:
        snaps.append((run.n, time.process_time(), time.perf_counter(), server_cpu(server_pid),
                      len(run.samples), os.times().system))

    def stop() -> None:
        snap()
        run.stop = True

    loop.call_later(warmup, snap)
    loop.call_later(warmup + duration, stop)
    await coro_fn(run)
    (n0, c0, t0, s0, k0, y0), (n1, c1, t1, s1, k1, y1) = snaps
    n = n1 - n0
    wall = t1 - t0
    return {
        "round_trips": n,
        "rate": n / wall,
        "client_cpu_us": (c1 - c0) / n * 1e6 if n else None,
        "client_sys_us": (y1 - y0) / n * 1e6 if n else None,  # kernel part of client_cpu_us
        "client_cpu_share": (c1 - c0) / wall,
        "server_cpu_share": (s1 - s0) / wall,
        "samples": run.samples[k0:k1],
    }


async def main_async(args: argparse.Namespace) -> dict:
    ctx = None
    if args.uri.startswith("wss://"):
        ctx = ssl.create_default_context(cafile=args.ca)
    driver = CLIENTS[args.client]()
    await driver.open(args.uri, ctx)
    result: dict[str, Any] = {"client": args.client, "uri": args.uri, "rate": {}}
    try:
        for size in [int(s) for s in args.sizes.split(",") if s]:
            payload = os.urandom(size)
            r = await measure(driver, lambda run: driver.pingpong(run, payload), args.warmup, args.duration, args.server_pid)
            r.pop("samples")
            result["rate"][str(size)] = r
        if args.latency_duration > 0:
            payload = os.urandom(LATENCY_SIZE)
            interval = 1.0 / args.latency_rate
            r = await measure(
                driver, lambda run: driver.paced(run, payload, interval),
                args.warmup, args.latency_duration, args.server_pid,
            )
            result["latency"] = r
    finally:
        await driver.close()
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--client", required=True, choices=sorted(CLIENTS))
    p.add_argument("--uri", required=True)
    p.add_argument("--ca")
    p.add_argument("--sizes", default="64,1024,65536")
    p.add_argument("--duration", type=float, default=2.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--latency-rate", type=float, default=1000.0)
    p.add_argument("--latency-duration", type=float, default=3.0)
    p.add_argument("--server-pid", type=int)
    p.add_argument("--cpu", type=int)
    p.add_argument("--uvloop", action="store_true")
    args = p.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.client.endswith("-spin"):
        from wsfast.asyncio.busy_polling import spinning_loop_factory
        factory = spinning_loop_factory(SPIN_US)  # asyncio's selector loop, even with --uvloop
    elif args.uvloop:
        import uvloop
        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(main_async(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
