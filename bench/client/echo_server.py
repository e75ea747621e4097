"""The fixed echo server of the client benchmark, ws:// or wss:// (``--cert``/``--key``).

    python -m bench.client.echo_server --impl picows|socketify --port P [--cert c.pem --key k.pem] [--uvloop]

* ``picows`` (default of ``bench.client.run``): picows' Cython server (``ws_create_server``
  + ``WSListener``, aiofastnet transports and TLS), echo with
  ``transport.send(frame.msg_type, frame.get_payload_as_memoryview())`` as in
  ``bench/servers/picows_server.py``; on uvloop with ``--uvloop``.
* ``socketify`` (uWebSockets): ``bench/servers/socketify_server.py``'s echo settings, TLS
  through ``AppOptions(cert_file_name=..., key_file_name=...)``. On this VM it spends about
  90 us of CPU per echoed message in round-trip tests (its Python callback layer and loop
  integration), so the fastest clients saturate it: see bench/client/README.md.

Prints READY once listening. Only the echo endpoint (any path) is served.
"""
from __future__ import annotations

import argparse
import asyncio

from bench.servers import _common as c


def socketify_main(args: argparse.Namespace) -> None:
    from socketify import App, AppOptions, CompressOptions

    app = App(AppOptions(cert_file_name=args.cert, key_file_name=args.key)) if args.cert else App()

    def echo(ws, message, opcode):
        ws.send(message, opcode)

    app.ws("/*", {
        "compression": CompressOptions.DISABLED,
        "max_payload_length": c.MAX_MESSAGE,
        "max_backpressure": 1 << 30,
        "idle_timeout": 0,
        "send_pings_automatically": False,
        "message": echo,
    })
    app.listen({"port": args.port, "host": c.HOST}, lambda config: c.ready())
    app.run()


async def picows_start(args: argparse.Namespace):
    from picows import ws_create_server

    from bench.servers.picows_server import echo_listener

    Echo = echo_listener()
    ctx = c.server_ssl_context(args)
    kw = {"ssl": ctx} if ctx is not None else {}
    return await ws_create_server(lambda request: Echo(), c.HOST, args.port,
                                  max_frame_size=c.MAX_MESSAGE, **kw)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--impl", choices=("picows", "socketify"), default="picows")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--uvloop", action="store_true")
    args = p.parse_args()
    if args.impl == "socketify":
        socketify_main(args)
        return
    factory = asyncio.new_event_loop
    if args.uvloop:
        import uvloop
        factory = uvloop.new_event_loop

    async def run() -> None:
        server = await picows_start(args)  # noqa: F841 - keep it alive
        c.ready()
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(run())


if __name__ == "__main__":
    c.guard(main)
