"""Frame parser kernel, both twins: RFC examples, every rule with its close code, limits,
memory behaviour."""
from __future__ import annotations

import os
import tracemalloc

import pytest

from wsfast.exceptions import (InvalidCloseFrame, InvalidFrame, InvalidUTF8, PayloadTooBig)

from .helpers import feed_all, frame

KEY = bytes.fromhex("37fa213d")


def split_points(data: bytes, step: int = 1):
    """Every way of cutting ``data`` in two (with ``step``), plus byte by byte."""
    for cut in range(0, len(data) + 1, step):
        yield [data[:cut], data[cut:]]
    yield [data[i:i + 1] for i in range(len(data))]


def parse(impl, data, *, chunks=None, **kwargs):
    kwargs.setdefault("client", True)
    p = impl.parser.Parser(**kwargs)
    return feed_all(p, chunks if chunks is not None else [data])


# ------------------------------------------------------------------ RFC 6455 5.7 examples

RFC_EXAMPLES = [
    # (wire bytes, we are client, expected items)
    ("810548656c6c6f", True, [(1, "Hello")]),
    ("818537fa213d7f9f4d5158", False, [(1, "Hello")]),
    ("010348656c" "80026c6f", True, [(1, "Hello")]),
    ("890548656c6c6f", True, [(9, b"Hello")]),
    ("8a8537fa213d7f9f4d5158", False, [(10, b"Hello")]),
]


@pytest.mark.parametrize("hexdata,client,expected", RFC_EXAMPLES)
def test_rfc_examples(impl, hexdata, client, expected):
    data = bytes.fromhex(hexdata)
    for chunks in split_points(data):
        assert parse(impl, None, chunks=chunks, client=client) == (expected, None)


@pytest.mark.parametrize("n,header", [(256, "827e0100"), (65536, "827f0000000000010000")])
def test_rfc_binary_headers(impl, n, header):
    payload = os.urandom(n)
    data = bytes.fromhex(header) + payload
    assert parse(impl, data) == ([(2, payload)], None)
    assert parse(impl, None, chunks=[data[:3], data[3:7], data[7:]]) == ([(2, payload)], None)


# ------------------------------------------------------------------ lengths, offsets, phases


@pytest.mark.parametrize("n", [0, 1, 125, 126, 65535, 65536])
@pytest.mark.parametrize("client", [True, False])
def test_boundary_lengths(impl, n, client):
    payload = os.urandom(n)
    text = ("é" * n)[: n // 2] + "a" * (n - 2 * (n // 2))  # exactly n bytes of UTF-8
    key = None if client else KEY
    data = frame(2, payload, key=key) + frame(1, text.encode(), key=key)
    expected = [(2, payload), (1, text)]
    for cut in (1, 3, 5, 7, 11, 13, len(data) // 2 + 1, len(data) - 3):
        # odd cuts give every mask phase at a chunk boundary
        if cut >= len(data):
            continue
        chunks = [data[:cut], memoryview(data)[cut:cut + 7], bytearray(data[cut + 7:])]
        assert parse(impl, None, chunks=chunks, client=client) == (expected, None)


def test_trickle_byte_by_byte(impl):
    payload = os.urandom(3000)
    text = "Καλημέρα κόσμε 😀 " * 20
    data = (frame(2, payload, key=KEY) + frame(1, text.encode()[:100], fin=False, key=KEY)
            + frame(9, b"ping", key=KEY) + frame(0, text.encode()[100:], key=KEY))
    items, err = parse(impl, None, chunks=[data[i:i + 1] for i in range(len(data))],
                       client=False)
    assert err is None
    assert items == [(2, payload), (9, b"ping"), (1, text)]


def test_many_frames_one_chunk(impl):
    frames = [frame(2, bytes([i]) * i) for i in range(200)]
    items, err = parse(impl, b"".join(frames))
    assert err is None and items == [(2, bytes([i]) * i) for i in range(200)]


def test_caller_buffer_not_retained(impl):
    data = frame(2, b"abcdefgh", key=KEY) + frame(1, b"xyz", fin=False, key=KEY)
    buf = bytearray(data[:9])
    p = impl.parser.Parser(client=False)
    assert p.feed(buf) == []
    buf[:] = b"\x00" * len(buf)       # the caller reuses its buffer
    view = bytearray(data[9:] + frame(0, b"!", key=KEY))
    items = p.feed(memoryview(view))
    view[:] = b"\x00" * len(view)
    assert items == [(2, b"abcdefgh"), (1, "xyz!")]


# ------------------------------------------------------------------ items


def test_fragmented_with_control_frames(impl):
    data = (frame(2, b"ab", fin=False) + frame(9, b"p1") + frame(0, b"cd", fin=False)
            + frame(10, b"p2") + frame(0, b"", fin=False) + frame(0, b"ef"))
    assert parse(impl, data) == ([(9, b"p1"), (10, b"p2"), (2, b"abcdef")], None)


def test_empty_messages(impl):
    data = frame(1, b"") + frame(2, b"") + frame(1, b"", fin=False) + frame(0, b"")
    assert parse(impl, data) == ([(1, ""), (2, b""), (1, "")], None)


def test_decode_text_false(impl):
    data = frame(1, "é".encode()) + frame(1, b"a", fin=False) + frame(0, b"b")
    assert parse(impl, data, decode_text=False) == ([(1, "é".encode()), (1, b"ab")], None)
    items, err = parse(impl, frame(1, b"\xff"), decode_text=False)
    assert items == [] and type(err) is InvalidUTF8


def test_close_then_ignored(impl):
    data = frame(8, b"\x03\xe8bye") + frame(1, b"later")
    p = impl.parser.Parser(client=True)
    assert p.feed(data) == [(8, (1000, "bye"))]
    assert p.closed and p.error is None
    assert p.feed(frame(1, b"x")) == []


def test_close_empty_and_invalid(impl):
    assert parse(impl, frame(8, b"")) == ([(8, (1005, ""))], None)
    for payload, exc_type in ((b"\x03", InvalidCloseFrame), (b"\x03\xed", InvalidCloseFrame),
                              (b"\x03\xe8\xff", InvalidUTF8)):
        items, err = parse(impl, frame(9, b"p") + frame(8, payload))
        assert items == [(9, b"p")] and type(err) is exc_type


def test_compressed_messages(impl):
    raw = b"\xff\x00not utf8\xfe"
    data = (frame(1, raw[:4], rsv=0x40, fin=False) + frame(9, b"") + frame(0, raw[4:])
            + frame(2, raw, rsv=0x40) + frame(1, b"plain"))
    assert parse(impl, data, rsv_allowed=0x40) == (
        [(9, b""), (0x41, raw), (0x42, raw), (1, "plain")], None)
    items, err = parse(impl, frame(2, b"x", rsv=0x40))
    assert items == [] and str(err) == "reserved bits must be 0"


def test_compressed_size_limit(impl):
    data = frame(2, b"x" * 100, rsv=0x40)
    assert parse(impl, data, rsv_allowed=0x40, max_size=50, max_compressed_size=100)[1] is None
    items, err = parse(impl, data, rsv_allowed=0x40, max_size=1000, max_compressed_size=99)
    assert type(err) is PayloadTooBig
    items, err = parse(impl, data, rsv_allowed=0x40, max_size=99)  # None -> max_size
    assert type(err) is PayloadTooBig


# ------------------------------------------------------------------ every rule

RULES = [
    # (name, data, parser kwargs, exception type, message)
    ("rsv2", frame(1, b"a", rsv=0x20), {}, InvalidFrame, "reserved bits must be 0"),
    ("rsv1 not negotiated", frame(1, b"a", rsv=0x40), {}, InvalidFrame,
     "reserved bits must be 0"),
    ("opcode 3", frame(3, b""), {}, InvalidFrame, "reserved opcode 3"),
    ("opcode 7", frame(7, b""), {}, InvalidFrame, "reserved opcode 7"),
    ("opcode 0xB", frame(0xB, b""), {}, InvalidFrame, "reserved opcode 11"),
    ("opcode 0xF", frame(0xF, b""), {}, InvalidFrame, "reserved opcode 15"),
    ("fragmented ping", frame(9, b"", fin=False), {}, InvalidFrame,
     "fragmented control frame"),
    ("rsv1 on control", frame(9, b"", rsv=0x40), {"rsv_allowed": 0x40}, InvalidFrame,
     "RSV1 set on a control frame"),
    ("long ping", frame(9, b"x" * 126), {}, InvalidFrame, "control frame too long"),
    ("masked from server", frame(1, b"a", key=KEY), {}, InvalidFrame,
     "frame from server is masked"),
    ("unmasked from client", frame(1, b"a"), {"client": False}, InvalidFrame,
     "frame from client is not masked"),
    ("lone continuation", frame(0, b"a"), {}, InvalidFrame, "unexpected continuation frame"),
    ("text inside message", frame(1, b"a", fin=False) + frame(1, b"b"), {}, InvalidFrame,
     "expected a continuation frame"),
    ("binary inside message", frame(2, b"a", fin=False) + frame(2, b"b"), {}, InvalidFrame,
     "expected a continuation frame"),
    ("rsv1 on continuation", frame(1, b"a", fin=False, rsv=0x40) + frame(0, b"b", rsv=0x40),
     {"rsv_allowed": 0x40}, InvalidFrame, "RSV1 set on a continuation frame"),
    ("too many fragments", frame(1, b"a", fin=False) * 1 + frame(0, b"b", fin=False) * 3,
     {"max_fragments": 3}, PayloadTooBig, "more than 3 fragments in a message"),
    ("length msb", b"\x82\x7f\x80" + b"\x00" * 7, {}, InvalidFrame,
     "frame length has the most significant bit set"),
    ("frame too big", frame(2, b"x" * 11), {"max_size": 10}, PayloadTooBig,
     "frame of 11 bytes exceeds limit of 10 bytes"),
    ("message too big", frame(2, b"x" * 6, fin=False) + frame(0, b"x" * 6),
     {"max_size": 10}, PayloadTooBig, "message of 12 bytes exceeds limit of 10 bytes"),
    ("invalid utf-8", frame(1, b"ab\xffcd"), {}, InvalidUTF8,
     "invalid UTF-8 in text message"),
    ("surrogate", frame(1, b"\xed\xa0\x80"), {}, InvalidUTF8, "invalid UTF-8 in text message"),
    ("incomplete utf-8", frame(1, b"ab\xe2\x82"), {}, InvalidUTF8,
     "incomplete UTF-8 sequence at the end of a text message"),
    ("incomplete fragmented", frame(1, b"ab\xe2", fin=False) + frame(0, b"\x82"), {},
     InvalidUTF8, "incomplete UTF-8 sequence at the end of a text message"),
    ("close one byte", frame(8, b"\x03"), {}, InvalidCloseFrame,
     "close frame with a one-byte payload"),
    ("close code 1005", frame(8, b"\x03\xed"), {}, InvalidCloseFrame, "invalid close code 1005"),
    ("close bad reason", frame(8, b"\x03\xe8\xc0"), {}, InvalidUTF8,
     "close reason is not valid UTF-8"),
]


@pytest.mark.parametrize("name,data,kwargs,exc_type,message", RULES, ids=[r[0] for r in RULES])
def test_rules(impl, name, data, kwargs, exc_type, message):
    ok = frame(2, b"before")
    if not kwargs.get("client", True):
        ok = frame(2, b"before", key=KEY)
    for chunks in ([ok + data], [ok, data], [ok + data[:1], data[1:]],
                   [(ok + data)[i:i + 1] for i in range(len(ok + data))]):
        p = impl.parser.Parser(**{"client": True, **kwargs})
        items, err = feed_all(p, chunks)
        assert items == [(2, b"before")]
        assert type(err) is exc_type
        assert str(err) == message
        assert err.close_code == exc_type.close_code
        assert p.feed(frame(2, b"after")) == []


def test_close_codes():
    assert InvalidFrame.close_code == 1002
    assert InvalidUTF8.close_code == 1007
    assert PayloadTooBig.close_code == 1009


def test_check_order(impl):
    # Several rules broken at once: the first one in CHECK ORDER wins.
    bad = frame(3, rsv=0x20, key=KEY, length=200)  # rsv2, opcode 3, masked, long
    assert str(parse(impl, bad)[1]) == "reserved bits must be 0"
    bad = frame(9, fin=False, length=200)  # ping: not FIN and too long
    assert str(parse(impl, bad)[1]) == "fragmented control frame"
    bad = frame(0, b"", key=KEY)       # continuation, masked from server
    assert str(parse(impl, bad)[1]) == "frame from server is masked"
    bad = frame(1, b"a", fin=False) + frame(0, b"x" * 20)  # fragments before size
    assert str(parse(impl, bad, max_fragments=1, max_size=5)[1]) == (
        "more than 1 fragments in a message")


def test_utf8_fails_in_first_bad_fragment(impl):
    # The bad byte is in fragment 1; the ping after it must not be delivered.
    data = frame(1, b"ok\xc0", fin=False) + frame(9, b"p") + frame(0, b"x")
    for chunks in ([data], [data[:4], data[4:]]):
        items, err = parse(impl, None, chunks=chunks)
        assert items == [] and type(err) is InvalidUTF8
    # Detected as the bytes arrive: the frame is not complete yet.
    p = impl.parser.Parser(client=True)
    assert p.feed(frame(1, b"ab\xff" + b"x" * 100)[:6]) == []
    assert type(p.error) is InvalidUTF8


def test_unlimited(impl):
    data = frame(2, b"x" * 70000, fin=False) + frame(0, b"y" * 70000)
    items, err = parse(impl, data, max_size=None, max_fragments=None)
    assert err is None and items == [(2, b"x" * 70000 + b"y" * 70000)]


def test_random_bytes_never_raise(impl):
    rnd = __import__("random").Random(1234)
    for i in range(300):
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 200)))
        for client in (True, False):
            p = impl.parser.Parser(client=client, rsv_allowed=0x40, max_size=1000)
            pos = 0
            while pos < len(data):
                step = rnd.randrange(1, 20)
                assert isinstance(p.feed(data[pos:pos + step]), list)
                pos += step


# ------------------------------------------------------------------ memory


def test_huge_declared_length_allocates_nothing(impl):
    p = impl.parser.Parser(client=False, max_size=None)
    header = b"\x82\xff" + (1 << 31).to_bytes(8, "big") + KEY
    tracemalloc.start()
    try:
        assert p.feed(header + b"abc") == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert p.error is None
    assert peak < 64 * 1024


def test_huge_declared_length_too_big(impl):
    p = impl.parser.Parser(client=True)
    tracemalloc.start()
    try:
        items = p.feed(b"\x82\x7f" + (1 << 31).to_bytes(8, "big"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert items == [] and type(p.error) is PayloadTooBig
    assert str(p.error) == "frame of 2147483648 bytes exceeds limit of 1048576 bytes"
    assert peak < 64 * 1024


def test_fragment_flood_stops_at_max_fragments(impl):
    data = frame(2, b"x", fin=False) + frame(0, b"x", fin=False) * 199_999
    p = impl.parser.Parser(client=True)
    assert p.feed(data) == []
    assert type(p.error) is PayloadTooBig
    assert str(p.error) == "more than 1024 fragments in a message"


def test_trickle_memory_bounded(impl):
    n = 256 * 1024
    data = frame(2, b"z" * n, key=KEY)
    p = impl.parser.Parser(client=False)
    tracemalloc.start()
    try:
        for i in range(0, len(data) - 1, 97):  # small reads
            assert p.feed(data[i:i + 97]) == [] or i + 97 >= len(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2.3 * n


def test_buffers_released_after_message(impl):
    n = 512 * 1024
    data = frame(2, os.urandom(n))
    p = impl.parser.Parser(client=True)
    tracemalloc.start()
    try:
        p.feed(data[:1000])
        p.feed(data[1000:])
        items = p.feed(frame(9, b""))
        del items
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current < 64 * 1024


def test_special_counts_control_and_compressed_items(impl):
    """``special`` tells the protocol whether a batch needs its per-item pass."""
    key = b"\x01\x02\x03\x04"
    p = impl.parser.Parser(client=False, rsv_allowed=0x40)
    assert p.feed(frame(1, b"a", key=key) + frame(2, b"b", key=key)) == [(1, "a"), (2, b"b")]
    assert p.special == 0
    items = p.feed(frame(9, b"p", key=key) + frame(2, b"z", key=key, rsv=0x40) + frame(1, b"t", key=key))
    assert [op for op, _ in items] == [9, 0x42, 1]
    assert p.special == 2
    assert p.feed(frame(1, b"", key=key)) == [(1, "")] and p.special == 0
    p.feed(frame(8, b"\x03\xe8", key=key))
    assert p.special == 1
