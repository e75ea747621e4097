"""permessage-deflate benchmarks (pytest-benchmark).

    .venv/bin/python -m pytest bench/test_deflate.py --benchmark-only -s

* encode + decode of a 1 KiB JSON-like message, with and without context takeover;
* broadcast of one message to N=1000 recipients: a compressor per connection vs one
  shared compression (time per broadcast and bytes on the wire per recipient);
* memory of an idle connection's extension object (before first use) and of an active one.
"""
from __future__ import annotations

import gc
import json
import tracemalloc

import pytest

from wsfast.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    compress_message,
)

N = 1000


def _messages(count: int = 16) -> list[bytes]:
    out = []
    for k in range(count):
        items = [
            {"id": i, "name": f"user{i}", "active": (i + k) % 2 == 0, "score": (i * 37 + k) % 101}
            for i in range(16)
        ]
        out.append(json.dumps({"type": "update", "seq": k, "items": items}, separators=(",", ":")).encode())
    return out


MESSAGES = _messages()
MSG_1K = MESSAGES[0]


def _pair(nct: bool):
    return (
        PerMessageDeflate(False, nct, 15, 15, threshold=0),
        PerMessageDeflate(nct, False, 15, 15, threshold=0),
    )


@pytest.mark.parametrize("nct", [False, True], ids=["takeover", "no_takeover"])
def test_encode_decode_1k(benchmark, nct):
    sender, receiver = _pair(nct)
    it = iter(range(1 << 62))

    def run():
        msg = MESSAGES[next(it) % len(MESSAGES)]
        rsv, data = sender.encode(1, msg)
        return receiver.decode(1, data, max_size=1 << 20)

    assert run() in MESSAGES
    benchmark(run)
    sizes = [len(sender.encode(1, m)[1]) for m in MESSAGES]
    benchmark.extra_info["raw_bytes"] = len(MSG_1K)
    benchmark.extra_info["wire_bytes_avg"] = sum(sizes) / len(sizes)
    print(f"\n1 KiB encode+decode ({'no ' if nct else ''}takeover): {len(MSG_1K)} -> "
          f"{sum(sizes) / len(sizes):.0f} bytes avg")


@pytest.mark.parametrize("nct", [False, True], ids=["takeover", "no_takeover"])
def test_encode_1k(benchmark, nct):
    sender, _ = _pair(nct)
    benchmark(sender.encode, 1, MSG_1K)


def test_decode_1k_no_takeover(benchmark):
    sender, receiver = _pair(True)
    data = sender.encode(1, MSG_1K)[1]
    benchmark(receiver.decode, 1, data, max_size=1 << 20)


@pytest.fixture(scope="module")
def per_connection_senders():
    senders = [PerMessageDeflate(False, False, 15, 15, threshold=0) for _ in range(N)]
    yield senders
    for s in senders:
        s.close()


def test_broadcast_per_connection(benchmark, per_connection_senders):
    """Each of N connections compresses the message with its own (takeover) context."""
    it = iter(range(1 << 62))
    wire = []

    def run():
        msg = MESSAGES[next(it) % len(MESSAGES)]
        total = 0
        for s in per_connection_senders:
            total += len(s.encode(1, msg)[1])
        wire.append(total)

    benchmark.pedantic(run, rounds=20, warmup_rounds=len(MESSAGES))
    per_recipient = sum(wire[-len(MESSAGES):]) / len(MESSAGES) / N if len(wire) >= len(MESSAGES) else wire[-1] / N
    benchmark.extra_info["bytes_per_recipient"] = per_recipient
    print(f"\nbroadcast per-connection x{N}: {per_recipient:.0f} bytes/recipient/message")


def test_broadcast_shared(benchmark):
    """One compression, the same bytes to every connection (server_no_context_takeover)."""
    server = ServerPerMessageDeflateFactory(shared_compressor=True)
    client = ClientPerMessageDeflateFactory()
    exts = [server.process_request_params(client.get_request_params(), [])[1] for _ in range(N)]
    it = iter(range(1 << 62))
    wire = []

    def run():
        msg = MESSAGES[next(it) % len(MESSAGES)]
        cache: dict[int, bytes] = {}
        total = 0
        for e in exts:
            bits = e.shared_window_bits
            data = cache.get(bits)
            if data is None:
                data = cache[bits] = compress_message(msg, max_window_bits=bits)
            total += len(data)
        wire.append(total)

    benchmark.pedantic(run, rounds=200, warmup_rounds=5)
    per_recipient = wire[-1] / N
    benchmark.extra_info["bytes_per_recipient"] = per_recipient
    print(f"\nbroadcast shared x{N}: {per_recipient:.0f} bytes/recipient/message")


def _retained(fn):
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        keep = fn()
        return keep, tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()


def test_memory_per_connection(benchmark):
    client = ClientPerMessageDeflateFactory()
    server = ServerPerMessageDeflateFactory()

    def idle():
        return [server.process_request_params(client.get_request_params(), [])[1] for _ in range(N)]

    exts, idle_bytes = _retained(idle)

    def activate():
        for e in exts:
            e.threshold = 0
            e.encode(1, MSG_1K)
        return None

    _, active_bytes = _retained(activate)

    shared_server = ServerPerMessageDeflateFactory(shared_compressor=True, threshold=0)
    shared_exts = [shared_server.process_request_params(client.get_request_params(), [])[1] for _ in range(N)]

    def activate_shared():
        for e in shared_exts:
            e.encode(1, MSG_1K)

    _, shared_bytes = _retained(activate_shared)
    for e in exts:
        e.close()

    benchmark.extra_info.update(
        idle_bytes_per_conn=idle_bytes / N,
        after_one_send_bytes_per_conn=active_bytes / N,
        shared_after_one_send_bytes_per_conn=shared_bytes / N,
    )
    print(f"\nidle extension: {idle_bytes / N:.0f} B/conn; after one send: +{active_bytes / N / 1024:.0f} KiB/conn;"
          f" with shared_compressor: +{shared_bytes / N:.0f} B/conn")
    benchmark(lambda: PerMessageDeflate(False, False, 15, 15))
