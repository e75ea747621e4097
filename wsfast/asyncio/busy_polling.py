"""Busy polling: an asyncio event loop that polls for a while before it sleeps.

When a loop has nothing to do it blocks in ``epoll_wait``; the next packet then costs a
wake-up: the sender's kernel has to schedule the sleeping process again, and the woken
loop pays for the context switch. On a VM this is most of a loopback round trip (figures in
bench/RESULTS.md, ``wsfast-spin``). A spinning loop polls with a zero timeout for up to ``busy_poll_us`` microseconds first, so a message that
arrives within that window is picked up without any wake-up, at the price of a core that
stays busy while it spins. Latency-critical processes (trading clients, game servers on
dedicated cores) make that trade; everything else should not: the default loops don't spin.

Usage (asyncio's selector loop only; uvloop has its own poller)::

    with asyncio.Runner(loop_factory=wsfast.spinning_loop_factory(100)) as runner:
        runner.run(main())

The kernel's SO_BUSY_POLL polls a network device's receive queue (NAPI), which loopback
and most virtual NICs don't offer, so the loop does it itself.
"""
from __future__ import annotations

import asyncio
import selectors
import time
from typing import Any, Callable

#: Default spin window, microseconds: a bit more than one loopback round trip.
BUSY_POLL_US = 100.0


class SpinningSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """The platform's default selector, spinning up to ``busy_poll_us`` before it blocks.

    ``select(timeout)`` returns what is ready at once; otherwise it polls with a zero timeout
    until something is ready or the spin window (never longer than ``timeout``) is over, then
    blocks for the rest of ``timeout`` as usual. ``polls`` / ``sleeps`` count the zero-timeout
    polls made while spinning and the blocking waits, for whoever wants to see the trade.
    """

    def __init__(self, busy_poll_us: float = BUSY_POLL_US,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if busy_poll_us < 0:
            raise ValueError("busy_poll_us must be >= 0")
        super().__init__()
        self.spin = busy_poll_us / 1e6
        self.polls = 0
        self.sleeps = 0
        self._clock = clock

    def _poll(self, timeout: float | None) -> list[tuple[Any, int]]:
        """One pass of the platform selector (tests substitute it)."""
        return super().select(timeout)

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        poll = self._poll
        if timeout is not None and timeout <= 0:
            return poll(0)  # the loop has work queued: never spin then
        ready = poll(0)
        if ready:
            return ready
        spent = 0.0
        if self.spin:
            clock = self._clock
            start = clock()
            window = self.spin if timeout is None else min(self.spin, timeout)
            while spent < window:
                self.polls += 1
                ready = poll(0)
                if ready:
                    return ready
                spent = clock() - start
        self.sleeps += 1
        return poll(None if timeout is None else max(0.0, timeout - spent))


def new_spinning_loop(busy_poll_us: float = BUSY_POLL_US) -> asyncio.AbstractEventLoop:
    """A new asyncio selector event loop on a :class:`SpinningSelector`."""
    return asyncio.SelectorEventLoop(SpinningSelector(busy_poll_us))


def spinning_loop_factory(busy_poll_us: float = BUSY_POLL_US) -> Callable[[], asyncio.AbstractEventLoop]:
    """A ``loop_factory`` for ``asyncio.Runner`` / ``asyncio.run`` making spinning loops."""
    def factory() -> asyncio.AbstractEventLoop:
        return new_spinning_loop(busy_poll_us)
    return factory
