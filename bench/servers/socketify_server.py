"""socketify.py (uWebSockets) echo/broadcast server.

Fast settings: compression disabled, max_payload_length and max_backpressure large (uWS
drops sends above max_backpressure), no idle timeout, no automatic pings. Broadcast uses
uWS pub/sub (subscribers subscribe to one topic, the control handler publishes). socketify
runs its own libuv loop: ``--uvloop`` is accepted and ignored. With ``--cert/--key`` it is
an SSL app (``App(AppOptions(cert_file_name=..., key_file_name=...))``).

With ``WSFAST_BENCH_DEFLATE=1``: ``compression=SHARED_COMPRESSOR | SHARED_DECOMPRESSOR``
(uWS's recommended setting: one compressor and one decompressor for the whole app, so
no context takeover and no zlib state per connection), and every ``send``/``publish``
asks for compression (``compress=True``; socketify's default is False).

Topics (``/topic``, ``/game``) are uWS's own: ``ws.subscribe(topic)`` and
``app.publish(topic, ...)``. The game's ticks are scheduled with ``call_at`` on the asyncio
loop socketify drives (its ``app.loop.loop``; it polls the libuv loop from there).
"""
from __future__ import annotations

from bench.servers import _common as c


def main() -> None:
    args = c.parse_args()
    c.require_case(args, c.TOPIC_CASES)
    c.raise_nofile()
    from socketify import App, AppOptions, CompressOptions, OpCode

    payload = c.BROADCAST_PAYLOAD
    topic = "bcast"
    # wss://: uWS's own TLS (uSockets + OpenSSL), configured by file names
    tls = AppOptions(cert_file_name=args.cert, key_file_name=args.key) if args.cert else None
    app = App(tls)
    deflate = c.DEFLATE
    compression = (int(CompressOptions.SHARED_COMPRESSOR | CompressOptions.SHARED_DECOMPRESSOR)
                   if deflate else CompressOptions.DISABLED)
    common = {
        "compression": compression,
        "max_payload_length": c.MAX_MESSAGE,
        "max_backpressure": 1 << 30,
        "idle_timeout": 0,
        "send_pings_automatically": False,
    }

    def echo(ws, message, opcode):
        ws.send(message, opcode, deflate)

    def sub_open(ws):
        ws.subscribe(topic)

    def ignore(ws, message, opcode):
        pass

    def join(ws, message, opcode):
        room = c.parse_join(message)
        if room is not None:
            ws.subscribe(c.room_topic(room))
            ws.subscribe(c.GLOBAL_TOPIC)
            ws.send("joined", OpCode.TEXT)

    def game(ws, ticks, hz, rooms):
        loop = app.loop.loop  # the asyncio loop socketify runs (and polls libuv from)
        topics = [(c.room_topic(r).encode(), r) for r in range(rooms)] + [(c.GLOBAL_TOPIC.encode(), c.GLOBAL_ID)]
        publish = app.publish
        stamp = c.game_payload
        BINARY = OpCode.BINARY
        t0 = loop.time()

        def tick(i):
            for t, tid in topics:
                publish(t, stamp(i, tid), BINARY, deflate)
            if i + 1 < ticks:
                loop.call_at(t0 + (i + 1) / hz, tick, i + 1)
            else:
                ws.send("done", OpCode.TEXT)

        if ticks:
            tick(0)
        else:
            ws.send("done", OpCode.TEXT)

    def control(ws, message, opcode):
        n = c.parse_broadcast(message) or c.parse_publish(message)
        if not n and (g := c.parse_game(message)) is not None:
            game(ws, *g)
            return
        for _ in range(n):
            app.publish(topic, payload, OpCode.BINARY, deflate)
        ws.send("done", OpCode.TEXT)

    app.ws(c.BCAST_PATH, {**common, "open": sub_open, "message": ignore})
    app.ws(c.TOPIC_PATH, {**common, "open": sub_open, "message": ignore})
    app.ws(c.GAME_PATH, {**common, "message": join})
    app.ws(c.CONTROL_PATH, {**common, "message": control})
    app.ws("/*", {**common, "message": echo})

    def on_listen(config):
        c.ready()

    app.listen({"port": args.port, "host": c.HOST}, on_listen)
    app.run()


if __name__ == "__main__":
    c.guard(main)
