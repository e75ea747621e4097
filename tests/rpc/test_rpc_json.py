"""The JSON codec: orjson when installed, the standard library's json otherwise (or when
WSFAST_RPC_JSON=json), the same behaviour either way."""
from __future__ import annotations

import subprocess
import sys

from test_rpc_examples import env_for

SCRIPT = r"""
import json, sys
from wsfast.rpc import _json
print(_json.CODEC)
text = _json.dumps({"jsonrpc": "2.0", "result": ["☃", 1, 2.5, None, True], "id": 1})
assert isinstance(text, str) and json.loads(text)["result"] == ["☃", 1, 2.5, None, True], text
assert "☃" in text  # not escaped: one encoding of the text for both codecs
assert _json.loads(text.encode()) == _json.loads(text)
for bad in ("{", b"\xff", "[" * 100000):
    try:
        _json.loads(bad)
    except _json.JSONDecodeError:
        pass
    else:
        sys.exit(f"{bad[:10]!r} was parsed")
# (NaN differs: orjson writes null, json refuses it; docs/rpc.md says so.)
for unencodable in ({1, 2}, object(), b"bytes"):
    try:
        _json.dumps(unencodable)
    except _json.EncodeError:
        pass
    else:
        sys.exit(f"{unencodable!r} was encoded")
"""


def run_codec(env_value: str) -> str:
    env = env_for("python")
    env["WSFAST_RPC_JSON"] = env_value
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_stdlib_json_when_asked():
    assert run_codec("json") == "json"


def test_orjson_when_installed():
    try:
        import orjson  # noqa: F401
    except ImportError:
        expected = "json"
    else:
        expected = "orjson"
    assert run_codec("") == expected
