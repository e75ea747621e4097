"""UTF-8 validation kernel, both twins: every class of sequence and the fail-fast index."""
from __future__ import annotations

import pytest

VALID = [
    b"", b"a", b"hello world" * 10, "é".encode(), "€".encode(), "😀".encode(),
    b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xee\x80\x80",
    b"\xef\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf",
    "Καλημέρα κόσμε 你好世界 😀 ascii".encode() * 50,
]

# (bytes, index of the first byte at which the input can no longer be valid)
INVALID = [
    (b"\x80", 0), (b"\xbf", 0), (b"a\x80", 1),                      # stray continuation
    (b"\xc0", 0), (b"\xc1\xbf", 0), (b"\xc0\xaf", 0),              # overlong 2-byte leads
    (b"\xe0\x80\xaf", 1), (b"\xe0\x9f\xbf", 1),                    # overlong 3-byte
    (b"\xf0\x80\x80\xaf", 1), (b"\xf0\x8f\xbf\xbf", 1),            # overlong 4-byte
    (b"\xed\xa0\x80", 1), (b"\xed\xbf\xbf", 1), (b"\xed\xa0", 1),  # surrogates D800-DFFF
    (b"\xf4\x90\x80\x80", 1), (b"\xf4\x90", 1),                    # > U+10FFFF
    (b"\xf5\x80\x80\x80", 0), (b"\xf8", 0), (b"\xfe", 0), (b"\xff", 0),  # invalid leads
    (b"\xc2\x41", 1), (b"\xe2\x82\x41", 2), (b"\xf0\x9f\x98\x41", 3),    # broken sequences
    (b"\xe2\x82\xac\xc2", -1),                                      # truncated: not yet failed
    (b"x" * 100 + b"\xff", 100), (b"x" * 17 + "é".encode() * 20 + b"\x80", 57),
]

TRUNCATED = [b"\xc2", b"\xe2\x82", b"\xf0\x9f\x98", b"abc\xe0\xa0", b"\xf4\x8f\xbf"]


@pytest.mark.parametrize("data", VALID)
def test_valid(impl, data):
    assert impl.utf8.validate(data) is True
    assert impl.utf8.validate(bytearray(data)) is True
    assert impl.utf8.validate(memoryview(data)) is True
    v = impl.utf8.Utf8Validator()
    for i in range(len(data)):  # byte by byte
        assert v.feed(data[i:i + 1]) == -1
    assert v.finish() is True


@pytest.mark.parametrize("data,index", INVALID)
def test_invalid_fail_fast(impl, data, index):
    v = impl.utf8.Utf8Validator()
    assert v.feed(data) == index
    if index >= 0:
        assert impl.utf8.validate(data) is False
        assert v.finish() is False
        assert v.feed(b"abc") == 0  # stays failed
        assert v.finish() is False


@pytest.mark.parametrize("data,index", [(d, i) for d, i in INVALID if i >= 0])
def test_invalid_split_everywhere(impl, data, index):
    # The index is reported in the chunk holding the failing byte, wherever the cut is.
    for cut in range(len(data) + 1):
        v = impl.utf8.Utf8Validator()
        first = v.feed(data[:cut])
        if first >= 0:
            assert first == index
            assert cut > index
        else:
            assert cut <= index
            assert v.feed(data[cut:]) == index - cut


@pytest.mark.parametrize("data", TRUNCATED)
def test_truncated_at_end(impl, data):
    assert impl.utf8.validate(data) is False
    v = impl.utf8.Utf8Validator()
    assert v.feed(data) == -1
    assert v.finish() is False


def test_exhaustive_two_and_three_bytes(impl):
    # Every 2-byte sequence, and every 3-byte one with an E0-EF lead, against CPython.
    v_ok = impl.utf8.validate
    for a in range(0x80, 0x100):
        for b in range(0x100):
            data = bytes((a, b))
            try:
                data.decode("utf-8")
                ok = True
            except UnicodeDecodeError:
                ok = False
            assert v_ok(data) is ok, data
    for a in range(0xE0, 0xF0):
        for b in range(0x80, 0xC0):
            data = bytes((a, b, 0x80))
            ok = not (a == 0xE0 and b < 0xA0) and not (a == 0xED and b >= 0xA0)
            assert v_ok(data) is ok, data


def test_reset(impl):
    v = impl.utf8.Utf8Validator()
    assert v.feed(b"\xff") == 0
    v.reset()
    assert v.feed(b"\xe2\x82") == -1
    v.reset()
    assert v.feed(b"ok") == -1
    assert v.finish()


def test_long_ascii_and_offsets(impl):
    text = ("x" * 1000 + "é" + "y" * 1000).encode()
    for off in range(8):
        view = memoryview(b"?" * off + text)[off:]
        assert impl.utf8.validate(view)
        bad = bytearray(text)
        bad[500 + off] = 0xFF
        v = impl.utf8.Utf8Validator()
        assert v.feed(bad) == 500 + off
