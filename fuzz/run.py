"""Bounded fuzzing run: ``python fuzz/run.py --seconds N [--target NAME ...]``.

Runs each target (fuzz/targets.py, through fuzz/fuzz.py and atheris) for N seconds in its
own process, starting from fuzz/corpus/<target>/ (read only: new inputs go to a temporary
directory, kept with --keep). A crash, an unexpected exception or a disagreement between
the twins fails the run (exit status 1) and leaves the reproducer in fuzz/crashes/;
replay one with ``python fuzz/fuzz.py TARGET fuzz/crashes/<file>``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ("frames", "handshake", "upgrade", "deflate", "reactor")


def run_target(name: str, seconds: int, keep: str | None) -> tuple[bool, str]:
    work = tempfile.mkdtemp(prefix=f"wsfast-fuzz-{name}-")
    crashes = os.path.join(HERE, "crashes")
    os.makedirs(crashes, exist_ok=True)
    cmd = [
        sys.executable, os.path.join(HERE, "fuzz.py"), name,
        f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
        "-max_len=8192", f"-artifact_prefix={crashes}/{name}-", "-print_final_stats=1",
        work, os.path.join(HERE, "corpus", name),
    ]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    elapsed = time.monotonic() - start
    log = proc.stdout + proc.stderr
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    cov = re.findall(r"cov: (\d+)", log)
    summary = (f"{name}: {'ok' if proc.returncode == 0 else 'FAILED'} in {elapsed:.0f}s, "
               f"{runs[-1] if runs else '?'} inputs, cov {cov[-1] if cov else '?'}")
    if keep:
        dest = os.path.join(keep, name)
        os.makedirs(dest, exist_ok=True)
        for entry in os.listdir(work):
            shutil.copy(os.path.join(work, entry), dest)
    shutil.rmtree(work, ignore_errors=True)
    if proc.returncode != 0:
        summary += "\n" + log[-4000:]
    return proc.returncode == 0, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="per target (default 20)")
    parser.add_argument("--target", action="append", choices=TARGETS,
                        help="a target to run (repeatable; default all)")
    parser.add_argument("--keep", help="copy the new corpus entries into this directory")
    args = parser.parse_args()
    ok = True
    for name in args.target or TARGETS:
        passed, summary = run_target(name, args.seconds, args.keep)
        print(summary, flush=True)
        ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
