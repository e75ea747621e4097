"""The load generator's busy-polling ping-pong (``pingpong-...-spin`` cases), on loopback.

    .venv/bin/python -m pytest bench/test_loadgen_spin.py

Not a benchmark: short runs that check the spinning generator counts round trips against a
real server, checks the first echoes in full, and fails loudly on a wrong echo.
"""
from __future__ import annotations

import resource

import pytest

from bench import run
from bench.test_loadgen_deflate import OPTS, SHORT, FakeDeflateServer, no_pinning, start_server


def test_parse_case_spin():
    assert "--spin" in run.parse_case("pingpong-64b-bin-spin").args
    assert "--spin" not in run.parse_case("pingpong-64b-bin").args
    with pytest.raises(ValueError):
        run.parse_case("pipelined-64b-bin-spin")


@pytest.mark.parametrize("case_name", ["pingpong-64b-bin-spin", "pingpong-64k-text-spin"])
def test_spin_counts_round_trips(case_name):
    pin = no_pinning()
    srv, port = start_server("wsfast", pin)
    try:
        # The generator is the only child that ends meanwhile: this delta is its own.
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_nvcsw
        res = run.run_loadgen(port, srv.pid, run.parse_case(case_name), OPTS, pin, SHORT)
        slept = resource.getrusage(resource.RUSAGE_CHILDREN).ru_nvcsw - before
    finally:
        srv.stop()
    assert res.get("error") is None, res
    assert res["spin"] and res["verified"] == 3 and res["count"] > 0, res
    assert res["value"] == pytest.approx(res["count"] / res["elapsed"])
    # It spins: it never sleeps waiting for an echo. Its voluntary context switches (its
    # whole life: start-up, connect, handshake) are a handful; a generator that waits in
    # epoll has one or more per round trip. (Not its CPU share: on a busy machine a
    # spinning process is preempted, and that is not a sleep.)
    assert slept * 4 < res["count"], (slept, res)


@pytest.mark.parametrize("corrupt", [False, True])
def test_spin_checks_the_first_echoes(corrupt):
    fake = FakeDeflateServer(extension=False, corrupt=corrupt)
    try:
        res = run.run_loadgen(fake.port, 0, run.parse_case("pingpong-1k-bin-spin"), OPTS,
                              no_pinning(), SHORT)
    finally:
        fake.close()
    if corrupt:
        assert res["value"] == 0.0 and "echo differs" in res.get("error", ""), res
    else:
        assert res.get("error") is None and res["count"] > 10, res
