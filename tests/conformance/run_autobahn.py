"""Runs the Autobahn|Testsuite against wsfast, server and client, on both twins, and fails on
any case that is not strictly passed.

    python tests/conformance/run_autobahn.py                 # all cases, 4 runs, 2 at a time
    python tests/conformance/run_autobahn.py --cases 1.*,2.* --modes server --impls python

Each run is a ``wstest`` process (installed by scripts/install-wstest.sh) and a
wsfast peer process (autobahn_peer.py). Afterwards the report's index.json is read: every case
must have behaviour and close behaviour "OK" or "INFORMATIONAL" (no FAILED, NON-STRICT,
UNIMPLEMENTED, WRONG CODE or UNCLEAN). A summary table is printed; the exit code is 1 if any
case is not strictly passed.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PEER = HERE / "autobahn_peer.py"
PASSING = {"OK", "INFORMATIONAL"}


def find_wstest() -> str:
    """Install wstest if needed (idempotent: scripts/install-wstest.sh) and return its path."""
    if os.environ.get("WSTEST"):
        return os.environ["WSTEST"]
    script = ROOT / "scripts" / "install-wstest.sh"
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{script} failed (exit {out.returncode}):\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


_taken: set[int] = set()


def free_port() -> int:
    """A loopback port that was free a moment ago, never the same one twice in this run. Only
    for wstest's fuzzing server, which takes its port from the spec: a port taken meanwhile
    makes wstest exit, and ``run_job`` starts it again on another."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _taken:
            _taken.add(port)
            return port


def wait_until(ready, proc: subprocess.Popen, what: str, timeout: float = 120) -> bool:
    """Poll ``ready()`` until true (True), or until ``proc`` exits (False); fail after
    ``timeout`` seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    raise TimeoutError(f"waited {timeout:g} s for {what}")


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_job(wstest: str, mode: str, impl: str, cases: list[str], outroot: Path) -> Path:
    """One wstest run for (mode, impl); returns the report's index.json path."""
    agent = f"wsfast-{impl}"
    workdir = outroot / f"{mode}-{impl}"
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = open(workdir / "run.log", "w")
    if mode == "server":
        # The wsfast server binds port 0 and writes the port it got: no port is guessed.
        port_file = workdir / "port.txt"
        port_file.unlink(missing_ok=True)
        peer = subprocess.Popen([sys.executable, str(PEER), "server", "--port", "0", "--port-file", str(port_file),
                                 "--implementation", impl], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            if not wait_until(port_file.exists, peer, f"the wsfast {impl} server to listen"):
                raise RuntimeError(f"the wsfast server exited with {peer.returncode} (see {workdir / 'run.log'})")
            port = int(port_file.read_text())
            spec = {"outdir": str(workdir / "reports"), "servers": [{"agent": agent, "url": f"ws://127.0.0.1:{port}"}],
                    "cases": cases, "exclude-cases": [], "exclude-agent-cases": {}}
            (workdir / "spec.json").write_text(json.dumps(spec))
            subprocess.run([wstest, "-m", "fuzzingclient", "-s", "spec.json"], cwd=workdir,
                           stdout=log, stderr=subprocess.STDOUT, check=True)
        finally:
            stop(peer)
        return workdir / "reports" / "index.json"
    for attempt in range(5):
        port = free_port()
        spec = {"url": f"ws://127.0.0.1:{port}", "outdir": str(workdir / "reports"), "cases": cases,
                "exclude-cases": [], "exclude-agent-cases": {}}
        (workdir / "spec.json").write_text(json.dumps(spec))
        server = subprocess.Popen([wstest, "-m", "fuzzingserver", "-u", "0", "-s", "spec.json"], cwd=workdir,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            if not wait_until(lambda: listening(port), server, f"wstest's fuzzing server on port {port}"):
                print(f"autobahn: wstest exited before listening on {port} (taken?); trying another port",
                      file=log, flush=True)
                continue
            subprocess.run([sys.executable, str(PEER), "client", "--url", f"ws://127.0.0.1:{port}",
                            "--agent", agent, "--implementation", impl],
                           stdout=log, stderr=subprocess.STDOUT, env=env, check=True)
        finally:
            stop(server)
        return workdir / "reports" / "index.json"
    raise RuntimeError(f"wstest's fuzzing server never started (see {workdir / 'run.log'})")


def summarize(index: Path, mode: str, impl: str) -> tuple[collections.Counter, list[str]]:
    """Count behaviours in one report; return (counts, descriptions of non-passing cases)."""
    data = json.loads(index.read_text())
    counts: collections.Counter = collections.Counter()
    bad = []
    for agent, cases in data.items():
        for case, result in cases.items():
            behavior, close = result["behavior"], result["behaviorClose"]
            counts[behavior] += 1
            if close not in PASSING:
                counts[f"close {close}"] += 1
            if behavior not in PASSING or close not in PASSING:
                bad.append(f"{mode}/{impl} case {case}: {behavior} / close {close}")
    return counts, bad


def write_markdown(path: Path, jobs, results, kinds, cases, seconds: float) -> None:
    """The summary as a Markdown table (tests/conformance/RESULTS.md keeps the latest)."""
    lines = [
        "# Autobahn|Testsuite results",
        "",
        f"Cases: `{','.join(cases)}`; written by `tests/conformance/run_autobahn.py --markdown` "
        f"on {time.strftime('%Y-%m-%d')} in {seconds / 60:.0f} minutes.",
        "A case passes strictly when both its behaviour and its close behaviour are OK or INFORMATIONAL.",
        "",
        "| mode | twin | cases | " + " | ".join(kinds) + " |",
        "|---|---|---|" + "---|" * len(kinds),
    ]
    for mode, impl in jobs:
        counts, _ = results[(mode, impl)]
        total = sum(v for k, v in counts.items() if not k.startswith("close "))
        lines.append(f"| {mode} | {impl} | {total} | " + " | ".join(str(counts.get(k, 0)) for k in kinds) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="*", help="comma-separated case patterns (default: all)")
    parser.add_argument("--modes", default="server,client")
    parser.add_argument("--impls", default="cython,python")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--outdir", default=None, help="where reports go (default: a temp dir)")
    parser.add_argument("--markdown", default=None, help="also write the summary table to this file")
    args = parser.parse_args()
    wstest = find_wstest()
    cases = args.cases.split(",")
    outroot = Path(args.outdir or tempfile.mkdtemp(prefix="wsfast-autobahn-"))
    jobs = [(m, i) for m in args.modes.split(",") for i in args.impls.split(",")]
    started = time.monotonic()
    print(f"autobahn: {len(jobs)} runs, {args.parallel} at a time, reports in {outroot}", flush=True)
    results = {}
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        futures = {pool.submit(run_job, wstest, m, i, cases, outroot): (m, i) for m, i in jobs}
        for fut in concurrent.futures.as_completed(futures):
            mode, impl = futures[fut]
            try:
                results[(mode, impl)] = summarize(fut.result(), mode, impl)
            except Exception as exc:  # a run that produced no report fails the whole check
                results[(mode, impl)] = (collections.Counter({"RUN FAILED": 1}), [f"{mode}/{impl}: {exc!r}"])
            print(f"autobahn: {mode}/{impl} done after {time.monotonic() - started:.0f}s", flush=True)
    kinds = sorted({k for counts, _ in results.values() for k in counts})
    header = f"{'mode':8} {'impl':8} {'cases':>6} " + " ".join(f"{k:>14}" for k in kinds)
    print(header)
    failures = []
    for (mode, impl) in jobs:
        counts, bad = results[(mode, impl)]
        total = sum(v for k, v in counts.items() if not k.startswith("close "))
        print(f"{mode:8} {impl:8} {total:>6} " + " ".join(f"{counts.get(k, 0):>14}" for k in kinds))
        failures.extend(bad)
    for line in failures[:200]:
        print("NOT STRICT:", line)
    if args.markdown:
        write_markdown(Path(args.markdown), jobs, results, kinds, cases, time.monotonic() - started)
    print(f"autobahn: {'FAILED' if failures else 'all cases strictly passed'} in {time.monotonic() - started:.0f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
