"""Hostile frames over real sockets against a wsfast server in this process, both twins.

Every framing rule is broken once and the close code the server answers with is asserted,
then the end of the TCP connection. The memory cases run the attacker from a worker thread
on a blocking socket, so tracemalloc sees only the server's allocations.
"""
from __future__ import annotations

import asyncio
import struct
import termios

import pytest

from relpeer import Blocking, Raw, Traced, _ioctl_int, close_payload, frame, server_socket, wait_for

KiB = 1024
MiB = 1024 * KiB
READ_BUFFER = 256 * KiB  # what asyncio's transport allocates for each recv


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def close_code_for(port: int, data: bytes) -> tuple[int, list]:
    peer = await Raw.upgraded(port)
    peer.send(data)
    code, _, before = await peer.read_close()
    await peer.wait_eof()  # the server ends the TCP connection after failing it
    peer.close()
    return code, before


RULES = {
    # name: (bytes after the handshake, expected close code)
    "unmasked": (frame(1, b"hi", mask=False), 1002),
    "rsv1-without-extension": (frame(1, b"hi", rsv=0x40), 1002),
    "rsv2": (frame(1, b"hi", rsv=0x20), 1002),
    "rsv3": (frame(2, b"hi", rsv=0x10), 1002),
    **{f"opcode-{op:x}": (frame(op, b"x"), 1002) for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)},
    "fragmented-ping": (frame(9, b"p", fin=False), 1002),
    "fragmented-close": (frame(8, close_payload(1000), fin=False), 1002),
    "ping-126-bytes": (frame(9, b"p" * 126), 1002),
    "pong-16-bit-length": (frame(10, b"p" * 200), 1002),
    "ping-rsv1": (frame(9, b"p", rsv=0x40), 1002),
    "continuation-first": (frame(0, b"x"), 1002),
    "text-inside-message": (frame(1, b"a", fin=False) + frame(1, b"b"), 1002),
    "binary-inside-message": (frame(2, b"a", fin=False) + frame(2, b"b"), 1002),
    "64-bit-length-msb": (b"\x82\xff" + struct.pack("!Q", 1 << 63) + b"kkkk", 1002),
    "64-bit-length-all-ones": (b"\x82\xff" + b"\xff" * 8 + b"kkkk", 1002),
    "bad-utf8": (frame(1, b"\xc3\x28"), 1007),
    "bad-utf8-fragmented": (frame(1, b"ok", fin=False) + frame(0, b"\xed\xa0\x80", fin=False), 1007),
    "truncated-utf8-at-fin": (frame(1, b"\xe2\x82"), 1007),
    "frame-over-max-size": (frame(2, b"", length=MiB + 1), 1009),
    "message-over-max-size": (frame(2, b"a" * 1000, fin=False) + frame(0, b"", length=MiB), 1009),
    "close-one-byte": (frame(8, b"\x03"), 1002),
    "close-bad-utf8-reason": (frame(8, close_payload(1000, b"\xff\xfe")), 1007),
}


@pytest.mark.parametrize("rule", list(RULES))
async def test_each_framing_rule_has_its_close_code(server, rule):
    data, expected = RULES[rule]
    srv = await server(echo, compression=None)
    code, before = await close_code_for(srv.port(), data)
    assert code == expected
    assert before == []
    await wait_for(lambda: not srv.connections)


# Close codes that may never appear on the wire (RFC 6455 7.4): every one of them, via the
# sans-I/O protocol in test_hostile_close.py; here a sample over the socket.
@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
async def test_invalid_close_codes_over_the_socket(server, code):
    srv = await server(echo)
    got, _ = await close_code_for(srv.port(), frame(8, close_payload(code)))
    assert got == 1002


async def test_2GiB_declared_without_body_closes_1009_allocating_nothing(server):
    srv = await server(echo)
    peer = await asyncio.to_thread(Blocking, srv.port())
    await asyncio.to_thread(peer.handshake)
    with Traced() as traced:
        # 2 GiB declared, the mask key, and no payload at all.
        await asyncio.to_thread(peer.sendall, b"\x82\xff" + struct.pack("!Q", 2 << 30) + b"kkkk")
        code = await asyncio.to_thread(peer.read_close_code)
        peer.close()
        await wait_for(lambda: not srv.connections)
    print(f"2GiB declared: close {code}, peak {traced.peak_growth} B, kept {traced.growth} B")
    assert code == 1009
    # The peak is asyncio's 256 KiB read buffer (one recv); nothing is sized by the
    # declared length, and nothing is kept.
    assert traced.peak_growth < READ_BUFFER + 32 * KiB, traced.peak_growth
    assert traced.growth < 16 * KiB, traced.growth


async def _fragments_attack(srv, count: int, *, fin_at_end: bool) -> tuple[int | None, int, int]:
    """Send a text message of ``count`` one-byte fragments (no FIN unless ``fin_at_end``),
    all in one buffer. Return (close code or None, wire bytes, tracemalloc peak growth)."""
    key = b"\x00\x00\x00\x00"
    first = frame(1, b"a", fin=False, key=key)
    middle = frame(0, b"a", fin=False, key=key)
    last = frame(0, b"a", fin=True, key=key)
    wire = first + middle * (count - 2) + (last if fin_at_end else middle)
    peer = await asyncio.to_thread(Blocking, srv.port())
    await asyncio.to_thread(peer.handshake)
    with Traced() as traced:
        await asyncio.to_thread(peer.sendall, wire)
        if fin_at_end:
            op, payload = await asyncio.to_thread(peer.read_data_frame)
            assert (op, len(payload)) == (1, count)
            code = None
        else:
            code = await asyncio.to_thread(peer.read_close_code)
    peer.close()
    return code, len(wire), traced.peak_growth


@pytest.mark.slow
async def test_200000_one_byte_fragments_without_fin_close_at_the_fragment_limit(server):
    srv = await server(echo, max_fragments=1024)
    code, wire, peak = await _fragments_attack(srv, 200_000, fin_at_end=False)
    print(f"200k fragments, limit 1024: close {code}, wire {wire} B, peak {peak} B")
    assert code == 1009
    # The server read at most a few 256 KiB chunks before failing; it kept 1024 bytes.
    assert peak < 2 * READ_BUFFER, peak
    await wait_for(lambda: not srv.connections)


@pytest.mark.slow
async def test_200000_one_byte_fragments_unlimited_keep_memory_proportional(server):
    """With no fragment limit, a 200,000-fragment message (1.4 MB on the wire) is
    delivered; the server's peak is a small multiple of the payload, not one object per
    fragment."""
    srv = await server(echo, max_fragments=None, max_size=4 * MiB, write_limit=4 * MiB)
    code, wire, peak = await _fragments_attack(srv, 200_000, fin_at_end=True)
    print(f"200k fragments, no limit: delivered, wire {wire} B, peak {peak} B")
    assert code is None
    assert peak < wire, (peak, wire)
    await asyncio.sleep(0)


async def test_endless_empty_continuations_close_at_the_fragment_limit(server):
    """An endless stream of empty continuation frames (no payload, so no size limit ever
    bites) is cut at max_fragments with 1009; the attacker sends in rounds until the
    server closes, at most 100 rounds."""
    srv = await server(echo, max_fragments=1000)
    peer = await asyncio.to_thread(Blocking, srv.port())
    await asyncio.to_thread(peer.handshake)
    empty = frame(0, b"", fin=False, key=b"kkkk") * 500
    conns = list(srv.connections)

    def failing() -> bool:
        return not srv.connections or all(c.state > 1 for c in srv.connections)

    def all_read() -> bool:  # the server has read every byte of the round (or failed)
        if failing():
            return True
        return (_ioctl_int(peer.sock, termios.TIOCOUTQ) == 0
                and all(_ioctl_int(server_socket(c), termios.FIONREAD) == 0 for c in conns))

    with Traced() as traced:
        assert await asyncio.to_thread(peer.sendall, frame(1, b"x", fin=False))
        rounds = 0
        for rounds in range(1, 101):
            if not await asyncio.to_thread(peer.sendall, empty):
                break
            await wait_for(all_read, what=f"the server to read round {rounds}")
            if failing():
                break
        code = await asyncio.to_thread(peer.read_close_code)
    del conns
    peer.close()
    print(f"empty continuations: close {code} after {rounds} rounds of 500, peak {traced.peak_growth} B")
    assert code == 1009
    # The first frame and 2 rounds of 500 are 1001 fragments: the second round fails it.
    assert rounds == 2
    assert traced.peak_growth < READ_BUFFER + 64 * KiB, traced.peak_growth


@pytest.mark.parametrize("size", [16 * KiB])
async def test_legal_frame_trickled_one_byte_per_read(server, size, monkeypatch):
    """A legal 16 KiB frame arrives one byte per read: it is delivered intact and the
    server's peak memory stays under twice the payload, plus asyncio's read buffer and a
    fixed 32 KiB."""
    from wsfast.asyncio.server import ServerConnection

    reads = [0, 0]  # reads, reads of one byte (counters: a list of sizes would be traced)
    original = ServerConnection.buffer_updated  # every read after the handshake comes here

    def counting(self, nbytes):
        reads[0] += 1
        reads[1] += nbytes == 1
        return original(self, nbytes)

    monkeypatch.setattr(ServerConnection, "buffer_updated", counting)
    srv = await server(echo, write_limit=4 * size)
    payload = bytes(range(256)) * (size // 256)
    wire = frame(2, payload)
    peer = await asyncio.to_thread(Blocking, srv.port())
    await asyncio.to_thread(peer.handshake)
    reads[:] = [0, 0]
    with Traced() as traced:
        for i in range(len(wire)):
            peer.sock.send(wire[i : i + 1])
            # Let the server read this byte before the next one arrives.
            n = reads[0]
            for _ in range(100):
                await asyncio.sleep(0)
                if reads[0] > n:
                    break
        op, echoed = await asyncio.to_thread(peer.read_data_frame)
    peer.close()
    print(f"trickle: {reads[0]} reads ({reads[1]} of one byte) for {len(wire)} B, "
          f"peak {traced.peak_growth} B")
    assert (op, echoed) == (2, payload)
    assert reads[1] >= 0.9 * len(wire)  # (nearly) one byte per read
    assert traced.peak_growth < READ_BUFFER + 2 * size + 32 * KiB, traced.peak_growth
