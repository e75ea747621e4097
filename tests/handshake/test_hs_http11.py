"""Incremental HTTP/1.1 request and response parsing under the handshake limits."""
from __future__ import annotations

import pytest
from hs_util import build_request, feed_in_two

from wsfast.exceptions import HeadersTooLarge, InvalidMessage, InvalidState
from wsfast.headers import Headers
from wsfast.http11 import Request, RequestParser, Response, ResponseParser
from wsfast.limits import MAX_HANDSHAKE_SIZE, MAX_HEADER_LINE, MAX_HEADERS

FRAME = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # masked "Hello" (RFC 6455 5.7)


def feed_bytewise(parser, data: bytes):
    """Feed ``data`` one byte at a time; return (result, bytes not fed)."""
    for i in range(len(data)):
        result = parser.feed(data[i : i + 1])
        if result is not None:
            return result, data[i + 1 :]
    return None, b""


# ------------------------------------------------------------------------------- request


def test_request_parsed(request_bytes):
    request = RequestParser().feed(request_bytes())
    assert request.method == "GET" and request.path == "/chat"
    assert request.headers["host"] == "server.example.com"
    assert request.headers.raw_items()[0] == ("Host", "server.example.com")


def test_request_split_at_every_byte_with_pipelined_frame():
    data = build_request() + FRAME
    expected = RequestParser().feed(data)
    for split in range(len(data) + 1):
        parser = RequestParser()
        request, handed_on = feed_in_two(parser, parser.feed, data, split)
        assert request == expected
        assert handed_on == FRAME
        with pytest.raises(InvalidState):  # the rest goes to the WebSocket protocol
            parser.feed(b"more")


def test_request_byte_by_byte():
    data = build_request()
    parser = RequestParser()
    for i, byte in enumerate(data):
        result = parser.feed(bytes([byte]))
        assert (result is not None) == (i == len(data) - 1)
    assert parser.leftover == b""


def test_request_needs_more_data():
    parser = RequestParser()
    assert parser.feed(b"") is None
    assert parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n") is None
    assert parser.feed(b"\r") is None
    assert parser.feed(b"\n") is not None


def test_header_value_whitespace_stripped_and_latin1():
    request = RequestParser().feed(b"GET / HTTP/1.1\r\nX: \t a b \t\r\nY: caf\xe9\r\nZ:\r\n\r\n")
    assert request.headers["X"] == "a b"
    assert request.headers["Y"] == "caf\xe9"
    assert request.headers["Z"] == ""


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\nHost: a\r\n\r\n",  # bare LF
    b"GET / HTTP/1.1\r\nHost: a\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\n",
    b"\r\nGET / HTTP/1.1\r\n\r\n",  # empty line before the request line
    b"GET  / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1 \r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",  # space before the colon
    b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
    b"GET / HTTP/1.1\r\n: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",  # bare CR
    b"GET / HTTP/1.1\r\nX: a\x00\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n",  # obs-fold
    b"GET / HTTP/1.1\r\nX: a\r\n\tfolded\r\n\r\n",
    b"G(T / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n",
    b"GET / http/1.1\r\n\r\n",
    b"GET / HTTP/1.1.1\r\n\r\n",
])
def test_malformed_request_400(data):
    with pytest.raises(InvalidMessage) as info:
        RequestParser().feed(data)
    assert info.value.status_code == 400


@pytest.mark.parametrize("method", [b"POST", b"HEAD", b"get", b"CONNECT"])
def test_other_method_405(method):
    with pytest.raises(InvalidMessage) as info:
        RequestParser().feed(method + b" / HTTP/1.1\r\n")  # rejected at the request line
    assert info.value.status_code == 405


def test_error_repeats_after_failure():
    parser = RequestParser()
    with pytest.raises(InvalidMessage) as info:
        parser.feed(b"BAD\r\n")
    with pytest.raises(InvalidMessage) as again:
        parser.feed(b"Host: a\r\n\r\n")
    assert again.value is info.value


# -------------------------------------------------------------------------- request limits


def _too_many_headers(count: int) -> bytes:
    return build_request(add=[(f"X-{i}", "v") for i in range(count)])


def test_max_headers_boundary():
    base = 5  # DEFAULT_REQUEST_HEADERS
    assert RequestParser(max_headers=MAX_HEADERS).feed(_too_many_headers(MAX_HEADERS - base))
    with pytest.raises(HeadersTooLarge) as info:
        RequestParser().feed(_too_many_headers(MAX_HEADERS - base + 1))
    assert info.value.status_code == 431


def test_too_many_headers_detected_before_the_end_of_the_head():
    data = _too_many_headers(MAX_HEADERS + 10)
    parser = RequestParser()
    with pytest.raises(HeadersTooLarge):
        feed_bytewise(parser, data[:-2])  # the head never ends


def test_long_line_boundary():
    ok = b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEADER_LINE - 3) + b"\r\n\r\n"
    assert RequestParser().feed(ok) is not None
    bad = b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEADER_LINE - 2) + b"\r\n\r\n"
    with pytest.raises(HeadersTooLarge):
        RequestParser().feed(bad)
    long_target = b"GET /" + b"a" * MAX_HEADER_LINE + b" HTTP/1.1\r\n\r\n"
    with pytest.raises(HeadersTooLarge):
        RequestParser().feed(long_target)


def test_long_line_boundary_byte_by_byte():
    ok = b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEADER_LINE - 3) + b"\r\n\r\n"
    assert feed_bytewise(RequestParser(), ok)[0] is not None


def test_long_line_detected_as_it_arrives():
    # No LF ever comes: the parser must refuse once the line is over the limit.
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nX: ")
    sent = 0
    with pytest.raises(HeadersTooLarge) as info:
        while sent < 10 * MAX_HEADER_LINE:
            parser.feed(b"a")
            sent += 1
    assert info.value.status_code == 431
    assert sent <= MAX_HEADER_LINE


def test_long_line_detected_in_one_chunk_without_lf():
    with pytest.raises(HeadersTooLarge):
        RequestParser().feed(b"GET /" + b"a" * (2 * MAX_HEADER_LINE))


def test_big_head_boundary():
    lines = []
    size = len(b"GET / HTTP/1.1\r\n") + 2
    while size + 1002 <= MAX_HANDSHAKE_SIZE:
        lines.append(b"X: " + b"a" * 997 + b"\r\n")
        size += 1002
    pad = MAX_HANDSHAKE_SIZE - size - 5
    lines.append(b"Y: " + b"b" * pad + b"\r\n")
    head = b"GET / HTTP/1.1\r\n" + b"".join(lines) + b"\r\n"
    assert len(head) == MAX_HANDSHAKE_SIZE
    assert RequestParser().feed(head + FRAME) is not None
    big = head[:-2] + b"Z: \r\n\r\n"
    with pytest.raises(HeadersTooLarge) as info:
        RequestParser().feed(big)
    assert info.value.status_code == 431


def test_big_head_detected_byte_by_byte_before_the_end():
    parser = RequestParser(max_headers=10_000)
    line = b"X: " + b"a" * 1000 + b"\r\n"
    parser.feed(b"GET / HTTP/1.1\r\n")
    fed = 0
    with pytest.raises(HeadersTooLarge):
        while fed < 2 * MAX_HANDSHAKE_SIZE:
            for byte in line:
                parser.feed(bytes([byte]))
                fed += 1
    assert fed <= MAX_HANDSHAKE_SIZE


def test_custom_limits():
    with pytest.raises(HeadersTooLarge):
        RequestParser(max_line=10).feed(b"GET /0123456789 HTTP/1.1\r\n")
    with pytest.raises(HeadersTooLarge):
        RequestParser(max_headers=1).feed(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n")
    with pytest.raises(HeadersTooLarge):
        RequestParser(max_size=20).feed(b"GET / HTTP/1.1\r\nA: 1\r\n\r\n")


# ------------------------------------------------------------------------------ response

RESPONSE_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)


def test_response_101_has_no_body_and_leftover_frames():
    frame = b"\x81\x05Hello"
    for split in range(len(RESPONSE_101) + len(frame) + 1):
        parser = ResponseParser()
        data = RESPONSE_101 + frame
        response = parser.feed(data[:split])
        handed_on = parser.leftover + data[split:]
        if response is None:
            response = parser.feed(data[split:])
            handed_on = parser.leftover
        assert response.status_code == 101 and response.reason_phrase == "Switching Protocols"
        assert response.body == b""
        assert handed_on == frame
        with pytest.raises(InvalidState):
            parser.feed(b"x")


def test_response_body_with_content_length_split_everywhere():
    data = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden"
    for split in range(len(data) + 1):
        parser = ResponseParser()
        first = parser.feed(data[:split])
        response = first if first is not None else parser.feed(data[split:])
        assert response == Response(403, "Forbidden", Headers([("Content-Length", "9")]), b"forbidden")
    assert feed_bytewise(ResponseParser(), data)[0].body == b"forbidden"


def test_response_body_until_eof():
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 500 Oops\r\n\r\npart") is None
    assert parser.feed(b" two") is None
    response = parser.feed_eof()
    assert response.status_code == 500 and response.body == b"part two"


def test_response_eof_in_head():
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 101 Switching")
    with pytest.raises(InvalidMessage):
        parser.feed_eof()


def test_response_eof_in_content_length_body():
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(InvalidMessage):
        parser.feed_eof()


def test_response_body_bounded():
    with pytest.raises(InvalidMessage):
        ResponseParser(max_body=4).feed(b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\n")
    parser = ResponseParser(max_body=4)
    parser.feed(b"HTTP/1.1 404 Not Found\r\n\r\nabcd")
    with pytest.raises(InvalidMessage):
        parser.feed(b"e")


def test_response_transfer_encoding_body_not_read():
    response = ResponseParser().feed(
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert response.status_code == 404 and response.body == b""


@pytest.mark.parametrize("status", [204, 304, 100])
def test_response_without_body(status):
    response = ResponseParser().feed(b"HTTP/1.1 %d X\r\n\r\nrest" % status)
    assert response.status_code == status and response.body == b""


@pytest.mark.parametrize("line", [
    b"HTTP/1.1 101", b"HTTP/1.1 101 ", b"HTTP/1.0 204 No Content", b"HTTP/1.1 101 Switching  Protocols",
])
def test_status_line_variants_accepted(line):
    assert ResponseParser().feed(line + b"\r\n\r\n") is not None


@pytest.mark.parametrize("line", [
    b"HTTP/1.1 1011 X", b"HTTP/1.1 10 X", b"HTTP/1.1 abc X", b"HTTP/2.0 101 X", b"HTTP/1.1",
    b"HTTP/1.1  101 X", b"http/1.1 101 X", b"HTTP/1.1 101 X\x00", b"ICY 200 OK", b"HTTP/1.1 099 X",
])
def test_malformed_status_line(line):
    with pytest.raises(InvalidMessage):
        ResponseParser().feed(line + b"\r\n\r\n")


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1, 1", b""])
def test_bad_content_length(value):
    with pytest.raises(InvalidMessage):
        ResponseParser().feed(b"HTTP/1.1 400 Bad Request\r\nContent-Length: " + value + b"\r\n\r\n")


def test_duplicate_content_length():
    with pytest.raises(InvalidMessage):
        ResponseParser().feed(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"
        )


def test_response_limits():
    with pytest.raises(HeadersTooLarge):
        ResponseParser(max_headers=2).feed(b"HTTP/1.1 101 X\r\nA: 1\r\nB: 1\r\nC: 1\r\n\r\n")
    with pytest.raises(HeadersTooLarge):
        ResponseParser(max_line=10).feed(b"HTTP/1.1 101 Switching")
    with pytest.raises(HeadersTooLarge):
        ResponseParser(max_size=30).feed(b"HTTP/1.1 101 X\r\nA: 1\r\nB: 1\r\nC: 1\r\n\r\n")


# ----------------------------------------------------------------------------- serialize


def test_serialize_round_trips():
    request = Request("GET", "/a?b=c", Headers([("Host", "h"), ("X", "1")]))
    assert request.serialize() == b"GET /a?b=c HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n"
    assert RequestParser().feed(request.serialize()) == request
    response = Response(404, "Not Found", Headers([("Content-Length", "2")]), b"no")
    assert ResponseParser().feed(response.serialize()) == response
