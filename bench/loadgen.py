"""One WebSocket load generator for every benchmarked server.

Raw asyncio protocol on uvloop (falls back to asyncio), no WebSocket library:

* the handshake is one fixed request with a fixed ``Sec-WebSocket-Key`` (the 101 answer is
  checked for the matching ``Sec-WebSocket-Accept``);
* client frames are masked with a fixed key and built **once** (frame, and batches of
  frames, cached as bytes), then written in batches;
* echoes are counted by walking **frame headers only** (server frames are unmasked, payload
  bytes are skipped, never copied or decoded). When a chunk holds many frames of the
  expected size, their header bytes are checked in C with strided slices
  (``data[0:end:frame_len]``), so the per-frame Python cost disappears for small messages.

Modes: ``pingpong`` (``--spin``: a busy-polling generator, see ``run_pingpong_spin``),
``pipelined``, ``broadcast`` (``--command publish --sub-path /topic``: through the server's
topics), ``game`` (``run_game``), ``handshakes``, ``idle-memory`` (see README.md). Prints one JSON object on stdout; with ``--server-pid`` it also reports the
server's CPU time (``/proc/PID/stat`` utime+stime) next to its own (``time.process_time``)
over the same window, which is how the generator proves it is not the bottleneck.

With ``--ca PEM`` every connection is wss://: TLS trusting only that CA (``bench.run --tls``
makes a throwaway one), and the JSON says which protocol/cipher was negotiated (``"tls"``).

With ``--deflate`` every upgrade offers ``permessage-deflate; client_no_context_takeover;
server_no_context_takeover`` (each message compressed on its own, both ways) and fails
unless the server's answer accepts it. Payloads are then compressible market-data text
(``_common.market_data``), for text and binary messages alike; the client frame is
compressed once (raw deflate, 15 window bits, trailing ``00 00 ff ff`` removed, RSV1 set,
masked) and replayed like any other pre-built frame. Echoes are still counted from frame
headers only: before the measurement, every stream connection has two echoes checked in
full (decompressed when RSV1 is set, compared with the payload sent), and the frame they
came back in (header, size, RSV1) is what the counting loop then expects. Broadcast
subscribers check their first delivery the same way. The JSON's ``"deflate"`` says what
the server answered and whether and how small it compressed.

Run: ``python -m bench.loadgen --port P --mode pipelined --size 64 [--server-pid PID] [--ca PEM]
[--deflate]``.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import resource
import socket
import ssl
import struct
import sys
import time
from typing import Any
import zlib

from bench.servers._common import GAME_PATH, GAME_PAYLOAD, GLOBAL_ID, broadcast_payload, market_data

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key
ACCEPT = base64.b64encode(hashlib.sha1(KEY + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
MASK = b"\x37\xfa\x21\x3d"
CLK_TCK = os.sysconf("SC_CLK_TCK")
OP_TEXT, OP_BINARY, OP_CLOSE = 1, 2, 8
RSV1 = 0x40  # permessage-deflate: the message is compressed
DEFLATE_OFFER = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"
DEFLATE_TAIL = b"\x00\x00\xff\xff"


# --------------------------------------------------------------------------- frames

def header(op: int, n: int, masked: bool, rsv: int = 0) -> bytes:
    b0 = 0x80 | rsv | op
    m = 0x80 if masked else 0
    if n < 126:
        return bytes((b0, m | n))
    if n < 65536:
        return bytes((b0, m | 126)) + n.to_bytes(2, "big")
    return bytes((b0, m | 127)) + n.to_bytes(8, "big")


def mask_bytes(payload: bytes, key: bytes = MASK) -> bytes:
    n = len(payload)
    if not n:
        return b""
    rep = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(rep, "big")).to_bytes(n, "big")


def client_frame(op: int, payload: bytes, rsv: int = 0) -> bytes:
    return header(op, len(payload), True, rsv) + MASK + mask_bytes(payload)


def make_payload(size: int, text: bool, deflate: bool = False) -> bytes:
    if deflate:  # compressible, printable ASCII: the same bytes for text and binary
        return market_data(size)
    if text:  # valid UTF-8: printable ASCII
        base = bytes(range(32, 127))
        return (base * (size // len(base) + 1))[:size]
    return random.Random(size).randbytes(size)


def request(port: int, path: str, deflate: bool = False) -> bytes:
    ext = f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n" if deflate else ""
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY.decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{ext}\r\n").encode()


# --------------------------------------------------------------------------- permessage-deflate

# what --deflate learned, reported as the result's "deflate" field
DEFLATE_INFO: dict = {}


def deflate_message(payload: bytes) -> bytes:
    """RFC 7692 compression of one message without context takeover: raw deflate with 15
    window bits, sync-flushed, the trailing ``00 00 ff ff`` removed."""
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    data = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(DEFLATE_TAIL)
    return data[:-4] or b"\x00"


def inflate_message(data: bytes) -> bytes:
    """The payload of one compressed message (any window up to 15 bits, no shared context)."""
    d = zlib.decompressobj(-15)
    return d.decompress(bytes(data) + DEFLATE_TAIL) + d.flush()


def check_upgrade(head: bytes, deflate: bool) -> str | None:
    """Check the server's answer to our upgrade request (``head``: status line and headers,
    without the blank line). Raises ConnectionError if it is not a 101 with our
    ``Sec-WebSocket-Accept``, or, with ``deflate``, if it did not accept permessage-deflate
    (or accepted it with a parameter we did not offer). Returns the extension answer."""
    if not head.startswith(b"HTTP/1.1 101") or ACCEPT not in head:
        raise ConnectionError("bad upgrade: %r" % head[:200])
    values = []
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-extensions":
            values.append(value.strip().decode("latin-1"))
    answer = ", ".join(values)
    if not deflate:
        if answer:
            raise ConnectionError(f"server answered an extension we did not offer: {answer!r}")
        return None
    elements = [e.strip() for e in answer.split(",") if e.strip()]
    params = [p.strip().lower() for p in elements[0].split(";")] if len(elements) == 1 else []
    if not params or params[0] != "permessage-deflate":
        raise ConnectionError("server did not accept permessage-deflate: Sec-WebSocket-Extensions "
                              f"{answer!r} in its answer to {DEFLATE_OFFER!r}")
    for prm in params[1:]:
        if prm.split("=")[0].strip() not in ("server_no_context_takeover", "client_no_context_takeover",
                                              "server_max_window_bits"):
            # client_max_window_bits was not offered: RFC 7692 7.1.2.2 says fail
            raise ConnectionError(f"server's permessage-deflate answer has a parameter we did "
                                  f"not offer: {answer!r}")
    DEFLATE_INFO.setdefault("answer", answer)
    return answer


# --------------------------------------------------------------------------- TLS

NEGOTIATED: str | None = None  # "TLSv1.3 TLS_AES_256_GCM_SHA384" once a TLS connection is up


def client_ssl_context(ca: str | None) -> ssl.SSLContext | None:
    """Client SSLContext trusting only the CA in the PEM file ``ca`` (the server's name or
    address is checked against its certificate), or None (plain ws://) without one."""
    return ssl.create_default_context(cafile=ca) if ca else None


def connect_kwargs(args) -> dict:
    """Extra ``loop.create_connection`` arguments: TLS to ``args.host`` under ``--ca``."""
    if args.ssl_ctx is None:
        return {}
    return {"ssl": args.ssl_ctx, "server_hostname": args.host}


def note_tls(ssl_obj) -> None:
    """Remember the protocol and cipher of the first TLS connection (``ssl.SSLObject`` or
    ``ssl.SSLSocket``), for the result's ``"tls"`` field."""
    global NEGOTIATED
    if NEGOTIATED is None and ssl_obj is not None:
        NEGOTIATED = f"{ssl_obj.version()} {ssl_obj.cipher()[0]}"


def recv_ready(s: socket.socket, size: int = 262144, into: memoryview | None = None) -> Any:
    """What the non-blocking socket ``s`` has ready now: ``b""`` at EOF, None if nothing.

    ``into``: a reusable buffer to read a plain socket into (the result is a view of it,
    valid until the next read); without it every call allocates ``size`` bytes, which glibc
    may serve with a fresh mmap and its page faults (that made the broadcast reader's cost
    per delivery swing between runs). A TLS socket's ``recv()`` returns one record
    (<= 16 KiB) at a time, so it is read until no complete record is left: epoll sees only
    the kernel's buffer, not the TLS layer's."""
    if not isinstance(s, ssl.SSLSocket):
        try:
            if into is not None:
                return into[:s.recv_into(into)]
            return s.recv(size)
        except BlockingIOError:
            return None
    chunks = []
    eof = False
    while True:
        try:
            data = s.recv(size)
        except (ssl.SSLWantReadError, BlockingIOError):
            break
        if not data:
            eof = True
            break
        chunks.append(data)
    if chunks:
        return b"".join(chunks)
    return b"" if eof else None


# --------------------------------------------------------------------------- process stats

def proc_cpu(pid: int) -> float:
    """utime+stime of a whole process (all threads), seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        s = f.read()
    fields = s[s.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_busy() -> float:
    """Busy CPU seconds of the whole machine (all CPUs), from /proc/stat."""
    with open("/proc/stat", "rb") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK  # minus idle and iowait


def proc_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Window:
    """CPU and wall time of the generator (and the server, if its pid is known)."""

    def __init__(self, server_pid: int | None):
        self.pid = server_pid
        self.t = time.perf_counter()
        self.gen = time.process_time()
        self.srv = proc_cpu(server_pid) if server_pid else None
        self.busy = system_busy()

    def until(self, later: "Window") -> dict:
        d = {"elapsed": later.t - self.t, "gen_cpu": later.gen - self.gen}
        busy = later.busy - self.busy
        if self.pid:
            d["server_cpu"] = later.srv - self.srv
            # CPU used by anything else on the machine in the same window (noise indicator)
            d["foreign_cpu"] = max(0.0, busy - d["server_cpu"] - d["gen_cpu"])
        return d


# --------------------------------------------------------------------------- client protocol

def _frame_header(b: bytes) -> tuple[int, int, int]:
    """(header length, payload length, 1 if a final data frame) of the frame at b[0],
    or (0, 0, 0) when ``b`` is too short to hold its header."""
    if len(b) < 2:
        return 0, 0, 0
    ln = b[1] & 0x7F
    hl = 2 if ln < 126 else 4 if ln == 126 else 10
    if len(b) < hl:
        return 0, 0, 0
    if hl > 2:
        ln = int.from_bytes(b[2:hl], "big")
    op = b[0] & 0x0F
    return hl, ln, 1 if (b[0] & 0x80 and op < 3) else 0


class FrameCounter:
    """Header-only frame walker: counts complete final data frames, skips payloads."""

    def __init__(self, gen: "Gen"):
        self.gen = gen
        self.count = 0
        self.skip = 0          # payload bytes of the current frame still to skip
        self.skip_counts = 0   # 1 if that frame, once complete, is a final data frame
        self.rem = b""         # incomplete frame header carried over
        self.closed = False

    def parse(self, data) -> int:
        """Count complete final data frames in ``data``; headers only."""
        got = 0
        if self.skip:
            n = len(data)
            if n < self.skip:
                self.skip -= n
                return 0
            data = data[self.skip:]
            self.skip = 0
            got = self.skip_counts
        if self.rem:
            # finish the frame whose header was cut, without copying ``data``
            rem = self.rem
            self.rem = b""
            head = rem + bytes(data[:14])
            hl, ln, counts = _frame_header(head)
            if not hl:
                self.rem = head
                return got
            adv = hl + ln - len(rem)
            if adv > len(data):
                self.skip = adv - len(data)
                self.skip_counts = counts
                return got
            got += counts
            data = data[adv:]
        n = len(data)
        pos = 0
        g = self.gen
        fl = g.echo_len
        if fl and n >= fl:
            # fast path: k frames of the expected length, headers checked by strided slices
            k = n // fl
            if k > g.max_k:
                k = g.max_k
            end = k * fl
            ok = True
            for i, col in g.hcols:
                if data[i:end:fl] != col[:k]:
                    ok = False
                    break
            if ok:
                got += k
                pos = end
        while pos < n:
            if n - pos < 2:
                self.rem = bytes(data[pos:])
                break
            b0 = data[pos]
            ln = data[pos + 1]
            if ln & 0x80:
                raise ConnectionError("server frame is masked")
            if ln < 126:
                hl = 2
            elif ln == 126:
                if n - pos < 4:
                    self.rem = bytes(data[pos:])
                    break
                ln = (data[pos + 2] << 8) | data[pos + 3]
                hl = 4
            else:
                if n - pos < 10:
                    self.rem = bytes(data[pos:])
                    break
                ln = int.from_bytes(data[pos + 2:pos + 10], "big")
                hl = 10
            op = b0 & 0x0F
            counts = 1 if (b0 & 0x80 and op < 3) else 0
            if op == OP_CLOSE:
                self.closed = True
            end = pos + hl + ln
            if end > n:
                self.skip = end - n
                self.skip_counts = counts
                break
            got += counts
            pos = end
        return got


class Client(FrameCounter, asyncio.BufferedProtocol):
    """One WebSocket connection: handshake, then header-only frame counting.

    ``mode``: 0 count only, 1 pingpong, 2 pipelined, 3 broadcast subscriber (shared total).
    """

    def __init__(self, gen: "Gen", path_req: bytes, mode: int):
        FrameCounter.__init__(self, gen)
        self.req = path_req
        self.mode = mode
        self.t = None
        self.upgraded = asyncio.get_running_loop().create_future()
        self.hs = b""
        self.handshaking = True
        self.outstanding = 0
        self.running = False
        self.verifying = False

    # -- transport callbacks
    def connection_made(self, transport):
        self.t = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(self.req)

    def connection_lost(self, exc):
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"closed during handshake: {exc}"))

    def get_buffer(self, sizehint):
        return self.gen.rbuf  # one receive buffer shared by all connections (no copy kept)

    def buffer_updated(self, nbytes):
        self.data_received(self.gen.rbuf[:nbytes])

    def data_received(self, data):
        if self.handshaking:
            self.hs += bytes(data)
            end = self.hs.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.hs[:end]
            data = self.hs[end + 4:]
            self.hs = b""
            self.handshaking = False
            try:
                check_upgrade(head, self.gen.deflate)
            except ConnectionError as exc:
                self.upgraded.set_exception(exc)
                self.t.abort()
                return
            if not self.gen.deflate:  # --deflate: once the echo's size is known (Gen.verify)
                self.set_lowat()
            self.upgraded.set_result(None)
            if not data:
                return
        if self.verifying:
            self.vbuf += bytes(data)
            self._verify()
            return
        got = self.parse(data)
        if got:
            self.count += got
            mode = self.mode
            if mode == 2:
                out = self.outstanding - got
                if self.running and out <= self.gen.low:
                    self.gen.send_batch(self.t, self.gen.inflight - out)
                    out = self.gen.inflight
                self.outstanding = out
            elif mode == 1:
                if self.running:
                    self.t.write(self.gen.frame)
            elif mode == 3:
                g = self.gen
                g.total += got
                if g.total >= g.target and g.target and not g.done.done():
                    g.done.set_result(None)

    def set_lowat(self) -> None:
        if self.mode == 2 and self.gen.rcvlowat > 1:
            # wake up only once a batch of echoes is queued (the server always owes at
            # least inflight/2 echoes, so this never waits for bytes that can't come)
            sock = self.t.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, self.gen.rcvlowat)

    # -- --deflate: full check of the first echoes, before any counting
    def start_verify(self, n: int) -> None:
        """Send one message, check its echo in full, ``n`` times (``self.verified``)."""
        self.verifying = True
        self.verify_left = n
        self.vbuf = b""
        self.verified = asyncio.get_running_loop().create_future()
        self.t.write(self.gen.frame)

    def _verify(self) -> None:
        while self.verifying:
            hl, ln, _ = _frame_header(self.vbuf)
            if not hl or len(self.vbuf) < hl + ln:
                return
            frame, self.vbuf = self.vbuf[:hl + ln], self.vbuf[hl + ln:]
            try:
                self.gen.check_echo(frame, hl)
                if self.verify_left == 1 and self.vbuf:
                    raise ConnectionError(f"{len(self.vbuf)} unexpected bytes after the echo")
            except ConnectionError as exc:
                self.verifying = False
                self.verified.set_exception(exc)
                self.t.abort()
                return
            self.verify_left -= 1
            if self.verify_left:
                self.t.write(self.gen.frame)
            else:
                self.verifying = False
                self.verified.set_result(None)

class Gen:
    """Shared, pre-built state of one load-generation run."""

    def __init__(self, args):
        self.args = args
        self.loop = asyncio.get_running_loop()
        self.deflate = args.deflate
        op = self.op = OP_TEXT if args.type == "text" else OP_BINARY
        payload = self.payload = make_payload(args.size, args.type == "text", args.deflate)
        if args.deflate:
            self.frame = client_frame(op, deflate_message(payload), RSV1)
            DEFLATE_INFO.update(offer=DEFLATE_OFFER)
        else:
            self.frame = client_frame(op, payload)
        self.echo_heads: set[bytes] = set()  # --deflate: headers of the echoes checked
        self.echo_sizes: set[int] = set()
        self.verified = 0
        self.inflight = max(1, args.inflight)
        self.low = self.inflight // 2
        self.batches: dict[int, bytes] = {}
        self.big = len(self.frame) >= 16384
        self.max_k = 1 << 16
        self.rbuf = memoryview(bytearray(1 << 18))
        # what the server's echo looks like: unmasked header + payload (with --deflate, not
        # known until the first echoes are checked: see verify)
        if args.deflate:
            self.echo_len = 0  # no fast path
            self.hcols = []
            self.rcvlowat = 1
        else:
            self.set_echo(header(op, args.size, False), args.size)
        self.total = 0
        self.target = 0
        self.done = self.loop.create_future()

    def set_echo(self, eh: bytes, size: int) -> None:
        """Expect echoes made of header ``eh`` and ``size`` payload bytes (the counting loop's
        fast path and the SO_RCVLOWAT mark)."""
        self.echo_len = len(eh) + size
        self.hcols = [(i, bytes((eh[i],)) * self.max_k) for i in range(len(eh))]
        # SO_RCVLOWAT counts kernel bytes: under TLS the tail of a record that holds many
        # echoes could sit below the mark while the server owes nothing more (a stall), so
        # wss:// wakes on every read
        use_lowat = self.args.rcvlowat and self.args.ssl_ctx is None
        self.rcvlowat = min(65536, max(1, self.inflight // 4) * self.echo_len) if use_lowat else 1

    def check_echo(self, frame: bytes, hl: int, expected: bytes | None = None, op: int | None = None) -> None:
        """--deflate: ``frame`` (header length ``hl``) must be one final, unmasked message
        with our opcode whose payload, decompressed if RSV1 is set, is the one we sent."""
        expected = self.payload if expected is None else expected
        op = self.op if op is None else op
        b0 = frame[0]
        if frame[1] & 0x80 or b0 & 0x0F != op or not b0 & 0x80 or b0 & 0x30:
            raise ConnectionError(f"unexpected echo frame: header {bytes(frame[:hl]).hex()} "
                                  f"(expected a final unmasked frame with opcode {op})")
        body = frame[hl:]
        try:
            got = inflate_message(body) if b0 & RSV1 else bytes(body)
        except zlib.error as exc:
            raise ConnectionError(f"echo with RSV1 does not decompress: {exc}") from None
        if got != expected:
            raise ConnectionError(
                f"echo payload differs from the message sent ({len(got)} vs {len(expected)} bytes, "
                f"RSV1 {'set' if b0 & RSV1 else 'clear'}): {got[:40]!r}")
        self.echo_heads.add(bytes(frame[:hl]))
        self.echo_sizes.add(len(frame))
        self.verified += 1
        self.checked = (len(expected), len(self.frame) if expected is self.payload else None)

    def note_echoes(self) -> None:
        """--deflate: what the checked echoes looked like, into DEFLATE_INFO."""
        comp = {h[0] & RSV1 for h in self.echo_heads}
        payload_bytes, client_frame_bytes = self.checked
        DEFLATE_INFO.update(
            payload_bytes=payload_bytes,
            client_frame_bytes=client_frame_bytes,  # None: the server's own message (broadcast)
            verified=self.verified,
            echo_compressed=comp == {RSV1} if len(comp) == 1 else "mixed",
            echo_frame_bytes=sorted(self.echo_sizes) if len(self.echo_sizes) > 1
            else next(iter(self.echo_sizes), None))

    async def verify(self, conns: list["Client"], n: int) -> None:
        """--deflate: every connection sends one message and checks its echo in full, ``n``
        times in a row. Then, if every echo had the same header (compressed size), that is
        what the counting loop expects (fast path, SO_RCVLOWAT); otherwise it walks every
        header."""
        for c in conns:
            c.start_verify(n)
        await asyncio.wait_for(asyncio.gather(*(c.verified for c in conns)), self.args.timeout)
        self.note_echoes()
        if len(self.echo_heads) == 1:
            eh = next(iter(self.echo_heads))
            self.set_echo(eh, next(iter(self.echo_sizes)) - len(eh))
        for c in conns:
            c.set_lowat()

    def send_batch(self, transport, k: int) -> None:
        if self.big:
            transport.writelines([self.frame] * k)
            return
        b = self.batches.get(k)
        if b is None:
            b = self.batches[k] = self.frame * k
        transport.write(b)

    async def open(self, path: str, mode: int, count: int, concurrency: int = 128) -> list[Client]:
        req = request(self.args.port, path, self.deflate)
        sem = asyncio.Semaphore(concurrency)
        out: list[Client] = []
        tls = connect_kwargs(self.args)

        async def one():
            async with sem:
                proto = Client(self, req, mode)
                t, _ = await self.loop.create_connection(lambda: proto, self.args.host,
                                                         self.args.port, **tls)
                if tls:
                    note_tls(t.get_extra_info("ssl_object"))
                await proto.upgraded
                out.append(proto)

        await asyncio.gather(*(one() for _ in range(count)))
        return out


# --------------------------------------------------------------------------- modes

async def run_stream(args, pipelined: bool) -> dict:
    g = Gen(args)
    conns = await g.open("/", 2 if pipelined else 1, args.conns)
    if g.deflate:
        await g.verify(conns, 2)
    for c in conns:
        c.running = True
        if pipelined:
            c.outstanding = g.inflight
            g.send_batch(c.t, g.inflight)
        else:
            c.t.write(g.frame)
    await asyncio.sleep(args.warmup)
    c0 = sum(c.count for c in conns)
    w0 = Window(args.server_pid)
    await asyncio.sleep(args.duration)
    c1 = sum(c.count for c in conns)
    w1 = Window(args.server_pid)
    for c in conns:
        c.running = False
        c.t.abort()
    res = w0.until(w1)
    res["count"] = c1 - c0
    res["value"] = res["count"] / res["elapsed"]
    res["unit"] = "msg/s"
    if res["count"] == 0:
        res["error"] = "no echo received in the measurement window"
    return res


def run_pingpong_spin(args, g: "Gen") -> dict:
    """``--mode pingpong --spin``: one round trip at a time from a busy-polling generator.

    The default ping-pong generator sleeps in epoll between sending a message and its echo,
    so every round trip also pays the generator's own wake-up, the same for every server,
    which squeezes their ratios towards 1. Here the generator owns its core and never
    sleeps: a blocking ``sendall`` of the pre-built frame, then ``recv(MSG_DONTWAIT)`` in a
    loop until the echo is in. The server is unchanged (it still sleeps and wakes), so the
    rate is the server's wake-up and work plus loopback. The first ``VERIFY`` echoes are
    read and compared in full (header and payload); after that they are received with
    ``MSG_TRUNC``, which makes the kernel discard the bytes without copying them and return
    their count, and a round trip ends once the echo's length has arrived.
    """
    if args.ca is not None or args.deflate:
        raise SystemExit("--spin is for plain ws:// without --deflate")
    [(s, _)] = open_raw(args, "/", 1, g)
    s.setblocking(True)  # sendall blocks; every recv passes MSG_DONTWAIT itself
    frame = g.frame
    echo = header(g.op, len(g.payload), False) + g.payload
    buf = memoryview(bytearray(len(echo)))
    clock = time.perf_counter
    n = len(echo)

    def receive(flags: int) -> None:
        """Poll until one echo (``n`` bytes) is in: kept in ``buf``, or discarded (MSG_TRUNC)."""
        got = 0
        deadline = clock() + args.timeout
        while got < n:
            try:
                k = s.recv_into(buf[got:], n - got, flags)
            except BlockingIOError:
                if clock() > deadline:
                    raise TimeoutError("no echo within --timeout") from None
                continue
            if not k:
                raise ConnectionError("server closed the connection")
            got += k

    for _ in range(VERIFY):
        s.sendall(frame)
        receive(socket.MSG_DONTWAIT)
        if buf != echo:
            raise ConnectionError(f"echo differs from the message sent: {bytes(buf[:16]).hex()}...")
    flags = socket.MSG_DONTWAIT | socket.MSG_TRUNC

    def trips(seconds: float) -> int:
        count = 0
        end = clock() + seconds
        while clock() < end:
            s.sendall(frame)
            receive(flags)
            count += 1
        return count

    trips(args.warmup)
    w0 = Window(args.server_pid)
    count = trips(args.duration)
    w1 = Window(args.server_pid)
    s.close()
    res = w0.until(w1)
    res.update(count=count, value=count / res["elapsed"], unit="msg/s", spin=True, verified=VERIFY)
    return res


# --spin: echoes checked in full before the count-only (MSG_TRUNC) round trips
VERIFY = 3


def open_raw(args, path: str, count: int, gen: "Gen", batch: int = 256, deflate: bool = False):
    """Blocking connect + upgrade of ``count`` plain sockets (in batches, so the server's
    accept queue never overflows); returns [(socket, FrameCounter)], sockets non-blocking.
    Under ``--ca`` they are ``ssl.SSLSocket``s (the TLS handshake happens in ``connect``).
    ``deflate``: offer permessage-deflate, fail unless the server accepts it."""
    req = request(args.port, path, deflate)
    out = []
    for i in range(0, count, batch):
        pending = []
        for _ in range(min(batch, count - i)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(args.timeout)
            if args.ssl_ctx is not None:
                s = args.ssl_ctx.wrap_socket(s, server_hostname=args.host)
            s.connect((args.host, args.port))
            if args.ssl_ctx is not None:
                note_tls(s)
            s.sendall(req)
            pending.append(s)
        for s in pending:
            buf = b""
            while (end := buf.find(b"\r\n\r\n")) < 0:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed during handshake")
                buf += chunk
            check_upgrade(buf[:end], deflate)
            fc = FrameCounter(gen)
            fc.count += fc.parse(buf[end + 4:])
            s.setblocking(False)
            out.append((s, fc))
    return out


def read_frame(s: socket.socket, timeout: float) -> bytes:
    """--deflate, broadcast check: block until the socket ``s`` (non-blocking again on
    return) has delivered one complete frame, and return it. Anything after it is an error:
    only one message was broadcast."""
    s.settimeout(timeout)
    buf = b""
    try:
        while True:
            hl, ln, _ = _frame_header(buf)
            if hl and len(buf) >= hl + ln:
                if len(buf) > hl + ln:
                    raise ConnectionError(f"{len(buf) - hl - ln} unexpected bytes after the delivery")
                return buf
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("subscriber closed by the server")
            buf += chunk
    finally:
        s.setblocking(False)


async def run_broadcast(args) -> dict:
    """Synchronous epoll reader (the event loop is idle meanwhile).

    Subscribers are read *lazily*: one pass over the ready sockets, then a wait of up to
    ``interval`` on the control socket alone, so each recv() returns many frames and the
    generator's cost per delivery stays far below the server's. The kernel receive buffers
    hold what arrives meanwhile (``interval`` is chosen so they never fill). As soon as the
    server's ``done`` reply arrives, passes run back to back until every delivery is counted,
    so the end of the window is detected within one pass.
    """
    import select

    g = Gen(args)
    # --deflate: subscribers negotiate it, the control connection does not (its "done")
    subs = open_raw(args, args.sub_path, args.conns, g, deflate=args.deflate)
    ctrl, _ = open_raw(args, "/control", 1, g)[0]
    m = args.messages or max(10, 200_000 // args.conns)
    ep = select.epoll()
    by_fd = {}
    for s, fc in subs:
        ep.register(s.fileno(), select.EPOLLIN)
        by_fd[s.fileno()] = (s, fc)
    ep_ctrl = select.epoll()
    ep_ctrl.register(ctrl.fileno(), select.EPOLLIN)
    # bytes per connection per second at 2M deliveries/s vs ~128 KiB of receive buffer
    interval = min(0.1, max(0.001, 0.25 * 131072 / (260 * 2e6 / args.conns)))
    total = sum(fc.count for _, fc in subs)
    for _, fc in subs:
        fc.count = 0

    ctrl_buf = b""
    fired = 0
    command = args.command.encode()

    def fire(n: int):
        nonlocal ctrl_buf, fired
        fired += 1  # this broadcast is over (server side) once the fired-th "done" arrives
        target = args.conns * n
        got = 0
        done_seen = ctrl_buf.count(b"done") >= fired
        w = Window(args.server_pid)
        deadline = time.perf_counter() + args.timeout
        ctrl.sendall(client_frame(OP_TEXT, b"%s %d" % (command, n)))
        poll = ep.poll
        rbuf = g.rbuf
        while got < target:
            for fd, _ in poll(0):
                s, fc = by_fd[fd]
                data = recv_ready(s, into=rbuf)
                if data is None:
                    continue
                if not data:
                    ep.unregister(fd)
                    continue
                k = fc.parse(data)
                got += k
            if got >= target:
                break
            if done_seen:
                if not ep.poll(0.001) and time.perf_counter() > deadline:
                    break
                continue
            if ep_ctrl.poll(interval):
                ctrl_buf += recv_ready(ctrl, 65536) or b""
                done_seen = ctrl_buf.count(b"done") >= fired
            if time.perf_counter() > deadline:
                break
        return w, got, target

    if args.deflate:
        # one broadcast of one message, every subscriber's delivery checked in full
        fired += 1
        ctrl.sendall(client_frame(OP_TEXT, b"%s 1" % command))
        expected = broadcast_payload(True)
        for s, _ in subs:
            frame = read_frame(s, args.timeout)
            g.check_echo(frame, _frame_header(frame)[0], expected, OP_BINARY)
        g.note_echoes()
        ctrl.settimeout(args.timeout)
        while ctrl_buf.count(b"done") < fired:
            chunk = ctrl.recv(65536)
            if not chunk:
                raise ConnectionError("control connection closed")
            ctrl_buf += chunk
        ctrl.setblocking(False)

    fire(max(1, m // 10))  # warm-up
    w0, got, target = fire(m)
    w1 = Window(args.server_pid)
    res = w0.until(w1)
    res["count"] = got
    res["value"] = got / res["elapsed"]
    res["unit"] = "deliveries/s"
    res["connections"] = args.conns
    res["messages"] = m
    res["read_interval_s"] = interval
    res["command"] = args.command
    if got < target:
        res["error"] = f"timeout: {got}/{target} delivered"
    ep.close()
    ep_ctrl.close()
    for s, _ in subs:
        s.close()
    ctrl.close()
    return res


# --------------------------------------------------------------------------- game

GAME_FRAME = 2 + GAME_PAYLOAD  # server frame of one tick message: 2-byte header + payload
JOINED = b"\x81\x06joined"     # the server's answer to "join <room>"


def percentile(sorted_xs: list, q: float):
    """Nearest-rank percentile ``q`` (0-100) of an ascending list."""
    if not sorted_xs:
        return None
    k = max(0, min(len(sorted_xs) - 1, -(-len(sorted_xs) * q // 100) - 1))
    return sorted_xs[int(k)]


class GameCheck:
    """What every player received: tick messages walked frame by frame, each checked (final
    binary frame of ``GAME_FRAME`` bytes, topic = the player's room or the global topic),
    counted per player and topic, and its latency taken (receipt minus the publish stamp,
    CLOCK_MONOTONIC ns). Frames split across reads are carried over (``rem``)."""

    def __init__(self, rooms: list[int]):
        n = len(rooms)
        self.rooms = rooms
        self.room_count = [0] * n
        self.global_count = [0] * n
        self.rem = [b""] * n
        self.latencies: list[int] = []
        self.errors: list[str] = []
        self.total = 0
        # first byte, length byte, publish stamp, topic byte of each frame
        self.frame = struct.Struct("<BBQ4xB%dx" % (GAME_FRAME - 15))

    def reset(self) -> None:
        n = len(self.room_count)
        self.room_count = [0] * n
        self.global_count = [0] * n
        self.latencies = []
        self.total = 0

    def feed(self, i: int, data: bytes, now: int) -> int:
        """Bytes ``data`` read from player ``i`` at ``now``; returns the messages completed.
        (A loop over the frames: for the 1-4 frames a read usually holds here it costs half
        as much as strided slices.)"""
        rem = self.rem[i]
        if rem:
            data = rem + data
        ln = len(data)
        end = ln - ln % GAME_FRAME
        if end != ln:
            self.rem[i] = data[end:]
            data = data[:end]
        elif rem:
            self.rem[i] = b""
        room = self.rooms[i]
        nr = ng = bad = 0
        lat = self.latencies.append
        for b0, b1, stamp, topic in self.frame.iter_unpack(data):
            if b0 != 0x82 or b1 != GAME_PAYLOAD:
                bad += 1
                continue
            if topic == room:
                nr += 1
            elif topic == GLOBAL_ID:
                ng += 1
            else:
                bad += 1
                continue
            lat(now - stamp)
        if bad:
            self.errors.append(f"player {i}: {bad} frame(s) not a {GAME_FRAME}-byte binary tick "
                               f"of its room or the global topic: {data[:16].hex()}")
        self.room_count[i] += nr
        self.global_count[i] += ng
        self.total += nr + ng
        return nr + ng

    def missing(self, ticks: int) -> list[str]:
        """Players that did not get exactly ``ticks`` room and ``ticks`` global messages."""
        bad = []
        for i, (r, g) in enumerate(zip(self.room_count, self.global_count)):
            if r != ticks or g != ticks or self.rem[i]:
                bad.append(f"player {i}: {r} room / {g} global messages of {ticks} each"
                           + (f", {len(self.rem[i])} bytes of a partial frame" if self.rem[i] else ""))
        return bad


async def run_game(args) -> dict:
    """A game server's traffic: ``--conns`` players, player i in room ``i % --rooms``; every
    tick the server publishes one message on each room topic and one on the global topic
    (``--hz`` ticks per second, fixed schedule), so each player gets 2 messages per tick.

    Players are read *eagerly* (epoll, every ready socket as soon as it is ready) by a
    synchronous loop, each message stamped with its receipt time: the latency is publish to
    receipt by this process, so it includes the generator's own delay when it falls behind
    (its CPU share is in the result). Every message is checked and counted: a lost,
    duplicated or misrouted message, a partial frame or the deadline (the schedule's
    length + ``--grace``) makes the result an error. One warm-up game of
    ``--warmup`` seconds first, then the measured game of ``--duration`` seconds.
    """
    import select

    g = Gen(args)
    n, rooms, hz = args.conns, args.rooms, args.hz
    players = open_raw(args, GAME_PATH, n, g)
    ctrl, _ = open_raw(args, "/control", 1, g)[0]
    socks = [s for s, _ in players]
    room_of = [i % rooms for i in range(n)]
    # join, and read every "joined" (blocking, in batches) before any tick
    for i in range(0, n, 256):
        batch = socks[i:i + 256]
        for j, s in enumerate(batch):
            s.sendall(client_frame(OP_TEXT, b"join %d" % room_of[i + j]))
        for s in batch:
            got = read_frame(s, args.timeout)
            if got != JOINED:
                raise ConnectionError(f"expected {JOINED!r} after join, got {got[:32]!r}")
    check = GameCheck(room_of)
    ep = select.epoll()
    by_fd = {}
    for i, s in enumerate(socks):
        ep.register(s.fileno(), select.EPOLLIN)
        by_fd[s.fileno()] = i
    ctrl_fd = ctrl.fileno()
    ep.register(ctrl_fd, select.EPOLLIN)
    rbuf = g.rbuf
    ctrl_buf = b""
    fired = 0

    def play(ticks: int):
        nonlocal ctrl_buf, fired
        fired += 1
        check.reset()
        target = 2 * n * ticks
        deadline = time.monotonic() + ticks / hz + args.grace
        w = Window(args.server_pid)
        ctrl.sendall(client_frame(OP_TEXT, b"game %d %s %d" % (ticks, repr(hz).encode(), rooms)))
        poll, feed, mono = ep.poll, check.feed, time.monotonic_ns
        got = 0
        w_end = None
        done = False
        while got < target or not done:
            events = poll(0.05)
            for fd, _ in events:
                if fd == ctrl_fd:
                    ctrl_buf += recv_ready(ctrl, 65536) or b""
                    done = ctrl_buf.count(b"done") >= fired
                    continue
                i = by_fd[fd]
                try:
                    nb = socks[i].recv_into(rbuf)
                except BlockingIOError:
                    continue
                now = mono()
                if not nb:
                    ep.unregister(fd)
                    check.errors.append(f"player {i} closed by the server")
                    continue
                got += feed(i, bytes(rbuf[:nb]), now)
            if got >= target and w_end is None:
                w_end = Window(args.server_pid)
            if check.errors or time.monotonic() > deadline:
                break
        if w_end is None:
            w_end = Window(args.server_pid)
        # anything more (duplicates) already queued is an error too
        for fd, _ in ep.poll(0):
            if fd != ctrl_fd:
                i = by_fd[fd]
                try:
                    nb = socks[i].recv_into(rbuf)
                except BlockingIOError:
                    continue
                got += feed(i, bytes(rbuf[:nb]), mono())
        return w, w_end, got, target, done

    def verdict(ticks: int, got: int, target: int, done: bool) -> list[str]:
        errors = list(check.errors)
        if not errors:
            bad = check.missing(ticks)
            if bad:
                errors = [f"{len(bad)} player(s) without every message, e.g. {bad[0]}"]
            elif got != target:
                errors = [f"{got}/{target} delivered"]
            elif not done:
                errors = ["no 'done' from the server"]
        return errors

    warm = max(1, round(args.warmup * hz))
    _, _, got, target, done = play(warm)
    errors = [f"warm-up: {e}" for e in verdict(warm, got, target, done)]
    res: dict = {}
    if not errors:
        ticks = max(1, round(args.duration * hz))
        w0, w1, got, target, done = play(ticks)
        res = w0.until(w1)
        lat = sorted(check.latencies)
        res.update(
            count=got, value=got / res["elapsed"], unit="deliveries/s", connections=n, rooms=rooms,
            hz=hz, ticks=ticks, target_rate=2 * n * hz, ticks_per_s=ticks / res["elapsed"],
            latency_samples=len(lat),
            latency_p50_ms=percentile(lat, 50) / 1e6 if lat else None,
            latency_p90_ms=percentile(lat, 90) / 1e6 if lat else None,
            latency_p99_ms=percentile(lat, 99) / 1e6 if lat else None,
            latency_max_ms=lat[-1] / 1e6 if lat else None,
        )
        errors = verdict(ticks, got, target, done)
    if errors:
        res.setdefault("value", 0.0)
        res["error"] = "; ".join(errors[:3]) + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")
    ep.close()
    for s in socks:
        s.close()
    ctrl.close()
    return res


class HS(asyncio.Protocol):
    """connect -> upgrade -> send close -> wait for the server's close -> close."""

    __slots__ = ("req", "done", "buf", "t", "state", "deflate")

    def __init__(self, req: bytes, done, deflate: bool = False):
        self.req = req
        self.done = done
        self.deflate = deflate
        self.buf = b""
        self.state = 0

    def connection_made(self, t):
        self.t = t
        t.write(self.req)

    def data_received(self, data):
        if self.state == 0:
            self.buf += data
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            try:
                check_upgrade(self.buf[:end], self.deflate)
            except ConnectionError as exc:
                self.t.abort()
                if not self.done.done():
                    self.done.set_exception(exc)
                return
            self.state = 1
            self.t.write(CLOSE_FRAME)
            data = self.buf[end + 4:]
            self.buf = b""
            if not data:
                return
        # state 1: anything from the server now is its close frame (or the start of it)
        if data[0] & 0x0F == OP_CLOSE:
            self.state = 2
            self.t.close()
            if not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc):
        if not self.done.done():
            if self.state >= 1:
                self.done.set_result(None)
            else:
                self.done.set_exception(ConnectionError("lost during handshake"))


CLOSE_FRAME = client_frame(OP_CLOSE, (1000).to_bytes(2, "big"))


async def run_handshakes(args) -> dict:
    loop = asyncio.get_running_loop()
    req = request(args.port, "/", args.deflate)
    tls = connect_kwargs(args)
    count = 0
    errors = 0
    refused: list[str] = []
    stop = False

    async def worker():
        nonlocal count, errors
        while not stop:
            done = loop.create_future()
            try:
                t, _ = await loop.create_connection(lambda: HS(req, done, args.deflate),
                                                    args.host, args.port, **tls)
                if tls:
                    note_tls(t.get_extra_info("ssl_object"))
                await done
                count += 1
            except (OSError, ConnectionError) as exc:
                errors += 1
                if "permessage-deflate" in str(exc):  # --deflate refused: no point going on
                    refused.append(str(exc))
                    return
                await asyncio.sleep(0.01)

    tasks = [asyncio.ensure_future(worker()) for _ in range(args.conns)]
    await asyncio.sleep(args.warmup)
    c0 = count
    w0 = Window(args.server_pid)
    await asyncio.sleep(args.duration)
    c1 = count
    w1 = Window(args.server_pid)
    stop = True
    await asyncio.wait(tasks, timeout=2)
    for t in tasks:
        t.cancel()
    res = w0.until(w1)
    res["count"] = c1 - c0
    res["value"] = res["count"] / res["elapsed"]
    res["unit"] = "handshakes/s"
    res["errors"] = errors
    if refused:
        res["error"] = refused[0]
    elif res["count"] == 0:
        res["error"] = f"no handshake completed ({errors} errors)"
    return res


async def run_idle_memory(args) -> dict:
    if not args.server_pid:
        raise SystemExit("idle-memory needs --server-pid")
    g = Gen(args)
    warm = await g.open("/", 0, 10)
    if args.echo_once:
        await g.verify(warm, 1)
    await asyncio.sleep(0.3)
    before = proc_rss_kib(args.server_pid)
    t0 = time.perf_counter()
    conns = await g.open("/", 0, args.conns)
    if args.echo_once:
        g.verified = 0
        await g.verify(conns, 1)
    setup = time.perf_counter() - t0
    await asyncio.sleep(args.settle)
    after = proc_rss_kib(args.server_pid)
    lost = sum(c.closed for c in conns)
    for c in conns + warm:
        c.t.abort()
    res = {"value": (after - before) / args.conns, "unit": "KiB/conn",
           "rss_before_kib": before, "rss_after_kib": after, "connections": args.conns,
           "setup_s": setup}
    if lost:
        res["error"] = f"{lost} connections closed by the server while idle"
    return res


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", required=True,
                   choices=["pingpong", "pipelined", "broadcast", "handshakes", "idle-memory", "game"])
    p.add_argument("--size", type=int, default=64, help="payload bytes")
    p.add_argument("--type", choices=["binary", "text"], default="binary")
    p.add_argument("--conns", type=int, default=None,
                   help="connections (pingpong/pipelined: 1, broadcast/idle: 1000, handshakes: "
                        "concurrent workers, 8)")
    p.add_argument("--inflight", type=int, default=64, help="pipelined: messages in flight per conn")
    p.add_argument("--messages", type=int, default=0, help="broadcast: messages (0 = ~200k deliveries)")
    p.add_argument("--sub-path", default="/bcast",
                   help="broadcast: the subscribers' path (/topic: the server's topic subscribers)")
    p.add_argument("--command", default="broadcast", choices=["broadcast", "publish"],
                   help="broadcast: the control command (publish: the server publishes on its topic)")
    p.add_argument("--rooms", type=int, default=100, help="game: room topics")
    p.add_argument("--hz", type=float, default=20.0, help="game: ticks per second")
    p.add_argument("--grace", type=float, default=10.0,
                   help="game: seconds allowed past the schedule's end before it fails")
    p.add_argument("--duration", type=float, default=2.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--settle", type=float, default=1.0, help="idle-memory: wait before reading RSS")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--server-pid", type=int, default=0)
    p.add_argument("--cpu", type=int, default=None, help="pin the generator to this CPU")
    p.add_argument("--no-uvloop", action="store_true")
    p.add_argument("--no-rcvlowat", dest="rcvlowat", action="store_false",
                   help="pipelined: wake on every byte instead of on inflight/4 echoes (SO_RCVLOWAT)")
    p.add_argument("--spin", action="store_true",
                   help="pingpong: a busy-polling generator on a plain socket (see run_pingpong_spin)")
    p.add_argument("--ca", default=None,
                   help="connect with TLS (wss://), trusting only the CA in this PEM file")
    p.add_argument("--deflate", action="store_true",
                   help="offer permessage-deflate (no context takeover either way), require it, "
                        "send compressed market-data messages and check the first echoes in full")
    p.add_argument("--echo-once", action="store_true",
                   help="idle-memory: every connection echoes one message (--size, --type) "
                        "before the server's RSS is read")
    a = p.parse_args(argv)
    if a.conns is None:
        a.conns = {"broadcast": 1000, "idle-memory": 1000, "handshakes": 8, "game": 1000}.get(a.mode, 1)
    a.ssl_ctx = client_ssl_context(a.ca)
    return a


async def amain(args) -> dict:
    if args.mode == "pingpong":
        if args.spin:
            return run_pingpong_spin(args, Gen(args))
        return await run_stream(args, False)
    if args.mode == "pipelined":
        return await run_stream(args, True)
    if args.mode == "broadcast":
        return await run_broadcast(args)
    if args.mode == "handshakes":
        return await run_handshakes(args)
    if args.mode == "game":
        return await run_game(args)
    return await run_idle_memory(args)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.cpu is not None:
        try:
            os.sched_setaffinity(0, {args.cpu})
        except OSError:
            pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    factory = asyncio.new_event_loop
    loop_name = "asyncio"
    if not args.no_uvloop:
        try:
            import uvloop
            factory = uvloop.new_event_loop
            loop_name = "uvloop"
        except ImportError:
            pass
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            res = runner.run(asyncio.wait_for(amain(args), args.timeout + args.duration + args.warmup + 60))
    except Exception as exc:  # report, don't crash the runner
        res = {"value": 0.0, "error": f"{type(exc).__name__}: {exc}"}
    res["gen_loop"] = loop_name
    if args.ca:
        res["tls"] = NEGOTIATED
    if args.deflate:
        res["deflate"] = DEFLATE_INFO
    res["gen_affinity"] = sorted(os.sched_getaffinity(0))
    n = res.get("count") or 0
    if n and "gen_cpu" in res:
        res["gen_us_per_msg"] = 1e6 * res["gen_cpu"] / n
        res["gen_util"] = res["gen_cpu"] / res["elapsed"]
        if "server_cpu" in res:
            res["server_us_per_msg"] = 1e6 * res["server_cpu"] / n
            res["server_util"] = res["server_cpu"] / res["elapsed"]
    if "foreign_cpu" in res:
        res["foreign_util"] = res["foreign_cpu"] / res["elapsed"]
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
