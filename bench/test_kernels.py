"""Kernel benchmarks (pytest-benchmark): Cython vs pure twin vs references, 16 B to 1 MiB.

    .venv/bin/python -m pytest bench/test_kernels.py --benchmark-only \
        --benchmark-group-by=param:workload,param:size

The workloads live in bench/kernel_ratios.py, which prints the same comparison as a table
of ratios in one process.
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kernel_ratios import SIZES, twins, workloads  # noqa: E402

try:
    twins.get("cython")
except ImportError:  # pragma: no cover
    pytest.skip("Cython kernels not built", allow_module_level=True)

_CACHE: dict = {}


def _workloads(size):
    if size not in _CACHE:
        _CACHE[size] = workloads(size)
    return _CACHE[size]


def _cases():
    names = list(workloads(16))
    for size in SIZES:
        for name in names:
            for contender in _workloads(size)[name]:
                yield pytest.param(name, size, contender, id=f"{name}-{size}-{contender}")


@pytest.mark.parametrize("workload,size,contender", list(_cases()))
def test_kernel(benchmark, workload, size, contender):
    benchmark.group = f"{workload}-{size}"
    benchmark(_workloads(size)[workload][contender])
