"""Stopping a process: objects to close when a worker stops (held weakly), and the signals.

A Hub registers itself so that its broker flushes and disconnects: the integrations above
register here, this layer imports none. ``registered_at_shutdown`` also lets a server's stats
find the Hubs' brokers.
"""
from __future__ import annotations

import asyncio
import signal
import weakref
from typing import Any, Callable

_closables: "weakref.WeakSet[Any]" = weakref.WeakSet()


def close_at_shutdown(obj: Any) -> None:
    """Have ``await obj.aclose()`` called when this worker process stops (weakly held)."""
    _closables.add(obj)


def forget_at_shutdown(obj: Any) -> None:
    """Undo ``close_at_shutdown`` (``obj`` was closed already)."""
    _closables.discard(obj)


def registered_at_shutdown() -> list[Any]:
    """The objects registered now (and still alive)."""
    return list(_closables)


async def aclose_at_shutdown() -> None:
    """Close every registered object (each worker calls this once its server has closed)."""
    for obj in list(_closables):
        await obj.aclose()


def stop_on_signals(loop: asyncio.AbstractEventLoop) -> tuple["asyncio.Future[None]", Callable[[], None]]:
    """A future set on SIGINT or SIGTERM, and the function that sets it (call it to stop for
    another reason). Where the loop cannot take signal handlers (Windows), Ctrl-C stays a
    KeyboardInterrupt."""
    stop: asyncio.Future[None] = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, request_stop)
        except (NotImplementedError, RuntimeError):
            pass
    return stop, request_stop
