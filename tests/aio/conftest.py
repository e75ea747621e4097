"""Fixtures for the asyncio layer: every test runs on both twins and on asyncio and uvloop."""
from __future__ import annotations

import asyncio
import os

import pytest

from wsfast._impl import load

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


def _implementation_params():
    params = []
    for name in ("cython", "python"):
        try:
            load(name)
        except ImportError:
            if os.environ.get("WSFAST_REQUIRE_EXTENSIONS") == "1":
                params.append(name)  # load() in the fixture fails loudly
            else:
                params.append(pytest.param(name, marks=pytest.mark.skip(reason=f"{name} kernels not built")))
            continue
        params.append(name)
    return params


@pytest.fixture(params=_implementation_params())
def impl_name(request):
    """The kernel implementation ("cython" or "python") servers and clients use in a test."""
    load(request.param)
    return request.param


@pytest.fixture
async def serve_ws(impl_name):
    """Start wsfast servers on 127.0.0.1 with the test's implementation; closed at teardown.

    ``server = await serve_ws(handler, **options)``; ``server.uri`` is its ws:// URI.
    """
    import wsfast

    servers = []

    async def start(handler, **kwargs):
        kwargs.setdefault("implementation", impl_name)
        kwargs.setdefault("close_timeout", 2)
        server = await wsfast.serve(handler, "127.0.0.1", 0, **kwargs)
        server.uri = f"ws://127.0.0.1:{server.port()}/"
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
def connect_ws(impl_name):
    """``await connect_ws(uri, **options)``: a wsfast client with the test's implementation."""
    import wsfast

    def connect(uri, **kwargs):
        kwargs.setdefault("implementation", impl_name)
        kwargs.setdefault("close_timeout", 2)
        return wsfast.connect(uri, **kwargs)

    return connect

