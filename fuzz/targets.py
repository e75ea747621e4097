"""Differential fuzz targets: each takes one input (bytes) and runs it through both kernel
twins; a crash (any exception but the documented protocol errors) or a disagreement between
the twins raises AssertionError (or the unexpected exception) and fails the run.

* ``frames``: the frame parser. The first bytes pick the side, limits, RSV bits allowed and
  text decoding; the rest is the byte stream, fed to both twins in the same chunks (cut
  points also derived from the input) and in one piece. Items, error type, close code and
  message must all be equal.
* ``handshake``: the HTTP/1.1 request and response parsers and ``ServerHandshake.accept``
  (with permessage-deflate and subprotocols), fed whole and in chunks (same outcome), and
  the server's fast path ``accept_plain``, which must answer byte for byte as ``accept`` or
  not at all; bytes after an accepted request go to a ``Protocol`` of each twin, whose
  events must agree.
* ``upgrade``: the server's upgrade-request head kernel (``RequestHead``) of each twin, under
  one of a few limit sets, fed whole and in chunks: outcome (error type, status, message),
  fields, leftover and fast 101 answer agree; a fast answer equals the serialized response of
  the full ``ServerHandshake.accept`` for the same request.
* ``reactor``: the native I/O path's ``SocketTransport`` (see ``reactor`` below).
* ``deflate``: permessage-deflate receiving. The input becomes compressed messages (raw
  deflate from the fuzzer, as single frames or fragments) for a server ``Protocol`` of
  each twin with the negotiated extension; events must agree. Also a round trip: what our
  compressor emits for the input decompresses to the input.

Used by ``fuzz/fuzz.py`` (atheris) and by ``tests/reliability/test_fuzz_corpus.py``. The
twins and the hand-made frames come from the tests (``tests/twins.py``, ``tests/rawframes.py``),
as the seed corpus's do (``fuzz/make_corpus.py``).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import rawframes  # noqa: E402
import twins as _twins  # noqa: E402

from wsfast.events import BinaryMessage, CloseReceived, Ping, Pong, ProtocolFailure, TextMessage
from wsfast.exceptions import InvalidHandshake, InvalidState, RemoteProtocolError
from wsfast.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from wsfast.handshake import ServerHandshake
from wsfast.headers import Headers
from wsfast.http11 import Request, RequestParser, ResponseParser
from wsfast.protocol import Protocol, Side

_TWINS: list = []


def twins() -> list:
    """The implementations to compare: both when the extension is built, else the pure one
    alone (checked against itself fed differently)."""
    if not _TWINS:
        _TWINS.extend(_twins.loaded())
    return _TWINS


def _sig(exc) -> tuple | None:
    if exc is None:
        return None
    return (type(exc).__name__, exc.close_code, str(exc))


def _cuts(data: bytes, seed: int) -> list[bytes]:
    """Split ``data`` into chunks whose sizes come from ``seed`` (1..64 bytes, or whole)."""
    if seed % 7 == 0 or not data:
        return [data]
    out, pos, x = [], 0, seed or 1
    while pos < len(data):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        size = 1 + (x >> 8) % 64
        out.append(data[pos : pos + size])
        pos += size
    return out


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def rest(self) -> bytes:
        return self.data[self.pos :]


# ----------------------------------------------------------------------------- frames

_MAX_SIZES = (None, 0, 1, 125, 126, 1000, 65535, 65536, 1 << 20)
_MAX_FRAGMENTS = (None, 1, 2, 3, 16, 1024)


def frames(data: bytes) -> None:
    r = _Reader(data)
    a, b, c = r.byte(), r.byte(), r.byte()
    client = bool(a & 1)
    decode_text = bool(a & 2)
    rsv_allowed = (a & 0x70)
    max_size = _MAX_SIZES[b % len(_MAX_SIZES)]
    max_fragments = _MAX_FRAGMENTS[(b >> 4) % len(_MAX_FRAGMENTS)]
    csize = None if max_size is None or not c & 1 else max_size + (c >> 1)
    stream = r.rest()
    results = []
    for impl in twins():
        for chunks in (_cuts(stream, c), [stream]):
            parser = impl.parser.Parser(
                client=client, max_size=max_size, max_compressed_size=csize,
                max_fragments=max_fragments, rsv_allowed=rsv_allowed, decode_text=decode_text)
            items = []
            for chunk in chunks:
                items.extend(parser.feed(chunk))
                if parser.error is not None or parser.closed:
                    assert parser.feed(b"\x81\x00") == []  # done for good
            results.append((items, _sig(parser.error), parser.closed))
    first = results[0]
    for other in results[1:]:
        assert other == first, (first, other)


# -------------------------------------------------------------------------- handshake

_HANDSHAKE_ERRORS = (InvalidHandshake, InvalidState)


def _events_sig(events: list) -> list:
    out = []
    for event in events:
        if isinstance(event, ProtocolFailure):
            out.append(("failure",) + _sig(event.error))
        else:
            out.append(event)
    return out


def _run_request(data: bytes, chunks: list[bytes]) -> tuple:
    hs = ServerHandshake(
        subprotocols=["chat", "superchat"],
        extensions=[ServerPerMessageDeflateFactory()],
        origins=None,
        max_line=512, max_headers=16, max_size=4096,
    )
    try:
        request = None
        for chunk in chunks:
            request = hs.receive_data(chunk)
            if request is not None:
                break
        if request is None:
            return ("incomplete",)
    except _HANDSHAKE_ERRORS as exc:
        return ("parse-error", type(exc).__name__, getattr(exc, "status_code", None), str(exc))
    fast = _fast_answer(chunks)
    try:
        response = hs.accept(request)
    except _HANDSHAKE_ERRORS as exc:
        assert fast is None, fast  # the fast path answers nothing accept refuses
        error = hs.error_response(exc)
        assert error.status_code in (400, 403, 405, 426, 431), error.status_code
        error.serialize()
        return ("refused", type(exc).__name__, error.status_code, str(exc))
    if fast is not None:  # byte for byte what accept sends, with the same outcome
        assert fast == (response.serialize(), hs.subprotocol, [repr(e) for e in hs.extensions]), fast
    return ("accepted", hs.subprotocol, [repr(e) for e in hs.extensions], hs.leftover, hs.extensions)


def _fast_answer(chunks: list[bytes]) -> tuple | None:
    """``ServerHandshake.accept_plain`` (the server's fast path) on the same request and
    configuration as ``_run_request``: (answer, subprotocol, extensions) or None."""
    hs = ServerHandshake(
        subprotocols=["chat", "superchat"],
        extensions=[ServerPerMessageDeflateFactory()],
        max_line=512, max_headers=16, max_size=4096,
    )
    for chunk in chunks:
        if hs.receive_data(chunk) is not None:
            break
    answer = hs.accept_plain()
    return None if answer is None else (answer, hs.subprotocol, [repr(e) for e in hs.extensions])


def handshake(data: bytes) -> None:
    r = _Reader(data)
    seed = r.byte()
    raw = r.rest()
    whole = _run_request(raw, [raw])
    split = _run_request(raw, _cuts(raw, seed | 1))
    # The same outcome however the bytes arrive. Errors may differ in kind: a line over the
    # limit is refused as soon as the limit is passed (431) when it arrives in pieces, but
    # may first fail another check (400) when it arrives whole.
    assert (whole[0] == "accepted") == (split[0] == "accepted"), (whole, split)
    assert (whole[0] == "incomplete") == (split[0] == "incomplete"), (whole, split)
    if whole[0] == "accepted":
        assert whole[1:3] == split[1:3], (whole, split)
        results = []
        for impl in twins():
            accepted = _run_request(raw, [raw])  # fresh extension state for each twin
            proto = Protocol(Side.SERVER, extensions=accepted[4], kernels=impl, max_size=1 << 16)
            proto.receive_data(accepted[3])
            results.append((_events_sig(proto.events_received()), proto.close_expected(),
                            b"".join(proto.data_to_send())))
        assert all(res == results[0] for res in results), results

    # The client's response parser on the same bytes.
    for chunks in ([raw], _cuts(raw, seed | 1)):
        parser = ResponseParser(512, 16, 4096, 4096)
        try:
            for chunk in chunks:
                if parser.feed(chunk) is not None:
                    break
            else:
                parser.feed_eof()
        except _HANDSHAKE_ERRORS:
            pass
    parser = RequestParser(64, 4, 256)
    try:
        parser.feed(raw)
    except _HANDSHAKE_ERRORS:
        pass


# ---------------------------------------------------------------------------- upgrade

_HEAD_LIMITS = ((512, 16, 4096), (64, 4, 256), (8192, 128, 65536), (20, 3, 100))
_PLAIN = ServerHandshake(server_header="wsfast")  # its 101 head, around the accept key
_PREFIX, _SUFFIX = _PLAIN._answer_parts  # type: ignore[misc]


def _head_outcome(impl, limits: tuple[int, int, int], chunks: list[bytes]) -> tuple:
    """Feed ``chunks`` to a RequestHead of ``impl``: the outcome and everything it exposes."""
    head = impl.upgrade.RequestHead(*limits)
    outcome: tuple = ("incomplete",)
    unread = b""  # chunks after the one that completed the head (a connection's next reads)
    try:
        for i, chunk in enumerate(chunks):
            if head.feed(chunk):
                outcome = ("complete",)
                unread = b"".join(chunks[i + 1:])
                break
    except _HANDSHAKE_ERRORS as exc:
        outcome = ("error", type(exc).__name__, getattr(exc, "status_code", None), str(exc))
        try:
            head.feed(b"x")
        except _HANDSHAKE_ERRORS as again:
            assert again is exc, (again, exc)  # spent: the same error again
        else:
            raise AssertionError("a RequestHead fed after an error did not raise")
    if outcome[0] == "complete":
        try:
            head.feed(b"")
        except InvalidState:
            pass
        else:
            raise AssertionError("a complete RequestHead accepted more data")
    return (outcome, head.complete, head.method, head.path, head.fields(), head.raw,
            head.leftover + unread, head.answer(_PREFIX, _SUFFIX))


def upgrade(data: bytes) -> None:
    """The upgrade-request head kernel (``RequestHead``): both twins, fed whole and in
    chunks, expose the same outcome (error type, status, message), fields, leftover and fast
    answer; and a fast answer is exactly what the full ``ServerHandshake.accept`` sends."""
    r = _Reader(data)
    seed, which = r.byte(), r.byte()
    limits = _HEAD_LIMITS[which % len(_HEAD_LIMITS)]
    raw = r.rest()
    split = _cuts(raw, seed | 1)
    by_chunking: dict[int, list] = {0: [], 1: []}
    for impl in twins():
        for i, chunks in enumerate(([raw], split)):
            by_chunking[i].append(_head_outcome(impl, limits, chunks))
    for results in by_chunking.values():
        assert all(res == results[0] for res in results), results
    whole, cut = by_chunking[0][0], by_chunking[1][0]
    if whole[0][0] == "complete" and cut[0][0] == "complete":
        assert whole[2:] == cut[2:], (whole, cut)
    complete, method, path, fields, head_bytes, leftover, answer = whole[1:]
    if complete:
        assert head_bytes + leftover == raw
    if answer is None or not complete:
        return
    assert leftover == raw[raw.index(b"\r\n\r\n") + 4:]
    hs = ServerHandshake(server_header="wsfast")
    response = hs.accept(Request(method, path, Headers._from_parsed(fields)))
    assert hs.subprotocol is None and hs.extensions == []
    assert response.serialize() == answer, (response.serialize(), answer)


# ---------------------------------------------------------------------------- deflate

_OFFERS = (
    [],
    [("server_no_context_takeover", None), ("client_no_context_takeover", None)],
    [("client_max_window_bits", "9"), ("server_max_window_bits", "9")],
    [("client_max_window_bits", None)],
)


def _frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """A client's frame, masked with a fixed key (the same input gives the same bytes)."""
    return rawframes.frame(opcode, payload, fin=fin, rsv=rsv, key=b"\x11\x22\x33\x44")


def deflate(data: bytes) -> None:
    r = _Reader(data)
    mode = r.byte()
    offer = _OFFERS[mode % len(_OFFERS)]
    max_size = (None, 64, 1024, 65536)[(mode >> 2) % 4]
    body = r.rest()
    # Messages: the input split on 0xFF 0x00 separators; each one's first byte says text or
    # binary and how many fragments; the rest is sent as the compressed payload.
    wire = b""
    for message in body.split(b"\xff\x00")[:32]:
        if not message:
            continue
        ctl, payload = message[0], message[1:]
        opcode = 1 if ctl & 1 else 2
        parts = 1 + (ctl >> 1) % 4
        step = max(1, -(-len(payload) // parts))
        pieces = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
        for i, piece in enumerate(pieces):
            wire += _frame(opcode if i == 0 else 0, piece, fin=i == len(pieces) - 1,
                           rsv=0x40 if i == 0 and not ctl & 0x80 else 0)
    results = []
    for impl in twins():
        _, ext = ServerPerMessageDeflateFactory().process_request_params(offer, [])
        proto = Protocol(Side.SERVER, extensions=[ext], kernels=impl, max_size=max_size)
        proto.receive_data(wire)
        results.append((_events_sig(proto.events_received()), b"".join(proto.data_to_send())))
    assert all(res == results[0] for res in results), results

    # Round trip through our own encoder, both context-takeover modes.
    for nct in (False, True):
        client_ext = ClientPerMessageDeflateFactory(client_no_context_takeover=nct) \
            .process_response_params([("client_no_context_takeover", None)] if nct else [], [])
        _, server_ext = ServerPerMessageDeflateFactory().process_request_params(
            [("client_no_context_takeover", None)] if nct else [], [])
        for _ in range(2):
            bits, encoded = client_ext.encode(2, body)
            decoded = server_ext.decode(2, encoded, max_size=None) if bits else encoded
            assert decoded == body


# ---------------------------------------------------------------------------- reactor


class _Recorder:
    """The protocol of a fuzzed native-path transport: records what it is told."""

    def __init__(self) -> None:
        self.transport = None
        self.data = bytearray()
        self.buf = bytearray(1000)
        self.events: list = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint):
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        self.data += self.buf[:nbytes]

    def eof_received(self):
        self.events.append("eof")
        return False

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc) -> None:
        self.events.append(("lost", type(exc).__name__ if exc else None))


def _payload(count: int, size: int) -> bytes:
    return bytes((count * 131 + i) & 0xFF for i in range(size))


async def _reactor_run(impl, ops: bytes) -> tuple:
    """One scenario on twin ``impl``: a reactor-served socket of a unix socketpair (small
    buffers, so writes go partial) and a peer socket driven by ``ops``."""
    import asyncio
    import socket

    loop = asyncio.get_running_loop()
    ours, peer = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer.setblocking(False)
    reactor = impl.reactor.Reactor(loop)
    proto = _Recorder()
    t = reactor.serve(ours, proto, None)
    t.set_write_buffer_limits(high=8192)
    sent = bytearray()  # what the transport accepted to send
    peer_sent = bytearray()
    peer_got = bytearray()
    count = 0

    def peer_read(limit: int) -> bool:
        try:
            chunk = peer.recv(limit)
        except BlockingIOError:
            return True
        except ConnectionResetError:
            # Our side closed with the peer's bytes unread (it had stopped reading): the
            # kernel resets, as it does under asyncio's transports.
            return False
        peer_got.extend(chunk)
        return bool(chunk)

    try:
        for i in range(0, len(ops) - 1, 2):
            kind, arg = ops[i] % 8, ops[i + 1]
            if t.is_closing() and kind in (0, 1, 4, 5, 7):
                continue  # (writes after close(): as asyncio's, sent while the buffer drains)
            if kind == 0 or kind == 1:
                count += 1
                parts = [_payload(count, arg * 37)] if kind == 0 else [
                    _payload(count + j, (arg >> (2 * j) & 3) * 700) for j in range(4)]
                if kind == 0:
                    t.write(parts[0])
                else:
                    t.writelines([memoryview(p) if j % 2 else p for j, p in enumerate(parts)])
                sent.extend(b"".join(parts))
            elif kind == 2:
                peer_read(arg * 97 + 1)
            elif kind == 3:
                data = _payload(1000 + i, arg)
                try:
                    n = peer.send(data)
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    n = 0  # full, or our side has closed
                peer_sent.extend(data[:n])
            elif kind == 4:
                t.pause_reading()
            elif kind == 5:
                t.resume_reading()
            elif kind == 6:
                for _ in range(arg % 4 + 1):
                    await asyncio.sleep(0)
            elif kind == 7 and arg % 4 == 0:
                t.close()
        # The end: close, then the peer reads until EOF while the loop runs.
        t.resume_reading()
        t.close()
        for _ in range(100_000):
            if not peer_read(65536):
                break
            await asyncio.sleep(0)
        else:
            raise AssertionError("the transport never closed")
        for _ in range(100):
            if proto.events and proto.events[-1] == ("lost", None):
                break
            await asyncio.sleep(0)
    finally:
        peer.close()
        reactor.close()
    # Every byte accepted arrives, in order, once; the protocol saw a prefix of the peer's.
    assert peer_got == sent, (len(peer_got), len(sent))
    assert peer_sent.startswith(proto.data), (len(proto.data), len(peer_sent))
    flow = [e for e in proto.events if e in ("pause", "resume")]
    assert flow == ["pause", "resume"] * (len(flow) // 2) + ["pause"] * (len(flow) % 2), flow
    assert proto.events.count(("lost", None)) == 1 and proto.events[-1] == ("lost", None), proto.events
    return bytes(peer_got)


def reactor(data: bytes) -> None:
    """The native I/O path's transport on both twins: the same operations (writes, partial
    reads by the peer, pauses, closes), every byte delivered in order, the same bytes out."""
    import asyncio

    results = []
    for impl in twins():
        if not impl.reactor.AVAILABLE:
            return
        loop = asyncio.new_event_loop()
        try:
            results.append(loop.run_until_complete(_reactor_run(impl, data[:512])))
        finally:
            loop.close()
    assert all(res == results[0] for res in results)


TARGETS = {"frames": frames, "handshake": handshake, "upgrade": upgrade, "deflate": deflate,
           "reactor": reactor}
# Exceptions a target may raise without it being a finding: none. Protocol errors are
# results (compared between twins), never escapes.
EXPECTED: tuple[type[BaseException], ...] = ()
