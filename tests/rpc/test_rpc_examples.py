"""examples/rpc: the server and the Python client as a user runs them, and Node's json-rpc-2.0
client (over ws) against the same server: a plain JSON-RPC 2.0 peer, with none of wsfast.rpc's
extensions. Both on each twin (the server process gets WSFAST_NO_EXTENSIONS for "python")."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import twins
from rpchelp import within

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"


def env_for(impl_name: str) -> dict[str, str]:
    """A subprocess's environment: the wsfast under test (this checkout, or scripts/test-pure.sh's
    install) on twin ``impl_name``, its output unbuffered."""
    return twins.env(impl_name, base=dict(os.environ, PYTHONUNBUFFERED="1"))


async def start_example_server(impl_name: str):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples/rpc/server.py"), "0", env=env_for(impl_name),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    line = (await within(proc.stdout.readline(), "the example server to listen", 30)).decode()
    assert line.startswith("JSON-RPC on ws://127.0.0.1:"), line
    return proc, line.split()[-1]


async def stop(proc) -> str:
    if proc.returncode is None:
        proc.terminate()
    out, _ = await within(proc.communicate(), "the example server to stop", 30)
    return out.decode()


async def run_to_end(*args, env, what):
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await within(proc.communicate(), what, 60)
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{out.decode()}\n{err.decode()}"
    return out.decode()


async def test_example_client_against_example_server(impl_name):
    server, uri = await start_example_server(impl_name)
    try:
        out = await run_to_end(sys.executable, str(ROOT / "examples/rpc/client.py"), uri,
                               env=env_for(impl_name), what="the example client")
    finally:
        server_out = await stop(server)
    assert out.splitlines() == [
        "echo -> hi ☃",
        "add -> 42",
        "while sleep runs -> [0, 2, 4, 6, 8]",
        "sleep -> 0.5",
        "fail -> 1000 this method always fails {'hint': 'an application error, on purpose'}",
        "batch -> ['a', 3, MethodNotFound(-32601, 'Method not found')]",
        "timeout -> no answer to 'sleep' within 0.2 s",
        "the server called welcome",
    ]
    assert "client answered welcome: 'hello wsfast, this is the client'" in server_out


def node_ready() -> bool:
    return shutil.which("node") is not None and (NODE_DIR / "node_modules" / "json-rpc-2.0").is_dir() \
        and (NODE_DIR / "node_modules" / "ws").is_dir()


@pytest.fixture(scope="module")
def node():
    """Node with json-rpc-2.0 and ws installed (scripts/bootstrap.sh runs npm in tests/rpc/node);
    skipped only when node or npm is not on this machine."""
    if node_ready():
        return shutil.which("node")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    import subprocess
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    assert node_ready()
    return shutil.which("node")


async def test_node_json_rpc_client_against_example_server(impl_name, node):
    server, uri = await start_example_server(impl_name)
    try:
        out = await run_to_end(node, str(NODE_DIR / "client.mjs"), uri, env=dict(os.environ),
                               what="the Node client")
    finally:
        server_out = await stop(server)
    got = json.loads(out.strip().splitlines()[-1])
    assert got["echo"] == "hi ☃" and got["echoNamed"] == {"nested": [1, 2, 3]}
    assert got["add"] == 42 and got["addNamed"] == 3.5
    assert got["quick"] == [0, 2, 4, 6] and got["sleep"] == 0.3
    assert got["fail"] == {"code": 1000, "message": "this method always fails",
                           "data": {"hint": "an application error, on purpose"}}
    assert got["notFound"]["code"] == -32601
    assert got["badParams"]["code"] == -32602 and got["badTypes"] == {
        "code": -32602, "message": "Invalid params", "data": "add takes two numbers"}
    assert sorted(got["batch"], key=lambda r: r["id"]) == [
        {"jsonrpc": "2.0", "result": "a", "id": 101},
        {"jsonrpc": "2.0", "result": 3, "id": 102},
        {"jsonrpc": "2.0", "error": {"code": 1000, "message": "this method always fails",
                                     "data": {"hint": "an application error, on purpose"}}, "id": 103},
    ]
    assert got["afterNotify"] == "still here"
    assert got["welcome"] == ["wsfast"]  # the server called the Node client's method
    assert "client answered welcome: 'hello wsfast, this is node'" in server_out
