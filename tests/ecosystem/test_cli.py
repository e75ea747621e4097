"""The command line: ``wsfast connect`` driven through a pipe, ``wsfast serve`` as a
subprocess (echo, broadcast, demo, workers; SIGINT shuts it down), ``wsfast bench``'s wrapper."""
from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from echoes import echo_until

import wsfast
from wsfast.cli import bench as cli_bench
from wsfast.cli import build_parser

from .procs import ENV, NEUTRAL_CWD, ROOT


# Deadlines are for hangs only (a busy machine may take seconds to start a Python process);
# each one that expires fails with what it waited for.
HANG = 60.0


async def run_cli(*args: str, stdin: bytes = b"", timeout: float = HANG) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsfast", *args, cwd=NEUTRAL_CWD, env=ENV,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    return proc.returncode, out.decode(), err.decode()


echo = echo_until("quit", 4001, "server says bye")


class Client:
    """``python -m wsfast connect URL`` with a pipe on stdin, written line by line."""

    def __init__(self, url: str, *args: str) -> None:
        self.url, self.args = url, args
        self.lines: list[str] = []

    async def start(self) -> "Client":
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wsfast", "connect", self.url, *self.args, cwd=NEUTRAL_CWD, env=ENV,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return self

    async def send(self, line: str) -> None:
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def expect(self, predicate) -> str:
        while True:
            try:
                raw = await asyncio.wait_for(self.proc.stdout.readline(), HANG)
            except asyncio.TimeoutError:
                raise AssertionError(f"no expected line within {HANG:g} s; got {self.lines}") from None
            assert raw, f"output ended; got {self.lines}"
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if predicate(line):
                return line

    async def finish(self) -> tuple[int, list[str]]:
        rest = await asyncio.wait_for(self.proc.stdout.read(), HANG)
        self.lines += rest.decode().splitlines()
        return await asyncio.wait_for(self.proc.wait(), HANG), self.lines


async def test_connect_pipes_messages_ping_and_close():
    async with wsfast.serve(echo, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.port()}/"
        client = await Client(url).start()
        first = await client.expect(lambda line: True)
        assert first.startswith(f"= connected to {url}") and "permessage-deflate" in first
        await client.send("hello ☃")
        await client.expect(lambda line: line == "< hello ☃")
        await client.send("/ping")
        await client.expect(lambda line: line.startswith("= pong in ") and line.endswith(" ms"))
        await client.send("/binary 00ff10")
        await client.expect(lambda line: line == "< (binary, 3 bytes) 00ff10")
        await client.send("//slash")  # "//" escapes a leading "/"
        await client.expect(lambda line: line == "< /slash")
        await client.send("/close 4000 done now")
        code, lines = await client.finish()
    assert code == 0
    assert lines[-1] == "= connection closed: received 4000 (done now), sent 4000 (done now)"  # the echo


async def test_connect_end_of_input_closes_normally_and_server_close_ends_it():
    async with wsfast.serve(echo, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.port()}/"
        client = await Client(url, "--no-compression").start()
        assert "extensions: -" in await client.expect(lambda line: True)
        await client.send("one")
        await client.expect(lambda line: line == "< one")
        client.proc.stdin.close()  # end of input: a normal close
        code, lines = await client.finish()
        assert code == 0 and lines[-1] == "= connection closed: received 1000, sent 1000"

        # The server closes while stdin stays open: the client exits on its own.
        client = await Client(url).start()
        await client.send("quit")
        code, lines = await client.finish()
        assert code == 0
        # The client's answer echoes the server's code and reason.
        assert lines[-1] == "= connection closed: received 4001 (server says bye), sent 4001 (server says bye)"
        client.proc.stdin.close()


async def test_connect_failure_exit_status():
    # A port we hold bound without listening: connections to it are refused, and no other
    # process can start listening on it meanwhile (a fixed "unused" port may be in use).
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        code, out, err = await run_cli("connect", f"ws://127.0.0.1:{port}/")
    assert code == 1 and "failed to connect" in err


class ServeProcess:
    """``python -m wsfast serve ...`` in a subprocess; ``port`` comes from its banner."""

    def __init__(self, *args: str) -> None:
        self.args = args

    async def __aenter__(self) -> "ServeProcess":
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wsfast", "serve", "--port", "0", *self.args, cwd=NEUTRAL_CWD, env=ENV,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:  # the banner is printed once the port is bound
            self.banner = (await asyncio.wait_for(self.proc.stdout.readline(), HANG)).decode()
        except asyncio.TimeoutError:
            raise AssertionError(f"wsfast serve printed no banner within {HANG:g} s") from None
        assert self.banner.startswith("wsfast serve: "), self.banner
        self.port = int(self.banner.split("://127.0.0.1:")[1].split("/")[0])
        return self

    async def connect(self, path: str = "/", **kwargs):
        # With --workers the port is bound (and the banner printed) before the workers
        # listen: until one does, a connection is refused or reset. Retried until then.
        deadline = time.monotonic() + HANG
        while True:
            try:
                return await wsfast.connect(f"ws://127.0.0.1:{self.port}{path}", **kwargs)
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"server not reachable within {HANG:g} s: {exc!r}") from None
                await asyncio.sleep(0.05)

    async def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(self.proc.stdout.read(), HANG)
        return await asyncio.wait_for(self.proc.wait(), HANG), rest.decode()

    async def __aexit__(self, *exc) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def test_serve_echo_and_sigint_shutdown():
    async with ServeProcess() as server:
        assert "echo on ws://127.0.0.1:" in server.banner and wsfast.IMPLEMENTATION in server.banner
        ws = await server.connect()
        await ws.send("ping me")
        assert await ws.recv() == "ping me"
        await ws.send(b"\x00" * 70000)
        assert await ws.recv() == b"\x00" * 70000
        code, rest = await server.stop()
        with pytest.raises(wsfast.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), HANG)
        assert info.value.code == 1001  # going away
        assert code == 0 and "shutting down" in rest


async def test_serve_broadcast():
    async with ServeProcess("--broadcast", "--no-compression") as server:
        # Once b's connect() returned, the server has answered its handshake: b's
        # connection is open there, so a's message (sent after) is broadcast to it.
        a, b = await server.connect(), await server.connect()
        await a.send("to everyone")
        assert await asyncio.wait_for(a.recv(), HANG) == "to everyone"
        assert await asyncio.wait_for(b.recv(), HANG) == "to everyone"
        await a.close()
        await b.close()
        assert (await server.stop())[0] == 0


async def test_serve_demo_serves_page_and_room():
    async with ServeProcess("--demo") as server:
        assert "open it in a browser" in server.banner
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        page = await asyncio.wait_for(reader.read(), HANG)
        assert page.startswith(b"HTTP/1.1 200") and b"new WebSocket" in page
        writer.close()
        ws = await server.connect("/chat")
        assert "joined" in await asyncio.wait_for(ws.recv(), HANG)
        await ws.send('{"name": "cli", "text": "hi"}')
        assert '"text": "hi"' in await asyncio.wait_for(ws.recv(), HANG)
        await ws.close()
        assert (await server.stop())[0] == 0


@pytest.mark.skipif(os.name != "posix", reason="run_workers is POSIX only")
async def test_serve_workers():
    async with ServeProcess("--workers", "2") as server:
        assert "2 workers" in server.banner
        clients = [await server.connect() for _ in range(4)]
        for i, ws in enumerate(clients):
            await ws.send(f"w{i}")
            assert await asyncio.wait_for(ws.recv(), HANG) == f"w{i}"
        code, _ = await server.stop()
        for ws in clients:
            with pytest.raises(wsfast.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), HANG)
        assert code == 0


def test_bench_progress_bar_and_passthrough(capsys):
    # bench.run's non-terminal progress lines become a bar; everything else passes through.
    stream = io.StringIO("# server pinned...\n[1/4     3s] round 1/1 pingpong wsfast 10.0k msg/s\n"
                         "[4/4    12s] done\n")
    err = io.StringIO()
    cli_bench.relay(stream, err)
    lines = err.getvalue().splitlines()
    assert lines[0] == "# server pinned..."
    assert lines[1].startswith("[" + "#" * 7 + "." * 23 + "]    1/4") and lines[1].endswith("wsfast 10.0k msg/s")
    assert lines[2].startswith("[" + "#" * 30 + "]    4/4")
    assert cli_bench.find_root(str(ROOT)) == ROOT


async def test_bench_runs_bench_run_from_the_checkout():
    code, out, err = await run_cli("bench", "--root", str(ROOT), "--", "--help")
    assert code == 0 and "wsfast benchmark runner" in out, err


def test_parser_help_mentions_every_command():
    text = build_parser().format_help()
    for command in ("connect", "serve", "bench"):
        assert command in text
