"""Server and client opening handshakes: round trips, every rejection, negotiation."""
from __future__ import annotations

import base64

import pytest
from hs_util import RFC_ACCEPT, RFC_KEY, build_request, feed_in_two

from wsfast.exceptions import (
    HeadersTooLarge,
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidOrigin,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    InvalidVersion,
    NegotiationError,
)
from wsfast.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from wsfast.handshake import ClientHandshake, ServerHandshake, accept_key, generate_key
from wsfast.headers import Headers
from wsfast.http11 import Response, ResponseParser
from wsfast.limits import MAX_HANDSHAKE_SIZE, MAX_HEADER_LINE, MAX_HEADERS

FRAME = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"


# ------------------------------------------------------------------------ fake extensions


class FakeExtension(Extension):
    def __init__(self, name: str, params) -> None:
        self.name = name
        self.params = list(params)


class FakeServerFactory(ServerExtensionFactory):
    """Accepts an offer when ``accept(params, accepted)`` is true, echoing its params."""

    def __init__(self, name: str, accept=lambda params, accepted: True, response=None):
        self.name = name
        self.accept = accept
        self.response = response
        self.calls: list = []

    def process_request_params(self, params, accepted):
        self.calls.append((list(params), list(accepted)))
        if not self.accept(params, accepted):
            raise NegotiationError(f"{self.name} declines {params}")
        response = list(params) if self.response is None else self.response
        return response, FakeExtension(self.name, params)


class FakeClientFactory(ClientExtensionFactory):
    def __init__(self, name: str, params=(), accept=lambda params, accepted: True):
        self.name = name
        self.params = list(params)
        self.accept = accept

    def get_request_params(self):
        return list(self.params)

    def process_response_params(self, params, accepted):
        if not self.accept(params, accepted):
            raise NegotiationError(f"{self.name} refuses {params}")
        return FakeExtension(self.name, params)


# --------------------------------------------------------------------------------- helpers


def server_accepts(data: bytes, **kwargs) -> tuple[ServerHandshake, Response]:
    server = ServerHandshake(**kwargs)
    request = server.receive_data(data)
    assert request is not None
    return server, server.accept(request)


def server_rejects(data: bytes, **kwargs) -> tuple[InvalidHandshake, Response]:
    """Run the server on ``data``; return the error and the parsed error response."""
    server = ServerHandshake(**kwargs)
    with pytest.raises(InvalidHandshake) as info:
        request = server.receive_data(data)
        assert request is not None
        server.accept(request)
    response = server.error_response(info.value)
    parsed = ResponseParser().feed(response.serialize())
    assert parsed == response
    assert response.headers["Connection"] == "close"
    assert response.headers["Content-Length"] == str(len(response.body))
    return info.value, response


def connect(client: ClientHandshake, server: ServerHandshake, *, server_extra=b"", client_extra=b""):
    request = server.receive_data(client.data_to_send() + client_extra)
    assert request is not None
    response = server.accept(request)
    return client.receive_data(response.serialize() + server_extra)


def response_to(client: ClientHandshake, *, drop=(), add=(), status=b"101 Switching Protocols") -> bytes:
    fields = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(client.key)),
    ]
    dropped = {n.lower() for n in drop}
    fields = [(n, v) for n, v in fields if n.lower() not in dropped] + list(add)
    head = b"HTTP/1.1 " + status + b"\r\n"
    return head + b"".join(f"{n}: {v}\r\n".encode() for n, v in fields) + b"\r\n"


def started_client(**kwargs) -> ClientHandshake:
    client = ClientHandshake("example.com", 80, "/", **kwargs)
    client.data_to_send()
    return client


# ------------------------------------------------------------------------------------ keys


def test_rfc_example_key():
    assert accept_key(RFC_KEY) == RFC_ACCEPT
    server, response = server_accepts(build_request())
    assert response.status_code == 101
    assert response.headers["Sec-WebSocket-Accept"] == RFC_ACCEPT


def test_generate_key():
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert len(base64.b64decode(key, validate=True)) == 16


# ------------------------------------------------------------------------------ round trip


def test_round_trip_minimal():
    client = ClientHandshake("example.com", 80, "/chat")
    server = ServerHandshake()
    response = connect(client, server)
    assert response.status_code == 101
    assert server.request.path == "/chat"
    assert server.request.headers["Host"] == "example.com"
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"] == "Upgrade"
    assert response.headers["Server"] == "wsfast"
    assert client.subprotocol is None and server.subprotocol is None
    assert client.extensions == [] and server.extensions == []
    assert client.leftover == b"" and server.leftover == b""


def test_round_trip_with_negotiation_and_pipelined_frames():
    client = ClientHandshake(
        "example.com", 8080, "/chat?room=1",
        origin="https://example.com",
        subprotocols=["v2.chat", "chat"],
        extensions=[FakeClientFactory("x-foo", [("a", "1"), ("b", None)])],
    )
    server = ServerHandshake(
        origins=["https://example.com"],
        subprotocols=["chat", "v2.chat"],
        extensions=[FakeServerFactory("x-foo")],
    )
    connect(client, server, client_extra=FRAME, server_extra=b"\x81\x02hi")
    assert server.leftover == FRAME
    assert client.leftover == b"\x81\x02hi"
    assert server.subprotocol == client.subprotocol == "v2.chat"  # the client's preference
    assert [(e.name, e.params) for e in server.extensions] == [("x-foo", [("a", "1"), ("b", None)])]
    assert [(e.name, e.params) for e in client.extensions] == [("x-foo", [("a", "1"), ("b", None)])]


def test_server_receives_request_split_at_every_byte_with_frame_once():
    client = ClientHandshake("example.com", 80, "/")
    data = client.data_to_send() + FRAME
    for split in range(len(data) + 1):
        server = ServerHandshake()
        request, handed_on = feed_in_two(server, server.receive_data, data, split)
        assert handed_on == FRAME
        assert server.accept(request).headers["Sec-WebSocket-Accept"] == accept_key(client.key)
        with pytest.raises(InvalidState):
            server.receive_data(b"x")


def test_client_receives_response_split_at_every_byte():
    client = ClientHandshake("example.com", 80, "/", subprotocols=["chat"])
    server = ServerHandshake(subprotocols=["chat"])
    response = server.accept(server.receive_data(client.data_to_send()))
    data = response.serialize() + FRAME
    for split in range(len(data) + 1):
        fresh = ClientHandshake("example.com", 80, "/", subprotocols=["chat"])
        fresh.key = client.key
        fresh.data_to_send()
        result, handed_on = feed_in_two(fresh, fresh.receive_data, data, split)
        assert result.status_code == 101 and fresh.subprotocol == "chat"
        assert handed_on == FRAME


# ------------------------------------------------------------------------------ rejections


@pytest.mark.parametrize("kwargs, error, status", [
    # Upgrade
    (dict(drop=["Upgrade"]), InvalidUpgrade, 400),
    (dict(add=[("Upgrade", "websocket")]), InvalidUpgrade, 400),  # duplicate
    (dict(drop=["Upgrade"], add=[("Upgrade", "h2c")]), InvalidUpgrade, 400),
    (dict(drop=["Upgrade"], add=[("Upgrade", "")]), InvalidUpgrade, 400),
    (dict(drop=["Upgrade"], add=[("Upgrade", "web socket")]), InvalidUpgrade, 400),
    # Connection
    (dict(drop=["Connection"]), InvalidUpgrade, 400),
    (dict(drop=["Connection"], add=[("Connection", "keep-alive")]), InvalidUpgrade, 400),
    (dict(drop=["Connection"], add=[("Connection", "upgrade;x")]), InvalidUpgrade, 400),
    # Sec-WebSocket-Key
    (dict(drop=["Sec-WebSocket-Key"]), InvalidHeader, 400),
    (dict(add=[("Sec-WebSocket-Key", RFC_KEY)]), InvalidHeader, 400),  # duplicate
    (dict(drop=["Sec-WebSocket-Key"], add=[("Sec-WebSocket-Key", "not base64!")]), InvalidHeader, 400),
    (dict(drop=["Sec-WebSocket-Key"], add=[("Sec-WebSocket-Key", "")]), InvalidHeader, 400),
    (dict(drop=["Sec-WebSocket-Key"], add=[("Sec-WebSocket-Key", base64.b64encode(b"x" * 15).decode())]), InvalidHeader, 400),
    (dict(drop=["Sec-WebSocket-Key"], add=[("Sec-WebSocket-Key", base64.b64encode(b"x" * 17).decode())]), InvalidHeader, 400),
    (dict(drop=["Sec-WebSocket-Key"], add=[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")]), InvalidHeader, 400),
    (dict(drop=["Sec-WebSocket-Key"], add=[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==\xe9")]), InvalidHeader, 400),
    # Host
    (dict(drop=["Host"]), InvalidHeader, 400),
    (dict(add=[("Host", "other.example.com")]), InvalidHeader, 400),
    # Malformed negotiation headers
    (dict(add=[("Sec-WebSocket-Extensions", "x;")]), InvalidHeader, 400),
    (dict(add=[("Sec-WebSocket-Protocol", "a b")]), InvalidHeader, 400),
    # HTTP
    (dict(start_line=b"GET /chat HTTP/1.0"), InvalidMessage, 400),
    (dict(start_line=b"GET /chat"), InvalidMessage, 400),
])
def test_rejected_400(kwargs, error, status):
    exc, response = server_rejects(build_request(**kwargs))
    assert type(exc) is error
    assert exc.status_code == status == response.status_code
    assert response.reason_phrase == "Bad Request"
    assert b"Failed to open a WebSocket connection" in response.body


def test_rejected_missing_headers_name_the_header():
    for name in ("Upgrade", "Connection", "Sec-WebSocket-Key", "Host"):
        exc, _ = server_rejects(build_request(drop=[name]))
        assert exc.name == name and exc.value is None


@pytest.mark.parametrize("kwargs", [
    dict(drop=["Sec-WebSocket-Version"], add=[("Sec-WebSocket-Version", "8")]),
    dict(drop=["Sec-WebSocket-Version"], add=[("Sec-WebSocket-Version", "13, 8")]),
    dict(drop=["Sec-WebSocket-Version"], add=[("Sec-WebSocket-Version", "")]),
    dict(drop=["Sec-WebSocket-Version"]),
    dict(add=[("Sec-WebSocket-Version", "13")]),  # duplicate
])
def test_wrong_version_426_with_supported_version(kwargs):
    exc, response = server_rejects(build_request(**kwargs))
    assert isinstance(exc, InvalidVersion)
    assert response.status_code == 426 and response.reason_phrase == "Upgrade Required"
    assert response.headers.get_all("Sec-WebSocket-Version") == ["13"]
    assert response.headers["Upgrade"] == "websocket"


def test_other_method_405_with_allow():
    exc, response = server_rejects(build_request(start_line=b"POST /chat HTTP/1.1"))
    assert isinstance(exc, InvalidMessage)
    assert response.status_code == 405 and response.headers["Allow"] == "GET"


def _many_headers(count: int) -> bytes:
    return build_request(add=[(f"X-{i}", "v") for i in range(count)])


def _long_line() -> bytes:
    return build_request(add=[("X-Long", "a" * MAX_HEADER_LINE)])


def _big_head() -> bytes:
    return build_request(add=[(f"X-{i}", "a" * 4000) for i in range(MAX_HANDSHAKE_SIZE // 4000 + 1)])


@pytest.mark.parametrize("data", [_many_headers(MAX_HEADERS), _long_line(), _big_head()],
                         ids=["headers", "line", "head"])
def test_too_large_431(data):
    exc, response = server_rejects(data)
    assert isinstance(exc, HeadersTooLarge)
    assert response.status_code == 431
    assert response.reason_phrase == "Request Header Fields Too Large"


@pytest.mark.parametrize("data", [_many_headers(MAX_HEADERS), _long_line(), _big_head()],
                         ids=["headers", "line", "head"])
def test_too_large_431_byte_by_byte_before_the_end(data):
    server = ServerHandshake()
    with pytest.raises(HeadersTooLarge):
        for i in range(len(data) - 2):  # the blank line that ends the head never comes
            assert server.receive_data(data[i : i + 1]) is None
    assert server.error_response(HeadersTooLarge("x")).status_code == 431


def test_server_limits_are_configurable():
    exc, _ = server_rejects(build_request(), max_headers=4)
    assert isinstance(exc, HeadersTooLarge)
    exc, _ = server_rejects(build_request(), max_line=20)
    assert isinstance(exc, HeadersTooLarge)
    exc, _ = server_rejects(build_request(), max_size=100)
    assert isinstance(exc, HeadersTooLarge)


def test_accepted_variants():
    # Tokens are case-insensitive, lists may hold other values and be split over lines.
    server_accepts(build_request(drop=["Upgrade", "Connection"], add=[
        ("upgrade", "WebSocket, h2c"), ("connection", "keep-alive"), ("CONNECTION", "UPGRADE"),
    ]))
    server_accepts(build_request(drop=["Connection"], add=[("Connection", "keep-alive, Upgrade")]))


# ---------------------------------------------------------------------------------- origin


@pytest.mark.parametrize("origins, origin, ok", [
    (None, None, True),
    (None, "https://evil.example", True),
    (["https://a.example"], "https://a.example", True),
    (["https://a.example"], "HTTPS://A.EXAMPLE", True),
    (["https://a.example"], "https://b.example", False),
    (["https://a.example"], "https://a.example:443", False),
    (["https://a.example"], None, False),
    (["https://a.example", None], None, True),
    ([None], "https://a.example", False),
    ([], None, False),
])
def test_origin(origins, origin, ok):
    add = [] if origin is None else [("Origin", origin)]
    data = build_request(add=add)
    if ok:
        server_accepts(data, origins=origins)
    else:
        exc, response = server_rejects(data, origins=origins)
        assert isinstance(exc, InvalidOrigin)
        assert response.status_code == 403 and response.reason_phrase == "Forbidden"


def test_duplicate_origin_400():
    data = build_request(add=[("Origin", "https://a.example"), ("Origin", "https://a.example")])
    exc, response = server_rejects(data, origins=["https://a.example"])
    assert response.status_code == 400


# ------------------------------------------------------------------------------ reject etc


def test_reject_builds_plain_text_response():
    server = ServerHandshake(server_header=None)
    response = server.reject(404, "nothing here\n", {"X-Reason": "gone"})
    assert response.status_code == 404 and response.reason_phrase == "Not Found"
    assert response.body == b"nothing here\n"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Length"] == "13"
    assert response.headers["Connection"] == "close"
    assert response.headers["X-Reason"] == "gone"
    assert "Server" not in response.headers
    assert server.reject(200).body == b"" and server.reject(200).headers["Content-Length"] == "0"
    assert server.reject(299).reason_phrase == "Unknown"


def test_error_response_for_unexpected_exception_is_500():
    response = ServerHandshake().error_response(RuntimeError("boom"))
    assert response.status_code == 500 and b"boom" not in response.body


def test_server_receive_eof():
    server = ServerHandshake()
    server.receive_data(b"GET / HTTP/1.1\r\n")
    with pytest.raises(InvalidMessage):
        server.receive_eof()


# ---------------------------------------------------------------------------- subprotocols


def _offer(*values: str) -> bytes:
    return build_request(add=[("Sec-WebSocket-Protocol", v) for v in values])


@pytest.mark.parametrize("offered, supported, expected", [
    ((), None, None),
    (("chat",), None, None),  # the server supports none: ignored
    ((), ["chat"], None),
    (("chat",), ["chat"], "chat"),
    (("a, b, c",), ["c", "b"], "b"),  # the client's order of preference
    (("a", "b"), ["b"], "b"),  # split over several header lines
    (("x, y",), ["chat"], None),  # no overlap: no subprotocol, still accepted
    (("Chat",), ["chat"], None),  # case-sensitive
])
def test_select_subprotocol_default(offered, supported, expected):
    server, response = server_accepts(_offer(*offered), subprotocols=supported)
    assert server.subprotocol == expected
    assert response.headers.get("Sec-WebSocket-Protocol") == expected


def test_select_subprotocol_hook():
    calls = []

    def select(client_protocols, server_protocols):
        calls.append((client_protocols, server_protocols))
        return client_protocols[-1]

    server, response = server_accepts(_offer("a, b", "c"), subprotocols=["a"], select_subprotocol=select)
    assert calls == [(["a", "b", "c"], ["a"])]
    assert server.subprotocol == "c" and response.headers["Sec-WebSocket-Protocol"] == "c"


def test_select_subprotocol_hook_may_refuse():
    def required(client_protocols, server_protocols):
        if "chat" not in client_protocols:
            raise NegotiationError("chat required")
        return "chat"

    server_accepts(_offer("chat"), select_subprotocol=required)
    exc, response = server_rejects(_offer("other"), select_subprotocol=required)
    assert isinstance(exc, NegotiationError) and response.status_code == 400


def test_select_subprotocol_hook_returning_unoffered_value_fails():
    exc, _ = server_rejects(_offer("a"), select_subprotocol=lambda c, s: "zzz")
    assert isinstance(exc, NegotiationError)


def test_select_subprotocol_hook_returning_none():
    server, response = server_accepts(_offer("a"), select_subprotocol=lambda c, s: None)
    assert server.subprotocol is None and "Sec-WebSocket-Protocol" not in response.headers


# ------------------------------------------------------------------------------ extensions


def _extensions(*values: str) -> bytes:
    return build_request(add=[("Sec-WebSocket-Extensions", v) for v in values])


def test_extensions_negotiated_in_client_offer_order():
    a, b = FakeServerFactory("a"), FakeServerFactory("b")
    server, response = server_accepts(_extensions("b; x=1, c", "a"), extensions=[a, b])
    assert [e.name for e in server.extensions] == ["b", "a"]
    assert response.headers["Sec-WebSocket-Extensions"] == "b; x=1, a"
    # The later factory sees the extensions accepted before it.
    assert a.calls == [([], server.extensions[:1])]


def test_declined_offer_falls_back_to_the_next_offer():
    factory = FakeServerFactory("pmd", accept=lambda params, accepted: ("bad", None) not in params)
    server, response = server_accepts(_extensions("pmd; bad, pmd; good"), extensions=[factory])
    assert [e.params for e in server.extensions] == [[("good", None)]]
    assert response.headers["Sec-WebSocket-Extensions"] == "pmd; good"


def test_each_factory_accepts_one_offer_only():
    factory = FakeServerFactory("pmd")
    server, response = server_accepts(_extensions("pmd; a, pmd; b"), extensions=[factory])
    assert len(server.extensions) == 1 and len(factory.calls) == 1
    assert response.headers["Sec-WebSocket-Extensions"] == "pmd; a"


def test_second_factory_of_the_same_name_tried_when_first_declines():
    first = FakeServerFactory("pmd", accept=lambda p, a: False)
    second = FakeServerFactory("pmd", response=[("server_no_context_takeover", None)])
    server, response = server_accepts(_extensions("pmd"), extensions=[first, second])
    assert len(first.calls) == len(second.calls) == 1
    assert response.headers["Sec-WebSocket-Extensions"] == "pmd; server_no_context_takeover"


def test_all_declined_or_unknown_means_no_header():
    server, response = server_accepts(
        _extensions("unknown; a=1", "pmd"), extensions=[FakeServerFactory("pmd", accept=lambda p, a: False)]
    )
    assert server.extensions == [] and "Sec-WebSocket-Extensions" not in response.headers


def test_extension_response_params_quoted_when_needed():
    factory = FakeServerFactory("x", response=[("v", "a b")])
    _, response = server_accepts(_extensions("x"), extensions=[factory])
    assert response.headers["Sec-WebSocket-Extensions"] == 'x; v="a b"'


def test_accept_resets_extensions():
    server = ServerHandshake(extensions=[FakeServerFactory("x")])
    request = server.receive_data(_extensions("x"))
    server.accept(request)
    server.accept(request)
    assert len(server.extensions) == 1


# -------------------------------------------------------------------------- client request


@pytest.mark.parametrize("host, port, secure, expected", [
    ("example.com", 80, False, "example.com"),
    ("example.com", 443, True, "example.com"),
    ("example.com", 443, False, "example.com:443"),
    ("example.com", 80, True, "example.com:80"),
    ("example.com", 8080, False, "example.com:8080"),
    ("::1", 80, False, "[::1]"),
    ("::1", 9000, True, "[::1]:9000"),
    ("[::1]", 9000, False, "[::1]:9000"),
])
def test_client_host_header(host, port, secure, expected):
    client = ClientHandshake(host, port, "/", secure=secure)
    assert client.request().headers["Host"] == expected


def test_client_request_headers():
    client = ClientHandshake(
        "example.com", 80, "/p?q=1", origin="https://example.com", subprotocols=["a", "b"],
        extensions=[FakeClientFactory("x", [("p", None)]), FakeClientFactory("y", [("q", "1 2")])],
        extra_headers=[("Authorization", "Bearer t"), ("Cookie", "a=1")],
    )
    request = client.request()
    assert request is client.request()
    assert request.method == "GET" and request.path == "/p?q=1"
    h = request.headers
    assert h["Upgrade"] == "websocket" and h["Connection"] == "Upgrade"
    assert h["Sec-WebSocket-Key"] == client.key
    assert len(base64.b64decode(client.key)) == 16
    assert h["Sec-WebSocket-Version"] == "13"
    assert h["Origin"] == "https://example.com"
    assert h["Sec-WebSocket-Protocol"] == "a, b"
    assert h["Sec-WebSocket-Extensions"] == 'x; p, y; q="1 2"'
    assert h["User-Agent"] == "wsfast"
    assert h["Authorization"] == "Bearer t" and h["Cookie"] == "a=1"
    assert "Origin" not in ClientHandshake("e", 80, "/").request().headers


def test_client_user_agent_options():
    assert "User-Agent" not in ClientHandshake("e", 80, "/", user_agent=None).request().headers
    client = ClientHandshake("e", 80, "/", extra_headers={"User-Agent": "mine"})
    assert client.request().headers.get_all("User-Agent") == ["mine"]


def test_client_data_to_send_once_and_fresh_keys():
    client = ClientHandshake("e", 80, "")
    data = client.data_to_send()
    assert data.startswith(b"GET / HTTP/1.1\r\n") and data.endswith(b"\r\n\r\n")
    assert client.data_to_send() == b""
    assert ClientHandshake("e", 80, "/").key != client.key


def test_client_receive_before_request():
    with pytest.raises(InvalidState):
        ClientHandshake("e", 80, "/").receive_data(b"HTTP/1.1 101 X\r\n\r\n")


# ------------------------------------------------------------------------- client response


def test_client_rejects_non_101_with_body():
    client = started_client()
    server = ServerHandshake()
    data = server.reject(403, "go away\n").serialize()
    with pytest.raises(InvalidStatus) as info:
        for i in range(len(data)):
            client.receive_data(data[i : i + 1])
    assert info.value.response.status_code == 403
    assert info.value.response.body == b"go away\n"
    assert client.response is info.value.response


def test_client_gets_the_426_of_a_server():
    client = started_client()
    server = ServerHandshake()
    request_data = client.data_to_send() or client.request().serialize()
    data = request_data.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 7")
    with pytest.raises(InvalidVersion) as info:
        server.accept(server.receive_data(data))
    with pytest.raises(InvalidStatus) as status:
        client.receive_data(server.error_response(info.value).serialize())
    assert status.value.response.status_code == 426
    assert status.value.response.headers["Sec-WebSocket-Version"] == "13"


def test_client_body_until_eof():
    client = started_client()
    assert client.receive_data(b"HTTP/1.1 500 Internal Server Error\r\n\r\noops") is None
    with pytest.raises(InvalidStatus) as info:
        client.receive_eof()
    assert info.value.response.body == b"oops"


def test_client_eof_before_response():
    client = started_client()
    client.receive_data(b"HTTP/1.1 101 Switch")
    with pytest.raises(InvalidMessage):
        client.receive_eof()


@pytest.mark.parametrize("kwargs, error", [
    (dict(drop=["Upgrade"]), InvalidUpgrade),
    (dict(drop=["Upgrade"], add=[("Upgrade", "websocket, h2c")]), InvalidUpgrade),
    (dict(drop=["Upgrade"], add=[("Upgrade", "h2c")]), InvalidUpgrade),
    (dict(add=[("Upgrade", "websocket")]), InvalidUpgrade),
    (dict(drop=["Connection"]), InvalidUpgrade),
    (dict(drop=["Connection"], add=[("Connection", "close")]), InvalidUpgrade),
    (dict(drop=["Sec-WebSocket-Accept"]), InvalidHeader),
    (dict(drop=["Sec-WebSocket-Accept"], add=[("Sec-WebSocket-Accept", RFC_ACCEPT)]), InvalidHeader),
    (dict(add=[("Sec-WebSocket-Accept", "x")]), InvalidHeader),
])
def test_client_rejects_bad_101(kwargs, error):
    client = started_client()
    with pytest.raises(error):
        client.receive_data(response_to(client, **kwargs))


def test_client_accepts_case_insensitive_upgrade_tokens():
    client = started_client()
    data = response_to(client, drop=["Upgrade", "Connection"],
                       add=[("Upgrade", "WebSocket"), ("Connection", "keep-alive, UPGRADE")])
    assert client.receive_data(data).status_code == 101


@pytest.mark.parametrize("offered, answered, expected", [
    (None, [], None),
    (["a", "b"], [], None),
    (["a", "b"], ["b"], "b"),
    (None, ["a"], NegotiationError),
    (["a"], ["b"], NegotiationError),
    (["a", "b"], ["a, b"], NegotiationError),
    (["a", "b"], ["a", "b"], NegotiationError),
    (["a"], ["a b"], InvalidHeader),
])
def test_client_subprotocol(offered, answered, expected):
    client = started_client(subprotocols=offered)
    data = response_to(client, add=[("Sec-WebSocket-Protocol", v) for v in answered])
    if isinstance(expected, type):
        with pytest.raises(expected):
            client.receive_data(data)
    else:
        client.receive_data(data)
        assert client.subprotocol == expected


def test_client_extensions_accepted_in_response_order():
    a, b = FakeClientFactory("a"), FakeClientFactory("b")
    client = started_client(extensions=[a, b])
    client.receive_data(response_to(client, add=[("Sec-WebSocket-Extensions", "b; x=1, a")]))
    assert [(e.name, e.params) for e in client.extensions] == [("b", [("x", "1")]), ("a", [])]


@pytest.mark.parametrize("answer", ["c", "a, a", "a; refuse"])
def test_client_extension_not_offered_or_refused(answer):
    factory = FakeClientFactory("a", accept=lambda params, accepted: ("refuse", None) not in params)
    client = started_client(extensions=[factory])
    with pytest.raises(NegotiationError):
        client.receive_data(response_to(client, add=[("Sec-WebSocket-Extensions", answer)]))


def test_client_extension_header_invalid():
    client = started_client(extensions=[FakeClientFactory("a")])
    with pytest.raises(InvalidHeader):
        client.receive_data(response_to(client, add=[("Sec-WebSocket-Extensions", "a;")]))


def test_client_response_limits():
    client = ClientHandshake("e", 80, "/", max_headers=2)
    client.data_to_send()
    with pytest.raises(HeadersTooLarge):
        client.receive_data(response_to(client))


def test_client_receive_after_response():
    client = started_client()
    client.receive_data(response_to(client))
    with pytest.raises(InvalidState):
        client.receive_data(b"\x81\x00")
    assert client.receive_eof().status_code == 101


def test_headers_type_of_messages():
    client = started_client()
    response = client.receive_data(response_to(client))
    assert isinstance(response.headers, Headers)
