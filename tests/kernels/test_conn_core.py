"""The connection core (``wsfast._pure.conn``, also compiled as ``wsfast._speedups.conn``) on
a fake transport: the same reads, cut anywhere, give the same calls and the same bytes written
from both builds, with either parser twin under them."""
from __future__ import annotations

import itertools
import logging
from collections import deque
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twins

from wsfast import _impl
from wsfast.exceptions import ConnectionClosed, InvalidState
from wsfast.protocol import Protocol, Side

from .helpers import frame
from .test_parity import message_frames

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.eof = False
        self.reading = True
        self.buffered = 0  # what get_write_buffer_size answers

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data) -> None:
        self.writes.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class FakeWheel:
    def __init__(self) -> None:
        self.read_buffer = bytearray(1 << 16)
        self.read_view = memoryview(self.read_buffer)
        self.clock = lambda: 42.0
        self.flush_requests: list = []
        self.scheduled: list = []

    def flush_soon(self, conns) -> None:
        self.flush_requests.extend(conns)

    def schedule(self, conn) -> None:
        self.scheduled.append(conn._deadline)


OPTIONS = SimpleNamespace(logger=logging.getLogger("test_conn_core"), close_timeout=10.0,
                          max_queue=16, ping_interval=None, write_limit=1000)
LOOP = SimpleNamespace(time=lambda: 100.0)


def make_conn(core_name: str, kernels_name: str, *, side=Side.SERVER, on_message="echo", attach=True):
    """A core subclass recording the calls of its message path in ``log`` (and doing them);
    opened on a fresh Protocol."""
    core = twins.load(core_name).conn.ConnectionCore
    kernels = twins.load(kernels_name)

    class Conn(core):  # type: ignore[misc,valid-type]
        __slots__ = ("log",)

        def _handshake_data(self, data):
            self.log.append(("handshake", data))

        def _dispatch_queue(self, items):
            self.log.append(("queue", list(items)))
            super()._dispatch_queue(items)

        def _control(self, op, payload):
            self.log.append(("control", op, payload if op != -1 else type(payload).__name__))
            super()._control(op, payload)

        def _handler_failed(self, exc):
            self.log.append(("failed", type(exc).__name__))
            super()._handler_failed(exc)

        def _closing_handshake_done(self):
            self.log.append(("closing",))
            super()._closing_handshake_done()

    def write_parts(transport, sock, parts):
        conn.log.append(("parts", len(parts)))
        conn.transport.write(b"".join(bytes(p) for p in parts))

    def echo(ws, payload, op):
        ws.log.append(("message", op, payload))
        if payload in ("raise", b"raise"):
            raise ValueError("handler")
        ws.send_nowait(payload)

    conn = Conn()
    conn.log = []
    callbacks = SimpleNamespace(on_message=echo if on_message == "echo" else on_message)
    conn._init_core(OPTIONS, LOOP, FakeWheel(), callbacks)
    conn._set_writer(write_parts, None)
    conn.transport = FakeTransport()
    if attach:
        conn._attach(Protocol(side, max_size=1 << 20, kernels=kernels))
    return conn


def read(conn, chunk: bytes) -> None:
    """What the transport does for one read into the shared buffer."""
    view = conn.get_buffer(-1)
    view[: len(chunk)] = chunk
    conn.buffer_updated(len(chunk))


def outcome(conn):
    proto = conn._proto
    return conn.log, conn.transport.writes, proto.state, proto.close_rcvd, proto.close_sent


PAIRS = list(itertools.product(twins.names(), repeat=2))  # (core, kernels): each twin under each


@pytest.mark.parametrize("core,kernels", PAIRS)
@given(data=st.data())
@SETTINGS
def test_random_streams_cut_anywhere_match_the_pure_pair(core, kernels, data):
    messages = data.draw(st.lists(message_frames(client=False), max_size=6))
    stream = b"".join(b"".join(m) for m in messages)
    if data.draw(st.booleans()):
        stream += frame(2, b"raise", key=b"abcd")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])]
    results = []
    for pair in ((core, kernels), ("python", "python")):
        conn = make_conn(*pair)
        for chunk in chunks:
            if chunk:
                read(conn, chunk)
        results.append(outcome(conn))
    assert results[0] == results[1]


@pytest.mark.parametrize("core,kernels", PAIRS)
def test_a_batch_is_corked_into_one_write(core, kernels):
    conn = make_conn(core, kernels)
    read(conn, b"".join(frame(2, b"m%d" % i, key=b"kkkk") for i in range(3)) + frame(1, b"t", key=b"kkkk"))
    assert ("parts", 4) in conn.log
    assert conn.transport.writes == [b"".join(frame(2, b"m%d" % i) for i in range(3)) + frame(1, b"t")]
    read(conn, frame(2, b"one", key=b"kkkk"))  # one frame: a plain write, no parts
    assert conn.transport.writes[-1] == frame(2, b"one")
    assert conn.last_received == 42.0


@pytest.mark.parametrize("core,kernels", PAIRS)
def test_sends(core, kernels):
    conn = make_conn(core, kernels, on_message=None)
    for message in ("text", b"bin", bytearray(b"ba"), memoryview(b"mv"), "é" * 5000):
        conn.send_nowait(message)
    assert conn.transport.writes == [
        frame(1, b"text"), frame(2, b"bin"), frame(2, b"ba"), frame(2, b"mv"),
        frame(1, ("é" * 5000).encode())]
    with pytest.raises(TypeError):
        conn.send_nowait(1)
    # Messages waiting in the queue: the send waits for the next loop iteration.
    conn._messages = deque(["queued"])
    conn.send_nowait(b"later")
    assert conn._wheel.flush_requests == [conn] and conn._flush_scheduled
    conn.send_nowait(b"again")
    assert conn._wheel.flush_requests == [conn]
    conn._flush()
    assert conn.transport.writes[-1] == frame(2, b"later") + frame(2, b"again")
    assert not conn._flush_scheduled
    # A closing transport: what was queued is counted, not written.
    conn._messages.clear()
    conn.transport.closing = True
    conn.send_nowait(b"12345")
    assert conn.unsent_bytes == len(frame(2, b"12345"))
    conn._proto.send_close(1000, "")
    with pytest.raises(ConnectionClosed):  # the closing handshake has started
        conn.send_nowait(b"x")
    conn._proto = None
    with pytest.raises(InvalidState):
        conn.send_nowait(b"x")


@pytest.mark.parametrize("core,kernels", PAIRS)
def test_client_frames_are_masked(core, kernels):
    conn = make_conn(core, kernels, side=Side.CLIENT)
    read(conn, frame(1, b"hello") + frame(2, b"\x00\x01"))
    out = b"".join(conn.transport.writes)
    parser = twins.load("python").parser.Parser(client=False)
    assert parser.feed(out) == [(1, "hello"), (2, b"\x00\x01")]
    assert out[1] & 0x80


@pytest.mark.parametrize("core,kernels", PAIRS)
def test_close_handler_error_and_handshake_hooks(core, kernels):
    conn = make_conn(core, kernels)
    read(conn, frame(2, b"raise", key=b"abcd"))
    assert conn.log == [("message", 2, b"raise"), ("failed", "ValueError")]
    assert conn.transport.writes == [frame(8, (1011).to_bytes(2, "big"))]
    assert conn._deadline == 110.0 and conn._wheel.scheduled == [110.0]  # the close timeout
    read(conn, frame(8, (1000).to_bytes(2, "big"), key=b"abcd"))
    assert conn.log[-2:] == [("control", 8, (1000, "")), ("closing",)]
    assert conn._tcp_closing and conn.transport.eof  # the server half-closes
    fresh = make_conn(core, kernels, attach=False)
    fresh.data_received(memoryview(b"GET / HTTP/1.1\r\n"))
    read(fresh, b"Host: x\r\n")
    assert fresh.log == [("handshake", b"GET / HTTP/1.1\r\n"), ("handshake", b"Host: x\r\n")]


@pytest.mark.parametrize("core,kernels", PAIRS)
def test_queue_style_gets_the_whole_batch(core, kernels):
    conn = make_conn(core, kernels, on_message=None)
    read(conn, frame(1, b"a", key=b"abcd") + frame(9, b"p", key=b"abcd") + frame(2, b"b", key=b"abcd"))
    assert conn.log == [("queue", [(1, "a"), (9, b"p"), (2, b"b")]), ("control", 9, b"p")]
    assert list(conn._messages) == ["a", b"b"]
    assert conn.transport.writes == [frame(10, b"p")]  # the pong, flushed after the batch
    # max_queue (16) messages waiting: reading pauses until recv() takes them down to a quarter
    read(conn, b"".join(frame(2, b"%d" % i, key=b"abcd") for i in range(14)))
    assert len(conn._messages) == 16 and not conn.transport.reading and conn._reading_paused


class FakeFuture:
    def __init__(self, done: bool = False) -> None:
        self.result = None
        self._done = done

    def done(self) -> bool:
        return self._done

    def set_result(self, value) -> None:
        assert not self._done
        self.result, self._done = value, True


@pytest.mark.parametrize("core,kernels", PAIRS)
def test_a_single_message_goes_straight_to_a_waiting_recv(core, kernels):
    conn = make_conn(core, kernels, on_message=None)
    waiter = conn._recv_waiter = FakeFuture()
    read(conn, frame(1, b"only", key=b"abcd"))
    assert waiter.result == "only" and conn._recv_waiter is None and conn.log == []
    # Two messages, a control frame, or a waiter already done: the queue decides; the first
    # message still goes to the waiting recv(), a done waiter is dropped.
    for chunk, waiter, result, queued in (
        (frame(2, b"a", key=b"abcd") + frame(2, b"b", key=b"abcd"), FakeFuture(), b"a", [b"b"]),
        (frame(9, b"p", key=b"abcd"), FakeFuture(), None, []),
        (frame(2, b"c", key=b"abcd"), FakeFuture(done=True), None, [b"c"]),
    ):
        conn.log.clear()
        conn._messages = deque()
        conn._recv_waiter = waiter
        read(conn, chunk)
        assert conn.log and conn.log[0][0] == "queue"
        assert waiter.result == result and list(conn._messages) == queued
        assert conn._recv_waiter is (waiter if chunk[0] & 0x0F == 9 else None)
    # A subclass that watches every message in _dispatch_queue turns the shortcut off.
    conn.log.clear()
    conn._direct_recv = False
    conn._recv_waiter = waiter = FakeFuture()
    read(conn, frame(2, b"d", key=b"abcd"))
    assert conn.log == [("queue", [(2, b"d")])] and waiter.result == b"d"


def test_chosen_core_falls_back_to_the_pure_one(monkeypatch):
    """Kernels compiled, core not (auto build mode): one rule, the whole pure twin is chosen
    (core and kernels alike); an explicit request for the Cython core still fails."""
    import sys

    monkeypatch.delenv("WSFAST_NO_EXTENSIONS", raising=False)
    monkeypatch.setitem(sys.modules, "wsfast._speedups.conn", None)  # import raises ImportError
    chosen = _impl._choose()
    assert chosen.IMPLEMENTATION == "python"
    assert chosen.conn is _impl.load("python").conn and chosen.parser is _impl.load("python").parser
    with pytest.raises(ImportError):
        _impl.connection_core("cython")


@pytest.mark.parametrize("core,kernels", PAIRS)
@pytest.mark.parametrize("style", ["echo", None])
def test_counters_count_messages_and_wire_bytes(core, kernels, style):
    """The metrics' per-connection counters: data messages each way by type, and wire bytes
    read and handed to the transport, exactly, whichever build and delivery style."""
    conn = make_conn(core, kernels, on_message=style)
    chunk = (frame(1, b"a", key=b"abcd") + frame(2, b"bb", key=b"abcd") + frame(9, b"p", key=b"abcd")
             + frame(2, b"ccc", key=b"abcd"))
    read(conn, chunk[:5])
    read(conn, chunk[5:])
    conn.data_received(frame(1, b"dd", key=b"abcd"))
    assert (conn.messages_in_text, conn.messages_in_binary, conn.bytes_in) == (2, 2, len(chunk) + 8)
    if style is None:  # queued: nothing echoed; three sends of our own
        conn.send_nowait("x")
        conn.send_nowait(b"yy")
        conn.send_nowait(bytearray(b"z"))
        with pytest.raises(TypeError):
            conn.send_nowait(1)
    expected = (2, 2) if style == "echo" else (1, 2)
    assert (conn.messages_out_text, conn.messages_out_binary) == expected
    assert conn.bytes_out == sum(map(len, conn.transport.writes)) > 0


@pytest.mark.parametrize("core,kernels", [(name, name) for name in twins.names()])
def test_fan_out_queues_on_plain_server_connections_and_returns_the_rest(core, kernels):
    """broadcast()'s per-recipient loop (compiled in the Cython build): which connections get
    the frame corked, which are flushed now or next iteration, and what goes back. (A core
    over the other twin's kernels frames through the protocol: broadcast's general path.)"""
    fan_out = twins.load(core).conn.fan_out
    plain, inside_read, full, fragmenting, closed = (make_conn(core, kernels) for _ in range(5))
    client = make_conn(core, kernels, side=Side.CLIENT)
    inside_read._corked = True
    full.transport.buffered = 5000  # over write_limit (1000)
    fragmenting._fragmenting = True
    closed._proto.send_close(1000, "")
    closed._flush()
    tick = frame(2, b"tick")
    sent, not_open, to_flush, over, others = fan_out(
        [plain, inside_read, full, fragmenting, closed, client], tick)
    assert (sent, not_open) == (2, 1)
    assert to_flush == [plain] and plain._flush_scheduled and not inside_read._flush_scheduled
    assert over == [full, fragmenting] and others == [client]
    assert plain._out == [tick] and inside_read._out == [tick] and plain._corked_bytes == len(tick)
    assert full._out == [] and client._out == []
    # Over half the write limit corked: written at once, not left for the next iteration.
    big = frame(2, b"x" * 600)
    assert fan_out([plain], big)[:3] == (1, 0, [])
    assert plain.transport.writes[-1] == tick + big and plain._out == [] and plain._corked_bytes == 0
    assert fan_out([], tick) == (0, 0, [], None, None)
    stand_in = object()  # not a connection core: broadcast's general path decides
    assert fan_out([stand_in], tick) == (0, 0, [], None, [stand_in])
