"""The sans-I/O Protocol on both twins: events, automatic answers, closing, errors, sending."""
from __future__ import annotations

import dataclasses
import struct

import pytest
from rawframes import frame as client_frame  # masked with a random key, as a client sends

from wsfast.events import BinaryMessage, CloseReceived, Ping, Pong, ProtocolFailure, TextMessage
from wsfast.exceptions import (
    InvalidCloseCode,
    InvalidCloseFrame,
    InvalidFrame,
    InvalidState,
    InvalidUTF8,
    LocalProtocolError,
    PayloadTooBig,
    ReasonTooLong,
)
from wsfast.protocol import OP_FAILURE, Protocol, Side, State


def decode_server_frames(data: bytes) -> list[tuple[int, bool, bytes]]:
    """Split unmasked server frames: [(opcode, fin, payload)]."""
    frames, pos = [], 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        n, pos = b1 & 0x7F, pos + 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        frames.append((b0 & 0x0F, bool(b0 & 0x80), data[pos:pos + n]))
        pos += n
    return frames


def sent(proto: Protocol) -> list[tuple[int, bool, bytes]]:
    return decode_server_frames(b"".join(bytes(b) for b in proto.data_to_send()))


@pytest.fixture
def server(impl):
    return Protocol(Side.SERVER, kernels=impl)


def test_messages_become_events(server):
    server.receive_data(client_frame(1, "κόσμε".encode()) + client_frame(2, b"\x00\x01"))
    assert server.events_received() == [TextMessage("κόσμε"), BinaryMessage(b"\x00\x01")]
    assert server.events_received() == []


def test_events_are_frozen(server):
    server.receive_data(client_frame(1, b"x"))
    (event,) = server.events_received()
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data = "y"


def test_ping_is_answered_with_its_payload(server):
    server.receive_data(client_frame(9, b"are you there"))
    assert server.events_received() == [Ping(b"are you there")]
    assert sent(server) == [(10, True, b"are you there")]


def test_pong_is_reported(server):
    server.receive_data(client_frame(10, b"p"))
    assert server.events_received() == [Pong(b"p")]
    assert server.data_to_send() == []


def test_control_frames_between_fragments(server):
    server.receive_data(
        client_frame(1, b"fra", fin=False) + client_frame(9, b"1") + client_frame(0, b"g", fin=False)
        + client_frame(10, b"2") + client_frame(0, b"ment")
    )
    assert server.events_received() == [Ping(b"1"), Pong(b"2"), TextMessage("fragment")]


def test_peer_initiated_close(server):
    server.receive_data(client_frame(8, struct.pack("!H", 4001) + "bye ☃".encode()))
    assert server.events_received() == [CloseReceived(4001, "bye ☃")]
    # The answer echoes the code and the reason, as websockets and Node's ws do.
    assert sent(server) == [(8, True, struct.pack("!H", 4001) + "bye ☃".encode())]
    assert server.state is State.CLOSING
    assert server.close_expected()
    assert (server.close_code, server.close_reason) == (4001, "bye ☃")
    with pytest.raises(InvalidState):
        server.send_text("too late")
    server.receive_eof()
    assert server.state is State.CLOSED


def test_close_without_status(server):
    server.receive_data(client_frame(8))
    assert server.events_received() == [CloseReceived(1005, "")]
    assert sent(server) == [(8, True, b"")]


def test_local_close_then_peer_answer(server):
    server.send_close(1001, "going away")
    assert sent(server) == [(8, True, struct.pack("!H", 1001) + b"going away")]
    assert server.state is State.CLOSING and not server.close_expected()
    server.send_close(1000)  # a second close is a no-op
    assert server.data_to_send() == []
    server.receive_data(client_frame(1, b"late data") + client_frame(8, struct.pack("!H", 1001)))
    assert server.events_received() == [TextMessage("late data"), CloseReceived(1001, "")]
    assert server.data_to_send() == []  # no second close frame
    assert server.close_expected()


def test_ping_after_our_close_is_not_answered(server):
    server.send_close()
    server.data_to_send()
    server.receive_data(client_frame(9, b"x"))
    assert server.events_received() == [Ping(b"x")]
    assert server.data_to_send() == []


@pytest.mark.parametrize(
    "data, error, code",
    [
        (client_frame(8, b"\x03"), InvalidCloseFrame, 1002),
        (client_frame(8, struct.pack("!H", 1005)), InvalidCloseFrame, 1002),
        (client_frame(8, struct.pack("!H", 1006)), InvalidCloseFrame, 1002),
        (client_frame(8, struct.pack("!H", 999)), InvalidCloseFrame, 1002),
        (client_frame(8, struct.pack("!H", 2000)), InvalidCloseFrame, 1002),
        (client_frame(8, struct.pack("!H", 5000)), InvalidCloseFrame, 1002),
        (client_frame(8, struct.pack("!H", 1000) + b"\xff"), InvalidUTF8, 1007),
        (client_frame(1, b"\xce\xba\xff"), InvalidUTF8, 1007),
        (client_frame(3), InvalidFrame, 1002),
        (client_frame(1, b"x", rsv=0x40), InvalidFrame, 1002),
        (client_frame(9, b"x" * 126), InvalidFrame, 1002),
        (client_frame(9, b"x", fin=False), InvalidFrame, 1002),
        (client_frame(0, b"x"), InvalidFrame, 1002),
        (b"\x81\x05hello", InvalidFrame, 1002),  # unmasked frame from a client
        (client_frame(2, b"x" * 2000), PayloadTooBig, 1009),
    ],
)
def test_violations_fail_with_their_close_code(impl, data, error, code):
    proto = Protocol(Side.SERVER, max_size=1000, kernels=impl)
    proto.receive_data(data)
    events = proto.events_received()
    assert isinstance(events[-1], ProtocolFailure)
    assert type(events[-1].error) is error and events[-1].error.close_code == code
    frames = sent(proto)
    assert frames[-1][0] == 8 and struct.unpack("!H", frames[-1][2][:2])[0] == code
    assert proto.close_expected() and proto.failure is events[-1].error
    proto.receive_data(client_frame(1, b"ignored"))
    assert proto.events_received() == []


@pytest.mark.parametrize("valid", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])
def test_valid_close_codes_are_accepted(impl, valid):
    proto = Protocol(Side.SERVER, kernels=impl)
    proto.receive_data(client_frame(8, struct.pack("!H", valid)))
    assert proto.events_received() == [CloseReceived(valid, "")]


def test_max_fragments(impl):
    proto = Protocol(Side.SERVER, max_fragments=3, kernels=impl)
    proto.receive_data(b"".join(client_frame(0 if i else 1, b"a", fin=False) for i in range(4)))
    (event,) = proto.events_received()
    assert isinstance(event, ProtocolFailure) and event.error.close_code == 1009


def test_messages_before_a_violation_are_kept(server):
    server.receive_data(client_frame(1, b"good") + client_frame(1, b"bad", rsv=0x20))
    events = server.events_received()
    assert events[0] == TextMessage("good") and isinstance(events[1], ProtocolFailure)


def test_deferred_failure(impl):
    proto = Protocol(Side.SERVER, defer_failure=True, kernels=impl)
    items = proto.receive_messages(client_frame(1, b"good") + client_frame(7))
    assert [op for op, _ in items] == [1, OP_FAILURE]
    assert proto.failure_pending and proto.state is State.OPEN and not proto.close_expected()
    proto.send_text("echo of good")  # still allowed: the application handles "good" first
    proto.apply_failure()
    frames = sent(proto)
    assert frames[0] == (1, True, b"echo of good")
    assert frames[1][0] == 8 and frames[1][2][:2] == struct.pack("!H", 1002)
    assert proto.close_expected() and proto.state is State.CLOSING


def test_decode_text_false(impl):
    proto = Protocol(Side.SERVER, decode_text=False, kernels=impl)
    proto.receive_data(client_frame(1, "☃".encode()))
    assert proto.events_received() == [TextMessage("☃".encode())]


def test_send_text_binary_and_fragments(server):
    server.send_text("héllo")
    server.send_binary(b"\x00" * 70000)
    server.send_text("frag", fin=False)
    with pytest.raises(LocalProtocolError):
        server.send_binary(b"interleaved")
    server.send_continuation("men", fin=False)
    server.send_continuation("ted", fin=True)
    with pytest.raises(LocalProtocolError):
        server.send_continuation("x", fin=True)
    server.send_ping(b"p")
    server.send_pong(b"q")
    assert sent(server) == [
        (1, True, "héllo".encode()),
        (2, True, b"\x00" * 70000),
        (1, False, b"frag"),
        (0, False, b"men"),
        (0, True, b"ted"),
        (9, True, b"p"),
        (10, True, b"q"),
    ]


def test_send_message_picks_the_opcode_like_send_text_and_send_binary(impl):
    one = Protocol(Side.SERVER, kernels=impl)
    other = Protocol(Side.SERVER, kernels=impl)
    for message in ["héllo", b"\x00\x01", bytearray(b"ba"), memoryview(b"mv"), b"\x00" * 70000]:
        one.send_message(message)
        (other.send_text if isinstance(message, str) else other.send_binary)(message)
    assert sent(one) == sent(other)
    with pytest.raises(TypeError, match="str or bytes-like"):
        one.send_message(42)  # type: ignore[arg-type]
    one.send_text("frag", fin=False)
    with pytest.raises(LocalProtocolError):
        one.send_message("interleaved")  # a fragmented message is in progress
    one.send_continuation("end", fin=True)
    one.send_close(1000)
    with pytest.raises(InvalidState):
        one.send_message("after close")


@pytest.mark.parametrize("one_call", [False, True], ids=["send_text_binary", "send_message"])
def test_client_frames_are_masked_and_round_trip(impl, one_call):
    client = Protocol(Side.CLIENT, kernels=impl)
    server = Protocol(Side.SERVER, kernels=impl)
    (client.send_message if one_call else client.send_text)("masked ☃")
    (client.send_message if one_call else client.send_binary)(b"\x01" * 200)
    wire = b"".join(bytes(b) for b in client.data_to_send())
    assert wire[1] & 0x80  # mask bit
    server.receive_data(wire)
    assert server.events_received() == [TextMessage("masked ☃"), BinaryMessage(b"\x01" * 200)]
    server.send_text("back")
    client.receive_data(b"".join(server.data_to_send()))
    assert client.events_received() == [TextMessage("back")]


def test_local_misuse(server):
    with pytest.raises(LocalProtocolError):
        server.send_ping(b"x" * 126)
    with pytest.raises(InvalidCloseCode):
        server.send_close(1006)
    with pytest.raises(InvalidCloseCode):
        server.send_close(2000)
    with pytest.raises(ReasonTooLong):
        server.send_close(1000, "x" * 124)
    assert server.state is State.OPEN
    server.send_close(1000, "x" * 123)
    with pytest.raises(InvalidState):
        server.send_binary(b"after close")
    with pytest.raises(InvalidState):
        server.send_ping()


def test_local_and_remote_errors_are_distinct_types():
    from wsfast.exceptions import RemoteProtocolError

    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)
    assert PayloadTooBig.close_code == 1009 and InvalidUTF8.close_code == 1007
