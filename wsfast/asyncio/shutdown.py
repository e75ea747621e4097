"""Objects to close when a worker process stops, held weakly.

A Hub registers itself so that its broker flushes and disconnects: the integrations above
register here, this layer imports none. ``registered_at_shutdown`` also lets a server's stats
find the Hubs' brokers.
"""
from __future__ import annotations

import weakref
from typing import Any

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
