"""Masking kernel (RFC 6455 section 5.3), both twins."""
from __future__ import annotations

import array
import os

import pytest

from .helpers import xor

KEY = bytes.fromhex("37fa213d")
SIZES = [0, 1, 3, 4, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 125, 126, 255, 256, 257,
         1023, 4097, 65535, 65536, 65537]


def test_rfc_hello(impl):
    # RFC 6455 5.7: masked "Hello" payload.
    assert impl.mask.apply_mask(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")
    assert impl.mask.apply_mask(bytes.fromhex("7f9f4d5158"), KEY) == b"Hello"


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("phase", [0, 1, 2, 3])
def test_matches_reference(impl, n, phase):
    data = os.urandom(n)
    expected = xor(data, KEY, phase)
    assert impl.mask.apply_mask(data, KEY, phase) == expected
    buf = bytearray(data)
    assert impl.mask.apply_mask_inplace(buf, KEY, phase) == (phase + n) % 4
    assert buf == expected


@pytest.mark.parametrize("offset", [0, 1, 3, 5, 7])
@pytest.mark.parametrize("n", [0, 125, 126, 1000, 65535, 65536])
def test_unaligned_views(impl, offset, n):
    raw = bytearray(os.urandom(n + 8))
    view = memoryview(raw)[offset:offset + n]
    expected = xor(bytes(view), KEY, 1)
    assert impl.mask.apply_mask(view, KEY, 1) == expected
    impl.mask.apply_mask_inplace(view, KEY, 1)
    assert bytes(view) == expected
    assert raw[:offset] == raw[:offset]  # untouched head (sanity)


def test_input_types_and_round_trip(impl):
    data = os.urandom(1000)
    for obj in (data, bytearray(data), memoryview(data)):
        masked = impl.mask.apply_mask(obj, KEY)
        assert type(masked) is bytes
        assert impl.mask.apply_mask(masked, KEY) == data
    # A non-byte format is masked as its raw bytes.
    arr = array.array("I", range(10))
    assert impl.mask.apply_mask(arr, KEY) == xor(arr.tobytes(), KEY)


def test_input_not_modified(impl):
    buf = bytearray(b"abcdefgh")
    impl.mask.apply_mask(buf, KEY)
    assert buf == b"abcdefgh"


@pytest.mark.parametrize("key", [b"", b"abc", b"abcde"])
def test_bad_key(impl, key):
    with pytest.raises(ValueError):
        impl.mask.apply_mask(b"data", key)
    with pytest.raises(ValueError):
        impl.mask.apply_mask_inplace(bytearray(b"data"), key)
    with pytest.raises(ValueError):
        impl.mask.Masker(key)


def test_bad_phase(impl):
    for phase in (-1, 4):
        with pytest.raises(ValueError):
            impl.mask.apply_mask(b"data", KEY, phase)


def test_inplace_needs_writable(impl):
    with pytest.raises((BufferError, TypeError)):
        impl.mask.apply_mask_inplace(b"data", KEY)


def test_masker_streams_across_chunks(impl):
    data = os.urandom(5000)
    expected = xor(data, KEY)
    m = impl.mask.Masker(KEY)
    out, pos = [], 0
    for size in (1, 2, 3, 5, 8, 13, 100, 126, 1000, 3742):
        out.append(m.process(data[pos:pos + size]))
        pos += size
        assert m.phase == pos % 4
    assert b"".join(out) == expected
    m2 = impl.mask.Masker(KEY)
    buf = bytearray(data)
    view = memoryview(buf)
    for start in range(0, 5000, 777):
        m2.process_inplace(view[start:start + 777])
    assert buf == expected
    assert m2.phase == 5000 % 4
    with pytest.raises(AttributeError):
        m2.phase = 1
