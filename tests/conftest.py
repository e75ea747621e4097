"""Shared pytest fixtures. Add new fixtures below the section they belong to.

Kernels (``impl``) and implementations by name (``impl_name``)
    Every kernel test takes the ``impl`` fixture and so runs on each twin (tests/twins.py):
    the Cython extensions ("cython") and the pure-Python twins ("python"). ``impl`` is the
    twin's namespace: ``impl.mask``, ``impl.utf8``, ``impl.parser``, ``impl.builder``. When
    the extensions are not built only the "python" case runs, unless
    ``WSFAST_REQUIRE_EXTENSIONS=1`` (CI), where the "cython" case fails. ``impl_name`` is the
    same choice as a name ("cython"/"python") for ``serve(implementation=...)`` /
    ``connect(...)``; the ``serve_ws`` / ``connect_ws`` fixtures start servers and clients
    with it on loopback.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import os

import pytest
import twins

# Hypothesis: no per-example deadline (a loaded machine makes one example slow, not wrong).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("wsfast", deadline=None)
_hypothesis_settings.load_profile("wsfast")

# A coroutine test still running after this many seconds has hung: it fails then, naming the
# await it was stuck in, well before pytest-timeout's global 120 s. A test that legitimately
# runs longer says so with @pytest.mark.hang_deadline(seconds).
HANG_TEST = 60.0


def pytest_configure(config):
    config.addinivalue_line("markers", "hang_deadline(seconds): a longer hang deadline for this test")


def pytest_collection_modifyitems(items):
    for item in items:
        func = getattr(item, "obj", None)
        if inspect.iscoroutinefunction(func):
            marker = item.get_closest_marker("hang_deadline")
            item.obj = _fail_when_hung(func, marker.args[0] if marker else HANG_TEST)


def _awaiting(coro) -> str:
    """The chain of awaits a coroutine is suspended in, innermost last: 'file:line function'."""
    hops = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is None:
            hops.append(repr(coro)[:120])
            break
        hops.append(f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
    return "\n    -> ".join(hops)


def _fail_when_hung(func, seconds: float):
    @functools.wraps(func)
    async def guarded(*args, **kwargs):
        task = asyncio.current_task()
        inner = func(*args, **kwargs)
        where: list[str] = []

        def fire():
            where.append(_awaiting(inner))
            task.cancel()

        handle = asyncio.get_running_loop().call_later(seconds, fire)
        try:
            return await inner
        except asyncio.CancelledError:
            if where:
                raise AssertionError(f"hung: after {seconds:g} s the test was still waiting at\n    {where[0]}") from None
            raise
        finally:
            handle.cancel()

    return guarded


@pytest.fixture(params=twins.names(), scope="session")
def impl(request):
    """The kernel implementation under test (session-scoped, so hypothesis can use it)."""
    return twins.load(request.param)


@pytest.fixture(params=twins.names())
def impl_name(request):
    """The implementation name servers and clients of a test use (failed like ``impl``)."""
    twins.load(request.param)
    return request.param


@pytest.fixture
def ws_close_timeout():
    """close_timeout given to ``serve_ws``/``connect_ws``; a folder's conftest may override it."""
    return 2


@pytest.fixture
async def serve_ws(impl_name, ws_close_timeout):
    """Start wsfast servers on 127.0.0.1 with the test's implementation; closed at teardown.

    ``server = await serve_ws(handler, **options)``; ``server.uri`` is its ws:// URI.
    """
    import wsfast

    servers = []

    async def start(handler, **kwargs):
        kwargs.setdefault("implementation", impl_name)
        kwargs.setdefault("close_timeout", ws_close_timeout)
        server = await wsfast.serve(handler, "127.0.0.1", 0, **kwargs)
        server.uri = f"ws://127.0.0.1:{server.port()}/"
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
def connect_ws(impl_name, ws_close_timeout):
    """``await connect_ws(uri, **options)``: a wsfast client with the test's implementation."""
    import wsfast

    def connect(uri, **kwargs):
        kwargs.setdefault("implementation", impl_name)
        kwargs.setdefault("close_timeout", ws_close_timeout)
        return wsfast.connect(uri, **kwargs)

    return connect


# ---------------------------------------------------------------- other fixtures below
