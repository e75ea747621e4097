"""pytest-benchmark wrappers around the end-to-end benchmark (one short sample per test).

Opt-in, because they start servers and load the machine:

    WSFAST_E2E=1 .venv/bin/python -m pytest bench/test_e2e.py --benchmark-only

Each test starts one server and runs one load-generator case through bench.run's helpers;
pytest-benchmark records the wall time of the sample and ``extra_info`` carries the measured
rate (``value``/``unit``) and the server/generator CPU use. ``bench.run`` remains the tool
for comparisons (interleaved rounds, medians, ratios to picows).
"""
from __future__ import annotations

import argparse
import os

import pytest

from bench import run
from bench.test_loadgen_deflate import start_server

pytestmark = pytest.mark.skipif(not os.environ.get("WSFAST_E2E"), reason="set WSFAST_E2E=1 to run")

SERVERS = ["picows", "websockets", "aiohttp", "socketify", "wsfast", "wsfast-pure"]
CASES = ["pipelined-64b-bin", "pingpong-64b-bin", "broadcast-1000", "handshakes", "idle-1000"]


@pytest.mark.parametrize("case_name", CASES)
@pytest.mark.parametrize("server", SERVERS)
def test_e2e(benchmark, server, case_name):
    pin = run.Pinning()
    case = run.parse_case(case_name)
    opts = argparse.Namespace(duration=1.0, warmup=0.3)
    srv, port = start_server(server, pin)  # a taken port is retried; SKIP skips
    try:
        res = benchmark.pedantic(run.run_loadgen, args=(port, srv.pid, case, opts, pin),
                                 rounds=1, iterations=1)
    finally:
        srv.stop()
    benchmark.extra_info.update({k: v for k, v in res.items() if isinstance(v, (int, float, str))})
    assert not res.get("error"), res.get("error")
    assert res["value"] > 0
