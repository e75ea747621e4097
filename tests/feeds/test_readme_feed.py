"""The README's feed example (examples/feed/, the very code of the README) runs: the client
prints the server's publications with consecutive offsets (recovery itself: the other
tests of this folder)."""
from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import wsfast

from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
WSFAST_HOME = os.path.dirname(os.path.dirname(os.path.abspath(wsfast.__file__)))


def test_the_examples_are_the_readme_code():
    readme = (ROOT / "README.md").read_text()
    for name in ("server", "client"):
        code = (ROOT / "examples/feed" / f"{name}.py").read_text()
        assert f"```python\n{code}```" in readme, f"examples/feed/{name}.py differs from the README"


async def test_the_readme_feed_runs():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([WSFAST_HOME, os.environ.get("PYTHONPATH", "")]))
    server = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples/feed/server.py"), "0", stdout=asyncio.subprocess.PIPE, env=env)
    client = None
    try:
        line = (await wait_for(server.stdout.readline(), "the server to listen", timeout=60)).decode()
        port = int(re.match(r"listening on (\d+)", line).group(1))
        client = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "examples/feed/client.py"), f"ws://127.0.0.1:{port}",
            stdout=asyncio.subprocess.PIPE, env=env)
        offsets = []
        while len(offsets) < 5:
            line = (await wait_for(client.stdout.readline(), "a publication", timeout=60)).decode()
            offsets.append(int(line.split()[0]))
            assert '"eurusd": 1.08' in line
        assert offsets == list(range(offsets[0], offsets[0] + 5))
    finally:
        for proc in (client, server):
            if proc is not None:
                proc.kill()
                await proc.wait()
