"""Writes the seed corpus of each target into fuzz/corpus/<target>/ (small, hand-picked
inputs that reach every branch family: valid traffic, each framing rule broken, limits,
close frames, handshakes accepted and refused, compressed messages good and bad).

Run once after changing the input format of a target: ``python fuzz/make_corpus.py``.
"""
from __future__ import annotations

import hashlib
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # the hand-made frames of the tests
import rawframes  # noqa: E402


def frame(opcode, payload=b"", **options):
    """``rawframes.frame`` with a fixed mask key, so that every run writes the same seeds."""
    return rawframes.frame(opcode, payload, key=b"\x01\x02\x03\x04", **options)


def frames_seeds():
    server = b"\x02\x05\x03"  # server side, decode text, max_size 1000, fragments 16-ish
    client = b"\x03\x05\x03"
    yield server + frame(1, b"hello")
    yield server + frame(2, bytes(range(256)))
    yield server + frame(1, "héllo €".encode(), fin=False) + frame(9, b"p") + frame(0, b"!")
    yield server + frame(1, b"\xc3\x28")
    yield server + frame(1, b"ok", fin=False) + frame(0, b"\xe2\x82")
    yield server + frame(8, b"\x03\xe8bye")
    yield server + frame(8, b"\x03")
    yield server + frame(8, b"\x03\xe8\xff")
    yield server + frame(8, struct.pack("!H", 1005))
    yield server + frame(9, b"x" * 126)
    yield server + frame(3, b"x")
    yield server + frame(0, b"x")
    yield server + frame(1, b"x", rsv=0x40)
    yield b"\x42\x05\x03" + frame(1, b"compressed?", rsv=0x40)
    yield server + frame(1, b"unmasked", mask=False)
    yield client + frame(1, b"masked")
    yield client + frame(2, b"y" * 300, mask=False)
    yield server + frame(2, b"", length=1 << 40)
    yield server + b"\x82\xff" + b"\x80" + b"\x00" * 7 + b"kkkk"
    yield server + frame(2, b"z" * 2000)
    yield b"\x02\x15\x03" + frame(1, b"a", fin=False) + frame(0, b"b", fin=False) + frame(0, b"c")
    yield server + frame(10, b"pong") + frame(2, b"after")


def request(extra=b""):
    return (b"GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n")


def handshake_seeds():
    yield b"\x05" + request()
    yield b"\x05" + request(b"Sec-WebSocket-Protocol: chat, superchat\r\n")
    yield b"\x05" + request(b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    yield b"\x05" + request(b'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits="10", x-foo\r\n')
    yield b"\x05" + request(b"Sec-WebSocket-Extensions: permessage-deflate\r\n") + frame(1, b"x", rsv=0x40)
    yield b"\x05" + request() + frame(1, b"pipelined") + frame(9, b"p")
    yield b"\x05" + request(b"Sec-WebSocket-Protocol: , , \\\\ ,\r\n")
    yield b"\x05" + request(b"Origin: https://a.example\r\nOrigin: https://b.example\r\n")
    yield b"\x05" + request().replace(b"13", b"8")
    yield b"\x05" + request().replace(b"GET", b"POST")
    yield b"\x05" + request().replace(b"HTTP/1.1", b"HTTP/1.0")
    yield b"\x05" + request(b"X-Long: " + b"a" * 600 + b"\r\n")
    yield b"\x05" + request(b" folded\r\n")
    yield b"\x05" + request().replace(b"\r\n", b"\n")
    yield b"\x09HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    yield b"\x09HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!"
    yield b"\x09HTTP/1.1 500 Oops\r\n\r\nbody until eof"


def upgrade_seeds():
    """A cut seed, a limits choice (fuzz/targets.py _HEAD_LIMITS), then the request."""
    yield b"\x05\x00" + request()
    yield b"\x05\x02" + request() + frame(1, b"pipelined")
    yield b"\x07\x00" + request().replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade")
    yield b"\x05\x00" + request().replace(b"Upgrade: websocket", b"UPGRADE: WebSocket")
    yield b"\x05\x00" + request(b"Connection: close\r\n")
    yield b"\x05\x00" + request(b"Origin: https://a.example\r\n")
    yield b"\x05\x00" + request(b"Sec-WebSocket-Protocol: chat\r\n")
    yield b"\x05\x00" + request(b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    yield b"\x05\x00" + request(b"Host: again\r\n")
    yield b"\x05\x00" + request().replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"dGhlIHNhbXBsZSBub25jZQ")
    yield b"\x05\x00" + request().replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"dGhlIHNhbXBsZSBub25jZ*==")
    yield b"\x05\x00" + request().replace(b"13", b"8")
    yield b"\x05\x01" + request()  # over the small limits
    yield b"\x05\x03" + request()  # a line over 20 bytes
    yield b"\x05\x00" + request().replace(b"GET", b"PUT")
    yield b"\x05\x00" + request().replace(b"HTTP/1.1", b"HTTP/2.0")
    yield b"\x05\x00" + request(b"X: a\x01b\r\n")
    yield b"\x05\x00" + request(b"\tfolded\r\n")
    yield b"\x05\x00" + request().replace(b"\r\n", b"\n", 2)


def deflate_seeds():
    def raw(data, level=6):
        c = zlib.compressobj(level, zlib.DEFLATED, -15)
        return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]

    sep = b"\xff\x00"
    yield b"\x00" + b"\x01" + raw(b"hello hello hello")
    yield b"\x00" + b"\x02" + raw(bytes(range(256)) * 4)
    yield b"\x04" + b"\x07" + raw(b"fragmented text " * 20)
    yield b"\x05" + b"\x01" + raw(b"a" * 5000)  # over max_size 64 with no takeover
    yield b"\x08" + b"\x01" + raw("é".encode() * 300) + sep + b"\x01" + raw(b"second")
    yield b"\x00" + b"\x01" + b"\xff\xff\xff\xff"
    yield b"\x00" + b"\x01" + raw(b"x" * 100)[:-3]
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    yield b"\x00" + b"\x02" + c.compress(b"final block") + c.flush(zlib.Z_FINISH)
    yield b"\x00" + b"\x81" + b"uncompressed text"
    yield b"\x00" + b"\x01" + raw(b"\xc3\x28 bad utf8")
    yield b"\x02" + b"\x01" + raw(b"window 9 " * 50)


def reactor_seeds():
    # (kind, arg) pairs: 0 write, 1 writelines, 2 peer reads, 3 peer sends, 4 pause reading,
    # 5 resume reading, 6 let the loop run, 7 close (arg % 4 == 0)
    def ops(*pairs):
        return bytes(b for pair in pairs for b in pair)

    yield ops((0, 10), (6, 1), (2, 255))
    yield ops((0, 255), (0, 255), (0, 255), (6, 3), (2, 40), (6, 3), (2, 255))
    yield ops((1, 0xFF), (1, 0xAA), (6, 1), (2, 10), (1, 0x55), (6, 2))
    yield ops((3, 200), (6, 1), (4, 0), (3, 100), (6, 2), (5, 0), (6, 2))
    yield ops((0, 255), (0, 255), (7, 0), (0, 5), (2, 255), (6, 3))
    yield ops((3, 50), (7, 4), (3, 50), (6, 1))
    yield ops(*[(0, 200), (2, 3), (6, 0)] * 20)
    yield ops(*[(1, 0xFF), (6, 1)] * 10, (2, 255), (2, 255), (2, 255))
    yield ops((4, 0), (0, 255), (0, 255), (0, 255), (0, 255), (5, 0), (6, 3))
    yield ops((7, 0))
    yield b""


def main():
    for name, seeds in (("frames", frames_seeds), ("handshake", handshake_seeds),
                        ("upgrade", upgrade_seeds), ("deflate", deflate_seeds),
                        ("reactor", reactor_seeds)):
        folder = os.path.join(HERE, "corpus", name)
        os.makedirs(folder, exist_ok=True)
        for seed in seeds():
            path = os.path.join(folder, "seed-" + hashlib.sha1(seed).hexdigest()[:16])
            with open(path, "wb") as f:
                f.write(seed)
        print(name, len(os.listdir(folder)), "files")


if __name__ == "__main__":
    main()
