"""Fixtures of the ecosystem tests: the kernel implementation (both twins) for uvicorn runs."""
from __future__ import annotations

import pytest
import twins


@pytest.fixture(params=twins.names())
def implementation(request) -> str:
    """"cython" or "python": the kernels the server side runs; the twins that are here
    (tests/twins.py, as ``impl_name`` of tests/conftest.py)."""
    twins.load(request.param)
    return request.param
