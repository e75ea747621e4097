"""The README's RPC example runs as written and prints what its comments say (on each twin)."""
from __future__ import annotations

import sys

from test_rpc_examples import ROOT, env_for, run_to_end


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("```python", text.index("## RPC: JSON-RPC 2.0 both ways")) + len("```python")
    return text[start:text.index("```\n", start)]


async def test_readme_rpc_example(impl_name):
    out = await run_to_end(sys.executable, "-c", readme_example(), env=env_for(impl_name), what="the README example")
    assert out.splitlines() == [
        "client says: hi server",
        "42",
        "1000 no luck {'retry': False}",
        "[3, 2, 1]",
        "[3, MethodNotFound(-32601, 'Method not found')]",
        "['hi everyone']",
    ]
