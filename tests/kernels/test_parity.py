"""Parity of the two twins (hypothesis): the same stream, cut anywhere, gives the same items
and the same error (type, close code, message) from both, equal to feeding it in one piece."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twins

from .helpers import err_sig, frame

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def pair():
    """(cython, python) namespaces; skipped like the cython case of ``impl`` when unbuilt."""
    return twins.load("cython"), twins.load("python")


TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
BINARY = st.binary(max_size=300)
KEYS = st.binary(min_size=4, max_size=4)


@st.composite
def message_frames(draw, client: bool):
    """Frames of one data message (maybe fragmented, maybe compressed), with control frames
    in between; ``client`` decides whether the frames are masked."""
    masked = not client
    kind = draw(st.sampled_from([1, 1, 2, 2, 8, 9, 10]))
    key = lambda: draw(KEYS) if masked else None  # noqa: E731
    if kind >= 8:
        payload = draw(st.binary(max_size=125))
        if kind == 8 and draw(st.booleans()):
            payload = draw(st.sampled_from([1000, 1001, 1005, 1011, 3000, 999, 5000])).to_bytes(
                2, "big") + draw(TEXT).encode()[:123]
        return [frame(kind, payload, key=key())]
    payload = draw(TEXT).encode() if kind == 1 else draw(BINARY)
    rsv = 0x40 if draw(st.integers(0, 9)) == 0 else 0
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=4)))
    pieces = [payload[a:b] for a, b in zip([0] + cuts, cuts + [len(payload)])]
    out = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        out.append(frame(kind if i == 0 else 0, piece, fin=last, rsv=rsv if i == 0 else 0,
                         key=key()))
        if not last and draw(st.integers(0, 3)) == 0:
            out.append(frame(9, draw(st.binary(max_size=10)), key=key()))
    return out


@st.composite
def streams(draw):
    """(client, parser kwargs, bytes): mostly valid streams, some corrupted."""
    client = draw(st.booleans())
    frames = []
    for _ in range(draw(st.integers(1, 6))):
        frames.extend(draw(message_frames(client)))
    data = bytearray(b"".join(frames))
    corruption = draw(st.integers(0, 4))
    if corruption == 1 and data:           # flip a byte anywhere
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= draw(st.integers(1, 255))
    elif corruption == 2 and data:         # insert a random byte
        i = draw(st.integers(0, len(data)))
        data[i:i] = bytes([draw(st.integers(0, 255))])
    kwargs = dict(
        client=client,
        max_size=draw(st.sampled_from([None, 50, 300, 1 << 20])),
        max_compressed_size=draw(st.sampled_from([None, 100])),
        max_fragments=draw(st.sampled_from([None, 2, 1024])),
        rsv_allowed=draw(st.sampled_from([0, 0x40, 0x70])),
        decode_text=draw(st.booleans()),
    )
    return client, kwargs, bytes(data)


def run(impl, kwargs, chunks):
    p = impl.parser.Parser(**kwargs)
    items = []
    for chunk in chunks:
        got = p.feed(chunk)
        assert isinstance(got, list)
        items.extend(got)
    return items, err_sig(p.error), p.closed


def cut(data: bytes, points) -> list:
    points = sorted(set(p % (len(data) + 1) for p in points))
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


@SETTINGS
@given(stream=streams(), points=st.lists(st.integers(0, 10**6), max_size=8))
def test_twins_agree_on_frame_streams(pair, stream, points):
    _client, kwargs, data = stream
    cy, py = pair
    whole = run(cy, kwargs, [data])
    assert run(py, kwargs, [data]) == whole
    chunks = cut(data, points)
    assert run(cy, kwargs, chunks) == whole
    assert run(py, kwargs, chunks) == whole
    # mixed buffer types
    mixed = [memoryview(c) if i % 2 else bytearray(c) for i, c in enumerate(chunks)]
    assert run(cy, kwargs, mixed) == whole


@SETTINGS
@given(data=st.binary(max_size=400), points=st.lists(st.integers(0, 400), max_size=6),
       client=st.booleans(), rsv=st.sampled_from([0, 0x40]))
def test_twins_agree_on_random_bytes(pair, data, points, client, rsv):
    kwargs = dict(client=client, rsv_allowed=rsv, max_size=200, max_fragments=4)
    cy, py = pair
    whole = run(cy, kwargs, [data])
    assert run(py, kwargs, [data]) == whole
    chunks = cut(data, points)
    assert run(cy, kwargs, chunks) == whole
    assert run(py, kwargs, chunks) == whole


@SETTINGS
@given(data=st.binary(max_size=64), points=st.lists(st.integers(0, 64), max_size=4))
def test_twins_agree_on_utf8(pair, data, points):
    cy, py = pair
    assert cy.utf8.validate(data) == py.utf8.validate(data)
    chunks = cut(data, points)
    vc, vp = cy.utf8.Utf8Validator(), py.utf8.Utf8Validator()
    for chunk in chunks:
        assert vc.feed(chunk) == vp.feed(chunk)
    assert vc.finish() == vp.finish()


@SETTINGS
@given(data=st.binary(max_size=200), key=KEYS, phase=st.integers(0, 3))
def test_twins_agree_on_mask(pair, data, key, phase):
    cy, py = pair
    assert cy.mask.apply_mask(data, key, phase) == py.mask.apply_mask(data, key, phase)
