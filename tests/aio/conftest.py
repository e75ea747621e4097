"""The asyncio layer's tests run on both twins (``impl_name``, ``serve_ws`` and ``connect_ws``
from tests/conftest.py) and on both asyncio and uvloop (the loop factories below)."""
from __future__ import annotations

import asyncio

try:
    import uvloop
except ImportError:  # uvloop is a test requirement; without it only asyncio runs
    uvloop = None


def pytest_asyncio_loop_factories(config, item):
    """Run each async test of this folder on the default loop and on uvloop."""
    factories = {"asyncio": asyncio.new_event_loop}
    if uvloop is not None:
        factories["uvloop"] = uvloop.new_event_loop
    return factories
