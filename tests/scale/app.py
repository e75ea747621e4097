"""The application the scale tests run in worker processes (``run_workers("app:handler")``).

Text commands, one per message; replies start with "#" so they can't be mistaken for the
topic messages the same connection may receive:

    pid             -> "#pid <pid> <ppid> <implementation>"
    sub <topic>     -> "#subscribed <topic>" once Redis confirmed this process's subscription
    pub <topic> <n> <label>
                    -> publishes n messages "<label>:<i>" (even i text, odd i binary), then
                       "#published <topic> <n>"
    status          -> "#status <json of hub.broker.stats()>"

The Hub uses ``RedisBroker(WSFAST_TEST_REDIS)`` when that variable is set, else LocalBroker.
"""
from __future__ import annotations

import json
import os

import wsfast

_hub = None


def hub() -> wsfast.Hub:
    global _hub
    if _hub is None:
        _hub = wsfast.Hub.from_url(os.environ.get("WSFAST_TEST_REDIS"), backoff_initial=0.05,
                                   backoff_max=0.5, health_check_interval=1.0)
    return _hub


async def handler(ws) -> None:
    h = hub()
    async for command in ws:
        verb, _, rest = command.partition(" ")
        if verb == "pid":
            await ws.send(f"#pid {os.getpid()} {os.getppid()} {wsfast.IMPLEMENTATION}")
        elif verb == "sub":
            h.subscribe(ws, rest)
            if hasattr(h.broker, "wait_subscribed") and h.broker_status() == "connected":
                await h.broker.wait_subscribed(rest, 10)
            await ws.send(f"#subscribed {rest}")
        elif verb == "pub":
            topic, n, label = rest.split(" ")
            for i in range(int(n)):
                text = f"{label}:{i}"
                h.publish(topic, text if i % 2 == 0 else text.encode())
            await ws.send(f"#published {topic} {n}")
        elif verb == "status":
            stats = h.broker.stats() if hasattr(h.broker, "stats") else {}
            stats["status"] = h.broker_status()
            await ws.send("#status " + json.dumps(stats))
        else:
            await ws.send(f"#error unknown command {verb!r}")
