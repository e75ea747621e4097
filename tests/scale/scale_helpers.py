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

import twins
from ports import free_port  # noqa: F401  (re-exported for the scale tests)

import wsfast

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


# How long a subprocess may take to become ready before the test calls it a hang (a busy
# machine may take seconds to start a Python process; a hang is what this catches).
START_DEADLINE = 60.0


class RedisServer:
    """redis-server on 127.0.0.1:``port`` with ``logdir`` as its working directory (so no
    dump file of another run is ever loaded, and nothing is written elsewhere); no
    persistence. ``start()`` returns once this very process answers (PING, and INFO's
    process_id is its pid); ``stop()`` kills it (SIGKILL) and ``start()`` brings it back on
    the same port."""

    def __init__(self, binary: str, port: int, logdir: str) -> None:
        self.binary = binary
        self.logdir = logdir
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._set_port(port)

    def _set_port(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def _log(self) -> str:
        with open(os.path.join(self.logdir, f"redis-{self.starts}.log"), errors="replace") as f:
            return f.read()

    def _answers(self) -> bool:
        """True once the redis-server we started answers on the port."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(b"PING\r\nINFO server\r\n")
                data = b""
                while b"process_id:" not in data or not data.endswith(b"\r\n\r\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        return False
                    data += chunk
        except OSError:
            return False
        if not data.startswith(b"+PONG"):
            return False
        pid = int(data.split(b"process_id:", 1)[1].split(b"\r\n", 1)[0])
        assert pid == self.proc.pid, f"port {self.port} is answered by another redis (pid {pid})"
        return True

    def start(self, timeout: float = START_DEADLINE, same_port: bool | None = None) -> None:
        """Start it; on a first start, a port that turns out to be taken is replaced by
        another free one (a restart must keep its port: the clients' URL names it)."""
        if same_port is None:
            same_port = self.starts > 0
        for _ in range(1 if same_port else 10):
            self.starts += 1
            log = open(os.path.join(self.logdir, f"redis-{self.starts}.log"), "wb")
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no",
                 "--dir", self.logdir, "--dbfilename", f"unused-{self.starts}.rdb"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.logdir,
            )
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self._answers():
                    return
                time.sleep(0.02)
            else:
                self.stop()
                raise RuntimeError(f"redis-server did not answer on port {self.port} within "
                                   f"{timeout:g} s:\n{self._log()}")
            text = self._log()
            if "already in use" not in text or same_port:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{text}")
            self._set_port(free_port())  # taken meanwhile by someone else: another one
        raise RuntimeError("redis-server: no port could be bound")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self.proc = None


def impl_env(impl: str) -> dict[str, str]:
    """The environment of a subprocess running twin ``impl`` (the twin is skipped when it is
    not built, see tests/twins.py), with this folder importable."""
    twins.load(impl)
    return twins.env(impl, HERE)


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


async def command(ws, text: str, reply_prefix: str, collect: list | None = None, timeout: float = 30.0) -> str:
    """Send ``text``; return the first reply starting with ``reply_prefix`` (other messages
    received meanwhile go to ``collect``)."""
    await ws.send(text)
    deadline = time.monotonic() + timeout
    while True:
        try:
            message = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise AssertionError(f"no reply {reply_prefix!r} to {text!r} within {timeout:g} s") from None
        if isinstance(message, str) and message.startswith(reply_prefix):
            return message
        if collect is None:
            raise AssertionError(f"unexpected message {message!r} while waiting for {reply_prefix!r}")
        collect.append(message)


