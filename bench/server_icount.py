"""User-space instructions a *server* spends per broadcast delivery and per handshake cycle,
counted by callgrind (exact where wall-clock ratios on this shared VM are not).

    python -m bench.server_icount [--servers wsfast,wsfast-transports,socketify,wsfast@../base]
                                  [--conns 1000]
                                  [--low 20 --high 60] [--handshakes-low 200 --handshakes-high 600]
                                  [--annotate DIR]

Each server module of ``bench.servers`` (the same contract ``bench.run`` uses) runs under
``valgrind --tool=callgrind`` twice per measure, with the load generated here by plain
blocking sockets (not counted):

* delivery: ``--conns`` subscribers on ``/bcast``, then ``broadcast <n>`` on ``/control``
  with n = ``--low`` and n = ``--high``; every delivery is read and counted before the
  server is stopped. ``(I_high - I_low) / ((high - low) * conns)`` is one delivery's cost.
* handshake: ``--handshakes-low`` and ``--handshakes-high`` cycles (connect, upgrade, close
  frame both ways, TCP close), one at a time; the difference over the difference.

Start-up, imports and the subscribers' own handshakes are the same in both runs of a pair and
cancel out. ``--annotate DIR`` writes there, per server, the functions one delivery and one
handshake spend their instructions in (per-function counts of the high run minus the low
run, over the units between them). Kernel time (system calls)
is not counted by callgrind; ``strace -c`` gives those.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

from bench.run import SERVERS, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def _upgrade(port: int, path: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed during the handshake on {path!r}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head[:80])
    rest = head.split(b"\r\n\r\n", 1)[1]
    if rest:
        raise ConnectionError("bytes after the 101 answer")
    return s


def _client_frame(opcode: int, payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def _frames_in(buf: bytearray) -> tuple[int, int]:
    """Complete server frames at the start of ``buf``: (count, bytes they take)."""
    pos = count = 0
    while len(buf) - pos >= 2:
        n = buf[pos + 1] & 0x7F
        head = 2
        if n == 126:
            if len(buf) - pos < 4:
                break
            n = struct.unpack_from("!H", buf, pos + 2)[0]
            head = 4
        elif n == 127:
            if len(buf) - pos < 10:
                break
            n = struct.unpack_from("!Q", buf, pos + 2)[0]
            head = 10
        if len(buf) - pos < head + n:
            break
        pos += head + n
        count += 1
    return count, pos


def _start(name: str, out: str, uvloop: bool) -> tuple[subprocess.Popen, int]:
    kind, _, tree = name.partition("@")  # NAME@DIR: that checkout's build, as in bench.run
    module, extra = SERVERS[kind]
    root = os.path.abspath(tree) if tree else ROOT
    port = free_port()
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--trace-children=no",
           PY, "-m", f"bench.servers.{module}", "--port", str(port)]
    if uvloop:
        cmd.append("--uvloop")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError(f"{name}: {line.strip() or 'no READY'}")
    return proc, port


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(2)  # SIGINT: a clean exit, so callgrind writes its counts
    try:
        proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _total(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def _broadcast_run(name: str, conns: int, n: int, out: str, uvloop: bool) -> int:
    proc, port = _start(name, out, uvloop)
    try:
        subs = [_upgrade(port, b"/bcast") for _ in range(conns)]
        ctrl = _upgrade(port, b"/control")
        ctrl.sendall(_client_frame(1, b"broadcast %d" % n))
        deadline = time.monotonic() + 600
        for s in subs:
            buf = bytearray()
            got = 0
            while got < n:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name}: a subscriber got {got} of {n} broadcasts")
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise ConnectionError(f"{name}: a subscriber was closed after {got} of {n}")
                buf += chunk
                k, used = _frames_in(buf)
                got += k
                del buf[:used]
        for s in subs + [ctrl]:
            s.close()
    finally:
        _stop(proc)
    return _total(out)


def _handshake_run(name: str, cycles: int, out: str, uvloop: bool) -> int:
    proc, port = _start(name, out, uvloop)
    try:
        for _ in range(cycles):
            s = _upgrade(port, b"/")
            s.sendall(b"\x88\x82\x01\x02\x03\x04" + bytes([0x03 ^ 1, 0xE8 ^ 2]))  # close 1000
            while s.recv(4096):
                pass  # the server's close frame, then its FIN
            s.close()
    finally:
        _stop(proc)
    return _total(out)


_LINE = re.compile(r"^\s*([\d,]+) \([ \d.]+%\)\s+(.*?)(?: \[[^\]]*\])?$")


def _functions(path: str) -> dict[str, int]:
    """Instructions per function (self cost) in a callgrind output."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                          capture_output=True, text=True).stdout
    found: dict[str, int] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and "PROGRAM TOTALS" not in m.group(2):
            name = m.group(2).split("/")[-1]  # file:function, without the build directory
            found[name] = found.get(name, 0) + int(m.group(1).replace(",", ""))
    return found


def _profile(low: str, high: str, units: int, what: str, top: int = 30) -> str:
    """The functions one unit (delivery, handshake) spends its instructions in: the
    difference between the two runs' per-function counts, over the units between them."""
    lo, hi = _functions(low), _functions(high)
    diff = {name: (hi.get(name, 0) - lo.get(name, 0)) / units for name in set(lo) | set(hi)}
    total = sum(diff.values())
    lines = [f"instructions per {what}: {total:.0f} (high run minus low run, per {what})", ""]
    for name, ir in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{ir:10.1f}  {100 * ir / total:5.1f}%  {name}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default="wsfast,wsfast-transports,socketify")
    p.add_argument("--conns", type=int, default=1000)
    p.add_argument("--low", type=int, default=20)
    p.add_argument("--high", type=int, default=60)
    p.add_argument("--handshakes-low", type=int, default=200)
    p.add_argument("--handshakes-high", type=int, default=600)
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--annotate", help="keep callgrind_annotate output of the high runs here")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.servers.split(","):
            outs = {k: os.path.join(tmp, f"{name.replace('@', '_').replace('/', '_')}.{k}") for k in ("bl", "bh", "hl", "hh")}
            lo = _broadcast_run(name, args.conns, args.low, outs["bl"], args.uvloop)
            hi = _broadcast_run(name, args.conns, args.high, outs["bh"], args.uvloop)
            per_delivery = (hi - lo) / ((args.high - args.low) * args.conns)
            hlo = _handshake_run(name, args.handshakes_low, outs["hl"], args.uvloop)
            hhi = _handshake_run(name, args.handshakes_high, outs["hh"], args.uvloop)
            per_handshake = (hhi - hlo) / (args.handshakes_high - args.handshakes_low)
            rows.append((name, per_delivery, per_handshake))
            print(f"{name:28s} {per_delivery:10.0f} instructions/delivery {per_handshake:12.0f} instructions/handshake",
                  flush=True)
            if args.annotate:
                os.makedirs(args.annotate, exist_ok=True)
                safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
                for lo_key, hi_key, units, what in (
                        ("bl", "bh", (args.high - args.low) * args.conns, "delivery"),
                        ("hl", "hh", args.handshakes_high - args.handshakes_low, "handshake")):
                    with open(os.path.join(args.annotate, f"{safe}-{what}.txt"), "w") as f:
                        f.write(f"{name}\n" + _profile(outs[lo_key], outs[hi_key], units, what))
    ref = rows[0]
    print(f"\nratios to {ref[0]}:")
    for name, d, h in rows:
        print(f"{name:28s} delivery {d / ref[1]:5.2f}x   handshake {h / ref[2]:5.2f}x")


if __name__ == "__main__":
    main()
