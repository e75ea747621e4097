"""The server side of ``bench/scale/fanout.py``, run in every worker by ``run_workers``.

Every connection subscribes to "fan" (path "/") or "lat" (path "/lat") on the worker's Hub:
a RedisBroker when BENCH_REDIS is set, else the in-process LocalBroker.

* fan-out: a task per worker waits for BENCH_DIR/go (JSON: messages, size), publishes
  that many messages on "fan" as fast as broadcast allows (yielding to the loop between
  publishes), then writes BENCH_DIR/worker-<pid>.json (sent, skipped, elapsed, subscribers).
* latency: "go <seq>" on a "/lat" connection publishes 16 bytes on "lat": the sequence number
  and ``time.monotonic_ns()`` taken just before ``hub.publish`` (CLOCK_MONOTONIC is the same
  clock in every process of the machine).
"""
from __future__ import annotations

import asyncio
import json
import os
import struct
import time

import wsfast

_hub = None
_runner = None


def hub() -> wsfast.Hub:
    global _hub
    if _hub is None:
        _hub = wsfast.Hub.from_url(os.environ.get("BENCH_REDIS"), max_pending=1_000_000)
    return _hub


async def _fanout() -> None:
    directory = os.environ["BENCH_DIR"]
    go = os.path.join(directory, "go")
    while not os.path.exists(go):
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)  # the driver writes the file atomically, but be kind
    with open(go) as f:
        params = json.load(f)
    h = hub()
    payload = os.urandom(params["size"])
    subscribers = len(h.subscribers("fan"))
    sent = skipped = 0
    start = time.perf_counter()
    for _ in range(params["messages"]):
        result = h.publish("fan", payload)
        sent += result.sent
        skipped += result.skipped
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - start
    if hasattr(h.broker, "flush"):
        await h.broker.flush(30)
    stats = h.broker.stats() if hasattr(h.broker, "stats") else {}
    with open(os.path.join(directory, f"worker-{os.getpid()}.json"), "w") as f:
        json.dump({"sent": sent, "skipped": skipped, "elapsed": elapsed, "subscribers": subscribers,
                   "implementation": wsfast.IMPLEMENTATION, "broker": stats}, f)


class Handler:
    """Callbacks style (no task per connection): 10,000 connections stay cheap."""

    def on_open(self, ws) -> None:
        global _runner
        h = hub()
        if ws.request.path == "/lat":
            h.subscribe(ws, "lat")
            asyncio.get_running_loop().create_task(self._ready(h, ws))
            return
        h.subscribe(ws, "fan")
        if _runner is None and os.environ.get("BENCH_DIR"):
            _runner = asyncio.get_running_loop().create_task(_fanout())

    async def _ready(self, h, ws) -> None:
        if hasattr(h.broker, "wait_subscribed"):
            await h.broker.wait_subscribed("lat", 10)
        ws.send_nowait("ready")

    def on_message(self, ws, message, opcode) -> None:
        seq = int(message.split()[1])
        hub().publish("lat", struct.pack("!QQ", seq, time.monotonic_ns()))

    def on_close(self, ws, code, reason) -> None:
        pass
