"""Helpers of the wsfast.rpc tests: waiting for events with a deadline, a raw JSON client."""
from __future__ import annotations

import asyncio
import json

import pytest

DEADLINE = 10  # seconds: only catches hangs; nothing here measures time


async def wait_until(predicate, what: str, deadline: float = DEADLINE) -> None:
    """Wait until ``predicate()`` is true (checked every few ms), failing after ``deadline``."""
    async def poll():
        while not predicate():
            await asyncio.sleep(0.005)
    try:
        await asyncio.wait_for(poll(), deadline)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def within(awaitable, what: str, deadline: float = DEADLINE):
    """``await awaitable``, failing with ``what`` if it hangs (its own TimeoutError passes through)."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait([task], timeout=deadline)
    if not done:
        task.cancel()
        pytest.fail(f"timed out waiting for {what}")
    return task.result()


class RawClient:
    """A plain wsfast client speaking JSON by hand, to send what a well-behaved peer never would."""

    def __init__(self, ws):
        self.ws = ws

    async def send(self, obj_or_text) -> None:
        await self.ws.send(obj_or_text if isinstance(obj_or_text, (str, bytes)) else json.dumps(obj_or_text))

    async def recv(self):
        return json.loads(await within(self.ws.recv(), "an answer"))

    async def ask(self, obj_or_text):
        await self.send(obj_or_text)
        return await self.recv()


