"""Frame builder kernel, both twins."""
from __future__ import annotations

import os

import pytest

from wsfast.exceptions import LocalProtocolError

from .helpers import frame, xor


def test_rfc_examples(impl):
    b = impl.builder
    assert b.encode_frame(1, b"Hello") == bytes.fromhex("810548656c6c6f")
    assert b.encode_frame(1, "Hello") == bytes.fromhex("810548656c6c6f")
    assert b.encode_frame(1, b"Hel", fin=False) == bytes.fromhex("010348656c")
    assert b.encode_frame(0, b"lo") == bytes.fromhex("80026c6f")
    assert b.encode_frame(9, b"Hello") == bytes.fromhex("890548656c6c6f")
    assert b.encode_header(2, 256) == bytes.fromhex("827e0100")
    assert b.encode_header(2, 65536) == bytes.fromhex("827f0000000000010000")
    assert b.encode_header(1, 5, mask_key=bytes.fromhex("37fa213d")) == bytes.fromhex("818537fa213d")
    assert b.encode_frame(1, "é€😀") == frame(1, "é€😀".encode())


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("rsv", [0, 0x40, 0x70])
def test_lengths_unmasked(impl, n, rsv):
    payload = os.urandom(n)
    expected = frame(2, payload, rsv=rsv)
    assert impl.builder.encode_frame(2, payload, rsv=rsv) == expected
    assert impl.builder.encode_frame(2, bytearray(payload), rsv=rsv) == expected
    assert impl.builder.encode_frame(2, memoryview(payload), rsv=rsv) == expected
    assert impl.builder.encode_header(2, n, rsv=rsv) == expected[:len(expected) - n]
    parts = impl.builder.encode_frame_parts(2, payload, rsv=rsv)
    assert b"".join(parts) == expected
    if n >= impl.builder.PARTS_THRESHOLD:
        assert len(parts) == 2 and parts[1] is payload  # never copied
    else:
        assert len(parts) == 1


@pytest.mark.parametrize("n", [0, 5, 125, 126, 65535, 65536])
def test_masked_round_trip(impl, n):
    payload = os.urandom(n)
    data = impl.builder.encode_frame(2, payload, mask=True)
    assert data[1] & 0x80
    hsize = len(frame(2, payload)) - n
    key = data[hsize:hsize + 4]
    unmasked_header = frame(2, payload)[:hsize]
    assert data[0] == unmasked_header[0] and data[1] == unmasked_header[1] | 0x80
    assert data[2:hsize] == unmasked_header[2:]
    assert xor(data[hsize + 4:], key) == payload
    parts = impl.builder.encode_frame_parts(2, payload, mask=True)
    assert len(parts) == 1
    p = impl.parser.Parser(client=False, max_size=None)
    assert p.feed(data) == [(2, payload)]


def test_mask_keys_differ(impl):
    keys = {impl.builder.encode_frame(2, b"x", mask=True)[2:6] for _ in range(3000)}
    assert len(keys) > 2990  # fresh key per frame, across pool refills


def test_server_frames_deterministic(impl):
    payload = os.urandom(300)
    assert impl.builder.encode_frame(2, payload) == impl.builder.encode_frame(2, payload)


@pytest.mark.parametrize("opcode", [-1, 16, 1.0, "1", None])
def test_bad_opcode(impl, opcode):
    with pytest.raises(ValueError):
        impl.builder.encode_frame(opcode, b"")
    with pytest.raises(ValueError):
        impl.builder.encode_header(opcode, 0)


@pytest.mark.parametrize("rsv", [1, 0x80, 0x0F, -1])
def test_bad_rsv(impl, rsv):
    with pytest.raises(ValueError):
        impl.builder.encode_frame(1, b"", rsv=rsv)


def test_bad_length_and_key(impl):
    with pytest.raises(ValueError):
        impl.builder.encode_header(2, -1)
    with pytest.raises(ValueError):
        impl.builder.encode_header(2, 1 << 63)
    with pytest.raises(ValueError):
        impl.builder.encode_header(2, 1, mask_key=b"abc")


def test_control_frame_rules(impl):
    with pytest.raises(LocalProtocolError):
        impl.builder.encode_frame(9, b"x" * 126)
    with pytest.raises(LocalProtocolError):
        impl.builder.encode_frame(8, b"", fin=False)
    with pytest.raises(LocalProtocolError):
        impl.builder.encode_header(10, 126)
    assert impl.builder.encode_frame(9, b"x" * 125)[:2] == b"\x89\x7d"


def test_bad_payload(impl):
    with pytest.raises(TypeError):
        impl.builder.encode_frame(2, 12)
    with pytest.raises(UnicodeEncodeError):
        impl.builder.encode_frame(1, "\ud800")
