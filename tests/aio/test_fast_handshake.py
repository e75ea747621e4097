"""The server's opening handshake end to end, on each twin: a plain upgrade gets the kernel's
prebuilt 101, offers are negotiated into it (the bytes the full path would send), with
``ws.request`` / ``ws.response`` intact; other requests (a hook, an origin check, a request
to refuse) take the full path."""
from __future__ import annotations

import asyncio
import base64
import hashlib

from rawpeer import RawPeer
from waiting import wait_for

from wsfast.extensions.compression import server_extensions
from wsfast.handshake import GUID, ServerHandshake

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def request(extra: str = "", connection: str = "Upgrade") -> bytes:
    return (f"GET /room?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: {connection}\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def accept(key: str = KEY) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class Opened:
    def __init__(self) -> None:
        self.seen: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_open(self, ws) -> None:
        self.seen.set_result((ws.request.path, ws.request.headers.get_all("connection"),
                              ws.request.headers.get("x-pad"),
                              ws.request.headers["Sec-WebSocket-Key"], ws.response.status_code,
                              ws.response.headers["Sec-WebSocket-Accept"], ws.extensions,
                              ws.subprotocol))

    def on_message(self, ws, message, opcode) -> None:
        ws.send_nowait(message)


async def _exchange(server, data: bytes) -> bytes:
    peer = await RawPeer.connect(server.port(), handshake=False)
    peer.send(data)
    head = await wait_for(peer.reader.readuntil(b"\r\n\r\n"), "the server's answer")
    peer.writer.close()
    return head


async def test_plain_upgrade_gets_the_exact_101(serve_ws):
    handler = Opened()
    server = await serve_ws(handler, compression=None)
    head = await _exchange(server, request("X-Pad:\t padded  value \t\r\n", connection="keep-alive, Upgrade"))
    assert head == (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept().encode() + b"\r\nServer: wsfast\r\n\r\n")
    seen = await wait_for(handler.seen, "on_open")
    assert seen == ("/room?x=1", ["keep-alive, Upgrade"], "padded  value", KEY, 101, accept(), [], None)


async def test_server_header_and_the_default_compression(serve_ws):
    # compression="deflate" (the default) with no offer from the client: still the fast path
    server = await serve_ws(Opened(), server_header=None)
    head = await _exchange(server, request())
    assert head.endswith(b"Sec-WebSocket-Accept: " + accept().encode() + b"\r\n\r\n")
    assert b"Server:" not in head


async def test_offers_are_negotiated_as_accept_does(serve_ws):
    handler = Opened()
    server = await serve_ws(handler, subprotocols=["chat"])
    offers = "Sec-WebSocket-Protocol: x, chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"
    head = await _exchange(server, request(offers))
    full = ServerHandshake(subprotocols=["chat"], extensions=server_extensions("deflate"))
    assert head == full.accept(full.receive_data(request(offers))).serialize()
    seen = await wait_for(handler.seen, "on_open")
    assert [type(e).__name__ for e in seen[6]] == ["PerMessageDeflate"] and seen[7] == "chat"


async def test_origin_check_and_refusals_take_the_full_path(serve_ws):
    server = await serve_ws(Opened(), origins=["https://ok.example"])
    assert (await _exchange(server, request("Origin: https://bad.example\r\n"))).startswith(b"HTTP/1.1 403")
    ok = await _exchange(server, request("Origin: https://ok.example\r\n"))
    assert ok.startswith(b"HTTP/1.1 101") and accept().encode() in ok
    bad_key = request().replace(KEY.encode(), b"dGhlIHNhbXBsZSBub25jZQ")
    assert (await _exchange(server, bad_key)).startswith(b"HTTP/1.1 400")


async def test_process_request_sees_the_request_headers(serve_ws):
    seen = []

    def hook(ws, req):
        seen.append((req.path, req.headers["Host"], len(req.headers)))
        return None

    server = await serve_ws(Opened(), process_request=hook)
    head = await _exchange(server, request())
    assert head.startswith(b"HTTP/1.1 101") and accept().encode() in head
    assert seen == [("/room?x=1", "h", 5)]


async def test_the_server_parses_with_the_chosen_twin(serve_ws, impl_name):
    server = await serve_ws(Opened())
    await _exchange(server, request())
    head = server._handshake_template.head
    assert type(head).__module__ == {"cython": "wsfast._speedups.upgrade",
                                     "python": "wsfast._pure.upgrade"}[impl_name]
