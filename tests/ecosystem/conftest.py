"""Fixtures of the ecosystem tests: the kernel implementation (both twins) for uvicorn runs."""
from __future__ import annotations

import os

import pytest

from wsfast import _impl


@pytest.fixture(params=["cython", "python"])
def implementation(request) -> str:
    """"cython" or "python": the kernels the server side runs. Skipped when the extension is
    not built, unless WSFAST_REQUIRE_EXTENSIONS=1 (then it fails), as in tests/conftest.py."""
    try:
        _impl.load(request.param)
    except ImportError as exc:
        if os.environ.get("WSFAST_REQUIRE_EXTENSIONS", "") not in ("", "0"):
            pytest.fail(f"{request.param} kernels are required but cannot be imported: {exc}")
        pytest.skip(f"{request.param} kernels not built: {exc}")
    return request.param
