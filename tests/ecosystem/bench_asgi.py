"""ASGI echo under uvicorn: wsfast's protocol class against uvicorn's own WebSocket protocols.

    .venv/bin/python tests/ecosystem/bench_asgi.py [--rounds 3] [--duration 2] [--apps fastapi,raw]
                                                   [--impls wsfast,websockets,websockets-sansio,wsproto]

For every round, app, case and implementation: a fresh ``uvicorn`` process (``--ws`` set to
the implementation, pinned to CPU 0 when there are two) serves the app of
``tests/ecosystem/asgi_app.py`` (``fastapi``: the FastAPI echo route; ``raw``: a plain ASGI
echo), and the load generator of the end-to-end benchmark (``python -m bench.loadgen``,
pinned to CPU 1) measures echoed messages per second. The table gives the median over rounds
and the ratio of wsfast to each of uvicorn's implementations. Not a test: run by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
IMPLS = {
    "wsfast": "wsfast.asgi:WSFastProtocol",
    "websockets": "websockets",
    "websockets-sansio": "websockets-sansio",
    "wsproto": "wsproto",
}
APPS = {"fastapi": "asgi_app:app", "raw": "asgi_app:raw_echo_app"}
CASES = {
    "pingpong-64b-text": ["--mode", "pingpong", "--size", "64", "--type", "text"],
    "pipelined-64b-text": ["--mode", "pipelined", "--size", "64", "--type", "text"],
    "pingpong-16k-bin": ["--mode", "pingpong", "--size", "16384", "--type", "binary"],
}


def _cpus() -> tuple[int | None, int | None]:
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None, None
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("uvicorn did not start listening")


def run_one(impl: str, app: str, case: str, args: argparse.Namespace) -> float:
    """Start uvicorn with ``impl`` serving ``app``; return the load generator's msg/s."""
    server_cpu, gen_cpu = _cpus()
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", APPS[app], "--app-dir", str(HERE), "--host", "127.0.0.1",
           "--port", str(port), "--ws", IMPLS[impl], "--lifespan", "off", "--log-level", "warning",
           "--no-access-log", "--ws-ping-interval", "0"]

    def pin() -> None:
        if server_cpu is not None:
            os.sched_setaffinity(0, {server_cpu})

    proc = subprocess.Popen(cmd, cwd=ROOT, preexec_fn=pin, stdin=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        gen = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--duration", str(args.duration),
               "--warmup", str(args.warmup), "--server-pid", str(proc.pid), *CASES[case]]
        if gen_cpu is not None:
            gen += ["--cpu", str(gen_cpu)]
        out = subprocess.run(gen, cwd=ROOT, capture_output=True, text=True, timeout=args.duration + 60)
        for line in reversed(out.stdout.splitlines()):
            if line.startswith("{"):
                result = json.loads(line)
                if result.get("error"):
                    print(f"  {impl} {app} {case}: {result['error']}", file=sys.stderr)
                return float(result.get("value", 0.0))
        print(f"  {impl} {app} {case}: load generator failed: {out.stderr[-300:]}", file=sys.stderr)
        return 0.0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=2.0)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--apps", default="fastapi,raw")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--impls", default=",".join(IMPLS))
    args = p.parse_args(argv)
    impls = args.impls.split(",")
    apps = args.apps.split(",")
    cases = args.cases.split(",")
    samples: dict[tuple[str, str, str], list[float]] = {}
    total = args.rounds * len(apps) * len(cases) * len(impls)
    done = 0
    for rnd in range(args.rounds):
        for app in apps:
            for case in cases:
                for impl in impls:
                    value = run_one(impl, app, case, args)
                    samples.setdefault((app, case, impl), []).append(value)
                    done += 1
                    print(f"[{done}/{total}] round {rnd + 1} {app:8s} {case:20s} {impl:18s} {value:10.0f} msg/s",
                          file=sys.stderr, flush=True)
    others = [i for i in impls if i != "wsfast"]
    header = "| app | case | " + " | ".join(f"{i} msg/s" for i in impls)
    if "wsfast" in impls:
        header += " | " + " | ".join(f"wsfast / {o}" for o in others)
    print(header + " |")
    print("|" + "---|" * (header.count("|")))
    for app in apps:
        for case in cases:
            med = {i: statistics.median(samples[(app, case, i)]) for i in impls}
            row = f"| {app} | {case} | " + " | ".join(f"{med[i]:,.0f}" for i in impls)
            if "wsfast" in impls:
                row += " | " + " | ".join(f"{med['wsfast'] / med[o]:.2f}x" if med[o] else "-" for o in others)
            print(row + " |")
    print(f"\n(median of {args.rounds} rounds x {args.duration:g} s; uvicorn {_version('uvicorn')}, "
          f"websockets {_version('websockets')}, wsproto {_version('wsproto')}, "
          f"wsfast kernels {_wsfast_impl()}; server pinned to CPU {_cpus()[0]}, generator to CPU {_cpus()[1]})")
    return 0


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "missing"


def _wsfast_impl() -> str:
    sys.path.insert(0, str(ROOT))
    import wsfast

    return wsfast.IMPLEMENTATION


if __name__ == "__main__":
    sys.exit(main())
