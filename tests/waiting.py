"""Waiting for events in tests, never for time.

A test waits for the event it needs (a state, a message, a counter) with a deadline generous
enough for a loaded 2-core machine; the deadline only catches hangs, and its failure says what
was awaited, long before pytest's global timeout.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

HANG = 30.0  # seconds: far beyond any real wait here, well below the 120 s global timeout


async def wait_until(predicate: Callable[[], object], what: str, timeout: float = HANG, interval: float = 0.002) -> None:
    """Poll ``predicate`` on the event loop until it is true; fail saying ``what`` was awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_for(awaitable: Awaitable[T], what: str, timeout: float = HANG) -> T:
    """``await awaitable`` with a hang deadline whose failure says what was awaited. A
    TimeoutError the awaitable raises itself (a call's own timeout) passes through as it is."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait([task], timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
    return task.result()


def wait_until_sync(predicate: Callable[[], object], what: str, timeout: float = HANG, interval: float = 0.01) -> None:
    """``wait_until`` for blocking code (threads, subprocesses, selenium)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
