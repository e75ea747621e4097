"""permessage-deflate through the Protocol, on both twins: round trips, limits, corrupt data,
RSV1 where it is not allowed."""
from __future__ import annotations

import struct
import tracemalloc
import zlib

import pytest

from wsfast.events import BinaryMessage, ProtocolFailure, TextMessage
from wsfast.extensions.permessage_deflate import PerMessageDeflate
from wsfast.protocol import Protocol, Side

from test_protocol import client_frame, sent


def deflate_ext(**kw):
    params = dict(remote_no_context_takeover=False, local_no_context_takeover=False,
                  remote_max_window_bits=15, local_max_window_bits=15)
    params.update(kw)
    return PerMessageDeflate(**params)


def compress(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def pair(impl, **kw):
    client = Protocol(Side.CLIENT, extensions=[deflate_ext()], kernels=impl, **kw)
    server = Protocol(Side.SERVER, extensions=[deflate_ext()], kernels=impl, **kw)
    return client, server


def test_round_trip_compressed(impl):
    client, server = pair(impl)
    text = '{"symbol": "ACME", "price": 101.25, "bids": [1, 2, 3]} ' * 30
    for _ in range(3):  # context takeover across messages
        client.send_text(text)
        client.send_binary(text.encode())
    wire = b"".join(bytes(b) for b in client.data_to_send())
    assert len(wire) < len(text) * 6 // 4
    server.receive_data(wire)
    assert server.events_received() == [TextMessage(text), BinaryMessage(text.encode())] * 3


def test_small_messages_go_uncompressed(impl):
    client, server = pair(impl)
    client.send_text("hi")
    (frame,) = client.data_to_send()
    assert not frame[0] & 0x40
    server.receive_data(frame)
    assert server.events_received() == [TextMessage("hi")]


def test_fragmented_compressed_message(impl):
    server = Protocol(Side.SERVER, extensions=[deflate_ext()], kernels=impl)
    payload = compress(b"fragmented and compressed " * 20)
    third = len(payload) // 3
    server.receive_data(
        client_frame(1, payload[:third], fin=False, rsv=0x40)
        + client_frame(9, b"ping in between")
        + client_frame(0, payload[third:2 * third], fin=False)
        + client_frame(0, payload[2 * third:])
    )
    events = server.events_received()
    assert events[-1] == TextMessage("fragmented and compressed " * 20)


def test_decompression_bomb_closes_1009_with_bounded_memory(impl):
    server = Protocol(Side.SERVER, extensions=[deflate_ext()], max_size=1 << 20, kernels=impl)
    c = zlib.compressobj(wbits=-15)
    chunk = bytes(1 << 20)
    parts = [c.compress(chunk) for _ in range(200)]  # 200 MiB of zeros
    bomb = (b"".join(parts) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(bomb) < 300_000
    frame = client_frame(2, bomb, rsv=0x40)
    tracemalloc.start()
    try:
        server.receive_data(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (event,) = server.events_received()
    assert isinstance(event, ProtocolFailure) and event.error.close_code == 1009
    # Python allocations peak near the limit (plus the compressed input), never 200 MiB.
    assert peak < 4 * (1 << 20)
    assert struct.unpack("!H", sent(server)[-1][2][:2])[0] == 1009


def test_bomb_spread_over_fragments(impl):
    server = Protocol(Side.SERVER, extensions=[deflate_ext()], max_size=100_000, kernels=impl)
    bomb = compress(bytes(10 << 20))
    n = len(bomb) // 4
    frames = [client_frame(2 if i == 0 else 0, bomb[i * n:(i + 1) * n] if i < 3 else bomb[3 * n:],
                           fin=i == 3, rsv=0x40 if i == 0 else 0) for i in range(4)]
    server.receive_data(b"".join(frames))
    (event,) = server.events_received()
    assert isinstance(event, ProtocolFailure) and event.error.close_code == 1009


def test_corrupt_stream_closes_1007(impl):
    server = Protocol(Side.SERVER, extensions=[deflate_ext()], kernels=impl)
    server.receive_data(client_frame(2, b"\xff\xfe\xfd garbage", rsv=0x40))
    (event,) = server.events_received()
    assert isinstance(event, ProtocolFailure) and event.error.close_code == 1007


def test_compressed_invalid_utf8_closes_1007(impl):
    server = Protocol(Side.SERVER, extensions=[deflate_ext()], kernels=impl)
    server.receive_data(client_frame(1, compress(b"ok \xed\xa0\x80 surrogate"), rsv=0x40))
    (event,) = server.events_received()
    assert isinstance(event, ProtocolFailure) and event.error.close_code == 1007


def test_rsv1_without_negotiation_closes_1002(impl):
    server = Protocol(Side.SERVER, kernels=impl)
    server.receive_data(client_frame(1, compress(b"hello"), rsv=0x40))
    (event,) = server.events_received()
    assert isinstance(event, ProtocolFailure) and event.error.close_code == 1002


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_rsv1_on_control_frame_closes_1002(impl, opcode):
    server = Protocol(Side.SERVER, extensions=[deflate_ext()], kernels=impl)
    server.receive_data(client_frame(opcode, b"", rsv=0x40))
    (event,) = server.events_received()
    assert isinstance(event, ProtocolFailure) and event.error.close_code == 1002


def test_rsv1_on_continuation_closes_1002(impl):
    server = Protocol(Side.SERVER, extensions=[deflate_ext()], kernels=impl)
    server.receive_data(client_frame(1, b"a", fin=False) + client_frame(0, b"b", rsv=0x40))
    (event,) = server.events_received()
    assert isinstance(event, ProtocolFailure) and event.error.close_code == 1002
