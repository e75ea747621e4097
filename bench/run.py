"""Benchmark runner: every server against the same load generator, rounds interleaved.

    python -m bench.run [--servers a,b,c] [--cases c1,c2] [--rounds 3] [--duration 2]
                        [--uvloop] [--tls] [--deflate] [--reference SERVER]
                        [--json out.json] [--plot out.png] [--quick]

For each round, for each case, for each server: start the server (fresh process, pinned to
CPU 0), run ``bench.loadgen`` in its own process (pinned to CPU 1), stop the server. The
table shows the median over rounds of every (server, case) and its ratio to the reference
server (picows; websockets with ``--deflate``) measured in the same run. With ``--tls``
every connection is wss:// (a throwaway CA and certificate made once per run). With
``--deflate`` every server enables permessage-deflate and the generator negotiates it on
every connection (a server without it prints SKIP). A server written ``NAME@DIR`` runs
from another checkout (its own build), so a change and its base are measured in one run:
``--servers picows,wsfast,wsfast@../base``. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))  # the tests' free_port (tests/ports.py)
from ports import free_port  # noqa: E402,F401  (re-exported: bench.run.free_port)

# name -> (module under bench.servers, extra environment)
SERVERS: dict[str, tuple[str, dict[str, str]]] = {
    "picows": ("picows_server", {}),
    "websockets": ("websockets_server", {}),
    "aiohttp": ("aiohttp_server", {}),
    "socketify": ("socketify_server", {}),
    "wsfast": ("wsfast_server", {}),
    "wsfast-pure": ("wsfast_server", {"WSFAST_NO_EXTENSIONS": "1"}),
    "wsfast-afn": ("wsfast_server", {"WSFAST_BENCH_AIOFASTNET": "1"}),
    "wsfast-spin": ("wsfast_server", {"WSFAST_BENCH_BUSY_POLL": "200"}),  # asyncio only
    "wsfast-metrics": ("wsfast_server", {"WSFAST_BENCH_METRICS": "1"}),  # serve(metrics=True)
    "wsfast-transports": ("wsfast_server", {"WSFAST_IO": "transports"}),  # the loop's transports
    "wsfast-coro-transports": ("wsfast_coro_server", {"WSFAST_IO": "transports"}),
    "wsfast-coro": ("wsfast_coro_server", {}),
    "wsfast-coro-pure": ("wsfast_coro_server", {"WSFAST_NO_EXTENSIONS": "1"}),
    "wsfast-coro-afn": ("wsfast_coro_server", {"WSFAST_BENCH_AIOFASTNET": "1"}),
    "null": ("null_server", {}),  # generator ceiling, stream cases and handshakes only
}
DEFAULT_SERVERS = "picows,websockets,aiohttp,socketify,wsfast,wsfast-pure,null"
# ratios are to this server; picows has no permessage-deflate, so --deflate uses websockets
REFERENCE = "picows"
DEFLATE_REFERENCE = "websockets"
NULL_MODES = {"pingpong", "pipelined", "handshakes"}
# cases that need topics: the server is told (``--case``) and may SKIP that case only
TOPIC_MODES = {"publish", "game"}

FULL_CASES = [
    "pipelined-64b-bin", "pipelined-64b-text", "pipelined-1k-bin", "pipelined-1k-text",
    "pipelined-64k-bin-k8", "pipelined-1m-bin-k2",
    "pingpong-64b-bin", "pingpong-64b-text", "pingpong-1k-bin", "pingpong-1k-text",
    "pingpong-64k-bin", "pingpong-64k-text", "pingpong-1m-bin", "pingpong-1m-text",
    "pingpong-64b-bin-c16",
    "pingpong-64b-bin-spin", "pingpong-64k-bin-spin", "pingpong-1m-bin-spin",
    "broadcast-1000", "broadcast-10000",
    "handshakes",
    "idle-1000", "idle-10000",
]
QUICK_CASES = [
    "pipelined-64b-bin", "pingpong-64b-bin", "pingpong-64k-bin",
    "broadcast-1000", "handshakes", "idle-1000", "idle-10000",
]
SIZES = {"b": 1, "k": 1024, "m": 1024 * 1024}


@dataclass
class Case:
    name: str
    mode: str
    args: list[str] = field(default_factory=list)


def parse_case(name: str) -> Case:
    """``pipelined-64b-bin[-c4][-k16]``, ``pingpong-1k-text[-spin]`` (busy-polling generator),
    ``broadcast-1000[-m50]``, ``publish-1000[-m50]`` (the same through the server's topics),
    ``game-10000[-r100][-hz20]`` (players in rooms, ticks published on room and global topics),
    ``handshakes[-c8]``, ``idle-1000``, ``idle-1000-echo`` (each connection echoes one 1 KiB
    text message before the RSS is read)."""
    parts = name.split("-")
    mode = parts[0]
    if mode in ("pingpong", "pipelined"):
        m = re.fullmatch(r"(\d+)([bkm])", parts[1]) if len(parts) > 2 else None
        if not m or parts[2] not in ("bin", "text"):
            raise ValueError(f"bad case {name!r}: expected {mode}-<N>[b|k|m]-<bin|text>[-cN][-kN]")
        args = ["--mode", mode, "--size", str(int(m[1]) * SIZES[m[2]]),
                "--type", "binary" if parts[2] == "bin" else "text"]
        for extra in parts[3:]:
            if extra[0] == "c" and extra[1:].isdigit():
                args += ["--conns", extra[1:]]
            elif extra[0] == "k" and extra[1:].isdigit():
                args += ["--inflight", extra[1:]]
            elif extra == "spin" and mode == "pingpong":
                args += ["--spin"]
            else:
                raise ValueError(f"bad case {name!r}: unknown suffix {extra!r}")
        return Case(name, mode, args)
    if mode == "broadcast" and len(parts) >= 2 and parts[1].isdigit():
        args = ["--mode", "broadcast", "--conns", parts[1]]
        for extra in parts[2:]:
            if extra[0] == "m" and extra[1:].isdigit():
                args += ["--messages", extra[1:]]
            else:
                raise ValueError(f"bad case {name!r}")
        return Case(name, mode, args)
    if mode == "publish" and len(parts) >= 2 and parts[1].isdigit():
        args = ["--mode", "broadcast", "--conns", parts[1], "--sub-path", "/topic", "--command", "publish"]
        for extra in parts[2:]:
            if extra[0] == "m" and extra[1:].isdigit():
                args += ["--messages", extra[1:]]
            else:
                raise ValueError(f"bad case {name!r}")
        return Case(name, mode, args)
    if mode == "game" and len(parts) >= 2 and parts[1].isdigit():
        args = ["--mode", "game", "--conns", parts[1]]
        rooms, hz = 100, 20
        for extra in parts[2:]:
            if extra[0] == "r" and extra[1:].isdigit():
                rooms = int(extra[1:])
            elif extra.startswith("hz") and extra[2:].isdigit():
                hz = int(extra[2:])
            else:
                raise ValueError(f"bad case {name!r}: expected game-<N>[-r<rooms>][-hz<ticks/s>]")
        if not 0 < rooms < 255 or not hz:
            raise ValueError(f"bad case {name!r}: 1-254 rooms and a tick rate above 0")
        return Case(name, mode, args + ["--rooms", str(rooms), "--hz", str(hz)])
    if mode == "handshakes":
        args = ["--mode", "handshakes"]
        if len(parts) == 2 and parts[1][0] == "c":
            args += ["--conns", parts[1][1:]]
        return Case(name, mode, args)
    if mode == "idle" and len(parts) in (2, 3) and parts[1].isdigit():
        args = ["--mode", "idle-memory", "--conns", parts[1]]
        if len(parts) == 3:
            if parts[2] != "echo":
                raise ValueError(f"bad case {name!r}: expected idle-<N>[-echo]")
            args += ["--echo-once", "--size", "1024", "--type", "text"]
        return Case(name, "idle-memory", args)
    raise ValueError(f"bad case {name!r}")


class Skip(Exception):
    pass


class Pinning:
    """Server on one CPU, generator on another, when the machine lets us."""

    def __init__(self):
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = []
        if len(cpus) >= 2:
            self.server_cpu, self.gen_cpu = cpus[0], cpus[1]
            self.desc = f"server pinned to CPU {cpus[0]}, generator to CPU {cpus[1]} (sched_setaffinity)"
        else:
            self.server_cpu = self.gen_cpu = None
            self.desc = f"not pinned (only {len(cpus) or '?'} CPU available)"


class TLSFiles:
    """A throwaway CA and a certificate for 127.0.0.1/localhost issued by it (``trustme``),
    written once per run as PEM files to a temporary directory (removed by ``cleanup``)."""

    def __init__(self):
        import trustme

        self._dir = tempfile.TemporaryDirectory(prefix="wsfast-bench-tls-")
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        self.ca = os.path.join(self._dir.name, "ca.pem")
        self.cert = os.path.join(self._dir.name, "cert.pem")
        self.key = os.path.join(self._dir.name, "key.pem")
        ca.cert_pem.write_to_path(self.ca)
        for i, blob in enumerate(leaf.cert_chain_pems):
            blob.write_to_path(self.cert, append=i > 0)
        leaf.private_key_pem.write_to_path(self.key)

    def server_args(self) -> list[str]:
        """Arguments that make a ``bench.servers`` module serve wss:// with this certificate."""
        return ["--cert", self.cert, "--key", self.key]

    def loadgen_args(self) -> list[str]:
        """Arguments that make ``bench.loadgen`` connect with TLS, trusting only this CA."""
        return ["--ca", self.ca]

    def cleanup(self) -> None:
        self._dir.cleanup()


class ServerProcess:
    def __init__(self, name: str, port: int, use_uvloop: bool, pin: Pinning,
                 extra_args: Sequence[str] = (), deflate: bool = False):
        kind, _, tree = name.partition("@")
        module, extra_env = SERVERS[kind]
        root = os.path.abspath(tree) if tree else ROOT
        env = dict(os.environ)
        env.update(extra_env)
        env.pop("WSFAST_BENCH_DEFLATE", None)
        if deflate:
            env["WSFAST_BENCH_DEFLATE"] = "1"  # read by bench.servers._common
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", f"bench.servers.{module}", "--port", str(port), *extra_args]
        if use_uvloop:
            cmd.append("--uvloop")
        self.stderr = tempfile.TemporaryFile()
        cpu = pin.server_cpu

        def pin_me():
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                                     stderr=self.stderr, stdin=subprocess.DEVNULL,
                                     preexec_fn=pin_me)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                chunk = os.read(fd, 4096)
                buf += chunk
                if b"READY" in buf:
                    return
                if b"SKIP" in buf:
                    self.proc.wait(5)
                    raise Skip(buf.decode(errors="replace").split("SKIP", 1)[1].strip())
                if not chunk:
                    break
            if self.proc.poll() is not None and not r:
                break
        why = self.tail()  # before stop(), which closes the captured stderr
        self.stop()
        raise Skip(f"did not print READY: {why}")

    def tail(self) -> str:
        self.stderr.seek(0)
        lines = [l for l in self.stderr.read().decode(errors="replace").splitlines() if l.strip()]
        return " | ".join(lines[-3:]) or f"exit status {self.proc.poll()}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


def run_loadgen(port: int, server_pid: int, case: Case, args, pin: Pinning,
                extra_args: Sequence[str] = ()) -> dict:
    """Run ``bench.loadgen`` for one case against the server on ``port``; its JSON result
    (or ``{"value": 0, "error": ...}``)."""
    cmd = [sys.executable, "-m", "bench.loadgen", "--port", str(port),
           "--server-pid", str(server_pid), "--duration", str(args.duration),
           "--warmup", str(args.warmup), *case.args, *extra_args]
    if pin.gen_cpu is not None:
        cmd += ["--cpu", str(pin.gen_cpu)]
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    try:
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=args.duration + args.warmup + 120)
    except subprocess.TimeoutExpired:
        return {"value": 0.0, "error": "load generator timed out"}
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"value": 0.0, "error": f"load generator failed: {out.stderr.strip()[-300:]}"}


class Progress:
    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.tty = sys.stderr.isatty()
        self.t0 = time.monotonic()

    def show(self, text: str, final: bool = False) -> None:
        line = f"[{self.done}/{self.total} {time.monotonic() - self.t0:5.0f}s] {text}"
        if self.tty:
            sys.stderr.write("\r\x1b[K" + line + ("\n" if final else ""))
        elif final:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="wsfast benchmark runner")
    p.add_argument("--servers", default=DEFAULT_SERVERS, help=f"comma list of {','.join(SERVERS)}")
    p.add_argument("--cases", default=None, help="comma list (default: full set; see README)")
    p.add_argument("--rounds", type=int, default=None, help="default 3 (2 with --quick)")
    p.add_argument("--duration", type=float, default=None, help="measured seconds (default 2, quick 1)")
    p.add_argument("--warmup", type=float, default=None, help="seconds before measuring (default 0.5, quick 0.3)")
    p.add_argument("--uvloop", action="store_true", help="run the asyncio servers on uvloop")
    p.add_argument("--tls", action="store_true",
                   help="wss://: servers and load generator use TLS (throwaway CA, needs trustme)")
    p.add_argument("--deflate", action="store_true",
                   help="permessage-deflate on every server and connection (servers without it: SKIP)")
    p.add_argument("--reference", default=None,
                   help=f"ratios are to this server (default {REFERENCE}; {DEFLATE_REFERENCE} with --deflate)")
    p.add_argument("--json", default=None, help="write raw samples + summary here")
    p.add_argument("--plot", default=None,
                   help="write a PNG bar chart of ratios to the reference server (needs matplotlib)")
    p.add_argument("--quick", action="store_true", help="short validation set, 2 rounds of 1 s")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.duration = args.duration or (1.0 if args.quick else 2.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 0.5)
    args.reference = args.reference or (DEFLATE_REFERENCE if args.deflate else REFERENCE)

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in servers:
        kind, _, tree = s.partition("@")
        if kind not in SERVERS:
            p.error(f"unknown server {s!r}; known: {', '.join(SERVERS)}")
        if tree and not os.path.isdir(os.path.join(tree, "bench", "servers")):
            p.error(f"{s!r}: {tree} is not a wsfast checkout (no bench/servers)")
    case_names = args.cases.split(",") if args.cases else (QUICK_CASES if args.quick else FULL_CASES)
    try:
        cases = [parse_case(c.strip()) for c in case_names if c.strip()]
    except ValueError as e:
        p.error(str(e))

    pin = Pinning()
    try:
        tls = TLSFiles() if args.tls else None
    except ImportError:
        p.error("--tls needs the trustme package (pip install trustme)")
    server_args = tls.server_args() if tls else []
    loadgen_args = tls.loadgen_args() if tls else []
    if args.deflate:
        loadgen_args.append("--deflate")
    skipped: dict[str, str] = {}
    case_skipped: dict[tuple[str, str], str] = {}
    samples: list[dict] = []

    def applicable(server: str, case: Case) -> bool:
        return server != "null" or case.mode in NULL_MODES

    total = sum(applicable(s, c) for s in servers for c in cases) * args.rounds
    prog = Progress(total)
    print(f"# {pin.desc}; servers on {'uvloop' if args.uvloop else 'asyncio'}; "
          f"{'wss:// (TLS); ' if tls else ''}{'permessage-deflate; ' if args.deflate else ''}"
          f"ratios to {args.reference}; {args.rounds} rounds x {args.duration:g} s (+{args.warmup:g} s warm-up)", file=sys.stderr)
    for rnd in range(1, args.rounds + 1):
        for case in cases:
            for server in servers:
                if not applicable(server, case):
                    continue
                if server in skipped:
                    prog.done += 1
                    continue
                prog.show(f"round {rnd}/{args.rounds} {case.name:22s} {server:12s} ...")
                if (server, case.name) in case_skipped:
                    prog.done += 1
                    continue
                port = free_port()
                topic_case = case.mode in TOPIC_MODES
                srv = ServerProcess(server, port, args.uvloop, pin,
                                    [*server_args, *(["--case", case.mode] if topic_case else [])],
                                    args.deflate)
                try:
                    srv.wait_ready()
                except Skip as e:
                    if topic_case and "NotImplementedError" in str(e):
                        case_skipped[(server, case.name)] = str(e)  # this case only
                    else:
                        skipped[server] = str(e)
                    prog.done += 1
                    prog.show(f"SKIP {server}{' / ' + case.name if topic_case else ''}: {e}", final=True)
                    continue
                try:
                    res = run_loadgen(port, srv.pid, case, args, pin, loadgen_args)
                finally:
                    srv.stop()
                prog.done += 1
                samples.append({"round": rnd, "case": case.name, "server": server, **res})
                val = report.fmt_value(res.get("value", 0.0), res.get("unit", ""))
                err = f" ERROR {res['error']}" if res.get("error") else ""
                prog.show(f"round {rnd}/{args.rounds} {case.name:22s} {server:12s} {val}{err}",
                          final=bool(err) or not prog.tty)
    prog.show("done", final=True)
    if tls:
        tls.cleanup()

    ran = [s for s in servers if s not in skipped]
    summary = report.summarize(samples)
    meta = {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "cpus": os.cpu_count(), "pinning": pin.desc, "uvloop_servers": args.uvloop,
        "rounds": args.rounds, "duration": args.duration, "warmup": args.warmup,
        "servers": ran, "cases": [c.name for c in cases],
        "skipped": {**skipped, **{f"{s} / {c}": why for (s, c), why in case_skipped.items()}},
        "time": time.strftime("%Y-%m-%d %H:%M:%S"), "reference": args.reference,
    }
    if args.deflate:
        meta["deflate"] = True
        meta["deflate_negotiated"] = report.deflate_answers(samples)
    if tls:
        meta["tls"] = True
        meta["tls_negotiated"] = report.negotiated(samples)
    print(report.format_report(summary, ran, [c.name for c in cases], meta, samples))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "samples": samples, "summary": report.summary_rows(summary)}, f, indent=1)
        print(f"raw samples written to {args.json}", file=sys.stderr)
    if args.plot:
        try:
            report.plot(summary, ran, [c.name for c in cases], args.plot, tls=args.tls,
                        reference=args.reference, deflate=args.deflate)
            print(f"plot written to {args.plot}", file=sys.stderr)
        except ImportError:
            print("--plot needs matplotlib (pip install matplotlib); skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
