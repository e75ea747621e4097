"""Calibration "null" server: NOT a WebSocket implementation, only a generator ceiling.

It answers the upgrade, unmasks the *first* frame of a connection to build the matching
server frame, and from then on replies to every ``client_frame_len`` bytes received with
that pre-built frame, without looking at them. Valid only for the homogeneous streams of
the ``pingpong`` and ``pipelined`` cases (and ``handshakes``: a first frame that is a close
is answered with a close). Its per-message cost is near zero, so the rate the load
generator reaches against it is the generator's own ceiling. Under ``--cert/--key`` it
replays the same way above uvloop's TLS transport, so its own cost is then one decryption
and one encryption per batch, like the generator's.

permessage-deflate (``bench.run --deflate``): a request offering it is answered with
``permessage-deflate; server_no_context_takeover; client_no_context_takeover`` and the
replayed frame keeps the client frame's RSV1 bit. The client's compressed message (no
context takeover) is then a valid compressed server message: the replay costs no zlib
work, so it is still the generator's ceiling, now including its decompression check.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib

from bench.servers import _common as c

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEFLATE_ANSWER = (b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                  b"client_no_context_takeover\r\n")


def _header(op: int, n: int, rsv: int = 0) -> bytes:
    b0 = 0x80 | rsv | op
    if n < 126:
        return bytes((b0, n))
    if n < 65536:
        return bytes((b0, 126)) + n.to_bytes(2, "big")
    return bytes((b0, 127)) + n.to_bytes(8, "big")


class Replay(asyncio.Protocol):
    def __init__(self):
        self.buf = b""
        self.state = 0  # 0 handshake, 1 first frame, 2 replay
        self.cfl = 0
        self.reply = b""
        self.received = 0
        self.sent = 0
        self.cache = {}

    def connection_made(self, transport):
        self.t = transport

    def data_received(self, data):
        if self.state == 2:
            self.received += len(data)
            k = self.received // self.cfl - self.sent
            if k:
                self.sent += k
                out = self.cache.get(k)
                if out is None:
                    out = self.reply * k if k <= 256 else None
                    if out is not None:
                        self.cache[k] = out
                if out is None:
                    self.t.writelines([self.reply] * k)
                else:
                    self.t.write(out)
            return
        self.buf += data
        if self.state == 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            key = b""
            ext = b""
            for line in head.split(b"\r\n"):
                low = line.lower()
                if low.startswith(b"sec-websocket-key:"):
                    key = line.split(b":", 1)[1].strip()
                elif low.startswith(b"sec-websocket-extensions:") and b"permessage-deflate" in low:
                    ext = DEFLATE_ANSWER
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            self.t.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n"
                         + ext + b"\r\n")
            self.state = 1
        if self.state == 1:
            b = self.buf
            if len(b) < 2:
                return
            ln = b[1] & 0x7F
            hl = 2
            if ln == 126:
                hl = 4
            elif ln == 127:
                hl = 10
            if len(b) < hl + 4:
                return
            if hl > 2:
                ln = int.from_bytes(b[2:hl], "big")
            self.cfl = hl + 4 + ln
            if len(b) < self.cfl:
                return
            mask = b[hl:hl + 4]
            masked = b[hl + 4:self.cfl]
            rep = (mask * (ln // 4 + 1))[:ln]
            payload = (int.from_bytes(masked, "big") ^ int.from_bytes(rep, "big")).to_bytes(ln, "big")
            op = b[0] & 0x0F
            if op == 8:
                self.t.write(_header(8, ln) + payload)
                self.t.close()
                return
            self.reply = _header(op, ln, b[0] & 0x40) + payload  # RSV1: compressed
            self.state = 2
            rest = len(b)
            self.buf = b""
            self.received = rest
            k = rest // self.cfl
            self.sent = k
            self.t.write(self.reply * k)


async def start(args):
    loop = asyncio.get_running_loop()
    return await loop.create_server(Replay, c.HOST, args.port, backlog=c.BACKLOG,
                                    ssl=c.server_ssl_context(args))


if __name__ == "__main__":
    import sys
    # always on uvloop when available: the point is to cost as little as possible
    try:
        import uvloop  # noqa: F401
        argv = sys.argv[1:] + ["--uvloop"]
    except ImportError:
        argv = sys.argv[1:]
    c.run_asyncio(start, argv)
