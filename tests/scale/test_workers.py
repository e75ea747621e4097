"""run_workers: N processes on one port, a killed worker is restarted, SIGTERM closes with 1001.

Each test starts ``serve_app.py`` (``run_workers("app:handler", ...)``) as a subprocess, with
the Cython kernels or the pure-Python twin (``WSFAST_NO_EXTENSIONS=1``) in the workers.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

import twins
import wsfast
from scale_helpers import command

pytestmark = pytest.mark.slow


async def pids_seen(group, connections: int, spread: int = 1,
                    most: int = 200) -> tuple[set[int], list]:
    """Open ``connections`` clients, and more (up to ``most``) until they are served by at
    least ``spread`` distinct workers; each answers "pid" with its worker's pid, a child of
    the group's parent, running the group's implementation. Which worker accepts a
    connection is the kernel's choice (a hash in reuse_port mode, whichever worker wakes
    first in inherit mode), so how many connections that takes is not fixed."""
    clients = []
    pids = set()
    while len(clients) < connections or (len(pids) < spread and len(clients) < most):
        ws = await group.connect()
        clients.append(ws)
        _, pid, ppid, impl = (await command(ws, "pid", "#pid")).split()
        assert int(ppid) == group.proc.pid
        assert impl == group.impl
        pids.add(int(pid))
    return pids, clients


@pytest.mark.parametrize("socket_mode", ["reuse_port", "inherit"])
@pytest.mark.parametrize("impl", twins.names())
async def test_workers_share_one_port(workers, impl, socket_mode):
    group = await workers(3, impl=impl, socket_mode=socket_mode)  # waits until all 3 answered
    pids, clients = await pids_seen(group, 24, spread=2)
    assert len(pids) >= 2, pids  # connections open at once are spread over several workers
    for ws in clients:
        await ws.close()
    assert f"3 workers on 127.0.0.1:{group.port} ({socket_mode}" in group.log()


@pytest.mark.parametrize("impl", twins.names())
async def test_killed_worker_is_restarted(workers, impl):
    group = await workers(2, impl=impl)
    pids, clients = await pids_seen(group, 16)
    for ws in clients:
        await ws.close()
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60  # for hangs only
    new: set[int] = set()
    while not new:
        assert time.monotonic() < deadline, f"no restarted worker answered within 60 s\n{group.log()}"
        try:
            ws = await group.connect()
            _, pid, ppid, _ = (await command(ws, "pid", "#pid")).split()
            await ws.close()
        except Exception:  # noqa: BLE001 - reset while queued on the killed worker's socket
            await asyncio.sleep(0.05)
            continue
        assert int(pid) != victim
        assert int(ppid) == group.proc.pid
        if int(pid) not in pids:
            new.add(int(pid))
    log = group.log()
    assert f"(pid {victim}) exited with signal {signal.SIGKILL}" in log
    assert "restarting" in log
    assert group.proc.poll() is None  # the parent keeps supervising


@pytest.mark.parametrize("impl", twins.names())
async def test_sigterm_to_parent_closes_every_client_with_1001(workers, impl):
    group = await workers(2, impl=impl, loop="uvloop" if impl == "python" else "asyncio")
    pids, clients = await pids_seen(group, 12, spread=2)
    assert len(pids) == 2
    group.terminate()
    for ws in clients:
        with pytest.raises(wsfast.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 30)
        assert ws.close_code == 1001, ws.close_code
        assert ws.close_reason == "server shutting down"
    assert await asyncio.to_thread(group.wait, 30) == 0
    log = group.log()
    assert f"signal {signal.SIGTERM} received, stopping 2 workers" in log
    assert "killing" not in log


async def test_worker_restarts_are_rate_limited(tmp_path):
    """A worker that keeps dying makes run_workers give up (exit 1) instead of spinning."""
    import subprocess
    import sys

    from scale_helpers import HERE, impl_env

    script = tmp_path / "crash.py"
    script.write_text(
        "import logging, sys\n"
        f"sys.path.insert(0, {HERE!r})\n"
        "from wsfast.asyncio.workers import run_workers\n"
        "async def handler(ws):\n    pass\n"
        "def boom(*a, **k):\n    raise SystemExit(3)\n"
        "import wsfast.asyncio.workers as w\n"
        "w._serve_until_stopped = boom\n"  # every worker exits at once with code 3
        "logging.basicConfig(level=logging.INFO)\n"
        # A window far longer than the run: how long a busy machine takes to start the
        # workers cannot let it slide past old restarts (exactly 3 are allowed).
        "raise SystemExit(run_workers(handler, 2, host='127.0.0.1', port=0, max_restarts=3,\n"
        "                             restart_window=3600, min_uptime=0.0))\n"
    )
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(script)], env=impl_env("python"), capture_output=True, timeout=90
    )
    assert proc.returncode == 1, proc.stderr.decode()
    err = proc.stderr.decode()
    assert "exited with code 3" in err and "giving up" in err
    # Three restarts, then the fourth exit makes it give up (it does not spin).
    assert err.count("restarting") == 3
    assert "3 restarts in 3600 s, giving up" in err, err
