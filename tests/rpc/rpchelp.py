"""Helpers of the wsfast.rpc tests: waiting for events with a deadline, a raw JSON client."""
from __future__ import annotations

import json

# Waiting for events with a hang deadline: the suite's one helper (tests/waiting.py).
from waiting import wait_for as within  # noqa: F401
from waiting import wait_until  # noqa: F401


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


