"""``Hub.publish`` against ``broadcast`` on the same connections, in one process.

    python -m bench.hub_vs_broadcast [--conns 10000] [--reps 40] [--uvloop]

A wsfast server in this process takes ``--conns`` upgraded connections (plain blocking
client sockets opened by a child process, which never reads them: their kernel buffers
hold what the reps send). Every connection is both in a ``set`` and subscribed to one ``Hub`` topic. Then,
``--reps`` times and in alternating order, the same 256-byte message goes out through
``broadcast(that_set, m)``, ``broadcast(list_of_them, m)``, ``broadcast(dict_of_them, m)``
(list and dict in the order the connections opened) and ``hub.publish(topic, m)``,
each call timed alone (``perf_counter_ns``) with the loop run between calls so the queued
frames are written (that flush is the same for every path and is not timed). Prints the
median per call and per delivery and the ratios. This isolates what the end-to-end
``broadcast-10000`` / ``publish-10000`` cases cannot resolve: the cost of the Hub's path
itself. The message count is checked (``BroadcastResult.sent``) on every call.
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time

CLIENTS = """
import resource, socket, sys
port, n, req = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
sys.stdin.read()  # until the parent is done
"""


async def main(args) -> None:
    import wsfast
    from wsfast.asyncio.broadcast import broadcast

    hub = wsfast.Hub()
    conns: set = set()
    in_order: dict = {}  # insertion order = the order the connections opened
    opened = asyncio.Event()

    class Sub:
        def on_open(self, ws):
            conns.add(ws)
            in_order[ws] = None
            hub.subscribe(ws, "t")
            if len(conns) == args.conns:
                opened.set()

        def on_message(self, ws, message, opcode):
            pass

    server = await wsfast.serve(Sub, "127.0.0.1", 0, ping_interval=None, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    req = (f"GET /topic HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    # the clients live in a child process (this one holds the server's sockets)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENTS, str(port), str(args.conns), req.decode(),
        stdin=asyncio.subprocess.PIPE)
    await asyncio.wait_for(opened.wait(), 120)
    await asyncio.sleep(0.2)
    as_list = list(in_order)
    payload = bytes(range(256))
    paths = {
        "broadcast(set)": lambda: broadcast(conns, payload),
        "broadcast(list)": lambda: broadcast(as_list, payload),
        "broadcast(dict)": lambda: broadcast(in_order, payload),
        "hub.publish": lambda: hub.publish("t", payload),
    }
    times: dict[str, list[int]] = {k: [] for k in paths}
    names = list(paths)
    for rep in range(args.reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            fn = paths[name]
            t0 = time.perf_counter_ns()
            result = fn()
            dt = time.perf_counter_ns() - t0
            if result.sent != args.conns:
                raise SystemExit(f"{name}: sent {result.sent} of {args.conns}: {result}")
            times[name].append(dt)
            for _ in range(3):
                await asyncio.sleep(0)  # the flush (same for every path), not timed
    base = statistics.median(times["broadcast(set)"])
    print(f"{args.conns} connections, {args.reps} reps each, alternating; median per call "
          f"(per delivery), ratio to broadcast(set); loop {type(asyncio.get_running_loop()).__module__}")
    for name in names:
        m = statistics.median(times[name])
        print(f"  {name:16s} {m / 1e3:9.1f} us  ({m / args.conns:6.1f} ns/delivery)  {m / base:5.3f}x")
    child.stdin.close()
    await child.wait()
    server.close()


def cli(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conns", type=int, default=10000)
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--uvloop", action="store_true")
    args = p.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    factory = asyncio.new_event_loop
    if args.uvloop:
        import uvloop
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main(args))


if __name__ == "__main__":
    cli()
