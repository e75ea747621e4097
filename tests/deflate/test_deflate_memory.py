"""Memory bounds: decompression bombs and idle connections."""
from __future__ import annotations

import gc
import sys
import tracemalloc

import pytest

from wsfast.exceptions import PayloadTooBig
from wsfast.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

MiB = 1 << 20


def _traced_peak(fn):
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, current - base, peak - base


def _rss_hwm_kib() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def test_bomb_size(zero_bomb):
    assert len(zero_bomb) < 300 * 1024


@pytest.mark.parametrize("max_size", [MiB, 4 * MiB])
@pytest.mark.parametrize("remote_nct", [False, True])
def test_decompression_bomb_tracemalloc(zero_bomb, max_size, remote_nct):
    ext = PerMessageDeflate(remote_nct, False, 15, 15)

    def run():
        with pytest.raises(PayloadTooBig):
            ext.decode(2, zero_bomb, max_size=max_size)

    _, _, peak = _traced_peak(run)
    # Output capped at max_size + 1, plus the unconsumed input copy and the window.
    assert peak < max_size + 2 * MiB, peak
    assert ext._decompressor is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_decompression_bomb_rss(zero_bomb):
    ext = PerMessageDeflate(False, False, 15, 15)
    ext.decode(1, PerMessageDeflate(False, False, 15, 15, threshold=0).encode(1, b"warm up " * 100)[1],
               max_size=None)
    if not _reset_hwm():
        pytest.skip("cannot reset VmHWM")
    before = _rss_hwm_kib()
    with pytest.raises(PayloadTooBig):
        ext.decode(2, zero_bomb, max_size=MiB)
    after = _rss_hwm_kib()
    assert after - before < 8 * 1024, (before, after)


def test_idle_extension_memory():
    client = ClientPerMessageDeflateFactory()
    server = ServerPerMessageDeflateFactory()

    def make():
        exts = []
        for _ in range(1000):
            response, s = server.process_request_params(client.get_request_params(), [])
            exts.append(s)
            exts.append(client.process_response_params(response, []))
        return exts

    exts, retained, _ = _traced_peak(make)
    per_ext = retained / len(exts)
    assert per_ext < 400, per_ext  # bytes per idle extension: no zlib context
    assert all(e._compressor is None and e._decompressor is None for e in exts)


def test_active_extension_memory_and_close():
    ext = PerMessageDeflate(False, False, 15, 15, threshold=0)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        data = ext.encode(1, b"hello world " * 100)[1]
        ext.decode(1, data, max_size=None)
        active = tracemalloc.get_traced_memory()[0] - base
        ext.close()
        closed = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert active > 200 * 1024  # a deflate context is ~256 KiB, inflate ~40 KiB
    assert closed < 4 * 1024


def test_used_no_takeover_connections_hold_no_deflate_context():
    # A server that negotiated server_no_context_takeover: after each connection has sent
    # and received a compressed message, it holds neither a deflate nor an inflate context.
    payload = b'{"symbol": "ABC", "bid": 101.25, "ask": 101.5}\n' * 20
    warm = PerMessageDeflate(True, True, 15, 15, threshold=0)
    compressed = warm.encode(2, payload)[1]  # the process-wide compressor exists from here

    def use():
        exts = [PerMessageDeflate(True, True, 15, 15, threshold=0) for _ in range(50)]
        for e in exts:
            assert e.encode(2, payload)[1] == compressed
            assert e.decode(2, compressed, max_size=None) == payload
        return exts

    exts, current, _ = _traced_peak(use)
    assert current / len(exts) < 2048, f"{current / len(exts):.0f} bytes per connection"
