"""Where the server's CPU per handshake cycle goes (issue 19).

A cycle is what ``bench.loadgen --mode handshakes`` does: TCP connect, upgrade request, 101,
a client close frame, the server's close echo, TCP close. Two ways to look:

* ``cprofile``: the bench's wsfast server (``bench/servers/wsfast_server.py``) runs with
  cProfile on in a subprocess while ``bench.loadgen --mode handshakes`` loads it for
  ``--seconds``; the profile (sorted by own time) goes to ``--out``, with the cycles counted
  so that times read per cycle.
* ``callgrind``: the same server under ``valgrind --tool=callgrind``, driven by a blocking
  client for exactly N cycles, twice (``--cycles N1 N2``); the difference of the two totals
  of user-space instructions divided by ``N2 - N1`` is the instructions per cycle (start-up
  and shutdown cancel out).

Run from the checkout to measure (``--tree DIR`` runs another checkout's wsfast)::

    python -m bench.handshake_profile cprofile --seconds 5 --out bench/results/x.txt
    python -m bench.handshake_profile callgrind --cycles 200 1200
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

PROFILED_SERVER = r"""
import cProfile, pstats, signal, sys, io
sys.argv = ["wsfast_server", "--port", sys.argv[1]]
from bench.servers import wsfast_server, _common
prof = cProfile.Profile()
def stop(*_):
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(90)
    s.write("\n=== cumulative ===\n")
    pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(90)
    open(OUT, "w").write(s.getvalue())
    raise SystemExit(0)
signal.signal(signal.SIGTERM, stop)
prof.enable()
_common.run_asyncio(wsfast_server.start)
"""


def _env(tree: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = tree
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], tree: str) -> subprocess.Popen:
    # cwd: ``python -m`` / ``-c`` put it first on sys.path, so it decides which wsfast runs
    proc = subprocess.Popen(cmd, env=_env(tree), cwd=tree, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "READY" in line:
            return proc
    raise RuntimeError(f"server did not start: {proc.wait()}")


KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
CLOSE = bytes([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE8 ^ 2])  # masked close 1000


def cycles(port: int, n: int) -> None:
    """``n`` handshake cycles with a blocking client (the loadgen's sequence)."""
    req = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY.decode()}\r\n"
           f"Sec-WebSocket-Version: 13\r\n\r\n").encode()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            buf += chunk
        assert buf.startswith(b"HTTP/1.1 101"), buf
        s.sendall(CLOSE)
        rest = buf.split(b"\r\n\r\n", 1)[1]
        while len(rest) < 2:
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
        s.close()


def run_cprofile(args) -> None:
    port = _free_port()
    out = os.path.abspath(args.out)
    code = PROFILED_SERVER.replace("OUT", repr(out))
    proc = _start([sys.executable, "-c", code, str(port)], args.tree)
    lg = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--mode", "handshakes",
         "--duration", str(args.seconds), "--warmup", "0.2", "--server-pid", str(proc.pid)],
        env=_env(REPO), capture_output=True, text=True, check=True, cwd=REPO)
    res = json.loads(lg.stdout)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    text = open(out).read()
    total = re.search(r"(\d+) function calls.* in ([0-9.]+) seconds", text)
    head = (f"# cProfile of bench/servers/wsfast_server.py under bench.loadgen --mode handshakes "
            f"({args.seconds} s, tree {args.tree})\n# loadgen: {res['value']:.0f} handshakes/s "
            f"under the profiler, {res['count']} cycles in the window\n")
    if total:
        head += f"# whole run: {total.group(1)} calls in {total.group(2)} s of profiled time\n"
    with open(out, "w") as f:
        f.write(head + "\n" + text)
    print(head)


def run_callgrind(args) -> None:
    totals = []
    for n in args.cycles:
        port = _free_port()
        tmp = tempfile.mkdtemp(prefix="wsfast-hs-cg-")
        cg = os.path.join(tmp, "cg.out")
        proc = _start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}",
                       sys.executable, "-m", "bench.servers.wsfast_server", "--port", str(port)],
                      args.tree)
        cycles(port, n)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        with open(cg) as f:
            m = re.search(r"^summary:\s*(\d+)", f.read(), re.M)
        assert m, "no callgrind summary"
        totals.append(int(m.group(1)))
        print(f"{n} cycles: {int(m.group(1)):,} instructions", flush=True)
    per = (totals[-1] - totals[0]) / (args.cycles[-1] - args.cycles[0])
    print(f"instructions per handshake cycle (server, user space): {per:,.0f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cprofile")
    c.add_argument("--seconds", type=float, default=5)
    c.add_argument("--out", required=True)
    c.add_argument("--tree", default=REPO, help="the checkout whose wsfast the server runs")
    g = sub.add_parser("callgrind")
    g.add_argument("--cycles", type=int, nargs=2, default=[200, 1200])
    g.add_argument("--tree", default=REPO)
    args = p.parse_args()
    (run_cprofile if args.what == "cprofile" else run_callgrind)(args)


if __name__ == "__main__":
    main()
