"""Fixtures of the reliability suite: each test runs on both kernel twins.

``impl_name`` (tests/conftest.py) is "cython" or "python". ``server`` starts wsfast
servers in this process (so tracemalloc and fd counts see them) on 127.0.0.1 with that
implementation; they are closed at teardown.
"""
from __future__ import annotations

import os
import sys

import pytest
import twins

sys.path.insert(0, os.path.dirname(__file__))  # relpeer, for the scripts as well


@pytest.fixture
def kernels(impl_name):
    """The implementation namespace, for sans-I/O ``Protocol(kernels=...)`` tests."""
    return twins.load(impl_name)


@pytest.fixture
async def server(serve_ws):
    """``srv = await server(handler, **options)``; ``srv.port()`` is its port.

    It is ``serve_ws`` (tests/conftest.py: the test's implementation, ``ws_close_timeout``,
    closed at teardown), handed out once the loop's timer wheel exists.
    """
    import asyncio

    from wsfast.asyncio.loop_state import get_wheel

    # The loop's shared timer wheel (and whatever per-loop buffers it owns) exists before a
    # test measures memory: it is allocated once per loop, not per connection.
    get_wheel(asyncio.get_running_loop())
    return serve_ws
