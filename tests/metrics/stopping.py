"""Ending a subprocess a test started: SIGTERM, then SIGKILL if it hangs."""
from __future__ import annotations

import subprocess

from waiting import HANG


def terminate(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(HANG)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
