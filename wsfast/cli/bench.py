"""``wsfast bench [bench.run arguments]``: the end-to-end comparison with a progress bar.

Runs ``python -m bench.run ARGS`` from the source checkout (``bench/`` is not installed with
the package): ``--root``, else the first of the current directory and its parents, then the
directory above the imported ``wsfast`` package, that holds ``bench/run.py``. bench.run
reports every finished sample on stderr as ``[done/total  elapsed] ...``; this wrapper turns
those lines into a progress bar (redrawn in place on a terminal, one line per sample
otherwise) and lets the result table through to stdout.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import IO

PROGRESS = re.compile(r"^\[(\d+)/(\d+)\s+(\d+)s\]\s*(.*)$")
BAR_WIDTH = 30


def find_root(explicit: str | None = None) -> Path | None:
    """The checkout holding ``bench/run.py``, or None."""
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    cwd = Path.cwd().resolve()
    candidates += [cwd, *cwd.parents]
    import wsfast

    candidates.append(Path(wsfast.__file__).resolve().parent.parent)
    for root in candidates:
        if (root / "bench" / "run.py").is_file():
            return root
    return None


def render_bar(done: int, total: int, elapsed: int, text: str) -> str:
    """One progress line: ``[#####.....]  12/40  35s  <sample>``."""
    filled = BAR_WIDTH * done // total if total else 0
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:>4}/{total:<4} {elapsed:>5}s  {text}"


def relay(stream: IO[str], err: IO[str]) -> None:
    """Copy bench.run's stderr to ``err``, drawing its progress lines as a bar."""
    tty = err.isatty()
    drawn = False
    for raw in stream:
        line = raw.rstrip("\r\n").split("\r")[-1].replace("\x1b[K", "")
        match = PROGRESS.match(line)
        if match:
            done, total, elapsed, text = int(match[1]), int(match[2]), int(match[3]), match[4]
            bar = render_bar(done, total, elapsed, text.strip())
            if tty:
                try:
                    width = os.get_terminal_size(err.fileno()).columns
                except (OSError, ValueError, AttributeError):
                    width = 120
                err.write("\r\x1b[K" + bar[: max(20, width - 1)])
                drawn = True
            else:
                err.write(bar + "\n")
        else:
            if drawn:
                err.write("\n")
                drawn = False
            err.write(line + "\n")
        err.flush()
    if drawn:
        err.write("\n")
        err.flush()


def run_bench(args: argparse.Namespace) -> int:
    """Run ``wsfast bench``; returns bench.run's exit status."""
    root = find_root(args.root)
    if root is None:
        print("wsfast bench: bench/run.py not found; run it from a wsfast source checkout "
              "(or pass --root)", file=sys.stderr)
        return 2
    passthrough = [a for a in args.args if a != "--"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "bench.run", *passthrough], cwd=root, env=env,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stderr is not None
    try:
        relay(proc.stderr, sys.stderr)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        return 130
