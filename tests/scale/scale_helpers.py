"""Helpers of the scale tests (imported by conftest.py and the tests; a distinct module name
so that it can't be confused with the other folders' conftest modules)."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import wsfast
from wsfast._impl import load

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# The directory the wsfast under test comes from (the source tree, or an install in the pure
# leg): worker subprocesses import the very same package.
WSFAST_HOME = os.path.dirname(os.path.dirname(os.path.abspath(wsfast.__file__)))

def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, binary: str, port: int, logdir: str) -> None:
        self.binary = binary
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.logdir = logdir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 10.0) -> None:
        self.starts += 1
        log = open(os.path.join(self.logdir, f"redis-{self.starts}.log"), "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


def impl_env(impl: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([WSFAST_HOME, HERE, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("WSFAST_NO_EXTENSIONS", None)
    if impl == "python":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    return env


def require_impl(impl: str) -> None:
    try:
        load(impl)
    except ImportError:
        if os.environ.get("WSFAST_REQUIRE_EXTENSIONS") == "1":
            raise
        pytest.skip(f"{impl} kernels not built")


class WorkerGroup:
    """A ``serve_app.py`` parent process and its workers."""

    def __init__(self, proc: subprocess.Popen, port: int, stderr_path: str, impl: str) -> None:
        self.proc = proc
        self.port = port
        self.uri = f"ws://127.0.0.1:{port}/"
        self.stderr_path = stderr_path
        self.impl = impl

    def log(self) -> str:
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    async def connect(self, **kwargs):
        kwargs.setdefault("compression", None)
        kwargs.setdefault("close_timeout", 2)
        kwargs.setdefault("max_queue", None)
        return await wsfast.connect(self.uri, **kwargs)


async def command(ws, text: str, reply_prefix: str, collect: list | None = None, timeout: float = 10.0) -> str:
    """Send ``text``; return the first reply starting with ``reply_prefix`` (other messages
    received meanwhile go to ``collect``)."""
    await ws.send(text)
    deadline = time.monotonic() + timeout
    while True:
        message = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        if isinstance(message, str) and message.startswith(reply_prefix):
            return message
        if collect is None:
            raise AssertionError(f"unexpected message {message!r} while waiting for {reply_prefix!r}")
        collect.append(message)


