"""picows echo/broadcast server (frames API: ws_create_server + WSListener.on_ws_frame).

picows 2.x names its server entry point ``ws_create_server`` (there is no ``ws_listen``).
It uses aiofastnet transports automatically when that package is installed (it is, in the
dev venv): that is picows's default fast path. No per-message-deflate exists in picows
(with ``WSFAST_BENCH_DEFLATE=1`` it prints SKIP).
"""
from __future__ import annotations

from bench.servers import _common as c


def echo_listener():
    """picows's echo ``WSListener`` class (also the client benchmark's fixed server)."""
    from picows import WSListener, WSMsgType

    TEXT, BINARY, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CLOSE

    class Echo(WSListener):
        def on_ws_frame(self, transport, frame):
            mt = frame.msg_type
            if mt is BINARY or mt is TEXT:
                # the generators send unfragmented messages: one frame = one message
                transport.send(mt, frame.get_payload_as_memoryview())
            elif mt is CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    return Echo


async def start(args):
    if c.DEFLATE:
        raise NotImplementedError("picows has no permessage-deflate")
    from picows import WSListener, WSMsgType, ws_create_server

    TEXT, BINARY, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CLOSE
    payload = c.BROADCAST_PAYLOAD
    subscribers = set()

    Echo = echo_listener()

    class Subscriber(WSListener):
        def on_ws_connected(self, transport):
            subscribers.add(transport)

        def on_ws_disconnected(self, transport):
            subscribers.discard(transport)

        def on_ws_frame(self, transport, frame):
            if frame.msg_type is CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    class Control(WSListener):
        def on_ws_frame(self, transport, frame):
            mt = frame.msg_type
            if mt is TEXT:
                n = c.parse_broadcast(frame.get_payload_as_bytes())
                subs = list(subscribers)
                for _ in range(n):
                    for t in subs:
                        t.send(BINARY, payload)
                transport.send(TEXT, b"done")
            elif mt is CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    bcast = c.BCAST_PATH.encode()
    control = c.CONTROL_PATH.encode()

    def factory(request):
        if request.path == bcast:
            return Subscriber()
        if request.path == control:
            return Control()
        return Echo()

    return await ws_create_server(
        factory, c.HOST, args.port,
        max_frame_size=c.MAX_MESSAGE,
        websocket_handshake_timeout=30,
        backlog=c.BACKLOG,
        ssl=c.server_ssl_context(args),  # passed on to (aiofastnet's) create_server
    )


if __name__ == "__main__":
    c.run_asyncio(start)
