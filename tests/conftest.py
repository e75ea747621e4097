"""Shared pytest fixtures. Add new fixtures below the section they belong to.

Kernels (``impl``)
    Every kernel test takes the ``impl`` fixture and so runs twice: against the Cython
    extensions ("cython") and the pure-Python twins ("python"). ``impl`` is the namespace of
    ``wsfast._impl.load(name)``: ``impl.mask``, ``impl.utf8``, ``impl.parser``,
    ``impl.builder``. When the extensions are not built the "cython" case is skipped, unless
    ``WSFAST_REQUIRE_EXTENSIONS=1`` (CI), where it fails.
"""
from __future__ import annotations

import os

import pytest

from wsfast import _impl

IMPLEMENTATIONS = ["cython", "python"]


def load_impl(name: str):
    """``_impl.load(name)``, skipping (or failing, see above) when it is not built."""
    try:
        return _impl.load(name)
    except ImportError as exc:
        if os.environ.get("WSFAST_REQUIRE_EXTENSIONS", "") not in ("", "0"):
            pytest.fail(f"{name} kernels are required but cannot be imported: {exc}")
        pytest.skip(f"{name} kernels not built: {exc}")


@pytest.fixture(params=IMPLEMENTATIONS, scope="session")
def impl(request):
    """The kernel implementation under test (session-scoped, so hypothesis can use it)."""
    return load_impl(request.param)


# ---------------------------------------------------------------- other fixtures below
