"""permessage-deflate compression and decompression (RFC 7692 section 7.2)."""
from __future__ import annotations

import os
import random
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from wsfast.exceptions import InvalidPayload, PayloadTooBig
from wsfast.extensions.permessage_deflate import (
    PerMessageDeflate,
    SharedCompressor,
    compress_message,
    get_shared_compressor,
)

HELLO = bytes.fromhex("f248cdc9c90700")


def ext(remote_nct=False, local_nct=False, remote_bits=15, local_bits=15, **kw):
    kw.setdefault("threshold", 0)
    return PerMessageDeflate(remote_nct, local_nct, remote_bits, local_bits, **kw)


# ------------------------------------------------------------------ RFC 7692 7.2.3


def test_rfc_hello():
    assert ext().encode(1, b"Hello") == (0x40, HELLO)
    assert ext().decode(1, HELLO, max_size=None) == b"Hello"


def test_rfc_sharing_lz77_window():
    e = ext()
    assert e.encode(1, b"Hello")[1] == HELLO
    assert e.encode(1, b"Hello")[1] == bytes.fromhex("f200110000")
    d = ext()
    assert d.decode(1, HELLO, max_size=None) == b"Hello"
    assert d.decode(1, bytes.fromhex("f200110000"), max_size=None) == b"Hello"


def test_rfc_no_context_takeover_second_message_equals_first():
    e = ext(local_nct=True)
    assert e.encode(1, b"Hello")[1] == HELLO
    assert e.encode(1, b"Hello")[1] == HELLO


def test_rfc_no_compression_block():
    data = bytes.fromhex("000500faff48656c6c6f00")
    assert ext().decode(1, data, max_size=None) == b"Hello"


def test_rfc_bfinal_block_then_more_messages():
    d = ext()
    assert d.decode(1, bytes.fromhex("f348cdc9c9070000"), max_size=None) == b"Hello"
    # The stream ended: the next message starts a new one, no silent empty messages.
    assert d.decode(1, HELLO, max_size=None) == b"Hello"
    assert d.decode(1, bytes.fromhex("f348cdc9c90700"), max_size=None) == b"Hello"
    assert d.decode(1, HELLO, max_size=10) == b"Hello"


def test_rfc_two_deflate_blocks_in_one_message():
    data = bytes.fromhex("f248050000 00ffff cac9c90700".replace(" ", ""))
    assert ext().decode(1, data, max_size=None) == b"Hello"


def test_bfinal_followed_by_garbage_is_invalid():
    with pytest.raises(InvalidPayload):
        ext().decode(1, bytes.fromhex("f348cdc9c90700") + b"garbage", max_size=None)


def test_empty_message():
    e, d = ext(), ext()
    for _ in range(3):
        rsv, data = e.encode(1, b"")
        assert rsv == 0x40
        assert d.decode(1, data, max_size=0) == b""
    assert d.decode(1, b"", max_size=None) == b""
    assert d.decode(1, b"\x00", max_size=None) == b""


# ------------------------------------------------------------------ context takeover


def test_takeover_makes_second_message_smaller(text_1k):
    e = ext()
    first = e.encode(1, text_1k)[1]
    second = e.encode(1, text_1k)[1]
    assert len(second) < len(first) // 4


def test_no_takeover_keeps_size(text_1k):
    e = ext(local_nct=True)
    sizes = {len(e.encode(1, text_1k)[1]) for _ in range(3)}
    outputs = {e.encode(1, text_1k)[1] for _ in range(3)}
    assert len(sizes) == 1 and len(outputs) == 1
    # and each message decodes alone with a fresh context
    assert ext().decode(1, outputs.pop(), max_size=None) == text_1k


def test_remote_no_takeover_resets_context(text_1k):
    e = ext()  # violates no_context_takeover: second message refers to the first
    first, second = e.encode(1, text_1k)[1], e.encode(1, text_1k)[1]
    d = ext(remote_nct=True)
    assert d.decode(1, first, max_size=None) == text_1k
    with pytest.raises(InvalidPayload):
        d.decode(1, second, max_size=None)


def test_threshold():
    e = ext(threshold=10)
    assert e.encode(1, b"short") == (0, b"short")
    assert e._compressor is None
    rsv, _ = e.encode(1, b"0123456789")
    assert rsv == 0x40


def test_binary_and_text_opcodes_same():
    assert ext().encode(2, b"Hello") == ext().encode(1, b"Hello")


def test_accepts_buffers():
    d = ext()
    assert d.decode(1, memoryview(bytearray(HELLO)), max_size=None) == b"Hello"
    assert ext().encode(1, bytearray(b"Hello")) == (0x40, HELLO)


# ---------------------------------------------------------------- window bits 8..15


def _far_repeats(n=6000):
    rnd = random.Random(7)
    block = bytes(rnd.getrandbits(8) for _ in range(300))
    # repeats at distance 300 (> 256) and short runs at distance 1
    return (block + b"\x00" * 40) * (n // 340)


@pytest.mark.parametrize("bits", range(8, 16))
def test_output_respects_window_for_strict_receiver(bits):
    """Decompress with exactly 2**bits of window (zlib accepts 8 for inflate)."""
    e = ext(local_bits=bits)
    strict = zlib.decompressobj(-bits)
    msg = _far_repeats()
    for _ in range(3):
        data = e.encode(1, msg)[1]
        assert strict.decompress(data + b"\x00\x00\xff\xff") == msg
    shared = compress_message(msg, max_window_bits=bits)
    assert zlib.decompressobj(-bits).decompress(shared + b"\x00\x00\xff\xff") == msg


def test_receiver_with_8_bits_tolerates_9_bit_peer():
    """Chromium and other zlib users compress with 9 bits when 8 was negotiated."""
    c = zlib.compressobj(6, zlib.DEFLATED, -9)
    msg = _far_repeats()
    data = (c.compress(msg) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert ext(remote_bits=8).decode(1, data, max_size=None) == msg


def test_window_8_compresses_something():
    msg = b"a" * 1000 + b"b" * 1000
    assert len(ext(local_bits=8).encode(1, msg)[1]) < 50


@pytest.mark.parametrize("bits", [7, 16, 0, True])
def test_invalid_window_bits(bits):
    with pytest.raises(ValueError):
        ext(local_bits=bits)
    with pytest.raises(ValueError):
        ext(remote_bits=bits)


# ------------------------------------------------------------------- limits, errors


@pytest.mark.parametrize("size", [0, 1, 1000, 65536, 100_000])
def test_max_size_boundary(size):
    msg = os.urandom(size // 2) + bytes(size - size // 2)
    data = ext().encode(1, msg)[1]
    assert ext().decode(1, data, max_size=size) == msg
    if size:
        with pytest.raises(PayloadTooBig):
            ext().decode(1, data, max_size=size - 1)


def test_payload_too_big_frees_context():
    d = ext()
    with pytest.raises(PayloadTooBig) as info:
        d.decode(1, ext().encode(1, bytes(10_000))[1], max_size=100)
    assert info.value.close_code == 1009
    assert d._decompressor is None


@pytest.mark.parametrize("corrupt", [
    b"\xff\xff\xff\xff",
    b"\x07",  # reserved block type
    bytes.fromhex("000500faee48656c6c6f"),  # stored block with bad NLEN
    bytes.fromhex("f248cdc9c907") + b"\xff" * 20,
])
def test_corrupt_stream(corrupt):
    d = ext()
    d.decode(1, HELLO, max_size=None)
    with pytest.raises(InvalidPayload) as info:
        d.decode(1, corrupt, max_size=1000)
    assert info.value.close_code == 1007
    assert d._decompressor is None
    # A new context if the connection goes on.
    assert d.decode(1, HELLO, max_size=None) == b"Hello"


def test_corrupt_distance_too_far_back():
    # A match referring to data before the start of the stream.
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    c.compress(b"abcdefgh" * 10)
    c.flush(zlib.Z_SYNC_FLUSH)
    second = (c.compress(b"abcdefgh" * 10) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    with pytest.raises(InvalidPayload):
        ext().decode(1, second, max_size=None)


# ------------------------------------------------------------------------- lazy / close


def test_lazy_contexts():
    e = ext(threshold=128)
    assert e._compressor is None and e._decompressor is None
    e.encode(1, b"x" * 10)  # under the threshold
    assert e._compressor is None
    e.encode(1, b"x" * 200)
    assert e._compressor is not None and e._decompressor is None
    e.decode(1, HELLO, max_size=None)
    assert e._decompressor is not None
    e.close()
    assert e._compressor is None and e._decompressor is None
    # usable again (lazily recreated)
    assert e.decode(1, HELLO, max_size=None) == b"Hello"


def test_remote_no_takeover_holds_no_decompressor():
    d = ext(remote_nct=True)
    assert d.decode(1, HELLO, max_size=None) == b"Hello"
    assert d._decompressor is None
    assert d.decode(1, HELLO, max_size=None) == b"Hello"


# -------------------------------------------------------------------------- shared


def test_compress_message_matches_no_takeover_encoder(text_1k):
    shared = compress_message(text_1k)
    assert shared == ext(local_nct=True).encode(1, text_1k)[1]
    assert compress_message(text_1k) == shared  # stateless between calls
    receiver = ext()  # takeover-free on the sender side; receiver keeps its context
    for _ in range(3):
        assert receiver.decode(1, shared, max_size=None) == text_1k
    assert ext(remote_nct=True).decode(1, shared, max_size=None) == text_1k


def test_shared_compressor_hook(negotiate, text_1k):
    from wsfast.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        ServerPerMessageDeflateFactory,
    )

    c, s, _ = negotiate(ClientPerMessageDeflateFactory(), ServerPerMessageDeflateFactory(shared_compressor=True))
    s2 = negotiate(ClientPerMessageDeflateFactory(), ServerPerMessageDeflateFactory(shared_compressor=True))[1]
    assert s._shared is s2._shared is get_shared_compressor(15)
    for _ in range(3):
        rsv, data = s.encode(1, text_1k)
        assert data == compress_message(text_1k)
        assert c.decode(1, data, max_size=None) == text_1k
    assert s._compressor is None  # no per-connection deflate context


def test_no_takeover_sender_uses_the_process_wide_compressor(text_1k):
    # Every message is compressed alone anyway: connections share one deflate context per
    # setting instead of holding their own (~100 KiB each once used).
    a, a2, b = ext(local_nct=True), ext(local_nct=True), ext(local_nct=True, local_bits=12)
    assert a._shared is a2._shared is not None
    assert b._shared is not a._shared and b._shared.max_window_bits == 12
    for sender, bits in ((a, 15), (b, 12)):
        receiver = ext(remote_bits=bits)
        for _ in range(3):
            rsv, data = sender.encode(1, text_1k)
            assert rsv == 0x40 and receiver.decode(1, data, max_size=None) == text_1k
        assert sender._compressor is None
    takeover = ext()  # context takeover: the connection's own context, as it must be
    takeover.encode(1, text_1k)
    assert takeover._shared is None and takeover._compressor is not None


def test_accepts_shared():
    assert not ext().can_share_compressed and ext().shared_window_bits is None
    assert not ext().accepts_shared(15)
    e = ext(local_nct=True, local_bits=12)
    assert e.can_share_compressed and e.shared_window_bits == 12
    assert e.accepts_shared(12) and e.accepts_shared(9) and not e.accepts_shared(13)


def test_shared_compressor_validation():
    with pytest.raises(ValueError):
        ext(compressor=SharedCompressor(15))  # needs local_nct
    with pytest.raises(ValueError):
        ext(local_nct=True, local_bits=10, compressor=SharedCompressor(11))
    ext(local_nct=True, local_bits=10, compressor=SharedCompressor(10))


def test_shared_compressor_threads(text_1k):
    import threading

    sc = SharedCompressor()
    expected = sc.compress(text_1k)
    msgs = [text_1k, b"other message " * 40]
    exp2 = sc.compress(msgs[1])
    errors = []

    def work(i):
        for _ in range(200):
            m = msgs[i % 2]
            if sc.compress(m) != (expected if i % 2 == 0 else exp2):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ------------------------------------------------------------------------ property


@settings(max_examples=150, deadline=None)
@given(
    msgs=st.lists(st.binary(max_size=3000) | st.text(max_size=500).map(str.encode), min_size=1, max_size=6),
    local_nct=st.booleans(),
    bits=st.integers(8, 15),
    level=st.integers(0, 9),
)
def test_roundtrip_property(msgs, local_nct, bits, level):
    sender = ext(local_nct=local_nct, local_bits=bits, compress_level=level)
    receiver = ext(remote_nct=local_nct, remote_bits=bits)
    for m in msgs:
        rsv, data = sender.encode(1, m)
        assert rsv == 0x40
        assert receiver.decode(1, data, max_size=len(m)) == m


@pytest.mark.parametrize("max_size", [None, 5_000_000, 3 * (1 << 20)])
def test_large_message_over_several_chunks(max_size):
    msg = (os.urandom(1000) + bytes(9000)) * 300  # 3 MB, inflated in 1 MiB chunks
    data = ext().encode(2, msg)[1]
    assert ext().decode(2, data, max_size=max_size) == msg
    with pytest.raises(PayloadTooBig):
        ext().decode(2, data, max_size=len(msg) - 1)
