"""The fuzz targets in the test suite: every corpus input is replayed through each target
(both twins, differential), and each target runs under atheris for a few seconds."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import twins

FUZZ = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "fuzz")
sys.path.insert(0, FUZZ)

import targets  # noqa: E402


def _corpus(name):
    folder = os.path.join(FUZZ, "corpus", name)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder))


@pytest.mark.parametrize("name", list(targets.TARGETS))
def test_corpus_replays_clean_on_both_twins(name):
    files = _corpus(name)
    assert len(files) >= 10
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        try:
            targets.TARGETS[name](data)
        except BaseException as exc:
            raise AssertionError(f"{name} fails on {path}") from exc


def test_targets_compare_two_implementations():
    impls = [t.IMPLEMENTATION for t in targets.twins()]
    assert impls == twins.names()
    assert "python" in impls


@pytest.mark.slow
@pytest.mark.parametrize("name", list(targets.TARGETS))
def test_atheris_short_run(name):
    pytest.importorskip("atheris")
    # A 3 s run; the 90 s deadline is for a hang, and fires before pytest's 120 s timeout
    # (which would say nothing of the fuzzer's output).
    try:
        proc = subprocess.run(
            [sys.executable, os.path.join(FUZZ, "run.py"), "--seconds", "3", "--target", name],
            capture_output=True, text=True, timeout=90,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"fuzz/run.py --seconds 3 --target {name} did not finish in 90 s:\n"
                             f"{exc.stdout or ''}{exc.stderr or ''}") from None
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(proc.stdout.strip())
