"""The upgrade-request head kernel (``RequestHead``) on each twin, and the twins' parity on
random and mutated requests (same outcome, or the same exception type, status and message).

The fast answer (``answer``) is checked against the full path: for any request it answers,
``ServerHandshake.accept`` must accept with nothing negotiated and send the same bytes.
"""
from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twins
from wsfast.exceptions import HeadersTooLarge, InvalidHandshake, InvalidMessage, InvalidState
from wsfast.handshake import GUID, ServerHandshake
from wsfast.headers import Headers
from wsfast.http11 import Request

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3
PREFIX, SUFFIX = ServerHandshake()._answer_parts  # type: ignore[misc]
LIMITS = (8192, 128, 65536)


def build(fields=None, start=b"GET /chat HTTP/1.1", extra=()) -> bytes:
    fields = list(fields if fields is not None else [
        ("Host", "example.com"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")]) + list(extra)
    return b"\r\n".join([start] + [f"{n}: {v}".encode("latin-1") for n, v in fields]) + b"\r\n\r\n"


def full_answer(head) -> bytes | None:
    """What the full path sends for the head's request when it accepts with nothing
    negotiated; None when it refuses or negotiates something."""
    hs = ServerHandshake()
    try:
        response = hs.accept(Request(head.method, head.path, Headers._from_parsed(head.fields())))
    except InvalidHandshake:
        return None
    if hs.subprotocol is not None or hs.extensions:
        return None
    return response.serialize()


def feed_all(head, chunks):
    """(outcome, exposed state) of feeding ``chunks`` until the head is complete."""
    outcome: tuple = ("incomplete",)
    unread = b""
    try:
        for i, chunk in enumerate(chunks):
            if head.feed(chunk):
                outcome = ("complete",)
                unread = b"".join(chunks[i + 1:])
                break
    except (InvalidMessage, HeadersTooLarge) as exc:
        outcome = ("error", type(exc).__name__, getattr(exc, "status_code", None), str(exc))
    return (outcome, head.complete, head.method, head.path, head.fields(), head.raw,
            head.leftover + unread, head.upgrade_ok(), head.answer(b"", b"", True),
            head.answer(PREFIX, SUFFIX))


# ------------------------------------------------------------------------- each twin


def test_rfc_example_answer(impl):
    head = impl.upgrade.RequestHead(*LIMITS)
    assert head.feed(build()) is True
    assert (head.method, head.path, head.leftover, head.raw) == ("GET", "/chat", b"", build())
    assert head.fields()[3] == ("Sec-WebSocket-Key", KEY)
    answer = head.answer(PREFIX, SUFFIX)
    assert answer == PREFIX + ACCEPT.encode() + SUFFIX
    assert answer == full_answer(head)


@pytest.mark.parametrize("key", ["AAAAAAAAAAAAAAAAAAAAAA==", "////////////////////+B==", "x" * 22 + "=="])
def test_answer_hashes_any_valid_key(impl, key):
    head = impl.upgrade.RequestHead(*LIMITS)
    head.feed(build(extra=[]).replace(KEY.encode(), key.encode()))
    expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest())
    assert head.answer(b"", b"") == expected


@pytest.mark.parametrize("change", [
    lambda r: r.replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"),
    lambda r: r.replace(b"Connection: Upgrade", b"connection: ,, UPGRADE ,"),
    lambda r: r.replace(b"Upgrade: websocket", b"upgrade: WebSocket"),
    lambda r: r.replace(b"Host: example.com", b"HOST:example.com  "),
    lambda r: r[:-2] + b"Origin: https://a.example\r\nX-Other: 1\r\n\r\n",
    lambda r: r[:-2] + b"Connection: close\r\n\r\n",  # a second Connection field
])
def test_plain_variants_get_the_fast_answer(impl, change):
    head = impl.upgrade.RequestHead(*LIMITS)
    assert head.feed(change(build()))
    answer = head.answer(PREFIX, SUFFIX)
    assert answer == PREFIX + ACCEPT.encode() + SUFFIX == full_answer(head)


@pytest.mark.parametrize("change", [
    lambda r: r[:-2] + b"Sec-WebSocket-Protocol: chat\r\n\r\n",
    lambda r: r[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    lambda r: r[:-2] + b"Host: again\r\n\r\n",
    lambda r: r[:-2] + b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n\r\n",
    lambda r: r[:-2] + b"Upgrade: websocket\r\n\r\n",
    lambda r: r[:-2] + b"Sec-WebSocket-Version: 13\r\n\r\n",
    lambda r: r[:-2] + b"Connection: a b\r\n\r\n",  # an invalid list: the full path refuses
    lambda r: r.replace(b"Host: example.com\r\n", b""),
    lambda r: r.replace(b"Connection: Upgrade", b"Connection: keep-alive"),
    lambda r: r.replace(b"Connection: Upgrade", b"Connection: close, upgraded"),
    lambda r: r.replace(b"Upgrade: websocket", b"Upgrade: websocket, h2c"),
    lambda r: r.replace(b"13", b"8"),
    lambda r: r.replace(KEY.encode(), KEY[:-2].encode()),
    lambda r: r.replace(KEY.encode(), b"dGhlIHNhbXBsZSBub25jZ*=="),
    lambda r: r.replace(KEY.encode(), b"dGhlIHNhbXBsZSBub25jZQ=a"),
])
def test_other_requests_take_the_full_path(impl, change):
    head = impl.upgrade.RequestHead(*LIMITS)
    assert head.feed(change(build()))
    assert head.answer(PREFIX, SUFFIX) is None


@pytest.mark.parametrize("offer", ["Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Extensions: x",
                                   "Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Extensions: b"])
def test_offers_are_answered_only_when_asked(impl, offer):
    head = impl.upgrade.RequestHead(*LIMITS)
    head.feed(build()[:-2] + offer.encode() + b"\r\n\r\n")
    assert head.upgrade_ok()
    assert head.answer(PREFIX, SUFFIX) is None
    assert head.answer(b"<", b">", True) == b"<" + ACCEPT.encode() + b">"
    broken = impl.upgrade.RequestHead(*LIMITS)
    broken.feed(build().replace(b"13", b"8")[:-2] + offer.encode() + b"\r\n\r\n")
    assert not broken.upgrade_ok() and broken.answer(b"", b"", True) is None


def test_no_answer_before_the_head_is_complete(impl):
    head = impl.upgrade.RequestHead(*LIMITS)
    data = build()
    assert head.feed(data[:-1]) is False
    assert head.answer(PREFIX, SUFFIX) is None and head.raw == b"" and not head.upgrade_ok()
    assert head.feed(data[-1:] + b"\x81\x00") is True
    assert head.leftover == b"\x81\x00" and head.raw == data
    assert head.answer(PREFIX, SUFFIX) is not None


def test_errors_repeat_and_complete_heads_take_nothing_more(impl):
    head = impl.upgrade.RequestHead(*LIMITS)
    with pytest.raises(InvalidMessage) as first:
        head.feed(b"GET / HTTP/1.1\r\nbad line\r\n")
    with pytest.raises(InvalidMessage) as again:
        head.feed(b"\r\n")
    assert again.value is first.value
    assert str(first.value) == "invalid header line: b'bad line'"
    assert head.fields() == [] and not head.complete
    head = impl.upgrade.RequestHead(*LIMITS)
    head.feed(build())
    with pytest.raises(InvalidState, match="already complete"):
        head.feed(b"")


def test_method_405_and_limits(impl):
    with pytest.raises(InvalidMessage) as exc:
        impl.upgrade.RequestHead(*LIMITS).feed(b"POST / HTTP/1.1\r\n")
    assert exc.value.status_code == 405 and str(exc.value) == "unsupported HTTP method: POST"
    with pytest.raises(HeadersTooLarge, match="line over 10 bytes"):
        impl.upgrade.RequestHead(10, 128, 65536).feed(b"GET /0123456789 HTTP/1.1")
    with pytest.raises(HeadersTooLarge, match="more than 2 headers"):
        impl.upgrade.RequestHead(8192, 2, 65536).feed(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n")
    with pytest.raises(HeadersTooLarge, match="head over 40 bytes"):
        impl.upgrade.RequestHead(8192, 128, 40).feed(build())
    head = impl.upgrade.RequestHead(8192, 5, len(build()))  # exactly at every limit
    assert head.feed(build()) and head.max_headers == 5


# ------------------------------------------------------------------ the twins agree


@pytest.fixture(scope="module")
def pair():
    """(cython, python) namespaces; skipped like the cython case of ``impl`` when unbuilt."""
    return twins.load("cython"), twins.load("python")


GOOD_NAMES = ["Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
              "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Origin", "X-A", "HOST",
              "connection", "sec-websocket-KEY"]
NAMES = st.sampled_from(GOOD_NAMES * 4 + ["bad name", "", "Bad:Colon", "caf\xe9"])
VALUES = st.one_of(
    st.sampled_from(["websocket", "Upgrade", "keep-alive, Upgrade", KEY, "13", "8", "chat",
                     ",upgrade,", "a b", "", " \t", "WEBSOCKET", KEY[:-1] + "A", "x" * 22 + "==",
                     "permessage-deflate", "caf\xe9", "upgrade, ", "Upgrade\t,\tx", "close",
                     "keep-alive", "upgrade2", "websocket/13"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=30),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=10),
)


@st.composite
def requests(draw):
    """Mostly well-formed upgrade requests with random fields, some byte-mutated."""
    start = draw(st.sampled_from([b"GET /chat HTTP/1.1"] * 8 + [b"GET / HTTP/1.1", b"POST / HTTP/1.1",
                                  b"GET / HTTP/1.0", b"GET  / HTTP/1.1", b"GET /\x7f HTTP/1.1",
                                  b"GET / HTTP/x.y", b"G\xc9T / HTTP/1.1"]))
    base = [("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")]
    fields = [f for f in base if draw(st.integers(0, 19))]
    fields += draw(st.lists(st.tuples(NAMES, VALUES), max_size=4))
    fields = draw(st.permutations(fields))
    data = start + b"".join(b"\r\n" + f"{n}: {v}".encode("latin-1") for n, v in fields) + b"\r\n\r\n"
    for _ in range(draw(st.integers(0, 3)) if not draw(st.integers(0, 3)) else 0):
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.binary(max_size=3)) + data[pos + draw(st.integers(0, 3)):]
    data += draw(st.sampled_from([b"", b"\x81\x00", b"GET"]))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=5)))
    chunks = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    limits = draw(st.sampled_from([LIMITS] * 6 + [(20, 4, 200), (64, 3, 120), (60, 8, 400)]))
    return data, chunks, limits


@SETTINGS
@given(requests())
def test_twins_agree_on_random_requests(pair, case):
    data, chunks, limits = case
    results = [feed_all(impl.upgrade.RequestHead(*limits), c) for impl in pair for c in ([data], chunks)]
    assert results[0] == results[2]  # whole: cython == python
    assert results[1] == results[3]  # in chunks: cython == python
    for result in results[:2]:
        if result[0] == ("complete",):
            *_, answer = result
            head = pair[1].upgrade.RequestHead(*limits)
            head.feed(data)
            # a fast answer is the full path's answer; a plain-looking request refused by the
            # full path gets no fast answer
            assert answer is None or answer == full_answer(head)
    if results[0][0] == results[1][0] == ("complete",):
        assert results[0][2:] == results[1][2:]
        raw, leftover = results[0][5:7]
        assert raw + leftover == data


def handshake_outcome(kernels, data: bytes, fast: bool) -> tuple:
    """What a server with subprotocols and permessage-deflate answers to ``data``: through
    ``accept_plain`` (then ``accept`` when it gives None) or through ``accept`` alone."""
    from wsfast.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    hs = ServerHandshake(subprotocols=["chat", "superchat"], kernels=kernels,
                         extensions=[ServerPerMessageDeflateFactory()])
    try:
        request = hs.receive_data(data)
    except InvalidHandshake as exc:
        return ("invalid", type(exc).__name__, str(exc))
    if request is None:
        return ("incomplete",)
    answer = hs.accept_plain() if fast else None
    if answer is None:
        try:
            answer = hs.accept(request).serialize()
        except InvalidHandshake as exc:
            return ("refused", type(exc).__name__, str(exc))
    return ("accepted", answer, hs.subprotocol, [repr(e) for e in hs.extensions])


OFFERS = st.sampled_from(["Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: x, superchat",
                          "Sec-WebSocket-Protocol: a b", "Sec-WebSocket-Protocol: ",
                          "Sec-WebSocket-Extensions: permessage-deflate",
                          "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
                          "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7",
                          "Sec-WebSocket-Extensions: x-foo, permessage-deflate; server_no_context_takeover",
                          "Sec-WebSocket-Extensions: permessage-deflate;;", "Origin: o"])


@SETTINGS
@given(requests(), st.lists(OFFERS, max_size=3))
def test_accept_plain_answers_as_accept_does(impl, case, offers):
    data, _, _ = case
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        data = data[:end + 2] + b"".join(o.encode() + b"\r\n" for o in offers) + data[end + 2:]
    assert handshake_outcome(impl, data, True) == handshake_outcome(impl, data, False)
