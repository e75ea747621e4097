"""Raw-byte interop with websockets' permessage-deflate (compress with one, decompress with the other).

websockets refuses 8 window bits, so 8 is covered against a strict zlib inflater in
test_deflate_codec.py.
"""
from __future__ import annotations

import os

import pytest

wpmd = pytest.importorskip("websockets.extensions.permessage_deflate")
from websockets.frames import Frame, Opcode  # noqa: E402

from wsfast.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    compress_message,
)

MESSAGES = [
    b"Hello",
    b'{"type":"tick","symbol":"ABC","price":101.25,"qty":300}' * 20,
    os.urandom(2000),
    b"",
    bytes(50_000),
    "ünïcødé ✓ ".encode() * 100,
    b'{"type":"tick","symbol":"ABC","price":101.25,"qty":300}' * 20,
]


def _ours(remote_nct, local_nct, remote_bits, local_bits):
    return PerMessageDeflate(remote_nct, local_nct, remote_bits, local_bits, threshold=0)


@pytest.mark.parametrize("bits", range(9, 16))
@pytest.mark.parametrize("nct", [False, True])
def test_wsfast_to_websockets(bits, nct):
    sender = _ours(False, nct, 15, bits)
    receiver = wpmd.PerMessageDeflate(nct, False, bits, 15)
    for msg in MESSAGES:
        rsv, data = sender.encode(1, msg)
        assert rsv == 0x40
        frame = receiver.decode(Frame(Opcode.TEXT, data, rsv1=True), max_size=None)
        assert frame.data == msg


@pytest.mark.parametrize("bits", range(9, 16))
@pytest.mark.parametrize("nct", [False, True])
def test_websockets_to_wsfast(bits, nct):
    sender = wpmd.PerMessageDeflate(False, nct, 15, bits)
    receiver = _ours(nct, False, bits, 15)
    for msg in MESSAGES:
        frame = sender.encode(Frame(Opcode.BINARY, msg))
        assert frame.rsv1
        assert receiver.decode(2, frame.data, max_size=len(msg)) == msg


@pytest.mark.parametrize("nct", [False, True])
def test_takeover_bytes_identical_to_websockets(nct):
    # Same zlib, same settings: the wire bytes should match exactly.
    ours = PerMessageDeflate(False, nct, 15, 15, threshold=0, compress_level=6, mem_level=8)
    theirs = wpmd.PerMessageDeflate(False, nct, 15, 15, {"memLevel": 8, "level": 6})
    for msg in MESSAGES[:3]:
        assert ours.encode(1, msg)[1] == theirs.encode(Frame(Opcode.TEXT, msg)).data


def test_shared_bytes_decodable_by_websockets_receiver():
    receiver = wpmd.PerMessageDeflate(True, False, 15, 15)
    keeper = wpmd.PerMessageDeflate(False, False, 15, 15)  # keeps its context: still fine
    for msg in MESSAGES:
        data = compress_message(msg)
        assert receiver.decode(Frame(Opcode.TEXT, data, rsv1=True)).data == msg
        assert keeper.decode(Frame(Opcode.TEXT, data, rsv1=True)).data == msg


def test_negotiation_with_websockets_factories():
    # websockets client offer -> our server; our client offer -> websockets server.
    wclient = wpmd.ClientPerMessageDeflateFactory(
        server_max_window_bits=12, client_max_window_bits=True, server_no_context_takeover=True
    )
    response, server_ext = ServerPerMessageDeflateFactory(threshold=0).process_request_params(
        wclient.get_request_params(), []
    )
    client_ext = wclient.process_response_params(response, [])
    assert server_ext.local_max_window_bits == 12 and server_ext.local_no_context_takeover
    for msg in MESSAGES:
        data = server_ext.encode(1, msg)[1]
        assert client_ext.decode(Frame(Opcode.TEXT, data, rsv1=True)).data == msg

    wserver = wpmd.ServerPerMessageDeflateFactory(client_max_window_bits=10, server_max_window_bits=11)
    ours = ClientPerMessageDeflateFactory()
    response, wext = wserver.process_request_params(ours.get_request_params(), [])
    ext = ours.process_response_params(response, [])
    assert (ext.local_max_window_bits, ext.remote_max_window_bits) == (10, 11)
    ext.threshold = 0
    for msg in MESSAGES:
        frame = wext.encode(Frame(Opcode.TEXT, msg))
        assert ext.decode(1, frame.data, max_size=None) == msg
        data = ext.encode(1, msg)[1]
        assert wext.decode(Frame(Opcode.TEXT, data, rsv1=True)).data == msg
