"""The bytes of the handshake against the ``websockets`` library's sans-I/O protocols."""
from __future__ import annotations

import pytest
from hs_util import feed_in_two

websockets = pytest.importorskip("websockets")
from websockets.client import ClientProtocol  # noqa: E402
from websockets.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode  # noqa: E402
from websockets.protocol import State  # noqa: E402
from websockets.server import ServerProtocol  # noqa: E402
from websockets.uri import parse_uri  # noqa: E402

from wsfast.exceptions import InvalidStatus, InvalidVersion, NegotiationError  # noqa: E402
from wsfast.extensions.base import (  # noqa: E402
    ClientExtensionFactory,
    Extension,
    ServerExtensionFactory,
)
from wsfast.handshake import ClientHandshake, ServerHandshake  # noqa: E402


class Negotiated(Extension):
    def __init__(self, name, params):
        self.name = name
        self.params = list(params)


class PmdServer(ServerExtensionFactory):
    """Accepts a permessage-deflate offer, answering with no parameters."""

    name = "permessage-deflate"

    def process_request_params(self, params, accepted):
        return [], Negotiated(self.name, params)


class PmdClient(ClientExtensionFactory):
    """Offers permessage-deflate with client_max_window_bits; accepts any answer."""

    name = "permessage-deflate"

    def get_request_params(self):
        return [("client_max_window_bits", None)]

    def process_response_params(self, params, accepted):
        return Negotiated(self.name, params)


def ws_client(uri="ws://example.com/chat?x=1", **kwargs) -> tuple[ClientProtocol, bytes]:
    client = ClientProtocol(parse_uri(uri), **kwargs)
    client.send_request(client.connect())
    return client, b"".join(client.data_to_send())


# -------------------------------------------------------- websockets client, wsfast server


def test_websockets_client_to_wsfast_server():
    client, request_data = ws_client(
        "ws://example.com:8080/chat?x=1",
        origin="https://example.com",
        subprotocols=["v2", "v1"],
        extensions=[ClientPerMessageDeflateFactory()],
    )
    server = ServerHandshake(
        origins=["https://example.com"], subprotocols=["v1", "v2"], extensions=[PmdServer()]
    )
    request = server.receive_data(request_data)
    assert request.path == "/chat?x=1"
    assert request.headers["Host"] == "example.com:8080"
    response = server.accept(request)
    assert server.subprotocol == "v2"
    assert [e.name for e in server.extensions] == ["permessage-deflate"]
    assert server.extensions[0].params == [("client_max_window_bits", None)]

    # Our 101 and a text frame right behind it, in one chunk.
    frame = b"\x81\x05hello"
    client.receive_data(response.serialize() + frame)
    events = client.events_received()
    assert client.handshake_exc is None
    assert client.state is State.OPEN
    assert client.subprotocol == "v2"
    assert [e.name for e in client.extensions] == ["permessage-deflate"]
    assert isinstance(events[1], Frame) and events[1].data == b"hello"


def test_websockets_request_split_at_every_byte():
    client, request_data = ws_client()
    masked = b"\x81\x80\x00\x00\x00\x00"  # an empty masked text frame pipelined behind
    data = request_data + masked
    for split in range(len(data) + 1):
        server = ServerHandshake()
        request, handed_on = feed_in_two(server, server.receive_data, data, split)
        assert handed_on == masked
        server.accept(request)


def test_wsfast_rejection_read_by_websockets_client():
    client, request_data = ws_client()
    request_data = request_data.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8")
    server = ServerHandshake()
    with pytest.raises(InvalidVersion) as info:
        server.accept(server.receive_data(request_data))
    response = server.error_response(info.value)
    client.receive_data(response.serialize())
    client.events_received()
    assert client.handshake_exc is not None
    assert client.handshake_exc.response.status_code == 426
    assert client.handshake_exc.response.headers["Sec-WebSocket-Version"] == "13"
    assert client.handshake_exc.response.body == response.body


# -------------------------------------------------------- wsfast client, websockets server


def ws_server_answer(data: bytes, **kwargs) -> tuple[ServerProtocol, bytes]:
    server = ServerProtocol(**kwargs)
    server.receive_data(data)
    [request] = server.events_received()
    response = server.accept(request)
    server.send_response(response)
    return server, b"".join(server.data_to_send())


def test_wsfast_client_to_websockets_server():
    client = ClientHandshake(
        "example.com", 443, "/chat", secure=True, origin="https://example.com",
        subprotocols=["v2", "v1"], extensions=[PmdClient()],
    )
    server, answer = ws_server_answer(
        client.data_to_send(),
        origins=["https://example.com"],
        subprotocols=["v1", "v2"],
        extensions=[ServerPerMessageDeflateFactory()],
    )
    assert server.state is State.OPEN and server.handshake_exc is None
    assert server.subprotocol in ("v1", "v2")
    server.send_frame(Frame(Opcode.TEXT, b"hi"))  # pipelined right behind the 101
    frames = b"".join(server.data_to_send())
    response = client.receive_data(answer + frames)
    assert response.status_code == 101
    assert client.subprotocol == server.subprotocol
    assert [e.name for e in client.extensions] == ["permessage-deflate"]
    assert client.leftover == frames


def test_wsfast_client_response_split_at_every_byte():
    probe = ClientHandshake("example.com", 80, "/")
    _, answer = ws_server_answer(probe.data_to_send())
    for split in range(len(answer) + 1):
        client = ClientHandshake("example.com", 80, "/")
        client.key = probe.key
        client.data_to_send()
        response = client.receive_data(answer[:split]) or client.receive_data(answer[split:])
        assert response.status_code == 101


def test_websockets_rejection_read_by_wsfast_client():
    client = ClientHandshake("example.com", 80, "/", origin="https://evil.example")
    server = ServerProtocol(origins=["https://example.com"])
    server.receive_data(client.data_to_send())
    [request] = server.events_received()
    server.send_response(server.accept(request))
    answer = b"".join(server.data_to_send())
    with pytest.raises(InvalidStatus) as info:
        client.receive_data(answer)
    assert info.value.response.status_code == 403
    assert info.value.response.body  # websockets explains why


def test_websockets_server_selecting_unoffered_subprotocol_is_caught():
    client = ClientHandshake("example.com", 80, "/", subprotocols=["a"])
    _, answer = ws_server_answer(client.data_to_send(), subprotocols=["a"])
    tampered = answer.replace(b"Sec-WebSocket-Protocol: a", b"Sec-WebSocket-Protocol: b")
    assert tampered != answer
    with pytest.raises(NegotiationError):
        client.receive_data(tampered)
