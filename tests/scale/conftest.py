"""Fixtures for the scale tests: a real redis-server and wsfast worker processes.

``redis_server``: redis-server started on a free loopback port (``--save "" --appendonly no``),
with ``stop()`` (SIGKILL) and ``start()`` again on the same port. When the binary is missing
the tests are skipped, unless ``CI`` is set, where they fail.

``workers``: ``await workers(n, impl="cython"|"python", redis=True, socket_mode=None)`` starts
``serve_app.py`` (``run_workers``) as a subprocess and returns a ``WorkerGroup``; all are
stopped at teardown.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scale_helpers import (  # noqa: E402
    HERE, ROOT, START_DEADLINE, RedisServer, WorkerGroup, _in_ci, command, free_port, impl_env,
)

@pytest.fixture(scope="session")
def redis_server():
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if binary is None:
        if _in_ci():
            pytest.fail("redis-server is required under CI (scripts/bootstrap.sh installs it)")
        pytest.skip("redis-server not installed (apt-get install redis-server); CI is not set")
    with tempfile.TemporaryDirectory(prefix="wsfast-redis-") as logdir:
        server = RedisServer(binary, free_port(), logdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
async def workers(tmp_path):
    groups: list[WorkerGroup] = []

    async def start(n: int, impl: str = "cython", redis: str | None = None, socket_mode: str | None = None,
                    loop: str = "asyncio") -> WorkerGroup:
        env = impl_env(impl)
        env.pop("WSFAST_TEST_REDIS", None)
        if redis:
            env["WSFAST_TEST_REDIS"] = redis
        stderr_path = str(tmp_path / f"workers-{len(groups)}.log")
        args = [sys.executable, os.path.join(HERE, "serve_app.py"), "--workers", str(n), "--loop", loop]
        if socket_mode:
            args += ["--socket-mode", socket_mode]
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env, cwd=ROOT)
        try:  # its readiness line: the port is bound
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), START_DEADLINE)
        except asyncio.TimeoutError:
            line = b"(nothing)"
        if not line.startswith(b"READY "):
            proc.kill()
            raise RuntimeError(f"serve_app.py did not print READY within {START_DEADLINE:g} s: "
                               f"{line!r}\n{open(stderr_path).read()}")
        group = WorkerGroup(proc, int(line.split()[1]), stderr_path, impl)
        groups.append(group)
        # Wait until every worker accepts (the parent binds before they listen): each answers
        # "pid" on a connection of its own. The deadline is for hangs only.
        deadline = time.monotonic() + START_DEADLINE
        seen: set[int] = set()
        while len(seen) < n:
            assert time.monotonic() < deadline, (
                f"saw only {len(seen)} of {n} workers answer within {START_DEADLINE:g} s\n{group.log()}")
            try:
                ws = await group.connect()
                reply = await command(ws, "pid", "#pid")
                await ws.close()
            except Exception:  # noqa: BLE001 - not listening yet
                await asyncio.sleep(0.05)
                continue
            seen.add(int(reply.split()[1]))
            if len(seen) < n and socket_mode == "inherit":
                await asyncio.sleep(0.01)
        return group

    yield start
    for group in groups:
        group.terminate()
    for group in groups:
        try:
            group.wait(30)
        except subprocess.TimeoutExpired:
            group.proc.kill()
            group.proc.wait()
